"""Text that Postgres can store.

Postgres ``text`` cannot hold U+0000 (NUL), and ``jsonb`` refuses the escape
``\\u0000`` in strings and in object keys. A Python ``str`` can also carry a
lone UTF-16 surrogate (U+D800..U+DFFF: a JSON ``"\\ud800"``, or argv bytes that
are not UTF-8) that cannot be encoded as UTF-8 at all, so neither asyncpg nor
protobuf can send it. One such character in one row fails the whole
statement, so every entry point deals with them before a row joins a group
commit. The house rule (README, "Text Postgres cannot store"):

- structured fields a caller controls (names, ids, event fields and
  properties, templates, notes, a postback's click_id / txid / goal) are
  refused: ``check_text`` / ``json_problem`` -> 400 / INVALID_ARGUMENT naming
  the field;
- free-form passthrough values (a click's query string, a postback's extra
  parameters, header values) are cleaned with ``clean_text``: NUL dropped,
  a lone surrogate replaced by U+FFFD, so the click or postback is still
  recorded (and a click still redirects).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from libs import exactjson
from libs.errors import InvalidArgument

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
NUL_PROBLEM = "must not contain NUL (U+0000) characters"
SURROGATE_PROBLEM = "must be valid Unicode text (it holds a lone UTF-16 surrogate, U+D800..U+DFFF)"


def _why(char: str) -> str:
    return NUL_PROBLEM if char == "\x00" else SURROGATE_PROBLEM


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as Postgres text, or None when it can."""
    m = UNSTORABLE.search(value)
    return None if m is None else _why(m.group())


def clean_text(value: str) -> str:
    """``value`` with NULs dropped and lone surrogates replaced by U+FFFD."""
    if UNSTORABLE.search(value) is None:
        return value
    return UNSTORABLE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", value)


def clean_params(params: Mapping[str, str]) -> dict[str, str]:
    """A flat string map with every key and value cleaned; of two keys that
    clean to the same text, the first stays."""
    out: dict[str, str] = {}
    for key, value in params.items():
        out.setdefault(clean_text(key), clean_text(value))
    return out


def check_text(field: str, value: str) -> str:
    """``value`` itself, or InvalidArgument(field) when Postgres cannot store it."""
    problem = text_problem(value)
    if problem is not None:
        raise InvalidArgument(field, problem)
    return value


def json_problem(value: Any, path: str, max_depth: int) -> tuple[str, str] | None:
    """What a decoded JSON value holds that cannot be stored, as (field path, reason),
    in one walk without recursion: a container nested deeper than ``max_depth`` levels
    (``value`` itself is level 1) first, wherever it is; else the first string or object
    key (in document order) that jsonb cannot store. None when all of it is fine.
    Paths read like ``props.items[2].name``."""
    text_found: tuple[str, str] | None = None
    stack: list[tuple[Any, int, tuple[Any, ...]]] = [(value, 1, ())]
    while stack:
        v, depth, parts = stack.pop()
        if isinstance(v, str):
            if text_found is None and (problem := text_problem(v)) is not None:
                text_found = (_path(path, parts), problem)
            continue
        if isinstance(v, dict):
            items: Any = v.items()
        elif isinstance(v, list):
            items = enumerate(v)
        else:
            continue
        if depth > max_depth:
            return (
                exactjson.path_text(path, list(parts)),
                f"nests deeper than {max_depth} levels ({path} may nest at most {max_depth})",
            )
        children = []
        for k, child in items:
            if isinstance(k, str) and text_found is None and (problem := text_problem(k)) is not None:
                text_found = (_path(path, parts), f"key {clean_text(k)!r} {problem}")
            children.append((child, depth + 1, (*parts, k)))
        stack.extend(reversed(children))
    return text_found


def _path(prefix: str, parts: tuple[Any, ...]) -> str:
    return prefix + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)


def loads_json(data: bytes | str) -> Any:
    """``orjson.loads``, except that a document whose only fault is a lone
    surrogate escape (``"\\ud800"``, which orjson refuses outright) is still
    read, so the value holding it can be refused or cleaned on its own instead
    of the whole document (a batch of events, a postback) being refused.
    Raises orjson.JSONDecodeError like orjson does."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if "surrogate" not in str(exc):
            raise
        try:
            return exactjson.loads_decimal(data)  # numbers exactly, as the fast path's callers keep them
        except ValueError:
            raise exc from None


def _field_problem(msg: Message, prefix: str) -> tuple[str, str] | None:
    for fd, value in msg.ListFields():
        name = f"{prefix}{fd.name}"
        if fd.type == FieldDescriptor.TYPE_STRING:
            for i, s in enumerate(value) if fd.is_repeated else ((-1, value),):
                if "\x00" in s:
                    return (f"{name}[{i}]" if i >= 0 else name), NUL_PROBLEM
        elif fd.type == FieldDescriptor.TYPE_MESSAGE:
            entry = fd.message_type
            if fd.is_repeated and entry is not None and entry.GetOptions().map_entry:
                value_fd = entry.fields_by_name["value"]
                for key, item in value.items():
                    if isinstance(key, str) and "\x00" in key:
                        return name, f"key {clean_text(key)!r} {NUL_PROBLEM}"
                    if value_fd.type == FieldDescriptor.TYPE_STRING and "\x00" in item:
                        return f"{name}[{clean_text(str(key))}]", NUL_PROBLEM
                    if value_fd.type == FieldDescriptor.TYPE_MESSAGE:
                        found = _field_problem(item, f"{name}[{clean_text(str(key))}].")
                        if found:
                            return found
            elif fd.is_repeated:
                for i, item in enumerate(value):
                    found = _field_problem(item, f"{name}[{i}].")
                    if found:
                        return found
            else:
                found = _field_problem(value, f"{name}.")
                if found:
                    return found
    return None


def message_problem(msg: Message) -> tuple[str, str] | None:
    """The first string field of a protobuf message (nested messages, lists and
    maps included; bytes fields are not text) holding a NUL, as (field path,
    reason). Protobuf itself refuses invalid UTF-8, so NUL is all it can carry.
    Cheap when there is none: a serialized message with no zero byte has none."""
    if b"\x00" not in msg.SerializeToString():
        return None
    return _field_problem(msg, "")
