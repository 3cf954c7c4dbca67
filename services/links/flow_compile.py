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
from services.links.affiliate_rules import accept_languages, language_matches, parse_network, parse_schedule

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@functools.lru_cache(maxsize=4096)
def week_minute(zone: str, epoch_minute: int) -> int:
    """Minutes since Monday 00:00 in ``zone`` (a batch's clicks share one minute)."""
    t = dt.datetime.fromtimestamp(epoch_minute * 60, ZoneInfo(zone))
    return t.weekday() * 1440 + t.hour * 60 + t.minute


class ClickFacts:
    """What a click says, as the filters read it. The dearer views (language,
    query parameters, referrer host, the minute of the week in the account's
    zone, the address as a number) are worked out on first use, once per click
    (``__getattr__`` runs only while the attribute is missing)."""

    def __init__(
        self, *, country: str, device_type: int, os: str, browser: str, ip: IpAddress | None,
        subs: Sequence[str | None], referrer: str, accept_language: str, raw_query: bytes, now: dt.datetime,
    ) -> None:  # fmt: skip
        self.country = country
        self.device_type = DEVICE_TYPE_NAMES.get(device_type, "")
        self.os = os.casefold()
        self.browser = browser.casefold()
        self.ip = ip
        self.subs = subs
        self.referrer = referrer
        self.accept_language = accept_language
        self.raw_query = raw_query
        self.now = now
        self.zone = "UTC"  # the account's time zone: decide() sets the flow's

    def __getattr__(self, name: str) -> Any:
        if name == "language":  # the preferred one: the header's first (highest q)
            tags = accept_languages(self.accept_language) if self.accept_language else []
            value: Any = tags[0] if tags else ""
        elif name == "params":  # parse_qsl(keep_blank_values=True)'s pairs, first value per name
            value = {}
            for pair in self.raw_query.decode("utf-8", "replace").split("&"):
                k, _, v = pair.partition("=")
                if "%" in pair or "+" in pair:  # the dear decoding only when something is encoded
                    k, v = unquote_plus(k), unquote_plus(v)
                if k:
                    value.setdefault(k, v)
        elif name == "referrer_host":
            try:
                value = (urlsplit(self.referrer).hostname or "").rstrip(".") if self.referrer else ""
            except ValueError:
                value = ""
        elif name == "week_minute":  # minutes since Monday 00:00
            value = week_minute(self.zone, int(self.now.timestamp()) // 60)
        elif name == "ip_number":
            value = (self.ip.version, int(self.ip)) if self.ip is not None else None
        else:
            raise AttributeError(name)
        setattr(self, name, value)
        return value


# The include test of each filter field as an expression over f (the facts),
# r (returning visitor), v (the verdict's name) and {k}, the filter's compiled
# constant (a name bound in the generated function's namespace; a value never
# becomes source text). The cheap ones are tested first (all must hold anyway).
TESTS: dict[str, str] = {
    "country": "f.country in {k}", "device_type": "f.device_type in {k}", "os": "f.os in {k}",
    "browser": "f.browser in {k}", "verdict": "v in {k}", "visitor": "{k}[r]",
    "sub": "(f.subs[{k}[0]] or '') in {k}[1]", "param": "f.params.get({k}[0], '') in {k}[1]",
    "language": "{k}(f.language)", "referrer": "(f.referrer_host in {k}[0] or f.referrer_host.endswith({k}[1]))",
    "ip": "{k}(f.ip_number)", "schedule": "{k}[f.week_minute] == 1",
}  # fmt: skip
COST = {"language": 2, "referrer": 2, "ip": 2, "schedule": 2, "param": 1}
WEEK = 7 * 1440


def _in_ranges(values: Sequence[str]) -> Callable[[tuple[int, int] | None], bool]:
    nets = [parse_network(v) for v in values]
    ranges = {
        v: tuple((int(n.network_address), int(n.broadcast_address)) for n in nets if n.version == v) for v in (4, 6)
    }

    def holds(number: tuple[int, int] | None) -> bool:
        if number is None:
            return False
        n = number[1]
        for lo, hi in ranges[number[0]]:
            if lo <= n <= hi:
                return True
        return False

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
        langs = tuple(values)
        return lambda tag: any(language_matches(w, tag) for w in langs) if tag else "" in wanted
    if kind == "referrer":
        return (wanted, tuple("." + v for v in values if v))
    if kind == "ip":
        return _in_ranges(values)
    if kind == "schedule":
        return _week_mask(values)
    if kind not in TESTS:
        raise ValueError(f"unknown filter field {field!r}")
    return wanted


Selector = Callable[[ClickFacts, str, bool], int]  # (facts, verdict name, returning) -> stream index, -1 none


def compile_selector(streams: Sequence[Sequence[Mapping[str, Any]]]) -> Selector:
    """One function testing the streams' filters in order: the index of the
    first whose filters all hold. Generated once per flow load, so a click pays
    for the comparisons and nothing else (no call per filter, no loops); a
    filter several streams share is tested once, before the streams."""

    def key(flt: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
        return flt["field"], tuple(flt.get("values") or [])

    uses: dict[tuple[str, tuple[str, ...]], int] = {}
    for filters in streams:
        for k in {key(flt) for flt in filters}:
            uses[k] = uses.get(k, 0) + 1
    namespace: dict[str, Any] = {}
    names: dict[tuple[str, tuple[str, ...]], str] = {}

    def test_of(k: tuple[str, tuple[str, ...]]) -> str:
        if k not in names:
            names[k] = f"k{len(names)}"
            namespace[names[k]] = _constant(k[0], list(k[1]))
        return TESTS[_kind(k[0])].format(k=names[k])

    lines = ["def select(f, v, r):"]
    shared = {k: f"h{n}" for n, k in enumerate(k for k, n in uses.items() if n > 1)}
    lines += [f"    {local} = {test_of(k)}" for k, local in shared.items()]
    for i, filters in enumerate(streams):
        tests = []
        order = sorted(filters, key=lambda x: -1 if key(x) in shared else COST.get(_kind(x["field"]), 0))
        for flt in order:
            test = shared.get(key(flt)) or f"({test_of(key(flt))})"
            tests.append(f"not {test}" if flt.get("exclude") else test)
        lines.append(f"    if {' and '.join(tests) or 'True'}:\n        return {i}")
    lines.append("    return -1")
    exec(compile("\n".join(lines), "<flow selector>", "exec"), namespace)  # noqa: S102 - source from TESTS only
    return namespace["select"]  # type: ignore[no-any-return]


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

    def render(self, values: Mapping[str, str | None], encoded: Mapping[str, str] | None = None) -> str:
        """``encoded``: values already percent-encoded (used as they are)."""
        out: list[str] = []
        for literal, name in self._parts:
            out.append(literal)
            if encoded is not None and name in encoded:
                out.append(encoded[name])
            else:
                v = values.get(name)
                if v:
                    out.append(quote(str(v), safe=""))
        out.append(self._tail)
        return "".join(out)
