"""`make run` (cli.suite) serves the console: it generates the console secret
like the other tokens, and an account signs in through the running gateway."""

from __future__ import annotations

import signal
import stat
from pathlib import Path

import httpx
import pytest

from tests.console.test_console_http import csrf_of
from tests.e2e.conftest import start_suite

pytestmark = pytest.mark.e2e


async def test_make_run_generates_the_console_secret_and_serves_the_console(tmp_path: Path, db_url: str) -> None:
    suite = await start_suite(tmp_path, db_url, CLICKTRAIL_CONSOLE_SECRET="")
    try:
        secret = tmp_path / ".clicktrail" / "console-secret"
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600 and len(secret.read_text().strip()) >= 32
        created = (await suite.cli("account", "create", "--name", "Console Co", "--json")).json()
        async with httpx.AsyncClient(base_url=suite.gateway_url, timeout=10) as http:
            form = await http.get("/console/signin")
            assert form.status_code == 200
            fields = {"api_key": created["api_key"], "csrf": csrf_of(form.text)}
            signed = await http.post("/console/signin", data=fields)
            assert signed.status_code == 303, signed.text
            page = await http.get("/console/campaigns")
            assert page.status_code == 200 and "Console Co" in page.text
    finally:
        code = await suite.stop(signal.SIGTERM)
    assert code == 0, suite.output()[-5000:]
