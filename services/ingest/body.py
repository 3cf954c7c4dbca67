"""Reading a JSON batch of events so that one bad event costs only itself.

The fast path reads the whole body with orjson (libs.text.loads_json: a lone
surrogate is read, and validate refuses its event naming the field). When
that fails (an event with invalid UTF-8 in a string, one nested past orjson's
depth limit, a NaN...), a scan that keeps no recursion finds the raw text of
each element of the events array and each is read on its own: the unreadable
ones are rejected with the reason, the rest go on. Only a body whose
structure is broken (unbalanced brackets, an unterminated string, no events
array) is refused as a whole.

Numbers in ``action_properties`` are kept exactly (libs.exactjson): a batch
whose properties hold a number a float cannot carry exactly is read again
with Decimals.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from libs import exactjson
from libs.errors import InvalidArgument
from libs.text import loads_json
from services.ingest.validate import MAX_PROPERTIES_DEPTH, Rejected

# A string (escapes included), a run of openers, a run of closers, a separator, or
# a lone quote (an unterminated string). Runs keep a deeply nested body to few tokens.
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[{]+|[\]}]+|[,:]|"', re.S)
_OPENER_OF = bytes.maketrans(b"]}", b"[{")
_UUID = re.compile(rb'"uuid"\s*:\s*"([0-9A-Fa-f-]{32,40})"')
# orjson reads at most 1024 levels; deeper elements are refused with their depth.
_PARSER_DEPTH = 1024


class Unparsable(dict[str, Any]):
    """An event that could not even be read; validate() is not asked, ``rejected`` says why."""

    def __init__(self, raw_uuid: str, rejected: Rejected) -> None:
        super().__init__(uuid=raw_uuid)
        self.rejected = rejected


def split_events(body: bytes) -> list[tuple[bytes, int]] | None:
    """The raw text and the nesting depth (1 = a flat object) of each element of the
    events array of ``[...]`` or ``{"events": [...]}``; None when the body's
    structure is broken or there is no events array. Iterative: any depth is fine."""
    head = body.lstrip()[:1]
    if head == b"[":
        target = 1
    elif head == b"{":
        target = 2
    else:
        return None
    stack = bytearray()
    spans: list[tuple[bytes, int]] = []
    start = -1  # where the current element began; -1 outside the array
    deepest = 0  # the current element's deepest level (absolute)
    found = closed = False
    key_state = 0  # object form, at depth 1: 1 after a key "events", 2 after its colon
    after_sep = True  # object form, at depth 1: the next string is a key
    for m in _TOKENS.finditer(body):
        tok = m.group()
        c = tok[:1]
        depth = len(stack)
        if c == b'"':
            if len(tok) == 1:
                return None  # unterminated string
            if depth == 1 and target == 2 and not found:
                key_state = 1 if after_sep and tok == b'"events"' else 0
                after_sep = False
            continue
        if c == b"," or c == b":":
            if start >= 0 and depth == target:
                spans.append((body[start : m.start()].strip(), deepest - target))
                start, deepest = m.end(), target
            elif depth == 1 and target == 2 and not found:
                key_state = 2 if c == b":" and key_state == 1 else 0
                after_sep = c == b","
            continue
        if c == b"[" or c == b"{":
            opens_events = (target == 1 and depth == 0) or (target == 2 and depth == 1 and key_state == 2)
            if not found and not closed and opens_events:
                if c != b"[":
                    return None  # "events" is not an array
                found, start, deepest = True, m.start() + 1, target
            elif depth == 1 and target == 2 and not found:
                key_state, after_sep = 0, False
            stack += tok
            if start >= 0:
                deepest = max(deepest, len(stack))
            continue
        # a run of closers
        n = len(tok)
        if n > depth or stack[depth - n :] != tok.translate(_OPENER_OF)[::-1]:
            return None
        del stack[depth - n :]
        if start >= 0 and depth >= target > len(stack):
            end = m.start() + (depth - target)
            spans.append((body[start:end].strip(), deepest - target))
            start, closed = -1, True
    if stack or not closed:
        return None
    if len(spans) == 1 and not spans[0][0]:
        return []  # an empty array
    return spans


def _read_event(raw: bytes, depth: int) -> Any:
    try:
        doc = loads_json(raw)
    except orjson.JSONDecodeError as exc:
        found = _UUID.search(raw)
        raw_uuid = found.group(1).decode("ascii") if found else ""
        if depth > _PARSER_DEPTH:
            return Unparsable(raw_uuid, Rejected(
                "event", f"nests {depth} levels deep; action_properties may nest at most {MAX_PROPERTIES_DEPTH} levels",
            ))  # fmt: skip
        return Unparsable(raw_uuid, Rejected("event", f"is not valid JSON ({exc})"))
    if isinstance(doc, dict) and exactjson.has_float(doc.get("action_properties"), MAX_PROPERTIES_DEPTH + 1):
        try:
            doc = exactjson.loads_decimal(raw)
        except exactjson.JSONDecodeError as exc:
            return Unparsable(str(doc.get("uuid") or ""), Rejected("event", f"is not valid JSON ({exc})"))
    return doc


def _per_event(body: bytes, error: Exception) -> list[Any]:
    spans = split_events(body)
    if spans is None:
        raise InvalidArgument("body", f"is not valid JSON ({error})")
    return [_read_event(raw, depth) for raw, depth in spans]


def read_events(body: bytes) -> list[Any]:
    """The events of a JSON body (an element that cannot be read is an Unparsable);
    InvalidArgument when the body as a whole is unusable."""
    try:
        doc = loads_json(body)  # a lone surrogate is read: validate refuses its event naming the field
    except orjson.JSONDecodeError as exc:
        return _per_event(body, exc)
    events: Any = doc.get("events") if isinstance(doc, dict) else doc
    if not isinstance(events, list):
        raise InvalidArgument("events", 'the body must be {"events": [...]}')
    if any(
        isinstance(e, dict) and exactjson.has_float(e.get("action_properties"), MAX_PROPERTIES_DEPTH + 1)
        for e in events
    ):
        try:
            exact = exactjson.loads_decimal(body)
        except exactjson.JSONDecodeError as exc:  # e.g. nested too deep for the stdlib reader
            return _per_event(body, exc)
        events = exact.get("events") if isinstance(exact, dict) else exact
    result: list[Any] = events
    return result
