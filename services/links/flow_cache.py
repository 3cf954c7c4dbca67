"""What the click path keeps in memory for flows and link options.

- ``FlowCache``: (account, campaign) -> the compiled Flow (services/links/flow.py)
  with the offers and landers its streams use and the account's time zone, or
  None for a campaign without streams; kept ``ttl_s`` like LinkCache, one query
  per batch of campaigns that missed. Writes in this process clear it.
- ``DomainHosts``: host -> whether it is a registered custom domain (any account).
- ``ClickCounts``: recorded clicks per link with max_clicks, counted once from
  links.clicks and then in memory as clicks are recorded here.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import orjson
from clicktrail.links.v1 import affiliate_pb2 as apb
from clicktrail.links.v1 import links_pb2 as pb

from libs.cache import TTLCache
from libs.vocab.kinds import VERDICT_NAMES
from services.links.flow import (
    CapsView,
    ClickFacts,
    Decision,
    Flow,
    LanderInfo,
    OfferInfo,
    compile_flow,
    decide,
    lander_click_prefix,
    nothing_capped,
)
from services.links.visitors import NEW_VISITOR, Visitor, Visitors, parse_cookie

FlowKey = tuple[str, str]  # (account_id, campaign_id)
# Campaign statuses whose clicks are recorded (touches.LIVE).
LIVE = (pb.CAMPAIGN_STATUS_DRAFT, pb.CAMPAIGN_STATUS_ACTIVE)

# The campaigns asked for, with their account's time zone and streams in try order.
FLOWS_SQL = """
SELECT c.account_id, c.campaign_id, c.fallback_url, c.visitor_window_s,
       coalesce(a.time_zone, 'UTC') AS time_zone,
       (SELECT coalesce(jsonb_agg(to_jsonb(s) ORDER BY s.position, s.stream_id), '[]'::jsonb)::text
        FROM links.streams s WHERE s.account_id = c.account_id AND s.campaign_id = c.campaign_id) AS streams
FROM unnest($1::text[], $2::text[]) AS k(account_id, campaign_id)
JOIN links.campaigns c ON c.account_id = k.account_id AND c.campaign_id = k.campaign_id
LEFT JOIN accounts.accounts a ON a.account_id = c.account_id
"""
# The offers and landers those streams rotate ($1/$2 offer keys, $3/$4 lander keys).
PARTS_SQL = """
SELECT 'offer' AS kind, o.account_id, o.offer_id AS id, o.url, o.countries, o.status, o.cap_action,
       o.cap_url, NULL::text AS macros
FROM unnest($1::text[], $2::text[]) AS k(account_id, id)
JOIN links.offers o ON o.account_id = k.account_id AND o.offer_id = k.id
UNION ALL
SELECT 'lander', l.account_id, l.lander_id, l.url, NULL, NULL, NULL, NULL, l.macros::text
FROM unnest($3::text[], $4::text[]) AS k(account_id, id)
JOIN links.landers l ON l.account_id = k.account_id AND l.lander_id = k.id
"""
DOMAINS_SQL = "SELECT name FROM links.domains WHERE name = ANY($1::text[])"
# $1/$2/$3: account, campaign and link ids; the campaign keeps it on the clicks_campaign index.
CLICK_COUNTS_SQL = """
SELECT k.link_id, (SELECT count(*) FROM links.clicks c
                   WHERE c.account_id = k.account_id AND c.campaign_id = k.campaign_id
                     AND c.link_id = k.link_id) AS n
