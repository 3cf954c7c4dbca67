"""The suite's output: its own messages and its children's log lines, prefixed."""

from __future__ import annotations

import sys

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
