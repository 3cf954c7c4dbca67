"""The integrated-partner catalog, shipped as data (catalog.json)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

PATH = Path(__file__).parent / "catalog.json"


@functools.cache
def entries() -> list[dict[str, Any]]:
    data = json.loads(PATH.read_text())
    return sorted(data["entries"], key=lambda e: e["key"])


def entry(key: str) -> dict[str, Any] | None:
    return next((e for e in entries() if e["key"] == key), None)
