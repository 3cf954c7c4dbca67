"""Drives the CLI in-process (cli.main.run) in a worker thread, so the test's
event loop keeps serving the real links server meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import typer.main

from cli.main import app, run
from libs.grpc_server import RunningService
from tests.conftest import ADMIN_TOKEN, AccountInfo
from tests.services.postbacks.sink import Sink


@dataclasses.dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def _without_server_logs(text: str) -> str:
    """The in-process servers log to whatever sys.stderr is (libs/logging.py), so their
    JSON log lines can land in the CLI's redirected stderr: keep only the CLI's own lines."""
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith('{"'))


# cli.main.run builds the click command tree from the typer app on every call (~0.3 s: every
# command's signature and type hints), which a process running one command line does once. The
# tests run hundreds of command lines in one process: the tree is built once here and handed to
# run (the same tree: built from the same app; click makes a new context per invocation).
_build_command = typer.main.get_command
_APP_COMMAND = _build_command(app)


def _get_command(typer_instance: typer.Typer) -> Any:
    return _APP_COMMAND if typer_instance is app else _build_command(typer_instance)


typer.main.get_command = _get_command


def invoke(argv: list[str]) -> Result:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(argv)
    return Result(code, out.getvalue(), _without_server_logs(err.getvalue()))


Cli = Callable[..., Awaitable[Result]]


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> pytest.MonkeyPatch:
    """No CLICKTRAIL_* from the developer's shell, and no .clicktrail/ in the cwd."""
    import os

    for name in list(os.environ):
        if name.startswith("CLICKTRAIL_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("cli.common.REPO_ROOT", tmp_path)
    return monkeypatch


@pytest.fixture
def cli(cli_env: pytest.MonkeyPatch, links_server: RunningService, account: AccountInfo) -> Cli:
    """``await cli("campaign", "list", "--json")``: the account's API key, the
    admin token and the links server's address come from the environment.
    Fails the test on a non-zero exit unless ``code=`` says otherwise."""
    cli_env.setenv("CLICKTRAIL_LINKS_ADDR", links_server.addr)
    cli_env.setenv("CLICKTRAIL_ADMIN_TOKEN", ADMIN_TOKEN)
    cli_env.setenv("CLICKTRAIL_API_KEY", account.api_key)

    async def call(*args: object, code: int = 0) -> Result:
        res = await asyncio.to_thread(invoke, [str(a) for a in args])
        assert res.code == code, f"exit {res.code}, stdout={res.stdout!r} stderr={res.stderr!r}"
        return res

    return call


@pytest.fixture
async def sink() -> Any:
    """A real partner endpoint on loopback (outbound postbacks land here)."""
    s = await Sink().start()
    yield s
    await s.close()


@pytest.fixture
def privacy_cli(
    cli: Cli, cli_env: Any, ingest_server: Any, attribution_server: Any, postbacks_server: Any, analytics_server: Any
) -> Cli:
    """The CLI pointed at every service an erasure reaches."""
    cli_env.setenv("CLICKTRAIL_INGEST_ADDR", ingest_server.addr)
    cli_env.setenv("CLICKTRAIL_ATTRIBUTION_ADDR", attribution_server.addr)
    cli_env.setenv("CLICKTRAIL_POSTBACKS_ADDR", postbacks_server.addr)
    cli_env.setenv("CLICKTRAIL_ANALYTICS_ADDR", analytics_server.addr)
    return cli
