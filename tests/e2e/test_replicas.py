"""Several processes of one service against one PostgreSQL: the topology that
`docker compose up --scale ingest=2 --scale attribution=2` runs, without Docker.
The gateway reaches the replicas through one target naming both, as compose's
DNS name does, and spreads its calls over them."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import re
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import grpc
import httpx
import pytest
from clicktrail.accounts.v1 import accounts_pb2, accounts_pb2_grpc
from clicktrail.links.v1 import links_pb2, links_pb2_grpc

from libs.healthcheck import grpc_serving
from tests.e2e.conftest import clean_env, free_port

pytestmark = pytest.mark.e2e

ADMIN_TOKEN = "replicas-admin-token"
INTERNAL_TOKEN = "replicas-internal-token"
START_TIMEOUT_S = 60.0


@dataclasses.dataclass
class Proc:
    name: str
    proc: asyncio.subprocess.Process
    log: Path
    addr: str = ""
    metrics_port: int = 0

    async def counter(self, name: str) -> float:
        """The sum of a Prometheus counter's samples on this process."""
        async with httpx.AsyncClient(timeout=5) as http:
            text = (await http.get(f"http://127.0.0.1:{self.metrics_port}/metrics")).text
        return sum(float(v) for v in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M))


class Topology:
    def __init__(self, db_url: str, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.procs: list[Proc] = []
        self.links = f"127.0.0.1:{free_port()}"
        self.ingest = [f"127.0.0.1:{free_port()}" for _ in range(2)]
        self.attribution = [f"127.0.0.1:{free_port()}" for _ in range(2)]
        self.gateway_port = free_port()
        self.env = clean_env()
        self.env.update(
            CLICKTRAIL_DATABASE_URL=db_url,
            CLICKTRAIL_ADMIN_TOKEN=ADMIN_TOKEN,
            CLICKTRAIL_INTERNAL_TOKEN=INTERNAL_TOKEN,
            CLICKTRAIL_LINKS_ADDR=self.links,
            # One target naming every replica, like dns:///ingest:50052 under compose.
            CLICKTRAIL_INGEST_ADDR="ipv4:" + ",".join(self.ingest),
            CLICKTRAIL_ATTRIBUTION_ADDR="ipv4:" + ",".join(self.attribution),
            CLICKTRAIL_GATEWAY_PORT=str(self.gateway_port),
            CLICKTRAIL_LOG_LEVEL="warning",
        )

    async def spawn(self, name: str, module: str, addr: str = "") -> Proc:
        env = dict(self.env)
        metrics_port = free_port()
        env.update(CLICKTRAIL_METRICS_PORT=str(metrics_port))
        if addr:
            env.update(CLICKTRAIL_GRPC_LISTEN=addr)
        log = self.tmp / f"{name}.log"
        with log.open("wb") as fh:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", module, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=fh, stderr=fh
            )
        self.procs.append(Proc(name, proc, log, addr, metrics_port))
        return self.procs[-1]

    async def wait_serving(self, proc: Proc) -> None:
        async with asyncio.timeout(START_TIMEOUT_S):
            while not await grpc_serving(proc.addr):
                assert proc.proc.returncode is None, f"{proc.name} exited:\n{proc.log.read_text()[-3000:]}"
                await asyncio.sleep(0.2)

    async def start(self) -> None:
        # links first: it migrates the accounts schema every service's auth reads.
        await self.wait_serving(await self.spawn("links", "services.links", self.links))
        replicas = [
            *[await self.spawn(f"ingest-{i}", "services.ingest", a) for i, a in enumerate(self.ingest)],
            *[await self.spawn(f"attribution-{i}", "services.attribution", a) for i, a in enumerate(self.attribution)],
        ]
        await asyncio.gather(*(self.wait_serving(p) for p in replicas))
        gateway = await self.spawn("gateway", "gateway")
        async with asyncio.timeout(START_TIMEOUT_S), httpx.AsyncClient(timeout=2) as http:
            while True:
                assert gateway.proc.returncode is None, gateway.log.read_text()[-3000:]
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{self.url}/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.2)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def named(self, prefix: str) -> list[Proc]:
        return [p for p in self.procs if p.name.startswith(prefix)]

    async def stop(self) -> None:
        for p in reversed(self.procs):
            if p.proc.returncode is None:
                p.proc.terminate()
        for p in self.procs:
            try:
                await asyncio.wait_for(p.proc.wait(), 20)
            except TimeoutError:
                p.proc.kill()
                await p.proc.wait()


@pytest.fixture
async def topology(db_url: str, tmp_path: Path) -> AsyncIterator[Topology]:
    topo = Topology(db_url, tmp_path)
    try:
        await topo.start()
        yield topo
    finally:
        await topo.stop()


async def _app_key(topo: Topology) -> tuple[str, str]:
    async with grpc.aio.insecure_channel(topo.links) as ch:
        admin = [("authorization", f"Bearer {ADMIN_TOKEN}")]
        created = await accounts_pb2_grpc.AccountServiceStub(ch).CreateAccount(
            accounts_pb2.CreateAccountRequest(name="Replicas"), metadata=admin
        )
        app = await links_pb2_grpc.LinksServiceStub(ch).CreateApp(
            links_pb2.CreateAppRequest(
                app=links_pb2.App(name="Scaled", platform=links_pb2.PLATFORM_ANDROID, bundle_id="com.example.scaled")
            ),
            metadata=[("authorization", f"Bearer {created.api_key}")],
        )
    return created.account.account_id, app.app_key


async def test_two_replicas_of_ingest_and_attribution_share_the_work_and_count_each_install_once(
    topology: Topology, db_url: str
) -> None:
    account_id, app_key = await _app_key(topology)
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
            "SELECT count(*) AS n, count(DISTINCT event_uuid) AS events"
            " FROM attribution.installs WHERE account_id = $1"
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
