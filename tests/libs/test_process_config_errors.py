"""A bad CLICKTRAIL_* value stops the gateway and the console with one line
naming the variable (as the services do: libs/grpc_server.run_service), not a
traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("module", "variable"),
    [
        ("gateway", "CLICKTRAIL_GATEWAY_PORT"),
        ("console", "CLICKTRAIL_CONSOLE_PORT"),
        ("services.links", "CLICKTRAIL_DB_POOL_MAX"),
    ],
)
def test_a_bad_value_is_one_error_line(module: str, variable: str) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CLICKTRAIL_")},
        variable: "not-a-number", "CLICKTRAIL_GATEWAY_TOKEN": "t",
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'gen'}",
    }  # fmt: skip
    done = subprocess.run([sys.executable, "-m", module], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {variable}="), done.stderr
