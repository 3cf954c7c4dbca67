"""The click and impression path: resolve the slug, enrich, decide the
traffic-quality verdict (services/links/quality.py), render the destination,
group-commit the row, answer once it is durable."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import re
import time
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import parse_qsl

import asyncpg
import orjson
from clicktrail.links.v1 import links_pb2 as pb
from clicktrail.type.v1 import quality_pb2

from libs import quality as q
from libs.api import to_timestamp
from libs.cache import TTLCache
from libs.geo import country_of
from libs.groupcommit import copy_committer
from libs.ids import ms_to_datetime, new_id
from libs.macros import append_query_param, expand
from libs.text import clean_text, text_problem
from libs.useragent import parse_user_agent
from libs.vocab.kinds import DEVICE_TYPE_NAMES
from libs.vocab.subids import DEVICE_ID_KEYS, PARTNER_CLICK_KEYS, SUB_ALIAS_INDEX, SUB_IDS
from services.links.flow import ClickFacts
from services.links.flow_cache import ClickCounts, DomainHosts, FlowCache, FlowRouter
from services.links.quality import EMPTY, Counters, Facts, QualityCache, assess, verdict_of
from services.links.visitors import Visitors

DESTINATION_MACROS = (
    "click_id", "campaign_id", "link_id", "app_id", "partner_id", *SUB_IDS, "partner_click_id",
    "country", "os", "os_version", "device_type", "device_model", "browser", "ip", "idfa", "gaid",
    "timestamp",
)  # fmt: skip
# Limits of what a click may carry; past them the click is refused naming the
# field (TOUCH_OUTCOME_INVALID), never cut. Referrer: Chrome caps its own at 4,096.
MAX_PARAMS = 64
MAX_KEY = 64
MAX_VALUE = 256
MAX_UA = 1024
MAX_REFERRER = 4096
DEVICE_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ZERO_DEVICE_ID = "00000000-0000-0000-0000-000000000000"

TOUCH_COLUMNS = (
    "account_id", "{id}", "create_time", "link_id", "campaign_id", "partner_id", "app_id", "ip",
    "country", "device_type", "os", "os_version", "browser", "browser_version", "device_model",
    "referrer", "user_agent", *SUB_IDS, "partner_click_id", "idfa", "gaid", "params", "verdict", "reasons",
)  # fmt: skip
FLOW_COLUMNS = ("stream_id", "lander_id", "offer_id")  # clicks only

LIVE = (pb.CAMPAIGN_STATUS_DRAFT, pb.CAMPAIGN_STATUS_ACTIVE)
BLOCKING_ACTIONS = (pb.INVALID_TRAFFIC_ACTION_FALLBACK, pb.INVALID_TRAFFIC_ACTION_BLOCK)
VERDICTS: dict[int, quality_pb2.Verdict] = {
    q.CLEAN: quality_pb2.VERDICT_CLEAN,
    q.SUSPICIOUS: quality_pb2.VERDICT_SUSPICIOUS,
    q.INVALID: quality_pb2.VERDICT_INVALID,
}


@dataclasses.dataclass(frozen=True, slots=True)
class LinkInfo:
    account_id: str
    link_id: str
    campaign_id: str
    partner_id: str
    app_id: str | None
    status: int
    fallback_url: str
    destination_url: str
    ios_url: str
    android_url: str
    desktop_url: str
    invalid_traffic_action: int = 0
    domain: str | None = None
    expire_time: dt.datetime | None = None
    max_clicks: int = 0
    redirect_status: int = 0
    visitor_window_s: int = 86400

    def served_on(self, host: str, registered: dict[str, bool], own: frozenset[str] | None) -> bool:
        """A link with a domain answers only on it; a custom domain only its own links; the
        tracker's own hosts (``own``; None: any host) the rest; an unknown host nothing."""
        if self.domain:
            return host == self.domain
        if not host:  # a request without Host (HTTP/1.0), or a direct call
            return True
        if registered.get(host, False):
            return False
        return own is None or host in own


LINK_INFO_SQL = """
SELECT l.slug, l.account_id, l.link_id, l.campaign_id, c.partner_id,
       coalesce(l.app_id, c.app_id) AS app_id, c.status, c.fallback_url,
       l.destination_url, l.ios_url, l.android_url, l.desktop_url, c.invalid_traffic_action,
       l.domain, l.expire_time, l.max_clicks, l.redirect_status, c.visitor_window_s
FROM links.links l
JOIN links.campaigns c USING (account_id, campaign_id)
WHERE l.slug = ANY($1::text[])
"""


