"""A campaign's flow, compiled, and the one decision a click through it gets.

``compile_flow`` turns the stored streams, offers and landers into a ``Flow``
once per cache load (services/links/flow_cache.py): filters become predicates.
``decide`` is a pure function of (flow, click facts, verdict, visitor, caps
view, rng): which stream wins, which lander and offer it rotates to, where the
click goes and which cookies it gets. No I/O here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import orjson
from clicktrail.links.v1 import affiliate_pb2 as apb
from clicktrail.links.v1 import links_pb2 as pb

from libs.macros import append_query_param, expand
from libs.vocab.kinds import DEVICE_TYPE_NAMES
from libs.vocab.subids import SUB_IDS
from services.links.affiliate_rules import accept_languages, language_matches, parse_network, parse_schedule
from services.links.visitors import FLOW_COOKIE_PREFIX, Choice, Visitor, format_cookie

CLICK_COOKIE = "ctc"
ROTATE = apb.STREAM_ACTION_ROTATE
URL_ACTIONS = (apb.STREAM_ACTION_URL, apb.STREAM_ACTION_SAFE_PAGE)
RECORDED = pb.TOUCH_OUTCOME_RECORDED
FALLBACK = pb.TOUCH_OUTCOME_FALLBACK
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Weighted = tuple[tuple[str, int], ...]  # (id, positive weight)
CapsView = Callable[[str], bool]  # offer_id -> capped now


def nothing_capped(_offer_id: str) -> bool:
    return False


@dataclasses.dataclass(frozen=True, slots=True)
class OfferInfo:
    offer_id: str
    url: str
    countries: frozenset[str]  # empty: every country
    active: bool
    cap_action: int
    cap_url: str


@dataclasses.dataclass(frozen=True, slots=True)
class LanderInfo:
    lander_id: str
    url: str
    macros: Mapping[str, str]


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
        elif name == "params":
            value = {}
            for k, v in parse_qsl(self.raw_query.decode("utf-8", "replace"), keep_blank_values=True):
                value.setdefault(k, v)
        elif name == "referrer_host":
            try:
                value = (urlsplit(self.referrer).hostname or "").rstrip(".") if self.referrer else ""
            except ValueError:
                value = ""
        elif name == "week_minute":  # minutes since Monday 00:00
            t = self.now.astimezone(ZoneInfo(self.zone))
            value = t.weekday() * 1440 + t.hour * 60 + t.minute
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
    for the comparisons and nothing else (no call per filter, no loops)."""
    namespace: dict[str, Any] = {}
    lines = ["def select(f, v, r):"]
    for i, filters in enumerate(streams):
        tests = []
        for flt in sorted(filters, key=lambda x: COST.get(_kind(x["field"]), 0)):
            name = f"k{len(namespace)}"
            namespace[name] = _constant(flt["field"], list(flt.get("values") or []))
            test = TESTS[_kind(flt["field"])].format(k=name)
            tests.append(f"not ({test})" if flt.get("exclude") else f"({test})")
        lines.append(f"    if {' and '.join(tests) or 'True'}:\n        return {i}")
    lines.append("    return -1")
    exec(compile("\n".join(lines), "<flow selector>", "exec"), namespace)  # noqa: S102 - source from TESTS only
    return namespace["select"]  # type: ignore[no-any-return]


@dataclasses.dataclass(frozen=True, slots=True)
class CompiledStream:
    stream_id: str
    action: int
    url: str
    is_default: bool
    landers: Weighted
    lander_ids: frozenset[str]
    offers: Weighted
    filters: tuple[Mapping[str, Any], ...] = ()
    paused: bool = False


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _weights(items: Any, key: str) -> Weighted:
    return tuple((x[key], int(x["weight"])) for x in _json(items) or [] if int(x["weight"]) > 0)


