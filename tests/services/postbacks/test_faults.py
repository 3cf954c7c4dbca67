"""Faults with real processes: kill -9 of the postbacks service with 10,000
deliveries in flight; sinks that hang, answer 500 or drop connections next to
a healthy one; PostgreSQL restarting under the dispatcher."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import grpc
import pytest
from clicktrail.accounts.v1 import accounts_pb2, accounts_pb2_grpc
from clicktrail.links.v1 import links_pb2_grpc
from clicktrail.postbacks.v1 import postbacks_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from libs.config import Settings
from libs.grpc_server import RunningService, start_service
from services.links.server import SPEC as LINKS_SPEC
from services.postbacks.dispatcher import DELIVERY_QUEUE
from services.postbacks.server import SPEC as POSTBACKS_SPEC
from tests.conftest import ADMIN_TOKEN, INTERNAL_TOKEN, AccountInfo
from tests.e2e.processes import PrivatePostgres
from tests.services.postbacks.sink import Sink
from tests.services.postbacks.support import enqueue_events, event, new_partner, new_template, wait_for
from tests.support.wait import wait_until

ROOT = Path(__file__).resolve().parents[3]
Stub = postbacks_pb2_grpc.PostbackServiceStub


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_serving(addr: str, proc: asyncio.subprocess.Process, log: Path, timeout: float = 60) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    async with grpc.aio.insecure_channel(addr) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        while True:
            assert proc.returncode is None, _tail(log)
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            assert time.monotonic() < deadline, _tail(log)
            await asyncio.sleep(0.1)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


async def queue_left(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM queue.jobs WHERE queue LIKE 'postbacks.%' AND NOT dead"))
    finally:
        await conn.close()


@pytest.mark.timeout(180)
async def test_kill9_with_10000_deliveries_in_flight(
    settings: Settings, links_server: RunningService, links_stub: links_pb2_grpc.LinksServiceStub,
    account: AccountInfo, channels: Callable[..., grpc.aio.Channel], tmp_path: Path,
) -> None:  # fmt: skip
    n = 10_000
    sink = await Sink(keep_hits=False).start()
    addr = f"127.0.0.1:{free_port()}"
    env = {
        **os.environ, "PYTHONUNBUFFERED": "1", "CLICKTRAIL_DATABASE_URL": settings.database_url,
        "CLICKTRAIL_GRPC_LISTEN": addr, "CLICKTRAIL_LINKS_ADDR": links_server.addr,
        "CLICKTRAIL_ADMIN_TOKEN": ADMIN_TOKEN, "CLICKTRAIL_INTERNAL_TOKEN": INTERNAL_TOKEN,
        "CLICKTRAIL_POSTBACK_ALLOWED_NETWORKS": "127.0.0.0/8", "CLICKTRAIL_POSTBACK_LEASE_S": "3",
        "CLICKTRAIL_POSTBACK_POLL_S": "0.2", "CLICKTRAIL_LOG_LEVEL": "warning",
    }  # fmt: skip
    log = tmp_path / "postbacks.log"

    async def start() -> asyncio.subprocess.Process:
        with log.open("ab") as out:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "services.postbacks", cwd=ROOT, env=env, stdout=out, stderr=out
            )
        await wait_serving(addr, proc, log)
        return proc

    proc = await start()
    try:
        stub = Stub(channels(addr, token=account.api_key))
        partner = await new_partner(links_stub)
        await new_template(stub, partner, sink.base + "/pb?e={event_id}")
        await enqueue_events(settings.database_url, [event(account.account_id, partner) for _ in range(n)])
        await wait_for(lambda: sink.total >= n // 4, timeout=60)
        proc.kill()  # SIGKILL: no graceful hand-back of claimed jobs
        await proc.wait()
        killed_at = sink.total
        conn = await asyncpg.connect(settings.database_url)
        try:
            in_flight = await conn.fetchval(
                "SELECT count(*) FROM queue.jobs WHERE queue = $1 AND attempts > 0 AND run_at > now()", DELIVERY_QUEUE
            )
        finally:
            await conn.close()
        assert killed_at < n, "the kill came too late to test anything"
        proc = await start()
        await wait_for(lambda: len(sink.counts) == n, timeout=90, every=0.2)
        # Jobs claimed at the kill come back when their lease (3 s here) ends.
        await wait_for(lambda: _zero(queue_left(settings.database_url)), timeout=40, every=0.2)
        duplicates = sink.total - n
        print(f"kill -9 at {killed_at}/{n} received; in flight {in_flight}; duplicates {duplicates}")
        assert duplicates <= in_flight
        conn = await asyncpg.connect(settings.database_url)
        try:
            statuses = dict(await conn.fetch("SELECT status, count(*) FROM postbacks.deliveries GROUP BY status"))
        finally:
            await conn.close()
        assert statuses == {"delivered": n}
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()
        await sink.close()


async def _zero(value: object) -> bool:
    return await value == 0  # type: ignore[misc]


@pytest.fixture
async def patient_postbacks(settings: Settings, links_server: RunningService) -> AsyncIterator[RunningService]:
    """Enough attempts that a sink misbehaving for seconds never runs them out."""
    svc = await start_service(
        POSTBACKS_SPEC,
        dataclasses.replace(
            settings,
            links_addr=links_server.addr,
            postback_allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),),
            postback_retry_base_s=0.1,
            postback_retry_cap_s=0.5,
            postback_max_attempts=100,
            postback_timeout_s=1.0,
            postback_connect_timeout_s=0.5,
            postback_poll_s=0.1,
            postback_host_concurrency=8,
        ),
        listen="127.0.0.1:0",
    )
    yield svc
    await svc.stop(grace=1.0)


@pytest.mark.timeout(120)
async def test_misbehaving_sink_recovers_and_does_not_hold_up_other_hosts(
    settings: Settings, patient_postbacks: RunningService, links_stub: links_pb2_grpc.LinksServiceStub,
    account: AccountInfo, channels: Callable[..., grpc.aio.Channel],
) -> None:  # fmt: skip
    n = 300
    good, bad = await Sink("127.0.0.1").start(), await Sink("127.0.0.2").start()
    try:
        stub = Stub(channels(patient_postbacks.addr, token=account.api_key))
        partner = await new_partner(links_stub)
        await new_template(stub, partner, good.base + "/g?e={event_id}")
        await new_template(stub, partner, bad.base + "/b?e={event_id}")
        bad.mode = "hang"
        start = time.monotonic()
        await enqueue_events(settings.database_url, [event(account.account_id, partner) for _ in range(n)])
        await wait_for(lambda: len(good.counts) == n, timeout=10)
        good_s = time.monotonic() - start
        assert bad.total > 0 and not bad.counts.keys() - set(good.counts)
        # The bad host keeps misbehaving: hang, then 500s, then dropped connections, then well;
        # each for a while and until asked again (a busy machine may retry later than that).
        await asyncio.sleep(max(0.0, 2.5 - good_s))
        bad.mode, bad.status = "status", 500
        asked = bad.total
        await asyncio.sleep(2)
        await wait_until(lambda: bad.total > asked, "a retry at the bad host while it answers 500")
        bad.mode = "close"
        asked = bad.total
        await asyncio.sleep(2)
        await wait_until(lambda: bad.total > asked, "a retry at the bad host while it drops connections")
        bad.mode = "ok"
        await wait_for(lambda: _zero(queue_left(settings.database_url)), timeout=60, every=0.2)
        assert set(bad.counts) == set(good.counts) and len(good.counts) == n
        assert good.total == n  # the healthy host got each exactly once
        conn = await asyncpg.connect(settings.database_url)
        try:
            statuses = dict(await conn.fetch("SELECT status, count(*) FROM postbacks.deliveries GROUP BY status"))
            errors = [r["error"] for r in await conn.fetch("SELECT DISTINCT error FROM postbacks.attempts")]
        finally:
            await conn.close()
        assert statuses == {"delivered": 2 * n}
        assert any("timeout" in e for e in errors) and "HTTP 500" in errors
        assert any(e and "timeout" not in e and e != "HTTP 500" for e in errors)  # the dropped connections
        print(f"good host: {n} delivered in {good_s:.2f}s while the other hung")
    finally:
        await good.close()
        await bad.close()


@pytest.mark.timeout(180)
async def test_postgres_restart_under_the_dispatcher(settings: Settings) -> None:
    """A private embedded PostgreSQL (the shared one is not ours to restart)."""
    pg = await PrivatePostgres.create("ct_restart")
    sink = await Sink(keep_hits=False).start()
    services: list[RunningService] = []
    try:
        dsn = pg.dsn
        cfg = dataclasses.replace(
            settings, database_url=dsn, postback_allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),),
            postback_retry_base_s=0.1, postback_retry_cap_s=0.5, postback_max_attempts=100, postback_poll_s=0.2,
            # Jobs claimed when the database went could not be handed back: they return when
            # their lease ends (60 s by default, longer than this test waits for the queue).
            postback_lease_s=5.0,
        )  # fmt: skip
        links = await start_service(LINKS_SPEC, cfg, listen="127.0.0.1:0")
        services.append(links)
        postbacks = await start_service(
            POSTBACKS_SPEC, dataclasses.replace(cfg, links_addr=links.addr), listen="127.0.0.1:0"
        )
        services.append(postbacks)
        async with grpc.aio.insecure_channel(links.addr) as ch:
            acc = await accounts_pb2_grpc.AccountServiceStub(ch).CreateAccount(
                accounts_pb2.CreateAccountRequest(name="R"), metadata=[("authorization", f"Bearer {ADMIN_TOKEN}")]
            )
        key = [("authorization", f"Bearer {acc.api_key}")]
        async with grpc.aio.insecure_channel(links.addr) as lch, grpc.aio.insecure_channel(postbacks.addr) as pch:

            class Keyed:
                def __init__(self, stub: object) -> None:
                    self._stub = stub

                def __getattr__(self, name: str) -> Callable[..., object]:
                    method = getattr(self._stub, name)
                    return lambda req: method(req, metadata=key)

            partner = await new_partner(Keyed(links_pb2_grpc.LinksServiceStub(lch)))  # type: ignore[arg-type]
            await new_template(Keyed(Stub(pch)), partner, sink.base + "/pb?e={event_id}")  # type: ignore[arg-type]
        n = 3000
        account_id = acc.account.account_id
        await enqueue_events(dsn, [event(account_id, partner) for _ in range(n // 2)])
        await wait_for(lambda: sink.total >= n // 8, timeout=30)
        # Stop PostgreSQL for a while under the running dispatcher, then bring it back.
        await pg.stop()
        down_at = sink.total
        await asyncio.sleep(3)
        await pg.start()
        await enqueue_events(dsn, [event(account_id, partner) for _ in range(n // 2)])  # work after the restart
        try:
            await wait_for(lambda: len(sink.counts) == n, timeout=60, every=0.2)
        except AssertionError:
            conn = await asyncpg.connect(dsn)
            state = await conn.fetch("SELECT queue, dead, attempts, run_at > now() AS leased, count(*) FROM queue.jobs"
                                     " GROUP BY 1, 2, 3, 4")  # fmt: skip
            await conn.close()
            raise AssertionError(f"{len(sink.counts)}/{n} delivered; queue: {[tuple(r) for r in state]}") from None
        await wait_for(lambda: _zero(queue_left(dsn)), timeout=30, every=0.2)
        conn = await asyncpg.connect(dsn)
        try:
            statuses = dict(await conn.fetch("SELECT status, count(*) FROM postbacks.deliveries GROUP BY status"))
        finally:
            await conn.close()
        assert statuses == {"delivered": n}
        assert 0 < down_at < n
        print(f"postgres stopped at {down_at}/{n}; all {n} delivered after the restart; sink total {sink.total}")
    finally:
        for svc in reversed(services):
            await svc.stop(grace=1.0)
        await sink.close()
        await pg.close()


@pytest.mark.timeout(120)
async def test_two_replicas_send_each_delivery_once(
    settings: Settings, patient_postbacks: RunningService, links_server: RunningService,
    links_stub: links_pb2_grpc.LinksServiceStub, account: AccountInfo, channels: Callable[..., grpc.aio.Channel],
) -> None:  # fmt: skip
    n = 4000
    second = await start_service(
        POSTBACKS_SPEC,
        dataclasses.replace(
            settings,
            links_addr=links_server.addr,
            postback_allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),),
            postback_poll_s=0.1,
            postback_batch_size=50,
        ),
        listen="127.0.0.1:0",
    )
    sink = await Sink(keep_hits=False).start()
    try:
        stub = Stub(channels(patient_postbacks.addr, token=account.api_key))
        partner = await new_partner(links_stub)
        await new_template(stub, partner, sink.base + "/pb?e={event_id}")
        await enqueue_events(settings.database_url, [event(account.account_id, partner) for _ in range(n)])
        await wait_for(lambda: len(sink.counts) == n, timeout=60, every=0.1)
        await wait_for(lambda: _zero(queue_left(settings.database_url)), timeout=20, every=0.1)
        assert sink.total == n  # no delivery sent twice
    finally:
        await second.stop(grace=1.0)
        await sink.close()
