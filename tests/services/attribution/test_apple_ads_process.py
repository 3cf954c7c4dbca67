"""The Apple Ads resolver in a process of its own (CLICKTRAIL_APPLE_ADS_PROCESS, the default
outside these tests' fixtures): the attribution service starts it; killed with SIGKILL, it
is started again and resolves the tokens that come after (its jobs are durable: a claim a
dead process held comes back after its lease, as every queue's do, tests/libs/test_queue.py).
Apple's side: tests/support/apple_ads_standin.py."""

from __future__ import annotations

import dataclasses
import os
import signal
import uuid
from pathlib import Path
from typing import Any

import pytest
from clicktrail.attribution.v1 import apple_ads_pb2 as pb

from tests.services.attribution.engine_support import drained, send
from tests.services.attribution.test_apple_ads import (  # noqa: F401 (fixtures)
    Setup,
    apple_stub,
    install_of,
    ios_event,
    resolved,
    setup,
)
from tests.support import apple_ads_standin as apple
from tests.support.apple_ads_standin import AppleAdsStandin
from tests.support.wait import wait_until

WORKER = b"services.attribution.apple_ads_worker"


@pytest.fixture
def settings(settings, standin):
    return dataclasses.replace(settings, apple_ads_url=standin.url, apple_ads_retry_s=0.2, apple_ads_process=True)


def resolver_pids() -> set[int]:
    """This test process's children running the resolver (the attribution server runs in this process)."""
    pids: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
        for pid in task.read_text().split():
            try:
                if WORKER in Path(f"/proc/{pid}/cmdline").read_bytes():
                    pids.add(int(pid))
            except OSError:
                continue
    return pids


async def credited(ingest_stub: Any, attribution_stub: Any, apple_stub: Any, settings: Any, app_id: str,  # noqa: F811
                   standin: AppleAdsStandin, name: str) -> None:  # fmt: skip
    token = standin.answer(name, apple.attributed())
    install = ios_event(app_id, "install", idfv=str(uuid.uuid4()), ip="81.2.69.142", adservices_token=token)
    await send(ingest_stub, install)
    await drained(settings)
    i = await install_of(attribution_stub, install.uuid)
    lookup = await resolved(settings, apple_stub, i.install_id)
    assert lookup.outcome == pb.APPLE_ADS_OUTCOME_CREDITED, lookup


async def test_the_resolver_process_is_started_again_after_sigkill(
    setup: Setup, apple_stub: Any, ingest_stub: Any, attribution_stub: Any, standin: AppleAdsStandin, settings: Any,  # noqa: F811
) -> None:  # fmt: skip
    app_id = setup.app_id
    first = await wait_until(resolver_pids, "the resolver's process started by the attribution service")
    assert len(first) == 1, first
    await credited(ingest_stub, attribution_stub, apple_stub, settings, app_id, standin, "tok-before")

    os.kill(next(iter(first)), signal.SIGKILL)
    second = await wait_until(lambda: resolver_pids() - first, "a new resolver process after SIGKILL")
    assert len(second) == 1, second
    await credited(ingest_stub, attribution_stub, apple_stub, settings, app_id, standin, "tok-after")
    assert len(standin.calls) == 2  # each token asked once
