"""JSON with exact numbers.

orjson reads a number with a fraction or an exponent, and an integer beyond
64 bits, as a binary float: ``0.1`` is not 1/10 and a web3 amount in wei
(``123456789012345678901234567890``) loses its last 13 digits. ``loads``
answers such documents with ``decimal.Decimal`` for those numbers (integers
up to 18 digits stay ``int``) and ``dumps`` writes a Decimal back as the same
JSON number, so a value survives JSON -> Python -> JSON (-> Postgres jsonb,
which keeps numerics exactly) unchanged. Documents without such numbers take
orjson's fast path only.
(Depth and text checks of a decoded value, without recursion: libs/text.json_problem.)
"""

from __future__ import annotations

import decimal
import json
from typing import Any

import orjson

# Integer literals longer than this become Decimal (orjson.dumps refuses ints past 64 bits).
_INT_DIGITS = 18


class JSONDecodeError(ValueError):
    """The text is not usable JSON (orjson.JSONDecodeError is a ValueError too)."""


def _int(text: str) -> int | decimal.Decimal:
    return int(text) if len(text.lstrip("-")) <= _INT_DIGITS else decimal.Decimal(text)


def _no_constant(text: str) -> Any:
    raise JSONDecodeError(f"{text} is not a JSON number")


def has_float(value: Any, max_depth: int = 64) -> bool:
    """Whether ``value`` (as orjson gives it) holds a float within ``max_depth`` levels."""
    kind = type(value)
    if kind is float:
        return True
    if kind is not dict and kind is not list:
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        for x in v.values() if type(v) is dict else v:
            t = type(x)
            if t is float:
                return True
            if (t is dict or t is list) and depth < max_depth:
                stack.append((x, depth + 1))
    return False


def loads_decimal(data: bytes | str) -> Any:
    """JSON with every fractional / exponent number as Decimal and long integers as Decimal."""
    try:
        return json.loads(data, parse_float=decimal.Decimal, parse_int=_int, parse_constant=_no_constant)
    except RecursionError:
        raise JSONDecodeError("nests too deep") from None
    except (ValueError, UnicodeDecodeError) as exc:  # json.JSONDecodeError is a ValueError
        raise JSONDecodeError(str(exc)) from None


def loads(data: bytes | str) -> Any:
    """orjson.loads, except that numbers a float cannot hold exactly come back as Decimal.
    Raises JSONDecodeError (a ValueError) when the text is not JSON."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise JSONDecodeError(str(exc)) from None
    return loads_decimal(data) if has_float(doc) else doc


def exact(doc: Any, data: bytes | str) -> Any:
    """``doc`` (orjson's reading of ``data``) when it holds no float, else ``data`` read exactly."""
    return loads_decimal(data) if has_float(doc) else doc


def _default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal) and value.is_finite():
        return orjson.Fragment(str(value))
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> bytes:
    """orjson.dumps that writes Decimals as the JSON numbers they are (no float on the way)."""
    return orjson.dumps(value, default=_default)


def _key(part: Any) -> str:
    if isinstance(part, int):
        return f"[{part}]"
    text = str(part)
    return "." + (text if len(text) <= 64 else text[:61] + "...")


def path_text(prefix: str, parts: list[Any]) -> str:
    """``prefix`` plus ``.key`` / ``[index]`` per part (long keys shortened: it is a message)."""
    return prefix + "".join(_key(p) for p in parts)