def compile_stream(row: Mapping[str, Any]) -> CompiledStream:
    """One links.streams row (filters / landers / offers as stored JSON)."""
    filters = tuple(_json(row["filters"]) or [])
    landers = _weights(row["landers"], "lander_id")
    return CompiledStream(
        stream_id=row["stream_id"], action=row["action"], url=row["url"] or "", is_default=not filters,
        landers=landers, lander_ids=frozenset(lander_id for lander_id, _ in landers),
        offers=_weights(row["offers"], "offer_id"), filters=filters, paused=bool(row["paused"]),
    )  # fmt: skip


@dataclasses.dataclass(frozen=True, slots=True)
class Flow:
    account_id: str
    campaign_id: str
    fallback_url: str
    visitor_window_s: int
    time_zone: str
    streams: tuple[CompiledStream, ...]  # the try order: by position, paused ones out, the default last
    select: Selector  # index into streams of the first whose filters hold (-1: none)
    by_id: Mapping[str, CompiledStream]  # every stream, paused ones too
    offers: Mapping[str, OfferInfo]
    landers: Mapping[str, LanderInfo]


def compile_flow(
    campaign: Mapping[str, Any],
    stream_rows: Sequence[Mapping[str, Any]],
    offers: Mapping[str, OfferInfo],
    landers: Mapping[str, LanderInfo],
) -> Flow:
    """``stream_rows`` in position, stream_id order; ``campaign`` has account_id,
    campaign_id, fallback_url, visitor_window_s, time_zone."""
    compiled = [compile_stream(r) for r in stream_rows]
    order = sorted((s for s in compiled if not s.paused), key=lambda s: s.is_default)  # stable: position order kept
    try:
        ZoneInfo(campaign["time_zone"])
        zone = campaign["time_zone"]
    except (ValueError, KeyError):  # an unknown zone name must not break the click path
        zone = "UTC"
    return Flow(
        account_id=campaign["account_id"], campaign_id=campaign["campaign_id"],
        fallback_url=campaign["fallback_url"] or "", visitor_window_s=int(campaign["visitor_window_s"]),
        time_zone=zone, streams=tuple(order), select=compile_selector([s.filters for s in order]),
        by_id={s.stream_id: s for s in compiled}, offers=offers, landers=landers,
    )  # fmt: skip


def weighted(items: Weighted | list[tuple[str, int]], rng: random.Random) -> str:
    """An id by weight (items non-empty, weights positive)."""
    if len(items) == 1:
        return items[0][0]
    total = sum(w for _, w in items)
    x = rng.random() * total
    for item_id, w in items:
        x -= w
        if x < 0:
            return item_id
    return items[-1][0]


def offer_eligible(offer: OfferInfo, country: str, capped: CapsView) -> bool:
    return offer.active and (not offer.countries or country in offer.countries) and not capped(offer.offer_id)


@dataclasses.dataclass(frozen=True, slots=True)
class OfferPick:
    offer: OfferInfo | None
    # When offer is None: the capped offer's cap_url (CAP_ACTION_REDIRECT), else
    # the campaign's fallback URL ("" when it has none).
    location: str
    fallback: bool = False


def choose_offer(
    flow: Flow, stream: CompiledStream, country: str, capped: CapsView, rng: random.Random, keep: str | None = None
) -> OfferPick:  # fmt: skip
    """An eligible offer of the stream by weight; ``keep`` when it is still in the
    rotation and eligible. None eligible: the first capped offer's cap action."""
    eligible: list[tuple[str, int]] = []
    cap_url = ""
    for offer_id, weight in stream.offers:
        offer = flow.offers.get(offer_id)
        if offer is None:
            continue
        if offer_eligible(offer, country, capped):
            if offer_id == keep:
                return OfferPick(offer, "")
            eligible.append((offer_id, weight))
        elif not cap_url and offer.cap_action == apb.CAP_ACTION_REDIRECT and offer.cap_url and capped(offer_id):
            if offer.active and (not offer.countries or country in offer.countries):
                cap_url = offer.cap_url
    if eligible:
        return OfferPick(flow.offers[weighted(eligible, rng)], "")
    if cap_url:
        return OfferPick(None, cap_url)
    return OfferPick(None, flow.fallback_url, fallback=True)