class LinkCache:
    """slug -> LinkInfo (or None for unknown slugs), kept a couple of seconds.
    Writes in this process clear it at once; other replicas see a change
    within ``ttl_s``."""

    def __init__(self, pool: asyncpg.Pool, ttl_s: float = 2.0, max_entries: int = 200_000) -> None:
        self._pool = pool
        self._entries: TTLCache[str, LinkInfo | None] = TTLCache(ttl_s, maxsize=max_entries)

    def clear(self) -> None:
        self._entries.invalidate()

    async def get_many(self, slugs: Iterable[str]) -> dict[str, LinkInfo | None]:
        found: dict[str, LinkInfo | None] = {}
        wanted: list[str] = []
        for slug in set(slugs):
            if text_problem(slug) is not None:  # no link has it, and Postgres would refuse the whole look-up
                found[slug] = None
            else:
                wanted.append(slug)
        if wanted:
            found.update(await self._entries.get_many_or_load(wanted, self._load, None))
        return found

    async def _load(self, slugs: list[str]) -> dict[str, LinkInfo | None]:
        rows = await self._pool.fetch(LINK_INFO_SQL, slugs)
        return {r["slug"]: LinkInfo(**{k: r[k] for k in r.keys() if k != "slug"}) for r in rows}


def _clean(value: str) -> str:
    # Passthrough text: NULs dropped, lone surrogates replaced (libs/text.py), so the click is still recorded.
    return clean_text(value)


def _too_long(field: str, value: str, limit: int) -> tuple[str, str] | None:
    if len(value) > limit:
        return field, f"at most {limit} characters, got {len(value)}"
    return None


def _device_id(value: str) -> str | None:
    v = value.strip().lower()
    return v if DEVICE_ID.match(v) and v != ZERO_DEVICE_ID else None


@dataclasses.dataclass(slots=True)
class QueryFields:
    subs: list[str | None]
    partner_click_id: str | None = None
    idfa: str | None = None
    gaid: str | None = None
    extra: dict[str, str] = dataclasses.field(default_factory=dict)
    # (field, what is wrong): a value past its limit; the click is refused, never cut.
    problem: tuple[str, str] | None = None


def parse_query(raw: bytes) -> QueryFields:
    """Map query parameters onto sub-ids, the partner's click id and device
    ids; keep the others. Lenient with bytes (bad ones become U+FFFD, NULs go),
    strict with sizes: a key or value past its limit, or more than MAX_PARAMS
    parameters, is a ``problem`` (the click is refused naming it, never cut)."""
    text = raw.decode("utf-8", "replace")
    out = QueryFields(subs=[None] * 10)
    pairs = parse_qsl(text, keep_blank_values=False, errors="replace", max_num_fields=None)
    if len(pairs) > MAX_PARAMS:
        out.problem = ("query", f"at most {MAX_PARAMS} parameters, got {len(pairs)}")
        return out
    aliased: dict[int, str] = {}
    for key, value in pairs:
        k = _clean(key.strip().lower())
        v = _clean(value)
        if len(k) > MAX_KEY:
            out.problem = ("query", f"parameter names are at most {MAX_KEY} characters, got {len(k)}")
            return out
        if len(v) > MAX_VALUE:
            out.problem = (k, f"at most {MAX_VALUE} characters, got {len(v)}")
            return out
        if k.startswith("sub") and k[3:].isdigit() and 1 <= int(k[3:]) <= 10:
            i = int(k[3:]) - 1
            if out.subs[i] is None:
                out.subs[i] = v
        elif k in SUB_ALIAS_INDEX:  # names networks use for sub-ids; a subN sent under its own name wins
            aliased.setdefault(SUB_ALIAS_INDEX[k], v)
        elif k in PARTNER_CLICK_KEYS:
            out.partner_click_id = out.partner_click_id or v
        elif k in DEVICE_ID_KEYS:
            did = _device_id(v)
            if did and getattr(out, DEVICE_ID_KEYS[k]) is None:
                setattr(out, DEVICE_ID_KEYS[k], did)
            elif not did:  # not a device id (or the all-zero one): kept as sent, never matched on
                out.extra.setdefault(k, v)
        elif k:
            out.extra.setdefault(k, v)
    for i, v in aliased.items():
        if out.subs[i] is None:
            out.subs[i] = v
    return out


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def choose_template(link: LinkInfo, os_name: str) -> str:
    """Smart links: the platform's own destination when it has one."""
    if os_name in ("iOS", "iPadOS") and link.ios_url:
        return link.ios_url
    if os_name == "Android" and link.android_url:
        return link.android_url
    if os_name not in ("iOS", "iPadOS", "Android") and link.desktop_url:
        return link.desktop_url
    return link.destination_url


