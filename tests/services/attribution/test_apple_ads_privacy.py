"""A GDPR erasure reaches the Apple Ads jobs not resolved yet: each holds the
install's AdServices token (good for 24 hours), so the erased person's jobs are
dropped (attribution's PrivacyService, over gRPC) and another person's stay.

Apple's stand-in (tests/support/apple_ads_standin.py, which cites Apple's
documentation of the answers) answers 404 "not ready yet"; the service asks again
only ``apple_ads_retry_s`` later (here 10 minutes), so the jobs wait in the queue."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import asyncpg
import orjson
import pytest
from clicktrail.attribution.v1 import apple_ads_pb2 as pb
from clicktrail.attribution.v1 import apple_ads_pb2_grpc
from clicktrail.privacy.v1 import privacy_pb2 as ppb
from clicktrail.privacy.v1 import privacy_pb2_grpc

from services.attribution.apple_ads import APPLE_ADS_QUEUE
from tests.services.attribution.engine_support import drained, installs, send
from tests.services.attribution.test_apple_ads import ios_event, make_ios_app
from tests.support import apple_ads_standin as apple
from tests.support.apple_ads_standin import AppleAdsStandin
from tests.support.wait import wait_until

ROWS = "queue.jobs:" + APPLE_ADS_QUEUE


@pytest.fixture
def settings(settings, standin):
    """Apple's 404 is asked again only 10 minutes later: the job stays queued for the test."""
    return dataclasses.replace(settings, apple_ads_url=standin.url, apple_ads_retry_s=600.0)


async def queued(conn: asyncpg.Connection) -> dict[str, dict[str, Any]]:
    """The Apple Ads jobs in the queue, by install id: their payload and attempts."""
    rows = await conn.fetch("SELECT payload, attempts FROM queue.jobs WHERE queue = $1", APPLE_ADS_QUEUE)
    return {(p := orjson.loads(r["payload"]))["install_id"]: {**p, "attempts": r["attempts"]} for r in rows}


async def test_an_erasure_drops_the_persons_pending_apple_ads_jobs_and_keeps_the_others(
    links_stub: Any, ingest_stub: Any, attribution_stub: Any, standin: AppleAdsStandin, settings: Any,
    account: Any, channels: Any, attribution_server: Any,
) -> None:  # fmt: skip
    app_id = await make_ios_app(links_stub)
    apple_stub = apple_ads_pb2_grpc.AppleAdsServiceStub(attribution_stub.channel)
    await apple_stub.UpdateAppleAdsSettings(
        pb.UpdateAppleAdsSettingsRequest(settings=pb.AppleAdsSettings(enabled=True))
    )
    erased = standin.answer("tok-erased-person", apple.NOT_READY)
    kept = standin.answer("tok-other-person", apple.NOT_READY)
    mine = ios_event(app_id, "install", idfv=str(uuid.uuid4()), adservices_token=erased, user_id="player-erase")
    other = ios_event(app_id, "install", idfv=str(uuid.uuid4()), adservices_token=kept, user_id="player-stays")
    await send(ingest_stub, mine, other)
    await drained(settings)
    ids = {i.event_uuid: i.install_id for i in await installs(attribution_stub)}
    conn = await asyncpg.connect(settings.database_url)
    try:

        async def asked_once() -> dict[str, dict[str, Any]]:
            jobs = await queued(conn)
            assert standin.calls_of(erased) == standin.calls_of(kept) == 1, standin.calls
            # A "not ready" answer puts the job back counted in its payload (not_ready), not in attempts.
            assert {i: j.get("not_ready") for i, j in jobs.items()} == {ids[mine.uuid]: 1, ids[other.uuid]: 1}, jobs
            return jobs

        jobs = await wait_until(asked_once, "both tokens asked once and waiting for Apple's retry", timeout_s=60)
        assert jobs[ids[mine.uuid]]["token"] == erased  # what the erasure must not leave behind

        stub = privacy_pb2_grpc.PrivacyServiceStub(channels(attribution_server.addr, token=account.api_key))
        request = ppb.ErasePersonalDataRequest(
            user_ids=["player-erase"], erasure_id="01" + "0" * 24, pseudonym="erased:" + "a" * 20, validate_only=True
        )
        dry = await stub.ErasePersonalData(request)
        assert dry.rows[ROWS] == 1  # a dry run counts the job ...
        assert set(await queued(conn)) == {ids[mine.uuid], ids[other.uuid]}  # ... and keeps it

        request.validate_only = False
        done = await stub.ErasePersonalData(request)
        assert done.rows[ROWS] == 1
        left = await queued(conn)
        assert list(left) == [ids[other.uuid]] and left[ids[other.uuid]]["token"] == kept
        token_anywhere = await conn.fetchval(
            "SELECT count(*) FROM queue.jobs WHERE position($1::bytea IN payload) > 0", erased.encode()
        )
        assert token_anywhere == 0
        # The erased install is still there (an aggregate), without the person's ids.
        row = await conn.fetchrow(
            "SELECT user_id, device_key FROM attribution.installs WHERE install_id = $1", ids[mine.uuid]
        )
        assert row["user_id"] == "erased:" + "a" * 20
    finally:
        await conn.close()
    assert standin.calls_of(erased) == 1  # Apple was never asked about it again