FROM unnest($1::text[], $2::text[], $3::text[]) AS k(account_id, campaign_id, link_id)
"""


class FlowCache:
    def __init__(self, pool: asyncpg.Pool, ttl_s: float = 2.0, max_entries: int = 50_000) -> None:
        self._pool = pool
        self._entries: TTLCache[FlowKey, Flow | None] = TTLCache(ttl_s, maxsize=max_entries)
        self.hosts = DomainHosts(pool, ttl_s)
        # The last flow built per campaign and what it was built from: a reload
        # that reads the same keeps it (no recompiling every ttl_s).
        self._built: dict[FlowKey, tuple[Any, Flow]] = {}
        self._max = max_entries

    def clear(self) -> None:
        self._entries.invalidate()
        self.hosts.clear()

    async def get(self, account_id: str, campaign_id: str) -> Flow | None:
        return (await self.get_many([(account_id, campaign_id)]))[(account_id, campaign_id)]

    async def get_many(self, keys: Iterable[FlowKey]) -> dict[FlowKey, Flow | None]:
        return await self._entries.get_many_or_load(keys, self._load, None)

    async def _load(self, keys: list[FlowKey]) -> dict[FlowKey, Flow | None]:
        rows = await self._pool.fetch(FLOWS_SQL, [k[0] for k in keys], [k[1] for k in keys])
        streams = {(r["account_id"], r["campaign_id"]): orjson.loads(r["streams"]) for r in rows}
        offer_keys: set[tuple[str, str]] = set()
        lander_keys: set[tuple[str, str]] = set()
        for (account_id, _), stream_rows in streams.items():
            for s in stream_rows:
                offer_keys.update((account_id, o["offer_id"]) for o in s["offers"] or [])
                lander_keys.update((account_id, x["lander_id"]) for x in s["landers"] or [])
        offers: dict[str, dict[str, OfferInfo]] = {}
        landers: dict[str, dict[str, LanderInfo]] = {}
        if offer_keys or lander_keys:
            ok, lk = sorted(offer_keys), sorted(lander_keys)
            parts = await self._pool.fetch(
                PARTS_SQL, [a for a, _ in ok], [i for _, i in ok], [a for a, _ in lk], [i for _, i in lk]
            )
            for p in parts:
                if p["kind"] == "offer":
                    offers.setdefault(p["account_id"], {})[p["id"]] = _offer(p)
                else:
                    macros = orjson.loads(p["macros"]) if p["macros"] else {}
                    landers.setdefault(p["account_id"], {})[p["id"]] = LanderInfo(p["id"], p["url"], macros)
        out: dict[FlowKey, Flow | None] = {}
        if len(self._built) + len(rows) > self._max:
            self._built.clear()
        for r in rows:
            key = (r["account_id"], r["campaign_id"])
            if not streams[key]:
                continue
            used_offers, used_landers = offers.get(key[0], {}), landers.get(key[0], {})
            source = (tuple(r.values()), used_offers, used_landers)
            built = self._built.get(key)
            if built is None or built[0] != source:
                built = self._built[key] = (source, compile_flow(r, streams[key], used_offers, used_landers))
            out[key] = built[1]
        return out


def _offer(row: Any) -> OfferInfo:
    return OfferInfo(
        offer_id=row["id"],
        url=row["url"],
        countries=frozenset(row["countries"] or ()),
        active=row["status"] == apb.OFFER_STATUS_ACTIVE,
        cap_action=row["cap_action"],
        cap_url=row["cap_url"] or "",
    )


def caps_view(caps: Any, account_id: str, now: dt.datetime) -> CapsView:
    """offer_id -> capped now, from LinksBase.caps (OfferCaps); without it nothing is capped."""
    if caps is None:
        return nothing_capped

    def capped(offer_id: str) -> bool:
        return bool(caps.capped(account_id, offer_id, now))

    return capped


class DomainHosts:
    """host -> registered as some account's custom domain, kept ``ttl_s``."""

    def __init__(self, pool: asyncpg.Pool, ttl_s: float = 2.0, max_entries: int = 50_000) -> None:
        self._pool = pool
        self._entries: TTLCache[str, bool] = TTLCache(ttl_s, maxsize=max_entries, is_negative=lambda v: not v)

    def clear(self) -> None:
        self._entries.invalidate()

    async def registered(self, hosts: Iterable[str]) -> dict[str, bool]:
        return await self._entries.get_many_or_load([h for h in hosts if h], self._load, False)

    async def _load(self, hosts: list[str]) -> dict[str, bool]:
        rows = await self._pool.fetch(DOMAINS_SQL, hosts)
        return {r["name"]: True for r in rows}