def render_offer_url(offer: OfferInfo, values: Mapping[str, str | None]) -> str:
    location = expand(offer.url, values)
    if "{click_id}" not in offer.url:
        location = append_query_param(location, "click_id", values.get("click_id") or "")
    return location


CLICK_MACRO_COLUMNS = (
    "click_id", "campaign_id", "link_id", "app_id", "partner_id", "partner_click_id", "country", "os",
    "os_version", "device_model", "browser", "idfa", "gaid", *SUB_IDS,
)  # fmt: skip


def click_values(row: Mapping[str, Any]) -> dict[str, str | None]:
    """The click macros of a links.clicks row (as the click path filled them)."""
    values: dict[str, str | None] = {k: row[k] for k in CLICK_MACRO_COLUMNS}
    values["device_type"] = DEVICE_TYPE_NAMES.get(row["device_type"], "")
    values["ip"] = str(row["ip"]) if row["ip"] is not None else ""
    values["timestamp"] = str(int(row["create_time"].timestamp()))
    return values


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    stream_id: str | None
    lander_id: str | None
    offer_id: str | None
    location: str
    outcome: pb.TouchOutcome  # TOUCH_OUTCOME_RECORDED or TOUCH_OUTCOME_FALLBACK (recorded either way)
    cookies: tuple[pb.Cookie, ...] = ()


def decide(
    flow: Flow, facts: ClickFacts, verdict: str, visitor: Visitor, capped: CapsView, rng: random.Random,
    values: Mapping[str, str | None], lander_click_base: str,
) -> Decision:  # fmt: skip
    """The click's stream, lander, offer, location and cookies. ``values``: the
    click macros (click_id among them); ``lander_click_base``: scheme://host of
    the tracker's /lp/click for this link."""
    facts.zone = flow.time_zone
    index = flow.select(facts, verdict, visitor.returning)
    if index < 0:
        return Decision(None, None, None, flow.fallback_url, FALLBACK)
    stream = flow.streams[index]
    prev = visitor.previous if visitor.previous is not None and visitor.previous.stream_id == stream.stream_id else None
    lander_id = offer_id = None
    outcome = RECORDED
    click_cookie = False
    if stream.action == ROTATE:
        if stream.landers:
            kept = prev.lander_id if prev is not None and prev.lander_id in stream.lander_ids else None
            lander_id = kept or weighted(stream.landers, rng)
        pick = choose_offer(flow, stream, facts.country, capped, rng, prev.offer_id if prev is not None else None)
        lander = flow.landers.get(lander_id) if lander_id else None
        if pick.offer is None:
            lander_id = None
            location = pick.location
            outcome = FALLBACK if pick.fallback else RECORDED
        elif lander is not None:
            offer_id = pick.offer.offer_id
            lp_values = dict(values)
            lp_values.update(lander.macros)
            lp_values["lander_click_url"] = f"{lander_click_base}/lp/click?click_id={values['click_id']}"
            location = expand(lander.url, lp_values)
            click_cookie = True
        else:
            lander_id = None
            offer_id = pick.offer.offer_id
            location = render_offer_url(pick.offer, values)
    elif stream.action in URL_ACTIONS:
        location = expand(stream.url, values)
    else:
        location, outcome = flow.fallback_url, FALLBACK
    window = flow.visitor_window_s
    choice = format_cookie(Choice(stream.stream_id, lander_id, offer_id))
    cookies = [pb.Cookie(name=FLOW_COOKIE_PREFIX + flow.campaign_id, value=choice, max_age_seconds=window)]
    if click_cookie:
        cookies.append(pb.Cookie(name=CLICK_COOKIE, value=str(values["click_id"]), max_age_seconds=window))
    return Decision(stream.stream_id, lander_id, offer_id, location, outcome, tuple(cookies))
