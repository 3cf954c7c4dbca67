"""The one gRPC server bootstrap: pool + migrations, interceptors, the standard
health service and reflection, a database readiness watch, graceful shutdown
on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import uvloop
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import start_http_server

from libs.auth import KeyStore
from libs.config import SERVICE_SETTINGS, ConfigError, Settings, load_process_settings
from libs.db import create_pool, wait_for_database
from libs.grpc_interceptors import server_interceptors
from libs.logging import configure_logging, get_logger
from libs.migrations import migrate
from libs.process import tune_gc
from libs.tls import server_credentials

log = get_logger("server")
POOL_CLOSE_S = 10.0  # how long a stopping service waits for its database connections to come back

SERVER_OPTIONS = [
    ("grpc.so_reuseport", 1),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    # Accept our clients' keepalive pings (every 30 s, libs/grpc_client.py) during
    # long calls such as a rollup recount: the default (one ping per 5 min without
    # data) answers the third with GOAWAY "too_many_pings" and fails the call.
    ("grpc.http2.min_ping_interval_without_data_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 1),
]


@dataclasses.dataclass
class ServiceContext:
    settings: Settings
    pool: asyncpg.Pool
    keys: KeyStore
    tasks: list[asyncio.Task[Any]] = dataclasses.field(default_factory=list)
    on_stop: list[Callable[[], Awaitable[None]]] = dataclasses.field(default_factory=list)

    def spawn(self, coro: Awaitable[Any], name: str) -> None:
        """Run a background loop for the life of the service."""
        self.tasks.append(asyncio.ensure_future(coro))
        self.tasks[-1].set_name(name)


Setup = Callable[[grpc.aio.Server, ServiceContext], Awaitable[list[str]]]


@dataclasses.dataclass(frozen=True)
class ServiceSpec:
    name: str
    # (schema, migrations folder), applied in order at start.
    migrations: list[tuple[str, Path]]
    # Registers servicers; returns the full names of the services it added.
    setup: Setup
    default_addr: str


@dataclasses.dataclass
class RunningService:
    spec: ServiceSpec
    server: grpc.aio.Server
    port: int
    ctx: ServiceContext
    health: health.aio.HealthServicer
    service_names: list[str]

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def set_serving(self, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ["", *self.service_names]:
            await self.health.set(name, status)

    async def stop(self, grace: float = 5.0) -> None:
        await self.set_serving(False)
        await self.server.stop(grace)
        for task in self.ctx.tasks:
            task.cancel()
        for task in self.ctx.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for hook in self.ctx.on_stop:
            await hook()
        # close() waits for every connection to come back; one a task never released
        # would hold the shutdown (and a test's teardown) for ever: then cut them.
        try:
            await asyncio.wait_for(self.ctx.pool.close(), POOL_CLOSE_S)
        except TimeoutError:
            log.warning("pool_close_timeout", seconds=POOL_CLOSE_S, service=self.spec.name)
            self.ctx.pool.terminate()


async def _watch_database(svc: RunningService, every_s: float = 2.0) -> None:
    """Health follows the database: NOT_SERVING while it does not answer."""
    serving = True
    while True:
        await asyncio.sleep(every_s)
        try:
            async with asyncio.timeout(every_s):
                await svc.ctx.pool.fetchval("SELECT 1")
            ok = True
        except Exception:
            ok = False
        if ok != serving:
            serving = ok
            log.warning("database_health", serving=ok)
            await svc.set_serving(ok)


async def start_service(spec: ServiceSpec, settings: Settings, *, listen: str | None = None) -> RunningService:
    if not settings.database_url:
        raise SystemExit("CLICKTRAIL_DATABASE_URL is not set")
    creds = server_credentials(settings)  # a bad TLS setting fails before anything starts
    await wait_for_database(settings.database_url)
    pool = await create_pool(
        settings.database_url,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        application_name=f"clicktrail-{spec.name}",
    )
    async with pool.acquire() as conn:
        for schema, folder in spec.migrations:
            applied = await migrate(conn, schema, folder)
            if applied:
                log.info("migrated", schema=schema, versions=applied)
    keys = KeyStore(pool, settings.admin_token, settings.internal_token, settings.gateway_token)
    server = grpc.aio.server(interceptors=server_interceptors(spec.name, keys), options=SERVER_OPTIONS)
    ctx = ServiceContext(settings=settings, pool=pool, keys=keys)
    names = await spec.setup(server, ctx)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME], server
    )
    address = listen or settings.grpc_listen or settings.addr_of(spec.name) or spec.default_addr
    port = server.add_secure_port(address, creds) if creds is not None else server.add_insecure_port(address)
    if port == 0:
        raise SystemExit(f"cannot listen on {address}")
    await server.start()
    svc = RunningService(spec, server, port, ctx, health_servicer, names)
    await svc.set_serving(True)
    ctx.spawn(_watch_database(svc), "watch-database")
    log.info("serving", service=spec.name, address=address, port=port, tls=creds is not None)
    return svc


def run_service(spec: ServiceSpec) -> None:
    """Entry point of ``python -m services.<name>``: serve until SIGTERM/SIGINT."""
    # The process reads only its own class's variables (libs/config.SERVICE_SETTINGS).
    try:
        settings = load_process_settings(spec.name if spec.name in SERVICE_SETTINGS else "suite")
    except ConfigError as exc:
        raise SystemExit(f"error: {exc}") from None
    configure_logging(spec.name, settings.log_level, settings.log_format)

    async def main() -> None:
        try:
            svc = await start_service(spec, settings)
        except ConfigError as exc:
            raise SystemExit(f"error: {exc}") from None
        tune_gc()
        if settings.metrics_port:
            start_http_server(settings.metrics_port, addr=settings.metrics_host)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("stopping", service=spec.name)
        await svc.stop(grace=10.0)
        log.info("stopped", service=spec.name)

    uvloop.run(main())