class ClickCounts:
    """link_id -> recorded clicks, for links with max_clicks: loaded once per link
    (one query for a batch's new links), then counted here as clicks are recorded.
    Each replica counts its own clicks after the load (README: max_clicks with
    several links replicas can be passed by the clicks the others record meanwhile)."""

    def __init__(self, pool: asyncpg.Pool, max_links: int = 100_000) -> None:
        self._pool = pool
        self._max = max_links
        self.counts: dict[str, int] = {}

    async def ensure(self, links: Iterable[tuple[str, str, str]]) -> None:
        """Load the counts of (account_id, campaign_id, link_id) not held yet."""
        missing = [k for k in set(links) if k[2] not in self.counts]
        if not missing:
            return
        rows = await self._pool.fetch(
            CLICK_COUNTS_SQL, [k[0] for k in missing], [k[1] for k in missing], [k[2] for k in missing]
        )
        if len(self.counts) + len(rows) > self._max:
            # Forgotten counts load again; a batch still in the group committer is then
            # missed (at most max_inflight batches over the limit, once).
            self.counts.clear()
        for r in rows:
            # A batch that loaded meanwhile and counted on keeps its higher count.
            self.counts.setdefault(r["link_id"], r["n"])

    def forget(self, link_ids: Iterable[str]) -> None:
        """Links seen without max_clicks: clicks recorded meanwhile are not counted
        here, so a limit set again loads the count anew."""
        if self.counts:
            for link_id in link_ids:
                self.counts.pop(link_id, None)

    def take(self, link_id: str, max_clicks: int) -> bool:
        """Count one click if the link is under its maximum; False when it is reached."""
        n = self.counts.get(link_id, 0)
        if n >= max_clicks:
            return False
        self.counts[link_id] = n + 1
        return True


class FlowRouter:
    """The click path's flow step: the batch's flows (and their visitors and caps
    made ready), then per click the decision, remembering the visitor's choice."""

    def __init__(self, flows: FlowCache | None, visitors: Visitors, public_url: str) -> None:
        self.flows = flows
        self.visitors = visitors
        self.caps: Any = None  # LinksBase.caps (OfferCaps) when offer caps exist
        self.rng = random.Random()
        self._public_url = public_url.rstrip("/")
        self._scheme = urlsplit(public_url).scheme or "https"
        # domain (None: the tracker's own) -> (its /lp/click base, lander_click_prefix of it)
        self._lp: dict[str | None, tuple[str, str]] = {}

    async def prepare(self, links: Iterable[Any], created: dt.datetime) -> dict[FlowKey, Flow | None]:
        """The flows of the batch's live links (LinkInfo; None for unknown slugs)."""
        live = {(li.account_id, li.campaign_id) for li in links if li is not None and li.status in LIVE}
        if self.flows is None or not live:
            return {}
        flows = await self.flows.get_many(live)
        with_flow = {k[0] for k, f in flows.items() if f is not None}
        if with_flow:
            self.visitors.start_warm()
            if self.caps is not None:
                await self.caps.ensure(with_flow, created)
        return flows

    def route(
        self, flow: Flow, domain: str | None, cookies: Mapping[str, str], facts: ClickFacts, verdict: int,
        values: Mapping[str, str | None], ip: str, user_agent: str, now_s: float,
    ) -> Decision:  # fmt: skip
        """One click's decision; ``domain``: the link's custom domain (its /lp/click base)."""
        account_id = flow.account_id
        cookie = cookies.get(flow.cookie_name) if cookies else None
        previous = parse_cookie(cookie) if cookie else None
        visitors = self.visitors
        key = visitors.key(account_id, flow.campaign_id, ip, user_agent) if ip else None
        seen = visitors.recall_key(key, now_s, flow.visitor_window_s) if key is not None else None
        visitor = Visitor(True, previous or seen) if previous is not None or seen is not None else NEW_VISITOR
        lp = self._lp.get(domain)
        if lp is None:
            base = f"{self._scheme}://{domain}" if domain else self._public_url
            if len(self._lp) >= 10_000:
                self._lp.clear()
            lp = self._lp[domain] = (base, lander_click_prefix(base))
        caps = self.caps
        capped_ids = caps.capped_offers(account_id, facts.now) if caps is not None else None
        capped = capped_ids.__contains__ if capped_ids else nothing_capped
        d = decide(
            flow, facts, VERDICT_NAMES.get(verdict, ""), visitor, capped, self.rng, values, lp[0], lp_prefix=lp[1]
        )
        if d.stream_id is not None and key is not None:
            visitors.remember_key(key, now_s, d.choice)
        return d
