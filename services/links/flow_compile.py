"""The compiled parts of a flow (services/links/flow.py): the click's facts as
the filters read them, the generated stream selector, and URL templates
split once so that a click only joins strings.

A click through a flow of 10 streams x 5 filters must cost about what a plain
link's click costs (issue 21's bench), so the work moves to the flow's load:
each filter becomes an inline comparison against a constant prepared for it,
the filters several streams share are tested once per click, and the lander's
own macros and the tracker's /lp/click prefix are encoded ahead.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import ipaddress
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, unquote_plus, urlsplit
from zoneinfo import ZoneInfo

from libs.macros import MACRO_RE
from libs.vocab.kinds import DEVICE_TYPE_NAMES
from libs.vocab.subids import SUB_IDS
from services.links.affiliate_rules import accept_languages, parse_network, parse_schedule

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@functools.lru_cache(maxsize=4096)
def week_minute(zone: str, epoch_minute: int) -> int:
    """Minutes since Monday 00:00 in ``zone`` (a batch's clicks share one minute)."""
    t = dt.datetime.fromtimestamp(epoch_minute * 60, ZoneInfo(zone))
    return t.weekday() * 1440 + t.hour * 60 + t.minute


class ClickFacts:
    """What a click says, as the filters read it. The dearer views (the preferred
    language, the query parameters, the referrer's host, the minute of the week,
    the address as a number) are worked out by the generated selector itself, once
    per click and only when a filter needs them (``compile_selector``)."""

    __slots__ = (
        "accept_language",
        "browser",
        "country",
        "device_type",
        "epoch_minute",
        "ip",
        "now",
        "os",
        "raw_query",
        "referrer",
        "subs",
    )  # fmt: skip

    def __init__(
        self, *, country: str, device_type: int, os: str, browser: str, ip: IpAddress | None,
        subs: Sequence[str | None], referrer: str, accept_language: str, raw_query: bytes, now: dt.datetime,
        epoch_minute: int | None = None,
    ) -> None:  # fmt: skip
        self.country = country
        self.device_type = device_type  # links.v1.DeviceType
        self.os = os
        self.browser = browser
        self.ip = ip
        self.subs = subs
        self.referrer = referrer
        self.accept_language = accept_language
        self.raw_query = raw_query
        self.now = now
        # Minutes since the epoch of ``now`` (the click path has it as a number already).
        self.epoch_minute = int(now.timestamp()) // 60 if epoch_minute is None else epoch_minute


def preferred_language(header: str) -> str:
    """The header's first language (highest q), normalised; "" when none. Headers of
    usual length are cached (browsers send a few distinct ones, and parsing one costs
    more than a look-up); a long one is parsed each time, so the cache stays small."""
    if len(header) <= MAX_CACHED_HEADER:
        return _preferred_language(header)
    tags = accept_languages(header)
    return tags[0] if tags else ""


MAX_CACHED_HEADER = 256


@functools.lru_cache(maxsize=1024)
def _preferred_language(header: str) -> str:
    tags = accept_languages(header)
    return tags[0] if tags else ""


def query_params(raw_query: bytes) -> dict[str, str]:
    """parse_qsl(keep_blank_values=True)'s pairs, the first value per name (names as sent)."""
    value: dict[str, str] = {}
    for pair in raw_query.decode("utf-8", "replace").split("&"):
        k, _, v = pair.partition("=")
        if "%" in pair or "+" in pair:  # the dear decoding only when something is encoded
            k, v = unquote_plus(k), unquote_plus(v)
        if k:
            value.setdefault(k, v)
    return value


def referrer_host(referrer: str) -> str:
    try:
        return (urlsplit(referrer).hostname or "").rstrip(".")
    except ValueError:
        return ""


V6 = 1 << 32  # IPv6 addresses are numbered after every IPv4 one: one number, one comparison


def ip_number(ip: IpAddress | None) -> int:
    """The address as one number (IPv4 as is, IPv6 after them all); -1 without one."""
    if ip is None:
        return -1
    return int(ip) if ip.version == 4 else int(ip) + V6


# The views of a click the filters read, as expressions: locals of the generated
# selector, each worked out once per click and only if a test needs it.
VIEWS: dict[str, str] = {
    "dtn": "_device_type_names.get(f.device_type, '')", "osf": "f.os.casefold()", "brf": "f.browser.casefold()",
    "lang": "(_language(f.accept_language) if f.accept_language else '')",
    "params": "(_params(f.raw_query) if f.raw_query else _no_params)",
    "rh": "(_referrer_host(f.referrer) if f.referrer else '')", "wm": "_week_minute(_zone, f.epoch_minute)",
    "ipn": "_ip_number(f.ip)",
}  # fmt: skip
VIEW_HELPERS: dict[str, Any] = {
    "_language": preferred_language, "_params": query_params, "_no_params": {}, "_referrer_host": referrer_host,
    "_week_minute": week_minute, "_device_type_names": DEVICE_TYPE_NAMES, "_ip_number": ip_number,
}  # fmt: skip
# The include test of each filter field as an expression over f (the facts),
# r (returning visitor), v (the verdict's name), {k}, the filter's compiled
# constant (a name bound in the generated function's namespace; a value never
# becomes source text), and the field's view: {v} where the test first reads it
# (worked out there unless it is already), its name after that. The cheap ones
# are tested first (all must hold anyway). "ip" is generated from its ranges.
TESTS: dict[str, str] = {
    "country": "f.country in {k}", "device_type": "{v} in {k}", "os": "{v} in {k}", "browser": "{v} in {k}",
    "verdict": "v in {k}", "visitor": "{k}[r]", "sub": "(f.subs[{k}[0]] or '') in {k}[1]",
    "param": "{v}.get({k}[0], '') in {k}[1]", "language": "({v} in {k}[0] or lang.partition('-')[0] in {k}[1])",
    "referrer": "({v} in {k}[0] or rh.endswith({k}[1]))", "ip": "", "schedule": "{k}[{v}] == 1",
}  # fmt: skip
NEEDS = {
    "device_type": "dtn", "os": "osf", "browser": "brf", "param": "params", "language": "lang", "referrer": "rh",
    "schedule": "wm", "ip": "ipn",
}  # fmt: skip
COST = {"language": 2, "referrer": 2, "ip": 2, "schedule": 2, "param": 1}
WEEK = 7 * 1440
INLINE_RANGES = 4  # an IP filter with more ranges is a bisect over them


def _ranges(values: Sequence[str]) -> list[tuple[int, int]]:
    """The filter's ranges as (first, last) ip_number()s, merged and sorted."""
    spans = []
    for n in map(parse_network, values):
        offset = 0 if n.version == 4 else V6
        spans.append((int(n.network_address) + offset, int(n.broadcast_address) + offset))
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def _in_ranges(spans: list[tuple[int, int]]) -> Callable[[int], bool]:
    starts = [lo for lo, _ in spans]
    ends = [hi for _, hi in spans]

    def holds(n: int) -> bool:
        i = bisect.bisect_right(starts, n) - 1
        return i >= 0 and n <= ends[i]

    return holds


def _week_mask(values: Sequence[str]) -> bytes:
    """The schedules' minutes of the week, one byte each (1: inside)."""
    mask = bytearray(WEEK)
    for s in map(parse_schedule, values):
        span = (s.end_min - s.start_min) % 1440 or 1440
        for day in s.days:
            start = day * 1440 + s.start_min
            for lo, hi in ((start, min(start + span, WEEK)), (0, max(0, start + span - WEEK))):
                mask[lo:hi] = b"\x01" * (hi - lo)
    return bytes(mask)


def _kind(field: str) -> str:
    return "sub" if field in SUB_IDS else "param" if field.startswith("param.") else field


def _constant(field: str, values: Sequence[str]) -> Any:
    kind, wanted = _kind(field), frozenset(values)
    if kind in ("os", "browser"):
        return frozenset(v.casefold() for v in values)
    if kind == "visitor":
        return ("new" in wanted, "returning" in wanted)  # indexed by r (False 0, True 1)
    if kind == "sub":
        return (SUB_IDS.index(field), wanted)
    if kind == "param":
        return (field[len("param.") :], wanted)
    if kind == "language":
        # "pt" matches "pt" and "pt-BR", "pt-BR" only "pt-BR" (affiliate_rules.language_matches):
        # the tag itself, or its primary subtag when that is a wanted value without a region.
        return (wanted, frozenset(w for w in wanted if "-" not in w))
    if kind == "referrer":
        return (wanted, tuple("." + v for v in values if v))
    if kind == "schedule":
        return _week_mask(values)
    if kind not in TESTS:
        raise ValueError(f"unknown filter field {field!r}")
    return wanted


Selector = Callable[[ClickFacts, str, bool], int]  # (facts, verdict name, returning) -> stream index, -1 none


def compile_selector(streams: Sequence[Sequence[Mapping[str, Any]]], zone: str = "UTC") -> Selector:
    """One function testing the streams' filters in order: the index of the
    first whose filters all hold. Generated once per flow load, so a click pays
    for the comparisons and nothing else (no call per filter, no loops); a
    filter several streams share is tested once, before the streams; a view of
    the click (its language, query parameters, ...) is worked out where a test
    first reads it, once. ``zone``: the account's time zone (schedules)."""

    def key(flt: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
        return flt["field"], tuple(flt.get("values") or [])

    uses: dict[tuple[str, tuple[str, ...]], int] = {}
    for filters in streams:
        for k in {key(flt) for flt in filters}:
            uses[k] = uses.get(k, 0) + 1
    namespace: dict[str, Any] = {**VIEW_HELPERS, "_zone": zone}
    names: dict[tuple[str, tuple[str, ...]], str] = {}
    ready: set[str] = set()  # views worked out unconditionally (before the streams' tests)

    def view(name: str) -> str:
        if name in ready:
            return name
        return f"(({name} := {VIEWS[name]}) if {name} is None else {name})"

    def test_of(k: tuple[str, tuple[str, ...]]) -> str:
        kind = _kind(k[0])
        if k not in names:
            names[k] = f"k{len(names)}"
            if kind == "ip":
                spans = _ranges(k[1])
                namespace[names[k]] = _in_ranges(spans) if len(spans) > INLINE_RANGES else tuple(spans)
            else:
                namespace[names[k]] = _constant(k[0], list(k[1]))
        if kind == "ip":
            spans = namespace[names[k]]
            if callable(spans):
                return f"{names[k]}({view('ipn')})"
            if not spans:
                return "False"
            tests = []
            for n, (lo, hi) in enumerate(spans):
                namespace[f"{names[k]}_{n}lo"], namespace[f"{names[k]}_{n}hi"] = lo, hi
                # the first comparison reads the view (working it out if need be), the others its name
                tests.append(f"{names[k]}_{n}lo <= {view('ipn') if n == 0 else 'ipn'} <= {names[k]}_{n}hi")
            return f"({' or '.join(tests)})"
        v = NEEDS.get(kind)
        return TESTS[kind].format(k=names[k], v=view(v) if v else "")

    body: list[str] = []
    shared = {k: f"h{n}" for n, k in enumerate(k for k, n in uses.items() if n > 1)}
    for k in shared:  # the shared tests run unconditionally: so do their views
        v = NEEDS.get(_kind(k[0]))
        if v is not None and v not in ready:
            body.append(f"    {v} = {VIEWS[v]}")
            ready.add(v)
    body += [f"    {local} = {test_of(k)}" for k, local in shared.items()]
    for i, filters in enumerate(streams):
        tests = []
        order = sorted(filters, key=lambda x: -1 if key(x) in shared else COST.get(_kind(x["field"]), 0))
        for flt in order:
            test = shared.get(key(flt)) or f"({test_of(key(flt))})"
            tests.append(f"not {test}" if flt.get("exclude") else test)
        body.append(f"    if {' and '.join(tests) or 'True'}:\n        return {i}")
    used = sorted({v for k in names if (v := NEEDS.get(_kind(k[0]))) is not None} - ready)
    lines = ["def select(f, v, r):", *(f"    {v} = None" for v in used), *body, "    return -1"]
    source = "\n".join(lines)
    exec(compile(source, "<flow selector>", "exec"), namespace)  # noqa: S102 - source from TESTS / VIEWS only
    select = namespace["select"]
    select.source = source  # for a look when profiling
    return select  # type: ignore[no-any-return]


class UrlTemplate:
    """A URL template split at its macros once: a click joins literal text and
    encoded values (libs.macros.expand's result: values percent-encoded, empty
    or unknown ones ''). ``bound``: macros known ahead (a lander's own), encoded
    into the literal text now."""

    __slots__ = ("_parts", "_tail")

    def __init__(self, template: str, bound: Mapping[str, str] | None = None) -> None:
        parts: list[tuple[str, str]] = []
        literal, pos = "", 0
        for m in MACRO_RE.finditer(template):
            literal += template[pos : m.start()]
            pos, name = m.end(), m.group(1)
            if bound is not None and name in bound:
                literal += quote(bound[name], safe="") if bound[name] else ""
            else:
                parts.append((literal, name))
                literal = ""
        self._parts = tuple(parts)
        self._tail = literal + template[pos:]

    def render(self, values: Mapping[str, str | None], name: str = "", encoded: str = "", click_id: str = "") -> str:
        """The URL for ``values`` (percent-encoded). ``name``: a macro whose value is
        ``encoded``, already percent-encoded (the lander's {lander_click_url});
        ``click_id``: the click's id, put in as it is (ids are URL-safe: libs/ids.py),
        else values' is encoded like any value."""
        out: list[str] = []
        for literal, macro in self._parts:
            out.append(literal)
            if macro == name:
                out.append(encoded)
            elif macro == "click_id" and click_id:
                out.append(click_id)
            else:
                v = values.get(macro)
                if v:
                    out.append(quote(str(v), safe=""))
        out.append(self._tail)
        return "".join(out)
