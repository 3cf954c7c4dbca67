"""Several processes of one service against one PostgreSQL: the topology that
`docker compose up --scale ingest=2 --scale attribution=2` runs, without Docker.
The gateway reaches the replicas through one target naming both, as compose's
DNS name does, and spreads its calls over them."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.e2e.processes import Processes

pytestmark = pytest.mark.e2e


@pytest.fixture
async def topology(db_url: str, tmp_path: Path) -> AsyncIterator[Processes]:
    procs = Processes(tmp_path, db_url)
    procs.plan("links", "services.links")
    for i in range(2):
        procs.plan(f"ingest-{i}", "services.ingest")
        procs.plan(f"attribution-{i}", "services.attribution")
    procs.plan("gateway", "gateway", grpc=False)
    # One target naming every replica, like dns:///ingest:50052 under compose.
    procs.point("links", "links")
    procs.point("ingest", "ingest-0", "ingest-1")
    procs.point("attribution", "attribution-0", "attribution-1")
    try:
        # links first: it migrates the accounts schema every service's auth reads.
        await procs.start("links")
        await asyncio.gather(*(procs.start(n) for n in procs.procs if n.startswith(("ingest", "attribution"))))
        await procs.start("gateway")
        yield procs
    finally:
        await procs.stop()


async def test_two_replicas_of_ingest_and_attribution_share_the_work_and_count_each_install_once(
    topology: Processes, db_url: str
) -> None:
    account_id, api_key, _ = await topology.new_account()
    _, app_key = await topology.new_app(api_key)
    batches = [
        [
            {
                "uuid": str(uuid.uuid4()),
                "event": "install",
                "timestamp": dt.datetime.now(dt.UTC).isoformat(),
                "device": {"gaid": str(uuid.uuid4()), "platform": "android"},
            }
            for _ in range(25)
        ]
        for _ in range(40)
    ]
    async with httpx.AsyncClient(timeout=10, headers={"X-Api-Key": app_key}) as http:
        for batch in batches:
            resp = await http.post(f"{topology.url}/v1/events", json={"events": batch})
            assert resp.status_code == 202, resp.text
            assert resp.json()["accepted"] == 25, resp.text
        # A batch sent again (an SDK retry) is answered, and counted once.
        assert (await http.post(f"{topology.url}/v1/events", json={"events": batches[0]})).status_code == 202

    conn = await asyncpg.connect(db_url)
    try:
        count = (
            "SELECT count(*) AS n, count(DISTINCT event_uuid) AS events FROM attribution.installs WHERE account_id = $1"
        )
        async with asyncio.timeout(60):
            while (await conn.fetchrow(count, account_id))["n"] < 1000:  # noqa: ASYNC110 (polling another process)
                await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # anything counted twice would show up by now
        installs = await conn.fetchrow(count, account_id)
        events = await conn.fetchval("SELECT count(*) FROM ingest.events WHERE account_id = $1", account_id)
    finally:
        await conn.close()
    assert (installs["n"], installs["events"], events) == (1000, 1000, 1000)

    # Each replica did part of the work: the gateway's calls were spread over
    # both ingest processes, and both attribution processes consumed the queue.
    ingest_calls = [await p.counter("clicktrail_grpc_server_handled_total") for p in topology.named("ingest")]
    attributed = [await p.counter("clicktrail_attribution_events_total") for p in topology.named("attribution")]
    assert all(n > 0 for n in ingest_calls), ingest_calls
    assert sum(ingest_calls) >= 41
    assert all(n > 0 for n in attributed), attributed
    assert sum(attributed) >= 1000
