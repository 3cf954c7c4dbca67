"""A campaign's flow, compiled, and the one decision a click through it gets.

``compile_flow`` turns the stored streams, offers and landers into a ``Flow``
once per cache load (services/links/flow_cache.py): filters become predicates.
``decide`` is a pure function of (flow, click facts, verdict, visitor, caps
view, rng): which stream wins, which lander and offer it rotates to, where the
click goes and which cookies it gets. No I/O here.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import itertools
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import orjson
from clicktrail.links.v1 import affiliate_pb2 as apb
from clicktrail.links.v1 import links_pb2 as pb

from libs.macros import append_query_param, expand
from libs.vocab.kinds import DEVICE_TYPE_NAMES
from libs.vocab.subids import SUB_IDS
from services.links.flow_compile import ClickFacts, Selector, UrlTemplate, compile_selector
from services.links.visitors import FLOW_COOKIE_PREFIX, NONE, Visitor

ROTATE = apb.STREAM_ACTION_ROTATE
URL_ACTIONS = (apb.STREAM_ACTION_URL, apb.STREAM_ACTION_SAFE_PAGE)
RECORDED = pb.TOUCH_OUTCOME_RECORDED
FALLBACK = pb.TOUCH_OUTCOME_FALLBACK
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
    template: UrlTemplate = dataclasses.field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "template", UrlTemplate(self.url))


@dataclasses.dataclass(frozen=True, slots=True)
class LanderInfo:
    lander_id: str
    url: str
    macros: Mapping[str, str]
    template: UrlTemplate = dataclasses.field(init=False, compare=False)  # its own macros filled in

    def __post_init__(self) -> None:
        object.__setattr__(self, "template", UrlTemplate(self.url, self.macros))


@functools.lru_cache(maxsize=1024)
def lander_click_prefix(base: str) -> str:
    """{lander_click_url} up to the click id, percent-encoded (once per tracker host)."""
    return quote(f"{base}/lp/click?click_id=", safe="")


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
    # The rotations' running weight totals, worked out once per flow load.
    lander_table: WeightTable = dataclasses.field(init=False, compare=False)
    offer_table: WeightTable = dataclasses.field(init=False, compare=False)
    offer_ids: frozenset[str] = dataclasses.field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "lander_table", weight_table(self.landers))
        object.__setattr__(self, "offer_table", weight_table(self.offers))
        object.__setattr__(self, "offer_ids", frozenset(offer_id for offer_id, _ in self.offers))


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
    cookie_name: str = dataclasses.field(init=False, compare=False)  # the flow cookie's: ctf_<campaign_id>
    # Streams (by index in ``streams``) whose every offer is known, active and open
    # to every country: with nothing capped, each of them is eligible.
    open_offers: frozenset[int] = dataclasses.field(init=False, compare=False)
    # The flow cookies made so far, by value, with that value (a flow has few choices;
    # pb.Cookie is copied into each answer, so one made once serves every click, and
    # the visitor memory keeps the one string, not one per click).
    cookies: dict[str, tuple[str, tuple[pb.Cookie]]] = dataclasses.field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cookie_name", FLOW_COOKIE_PREFIX + self.campaign_id)
        open_offers = frozenset(
            i for i, s in enumerate(self.streams)
            if all(
                (o := self.offers.get(offer_id)) is not None and o.active and not o.countries
                for offer_id, _ in s.offers
            )
        )  # fmt: skip
        object.__setattr__(self, "open_offers", open_offers)
        object.__setattr__(self, "cookies", {})

    def flow_cookie(self, choice: str) -> tuple[str, tuple[pb.Cookie]]:
        """(``choice`` as first seen, (the flow cookie with it as its value,)): the
        cookies of a Decision, made once per choice."""
        got = self.cookies.get(choice)
        if got is None:
            if len(self.cookies) >= MAX_FLOW_COOKIES:
                self.cookies.clear()
            cookie = pb.Cookie(name=self.cookie_name, value=choice, max_age_seconds=self.visitor_window_s)
            got = self.cookies[choice] = (choice, (cookie,))
        return got


MAX_FLOW_COOKIES = 4096


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
        time_zone=zone, streams=tuple(order), select=compile_selector([s.filters for s in order], zone),
        by_id={s.stream_id: s for s in compiled}, offers=offers, landers=landers,
    )  # fmt: skip


# (ids, running totals of their weights, the total): a draw is one bisect.
WeightTable = tuple[tuple[str, ...], tuple[int, ...], int]


def weight_table(items: Weighted | list[tuple[str, int]]) -> WeightTable:
    ids = tuple(item_id for item_id, _ in items)
    totals = tuple(itertools.accumulate(w for _, w in items))
    return ids, totals, totals[-1] if totals else 0


def draw(table: WeightTable, rng: random.Random) -> str:
    """An id of a non-empty table by weight."""
    ids, totals, total = table
    if len(ids) == 1:
        return ids[0]
    return ids[min(bisect.bisect_right(totals, rng.random() * total), len(ids) - 1)]


def weighted(items: Weighted | list[tuple[str, int]], rng: random.Random) -> str:
    """An id by weight (items non-empty, weights positive)."""
    return draw(weight_table(items), rng)


def offer_eligible(offer: OfferInfo, country: str, capped: CapsView) -> bool:
    return offer.active and (not offer.countries or country in offer.countries) and not capped(offer.offer_id)


@dataclasses.dataclass(slots=True)  # per click: not frozen (cheaper to make)
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
    offers = flow.offers
    if keep is not None:
        kept = offers.get(keep)
        if kept is not None and keep in stream.offer_table[0] and offer_eligible(kept, country, capped):
            return OfferPick(kept, "")
    eligible: list[tuple[str, int]] = []
    cap_url = ""
    for offer_id, weight in stream.offers:
        offer = offers.get(offer_id)
        if offer is None:
            continue
        if offer_eligible(offer, country, capped):
            eligible.append((offer_id, weight))
        elif not cap_url and offer.cap_action == apb.CAP_ACTION_REDIRECT and offer.cap_url and capped(offer_id):
            if offer.active and (not offer.countries or country in offer.countries):
                cap_url = offer.cap_url
    if eligible:
        # Usually every offer is eligible: the stream's own table, else one for these.
        table = stream.offer_table if len(eligible) == len(stream.offers) else weight_table(eligible)
        return OfferPick(offers[draw(table, rng)], "")
    if cap_url:
        return OfferPick(None, cap_url)
    return OfferPick(None, flow.fallback_url, fallback=True)


def render_offer_url(offer: OfferInfo, values: Mapping[str, str | None]) -> str:
    location = offer.template.render(values)
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


@dataclasses.dataclass(slots=True)  # per click: not frozen (cheaper to make)
class Decision:
    stream_id: str | None
    lander_id: str | None
    offer_id: str | None
    location: str
    outcome: pb.TouchOutcome  # TOUCH_OUTCOME_RECORDED or TOUCH_OUTCOME_FALLBACK (recorded either way)
    cookies: tuple[pb.Cookie, ...] = ()
    choice: str = ""  # the flow cookie's value (format_cookie), "" when no stream won
    # > 0: the gateway sets the click cookie (ctc: the click id) for this long: the click
    # went to a lander, whose click-through may come back without the id in its URL.
    click_cookie_s: int = 0


def decide(
    flow: Flow, facts: ClickFacts, verdict: str, visitor: Visitor, capped: CapsView, rng: random.Random,
    values: Mapping[str, str | None], lander_click_base: str, *, lp_prefix: str | None = None,
) -> Decision:  # fmt: skip
    """The click's stream, lander, offer, location and cookies. ``values``: the
    click macros (click_id among them); ``lander_click_base``: scheme://host of
    the tracker's /lp/click for this link (``lp_prefix``: its lander_click_prefix
    when the caller has it). ``capped`` is nothing_capped when no offer is capped."""
    index = flow.select(facts, verdict, visitor.returning)
    if index < 0:
        return Decision(None, None, None, flow.fallback_url, FALLBACK)
    stream = flow.streams[index]
    prev = visitor.previous
    if prev is not None and prev.stream_id != stream.stream_id:
        prev = None
    lander_id = offer_id = None
    outcome = RECORDED
    click_cookie_s = 0
    if stream.action == ROTATE:
        if stream.landers:
            kept = prev.lander_id if prev is not None and prev.lander_id in stream.lander_ids else None
            lander_id = kept or draw(stream.lander_table, rng)
        offer: OfferInfo | None
        if prev is None and capped is nothing_capped and index in flow.open_offers and stream.offers:
            # Every offer of the stream is eligible: choose_offer's draw, without its walk.
            offer, location, fallback = flow.offers[draw(stream.offer_table, rng)], "", False
        else:
            pick = choose_offer(flow, stream, facts.country, capped, rng, prev.offer_id if prev is not None else None)
            offer, location, fallback = pick.offer, pick.location, pick.fallback
        lander = flow.landers.get(lander_id) if lander_id else None
        if offer is None:
            lander_id = None
            outcome = FALLBACK if fallback else RECORDED
        elif lander is not None:
            offer_id = offer.offer_id
            click_id = str(values["click_id"])
            lp_click = (lp_prefix or lander_click_prefix(lander_click_base)) + click_id  # ids are URL-safe
            location = lander.template.render(values, "lander_click_url", lp_click, click_id)
            click_cookie_s = flow.visitor_window_s
        else:
            lander_id = None
            offer_id = offer.offer_id
            location = render_offer_url(offer, values)
    elif stream.action in URL_ACTIONS:
        location = expand(stream.url, values)
    else:
        location, outcome = flow.fallback_url, FALLBACK
    choice, cookies = flow.flow_cookie(f"{stream.stream_id}.{lander_id or NONE}.{offer_id or NONE}")  # format_cookie
    return Decision(stream.stream_id, lander_id, offer_id, location, outcome, cookies, choice, click_cookie_s)
