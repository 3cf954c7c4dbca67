"""`make run` without CLICKTRAIL_DATABASE_URL: the embedded PostgreSQL under
.clicktrail/, generated tokens, a clean Ctrl-C, and data kept across runs."""

from __future__ import annotations

import signal
import stat
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import CLICKTRAIL, clean_env, start_suite

pytestmark = pytest.mark.e2e


def _environ(pid: int) -> dict[str, str]:
    """A process's environment, as Linux shows it in /proc."""
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.decode().partition("=")[::2] for item in raw.split(b"\0") if item)


async def test_embedded_postgres_tokens_and_a_second_run_keep_the_data(tmp_path: Path) -> None:
    # No CLICKTRAIL_DATABASE_URL and no admin token in the environment: `make run` as a new user has it.
    suite = await start_suite(tmp_path, None, CLICKTRAIL_ADMIN_TOKEN="")
    try:
        data = tmp_path / ".clicktrail"
        token_file = data / "admin-token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert stat.S_IMODE((data / "internal-token").stat().st_mode) == 0o600
        assert stat.S_IMODE((data / "gateway-token").stat().st_mode) == 0o600
        # The internet-facing gateway holds only its own narrow token; links checks it.
        gateway_env = _environ(suite.child_pid("gateway"))
        assert gateway_env["CLICKTRAIL_GATEWAY_TOKEN"] == (data / "gateway-token").read_text().strip()
        assert "CLICKTRAIL_ADMIN_TOKEN" not in gateway_env
        assert "CLICKTRAIL_INTERNAL_TOKEN" not in gateway_env
        assert "CLICKTRAIL_CONSOLE_SECRET" not in gateway_env  # the console's own
        assert "CLICKTRAIL_DATABASE_URL" not in gateway_env
        assert "CLICKTRAIL_CONSOLE_SECRET" in _environ(suite.child_pid("console"))
        links_env = _environ(suite.child_pid("links"))
        assert {"CLICKTRAIL_ADMIN_TOKEN", "CLICKTRAIL_INTERNAL_TOKEN", "CLICKTRAIL_GATEWAY_TOKEN"} <= links_env.keys()
        assert (data / "pgdata" / "PG_VERSION").exists()
        assert "embedded PostgreSQL" in suite.output()
        async with httpx.AsyncClient(timeout=5) as http:
            assert (await http.get(suite.gateway_url + "/healthz")).status_code == 200

        # The CLI finds the admin token in ./.clicktrail/admin-token by itself.
        assert "CLICKTRAIL_ADMIN_TOKEN" not in suite.cli_env
        created = (await suite.cli("account", "create", "--name", "Kept", "--json")).json()
    finally:
        code = await suite.stop(signal.SIGINT)
    assert code == 0, suite.output()[-5000:]
    assert "stopping the embedded PostgreSQL" in suite.output()
    assert not (tmp_path / ".clicktrail" / "pgdata" / "postmaster.pid").exists()

    again = await start_suite(tmp_path, None, CLICKTRAIL_ADMIN_TOKEN="")
    try:
        got = (
            await again.cli("account", "get", "--json", env=dict(again.cli_env, CLICKTRAIL_API_KEY=created["api_key"]))
        ).json()
        assert got["account_id"] == created["account_id"]
    finally:
        code = await again.stop(signal.SIGTERM)
    assert code == 0, again.output()[-5000:]
    assert CLICKTRAIL.exists()


async def test_a_busy_port_is_reported_before_anything_starts(tmp_path: Path, db_url: str) -> None:
    import asyncio
    import socket
    import sys

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = clean_env()
        env.update(
            CLICKTRAIL_DATABASE_URL=db_url, CLICKTRAIL_GATEWAY_PORT=str(port), CLICKTRAIL_LINKS_ADDR=f"127.0.0.1:{port}"
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "cli.suite",
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1
    text = out.decode()
    assert f"127.0.0.1:{port} is not free" in text
    assert "started" not in text