class TouchRecorder:
    """Records clicks or impressions in batches, each with its verdict. Without
    a QualityCache every touch is recorded clean (no checks). Clicks of a
    campaign with a flow (``flows``) go where the flow decides."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        cache: LinkCache,
        *,
        kind: str,
        max_inflight: int = 2,
        quality: QualityCache | None = None,
        flows: FlowCache | None = None,
        visitors: Visitors | None = None,
        domains: DomainHosts | None = None,
        public_url: str = "",
        own_hosts: frozenset[str] | None = None,
    ) -> None:
        self.kind = kind  # "click" or "impression"
        id_column = "click_id" if kind == "click" else "impression_id"
        self.columns = [c.format(id=id_column) for c in TOUCH_COLUMNS]
        if kind == "click":
            self.columns += FLOW_COLUMNS
        self._cache = cache
        self._quality = quality
        self.router = FlowRouter(flows if kind == "click" else None, visitors or Visitors(None), public_url)
        self._domains = domains
        self._own_hosts = own_hosts
        self._counts = ClickCounts(pool)
        self.counters = Counters()
        self.committer = copy_committer(
            pool,
            schema="links",
            table="clicks" if kind == "click" else "impressions",
            columns=self.columns,
            max_inflight=max_inflight,
        )

    async def record(self, inputs: Sequence[pb.TouchInput]) -> list[pb.TouchResult]:
        links = await self._cache.get_many(i.slug for i in inputs)
        accounts = (
            await self._quality.get_many({li.account_id for li in links.values() if li is not None})
            if self._quality is not None
            else {}
        )
        hosts = {i.host for i in inputs if i.host}
        registered = await self._domains.registered(hosts) if hosts and self._domains is not None else {}
        counters = self.counters
        now = time.monotonic()
        is_click = self.kind == "click"
        results: list[pb.TouchResult] = []
        rows: list[tuple[Any, ...]] = []
        ms = time.time_ns() // 1_000_000
        created = ms_to_datetime(ms)
        flows = await self.router.prepare(links.values(), created)
        if is_click:  # max_clicks: the counts of the batch's limited links (forgotten while unlimited)
            self._counts.forget(li.link_id for li in links.values() if li is not None and not li.max_clicks)
            await self._counts.ensure(
                (li.account_id, li.campaign_id, li.link_id) for li in links.values() if li and li.max_clicks
            )
        for inp in inputs:
            link = links.get(inp.slug)
            if link is None or not link.served_on(inp.host, registered, self._own_hosts):
                results.append(pb.TouchResult(outcome=pb.TOUCH_OUTCOME_NOT_FOUND))
                continue
            if link.status not in LIVE or (link.expire_time is not None and link.expire_time <= created):
                results.append(pb.TouchResult(outcome=pb.TOUCH_OUTCOME_FALLBACK, location=link.fallback_url))
                continue
            qf = parse_query(inp.raw_query)
            ua = _clean(inp.user_agent)
            referrer = _clean(inp.referrer)
            problem = qf.problem or _too_long("user-agent", ua, MAX_UA) or _too_long("referer", referrer, MAX_REFERRER)
            if problem:
                results.append(pb.TouchResult(outcome=pb.TOUCH_OUTCOME_INVALID, field=problem[0], error=problem[1]))
                continue
            if is_click and link.max_clicks and not self._counts.take(link.link_id, link.max_clicks):
                results.append(pb.TouchResult(outcome=pb.TOUCH_OUTCOME_FALLBACK, location=link.fallback_url))
                continue
            touch_id = new_id(ms)
            agent = parse_user_agent(ua)
            ip = _ip(inp.ip)
            ip_text = str(ip) if ip else ""
            country = country_of(ip_text) if ip else ""
            reasons = 0
            if self._quality is not None:
                aq = accounts.get(link.account_id, EMPTY)
                facts = Facts(
                    link.account_id, link.campaign_id, link.link_id, ip_text, ua, agent.device_type,
                    inp.purpose, qf.idfa or qf.gaid, qf.subs,
                )  # fmt: skip
                reasons = assess(facts, aq.settings(link.campaign_id), aq, counters, now)
            verdict = VERDICTS[verdict_of(reasons)] if reasons else quality_pb2.VERDICT_CLEAN
            row = (
                link.account_id, touch_id, created, link.link_id, link.campaign_id, link.partner_id,
                link.app_id, ip, country or None, agent.device_type, agent.os or None,
                agent.os_version or None, agent.browser or None, agent.browser_version or None,
                agent.device_model or None, referrer or None, ua or None, *qf.subs,
                qf.partner_click_id, qf.idfa, qf.gaid,
                orjson.dumps(qf.extra).decode() if qf.extra else None, verdict, reasons,
            )  # fmt: skip
            if verdict == q.INVALID and link.invalid_traffic_action in BLOCKING_ACTIONS:
                if link.invalid_traffic_action == pb.INVALID_TRAFFIC_ACTION_BLOCK:
                    rows.append((*row, None, None, None) if is_click else row)
                    results.append(pb.TouchResult(outcome=pb.TOUCH_OUTCOME_BLOCKED, touch_id=touch_id, verdict=verdict))
                    continue
                if is_click:  # an impression has nowhere to go: it gets its pixel as usual
                    rows.append((*row, None, None, None))
                    results.append(pb.TouchResult(
                        outcome=pb.TOUCH_OUTCOME_FALLBACK, location=link.fallback_url, touch_id=touch_id,
                        verdict=verdict,
                    ))  # fmt: skip
                    continue
            if not is_click:
                rows.append(row)
                results.append(pb.TouchResult(outcome=pb.TOUCH_OUTCOME_RECORDED, touch_id=touch_id, verdict=verdict))
                continue
            values: dict[str, str | None] = {
                "click_id": touch_id, "campaign_id": link.campaign_id, "link_id": link.link_id,
                "app_id": link.app_id, "partner_id": link.partner_id,
                "partner_click_id": qf.partner_click_id, "country": country, "os": agent.os,
                "os_version": agent.os_version, "device_type": DEVICE_TYPE_NAMES[agent.device_type],
                "device_model": agent.device_model, "browser": agent.browser,
                "ip": ip_text, "idfa": qf.idfa, "gaid": qf.gaid,
                "timestamp": str(ms // 1000),
            }  # fmt: skip
            values.update(zip(SUB_IDS, qf.subs, strict=True))
            flow = flows.get((link.account_id, link.campaign_id))
            if flow is not None:
                click = ClickFacts(
                    country=country, device_type=agent.device_type, os=agent.os, browser=agent.browser, ip=ip,
                    subs=qf.subs, referrer=referrer, accept_language=inp.accept_language,
                    raw_query=inp.raw_query, now=created, epoch_minute=ms // 60_000,
                )  # fmt: skip
                d = self.router.route(flow, link.domain, inp.cookies, click, verdict, values, ip_text, ua, ms / 1000)
                rows.append((*row, d.stream_id, d.lander_id, d.offer_id))
                results.append(pb.TouchResult(
                    outcome=d.outcome, location=d.location, touch_id=touch_id, verdict=verdict, cookies=d.cookies,
                    redirect_status=link.redirect_status if d.outcome == pb.TOUCH_OUTCOME_RECORDED else 0,
                    click_cookie_max_age_seconds=d.click_cookie_s,
                ))  # fmt: skip
                continue
            rows.append((*row, None, None, None))
            template = choose_template(link, agent.os)
            location = expand(template, values)
            if "{click_id}" not in template:
                location = append_query_param(location, "click_id", touch_id)
            results.append(pb.TouchResult(
                outcome=pb.TOUCH_OUTCOME_RECORDED, location=location, touch_id=touch_id, verdict=verdict,
                redirect_status=link.redirect_status,
            ))  # fmt: skip
        if rows:
            await self.committer.submit(rows)
        return results


_TOUCH_TEXT = (
    "link_id", "campaign_id", "partner_id", "app_id", "country", "os", "os_version", "browser",
    "browser_version", "device_model", "referrer", "user_agent", "sub1", "sub2", "sub3", "sub4",
    "sub5", "sub6", "sub7", "sub8", "sub9", "sub10", "partner_click_id", "idfa", "gaid",
)  # fmt: skip


def touch_message(row: asyncpg.Record, cls: Any, id_col: str) -> Any:
    """A links.clicks / links.impressions row as a Click / Impression."""
    msg = cls(**{k: row[k] for k in _TOUCH_TEXT if row[k] is not None})
    setattr(msg, id_col, row[id_col])
    msg.create_time.CopyFrom(to_timestamp(row["create_time"]))
    msg.device_type = row["device_type"]
    if row["ip"] is not None:
        msg.ip = str(row["ip"])
    if row["params"]:
        msg.params.update(orjson.loads(row["params"]))
    msg.verdict = row["verdict"]
    if row["reasons"]:
        msg.reasons.extend(q.codes_of(row["reasons"]))
    for col in FLOW_COLUMNS:  # clicks only; NULL without a flow
        if row.get(col):
            setattr(msg, col, row[col])
    return msg
