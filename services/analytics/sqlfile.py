"""Named queries kept in ``.sql`` files: each query starts with a line
``-- name: <name>`` and runs to the next such line; the comment lines right
under the name line are its description. Loaded once, at import."""

from __future__ import annotations

import re
from pathlib import Path

_NAME = re.compile(r"^-- name: ([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


def load(path: Path) -> dict[str, str]:
    """The queries of ``path`` by name (their text without the leading comments)."""
    text = path.read_text(encoding="utf-8")
    parts = _NAME.split(text)
    out: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in out:
            raise ValueError(f"{path.name}: query {name!r} is named twice")
        lines = body.strip("\n").splitlines()
        while lines and lines[0].startswith("--"):
            lines.pop(0)
        sql = "\n".join(lines).strip()
        if not sql:
            raise ValueError(f"{path.name}: query {name!r} is empty")
        out[name] = "\n" + sql + "\n"
    return out
