"""The real suite (`python -m cli.suite`, as `make run` starts it) on free ports,
and the real `clicktrail` entry point, both as subprocesses."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import re
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cli.suite import SERVICES

REPO = Path(__file__).resolve().parents[2]
CLICKTRAIL = Path(sys.executable).with_name("clicktrail")
ADMIN_TOKEN = "e2e-admin-token"
START_TIMEOUT_S = 90.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env() -> dict[str, str]:
    """The test process's environment without any CLICKTRAIL_* setting."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CLICKTRAIL_")}


@dataclasses.dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclasses.dataclass
class Suite:
    proc: asyncio.subprocess.Process
    cwd: Path
    log: Path
    links_addr: str
    gateway_url: str
    cli_env: dict[str, str]

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def child_pid(self, name: str) -> int:
        match = re.search(rf"started {name} \(pid (\d+)\)", self.output())
        assert match, self.output()
        return int(match.group(1))

    async def cli(self, *args: object, code: int | None = 0, env: dict[str, str] | None = None) -> CliResult:
        """Runs `.venv/bin/clicktrail ARGS` against this suite."""
        proc = await asyncio.create_subprocess_exec(
            str(CLICKTRAIL),
            *(str(a) for a in args),
            cwd=self.cwd,
            env=env or self.cli_env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        res = CliResult(proc.returncode or 0, out.decode(), err.decode())
        if code is not None:
            assert res.code == code, f"clicktrail {args}: exit {res.code}\n{res.stdout}\n{res.stderr}"
        return res

    async def stop(self, sig: int = signal.SIGINT, timeout_s: float = 60.0) -> int:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)
        return await self.wait(timeout_s)

    async def wait(self, timeout_s: float) -> int:
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout_s)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            pytest.fail(f"the suite did not exit within {timeout_s:.0f}s:\n{self.output()[-5000:]}")


async def start_suite(cwd: Path, database_url: str | None, **extra_env: str) -> Suite:
    """Starts the suite and waits until the gateway answers /healthz with 200."""
    gateway_port = free_port()
    env = clean_env()
    # Every service of the suite on a free port, so tests never meet a developer's `make run`.
    env.update({service.addr_env: f"127.0.0.1:{free_port()}" for service in SERVICES})
    links_addr = env["CLICKTRAIL_LINKS_ADDR"]
    env.update(
        CLICKTRAIL_GATEWAY_PORT=str(gateway_port),
        CLICKTRAIL_CONSOLE_PORT=str(free_port()),
        CLICKTRAIL_ADMIN_TOKEN=ADMIN_TOKEN,
        # The tests send X-Forwarded-For from loopback to give clicks a country.
        CLICKTRAIL_TRUSTED_PROXIES="127.0.0.1/32",
        CLICKTRAIL_LOG_LEVEL="info",
    )
    if database_url:
        env["CLICKTRAIL_DATABASE_URL"] = database_url
    env.update(extra_env)
    log = cwd / f"suite-{gateway_port}.log"
    with log.open("wb") as fh:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "cli.suite",
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=fh,
            stderr=asyncio.subprocess.STDOUT,
        )
    cli_env = clean_env()
    cli_env.update({service.addr_env: env[service.addr_env] for service in SERVICES})
    if env.get("CLICKTRAIL_ADMIN_TOKEN"):
        cli_env["CLICKTRAIL_ADMIN_TOKEN"] = env["CLICKTRAIL_ADMIN_TOKEN"]
    suite = Suite(proc, cwd, log, links_addr, f"http://127.0.0.1:{gateway_port}", cli_env)
    deadline = time.monotonic() + START_TIMEOUT_S
    async with httpx.AsyncClient(timeout=2.0) as client:
        while True:
            if proc.returncode is not None:
                pytest.fail(f"the suite exited with {proc.returncode} while starting:\n{suite.output()[-5000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(suite.gateway_url + "/healthz")).status_code == 200:
                    break
            if time.monotonic() > deadline:
                await suite.stop(signal.SIGKILL)
                pytest.fail(f"the suite did not come up within {START_TIMEOUT_S:.0f}s:\n{suite.output()[-5000:]}")
            await asyncio.sleep(0.2)
    # /healthz is served before the banner is printed; wait for the banner too.
    while "Clicktrail is running." not in suite.output() and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    return suite


async def stop_shared(running: Suite) -> None:
    """A module's shared suite at the end of the module: stopped with SIGINT, exit 0."""
    if running.proc.returncode is None:
        code = await running.stop()
        assert code == 0, running.output()[-5000:]


def still_running(shared: Suite) -> Suite:
    """The module's shared suite for the next test; a test that stopped it (or a child that
    died) fails the tests after it naming that, instead of their own first request."""
    assert shared.proc.returncode is None, (
        f"the module's suite exited ({shared.proc.returncode}):\n" + shared.output()[-5000:]
    )
    return shared


@pytest.fixture
async def suite(db_url: str, tmp_path: Path) -> AsyncIterator[Suite]:
    """The suite on a fresh migrated database; stopped (SIGINT, expecting exit 0) afterwards."""
    running = await start_suite(tmp_path, db_url)
    yield running
    if running.proc.returncode is None:
        code = await running.stop()
        assert code == 0, running.output()[-5000:]
