"""tune_gc (libs/process.py): what every server process calls once it has started."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Run in a child: the thresholds and the frozen generation belong to the whole process.
PROBE = """
import gc, json
from libs.process import tune_gc
before = gc.get_threshold()
tune_gc()
print(json.dumps({"before": before, "after": gc.get_threshold(), "frozen": gc.get_freeze_count()}))
"""


def test_tune_gc_freezes_what_is_loaded_and_collects_less_often() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["before"] == [700, 10, 10]  # CPython's defaults, until a server process asks
    assert got["after"] == [50_000, 20, 20]
    assert got["frozen"] > 1_000  # the modules loaded so far are out of the collector's sight
