"""Traffic quality on the click path: the verdict on every click and impression.

``assess`` is the one function that decides a touch's reasons (a bitmask of
libs.quality codes) from what the request says, the link, the account's
settings and lists, and this replica's counters; the verdict is
libs.quality.verdict_of(reasons). Everything it reads is in memory: settings,
lists and flagged sub-ids come from ``QualityCache`` (one query per account and
TTL, shared by a whole batch), the flood and duplicate counters from
``Counters``. No click waits on a database round trip of its own.

Settings live per account (campaign_id '') with per-campaign overrides, as a
JSON document in links.quality_settings; ``Settings`` is the effective,
merged view that the click path applies.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

import asyncpg
import orjson

from libs import bots, networks
from libs import quality as q
from libs.bots import UserAgentList, classify_user_agent
from libs.cache import TTLCache
from libs.networks import NetworkList, network_of


def load() -> None:
    """Build the User-Agent matchers and read the network data now (under a
    second, at start), not on the first click."""
    bots.load()
    networks.load()


# ---- checks ------------------------------------------------------------------

# Every click-time check is named by the reason code it gives.
CHECKS: tuple[str, ...] = tuple(r.code for r in q.REASONS if r.applies_to == "touch")
UA_CHECKS = q.mask_of(
    ("bot_user_agent", "headless_browser", "http_library", "missing_user_agent", "implausible_user_agent",
     "blocked_user_agent")
)  # fmt: skip
NETWORK_CHECKS = q.mask_of(("datacenter", "tor", "blocked_network"))
ALL_CHECKS = q.mask_of(CHECKS)
BLOCKED_UA = q.BY_CODE["blocked_user_agent"].mask
PREFETCH = q.BY_CODE["prefetch"].mask
DATACENTER = q.BY_CODE["datacenter"].mask
TOR = q.BY_CODE["tor"].mask
BLOCKED_NETWORK = q.BY_CODE["blocked_network"].mask
FLOOD_IP = q.BY_CODE["flood_ip"].mask
FLOOD_DEVICE = q.BY_CODE["flood_device"].mask
FLOOD_IP_UA = q.BY_CODE["flood_ip_user_agent"].mask
DUPLICATE = q.BY_CODE["duplicate"].mask
FLOOD_SUB_ID = q.BY_CODE["flood_sub_id"].mask

# ---- settings ----------------------------------------------------------------

# Built-in defaults (README "Traffic quality" says why these numbers).
DEFAULTS: dict[str, int] = {
    "flood_ip_clicks": 20,  # an IP can be a carrier NAT or an office: the loosest of the three
    "flood_device_clicks": 10,  # one advertising id is one phone
    "flood_ip_user_agent_clicks": 10,  # one browser on one address
    "flood_window_s": 3600,
    "duplicate_window_s": 10,  # a double tap or a reload, not a person coming back
}
# Field -> (minimum, maximum): anything outside is INVALID_ARGUMENT.
LIMITS: dict[str, tuple[int, int]] = {
    "flood_ip_clicks": (1, 100_000),
    "flood_device_clicks": (1, 100_000),
    "flood_ip_user_agent_clicks": (1, 100_000),
    "flood_window_s": (60, 86_400),
    "duplicate_window_s": (1, 3_600),
}


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """The effective settings for one campaign (or the account's defaults)."""

    enabled: int = ALL_CHECKS  # mask of the checks that are on
    flood_ip_clicks: int = DEFAULTS["flood_ip_clicks"]
    flood_device_clicks: int = DEFAULTS["flood_device_clicks"]
    flood_ip_user_agent_clicks: int = DEFAULTS["flood_ip_user_agent_clicks"]
    flood_window_s: int = DEFAULTS["flood_window_s"]
    duplicate_window_s: int = DEFAULTS["duplicate_window_s"]

    def checks(self) -> dict[str, bool]:
        return {c: bool(self.enabled & q.BY_CODE[c].mask) for c in CHECKS}


DEFAULT_SETTINGS = Settings()


def apply(base: Settings, doc: Mapping[str, Any]) -> Settings:
    """``base`` with one level's stored document laid over it."""
    enabled = base.enabled
    for code, on in (doc.get("checks") or {}).items():
        if code in q.BY_CODE:
            enabled = enabled | q.BY_CODE[code].mask if on else enabled & ~q.BY_CODE[code].mask
    values = {k: int(doc[k]) for k in DEFAULTS if isinstance(doc.get(k), int)}
    return dataclasses.replace(base, enabled=enabled, **values)


# ---- account lists and flags -------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class AccountQuality:
    """Everything the click path needs of one account."""

    defaults: Settings = DEFAULT_SETTINGS
    campaigns: Mapping[str, Settings] = dataclasses.field(default_factory=dict)
    block_ua: UserAgentList | None = None
    allow_ua: UserAgentList | None = None
    block_net: NetworkList | None = None
    allow_net: NetworkList | None = None
    # campaign_id -> ((sub index 0..9, flagged values), ...)
    flagged: Mapping[str, tuple[tuple[int, frozenset[str]], ...]] = dataclasses.field(default_factory=dict)
    # The raw entries the compiled lists came from: a reload that finds the same
    # entries keeps the compiled lists.
    list_key: tuple[tuple[str, str, str], ...] = ()

    def settings(self, campaign_id: str) -> Settings:
        return self.campaigns.get(campaign_id, self.defaults)


EMPTY = AccountQuality()

LOAD_SQL = """
SELECT 's' AS src, account_id, campaign_id AS a, '' AS b, settings::text AS c
FROM links.quality_settings WHERE account_id = ANY($1::text[])
UNION ALL
SELECT 'l', account_id, list, kind, value
FROM links.quality_list_entries WHERE account_id = ANY($1::text[])
UNION ALL
SELECT 'f', account_id, campaign_id, sub_field, value
FROM links.flagged_sub_ids WHERE account_id = ANY($1::text[]) AND expire_time > now()
"""


def _build(rows: list[asyncpg.Record], previous: AccountQuality | None) -> AccountQuality:
    docs: dict[str, dict[str, Any]] = {}
    entries: list[tuple[str, str, str]] = []
    flagged: dict[str, dict[int, set[str]]] = {}
    for r in rows:
        src = r["src"]
        if src == "s":
            docs[r["a"]] = orjson.loads(r["c"])
        elif src == "l":
            entries.append((r["a"], r["b"], r["c"]))
        else:
            field = r["b"]
            if field.startswith("sub") and field[3:].isdigit() and 1 <= int(field[3:]) <= 10:
                flagged.setdefault(r["a"], {}).setdefault(int(field[3:]) - 1, set()).add(r["c"])
    defaults = apply(DEFAULT_SETTINGS, docs.pop("", {}))
    campaigns = {cid: apply(defaults, doc) for cid, doc in docs.items()}
    key = tuple(sorted(entries))
    if previous is not None and previous.list_key == key:
        lists = (previous.block_ua, previous.allow_ua, previous.block_net, previous.allow_net)
    else:
        lists = (
            _ua_list(v for li, k, v in key if li == "block" and k == "user_agent"),
            _ua_list(v for li, k, v in key if li == "allow" and k == "user_agent"),
            _net_list(v for li, k, v in key if li == "block" and k == "network"),
            _net_list(v for li, k, v in key if li == "allow" and k == "network"),
        )
    return AccountQuality(
        defaults, campaigns, *lists,
        flagged={cid: tuple((i, frozenset(v)) for i, v in sorted(by.items())) for cid, by in flagged.items()},
        list_key=key,
    )  # fmt: skip


def _ua_list(values: Iterable[str]) -> UserAgentList | None:
    patterns = list(values)
    return UserAgentList(patterns) if patterns else None


def _net_list(values: Iterable[str]) -> NetworkList | None:
    entries = list(values)
    return NetworkList(entries) if entries else None


class QualityCache:
    """account_id -> AccountQuality, kept ``ttl_s``. Writes in this process
    clear it at once; other replicas see a change within ``ttl_s``."""

    def __init__(self, pool: asyncpg.Pool, ttl_s: float = 2.0, max_entries: int = 50_000) -> None:
        self._pool = pool
        self._max = max_entries
        self._entries: TTLCache[str, AccountQuality] = TTLCache(ttl_s, maxsize=max_entries)
        # The last one built per account, expired or not: a reload keeps its compiled lists.
        self._built: dict[str, AccountQuality] = {}

    def clear(self) -> None:
        self._entries.invalidate()

    async def get_many(self, account_ids: Iterable[str]) -> dict[str, AccountQuality]:
        return await self._entries.get_many_or_load(account_ids, self._load, EMPTY)

    async def _load(self, account_ids: list[str]) -> dict[str, AccountQuality]:
        rows = await self._pool.fetch(LOAD_SQL, account_ids)
        by_account: dict[str, list[asyncpg.Record]] = {}
        for r in rows:
            by_account.setdefault(r["account_id"], []).append(r)
        if len(self._built) + len(account_ids) > self._max:
            self._built.clear()
        out: dict[str, AccountQuality] = {}
        for account_id in account_ids:
            got = by_account.get(account_id)
            out[account_id] = self._built[account_id] = _build(got, self._built.get(account_id)) if got else EMPTY
        return out


# ---- counters ----------------------------------------------------------------


class SlidingCounter:
    """Approximate sliding-window counts per key, O(1) per hit and bounded in
    memory: each key keeps its current and previous fixed window (the first
    starting at the key's first hit, so a burst inside one window is counted
    exactly) and estimates the sliding count as current + previous weighted by
    how much of it the sliding window still covers. At most ``max_keys`` keys:
    the least recently hit go first."""

    __slots__ = ("_d", "_max")

    def __init__(self, max_keys: int = 100_000) -> None:
        # Keys are ints (hashes) and values tuples of floats: nothing the garbage
        # collector has to walk (lists here made each full collection ~150 ms).
        # OrderedDict: O(1) move-to-end and evict-oldest (a plain dict's
        # next(iter(d)) walks the deleted slots that re-insertion leaves behind).
        self._d: OrderedDict[Hashable, tuple[float, float, float]] = OrderedDict()
        self._max = max_keys

    def __len__(self) -> int:
        return len(self._d)

    def hit(self, key: Hashable, now: float, window: float) -> float:
        """Counts one hit; returns the estimated hits inside the window, this one included."""
        d = self._d
        e = d.get(key)
        if e is None:
            start, cur, prev = now, 1.0, 0.0
            d[key] = (start, cur, prev)
            if len(d) > self._max:
                d.popitem(last=False)
        else:
            start, cur, prev = e
            if now - start >= window:
                periods = (now - start) // window
                prev = cur if periods == 1 else 0.0
                cur = 0.0
                start += periods * window
            cur += 1
            d[key] = (start, cur, prev)
            d.move_to_end(key)  # least recently hit first
        return cur + prev * (1.0 - (now - start) / window) if prev else cur


class RecentSet:
    """Key -> when last seen, for the duplicate check; bounded like SlidingCounter."""

    __slots__ = ("_d", "_max")

    def __init__(self, max_keys: int = 100_000) -> None:
        self._d: OrderedDict[Hashable, float] = OrderedDict()
        self._max = max_keys

    def seen(self, key: Hashable, now: float, window: float) -> bool:
        """Whether ``key`` was seen inside the window; records this sighting."""
        d = self._d
        last = d.get(key)
        d[key] = now
        if last is None:
            if len(d) > self._max:
                d.popitem(last=False)
            return False
        d.move_to_end(key)
        return now - last < window


class Counters:
    """The flood and duplicate counters of one kind of touch.

    Counts are per replica: with N links replicas behind the gateway's
    round-robin channels each sees about 1/N of a source's clicks, so a flood
    is caught at roughly N times the threshold (README: tune the thresholds
    down by the replica count, or run one links replica per gateway)."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self.ip = SlidingCounter(max_keys)
        self.device = SlidingCounter(max_keys)
        self.ip_ua = SlidingCounter(max_keys)
        self.recent = RecentSet(max_keys)


# ---- the verdict ---------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class Facts:
    """What the request says about one touch (already parsed by the click path)."""

    account_id: str
    campaign_id: str
    link_id: str
    ip: str  # canonical text, "" when unknown
    user_agent: str
    device_type: int
    purpose: str = ""
    device_id: str | None = None  # IDFA or GAID
    subs: tuple[str | None, ...] | list[str | None] = ()


def is_prefetch(purpose: str) -> bool:
    p = purpose.lower()
    return "prefetch" in p or "prerender" in p or "preview" in p


def assess(f: Facts, s: Settings, aq: AccountQuality, c: Counters, now: float) -> int:
    """The reasons bitmask of one touch (0: clean). Counts the touch in ``c``.

    An address or User-Agent on the account's allow list skips the User-Agent
    and network checks; the repetition checks (flood, duplicate) still apply."""
    on = s.enabled
    reasons = 0
    ip, ua = f.ip, f.user_agent
    asn = 0
    net = None
    if ip and (on & NETWORK_CHECKS or aq.allow_net is not None):
        net = network_of(ip)
        asn = net.asn
    allowed = (aq.allow_net is not None and bool(ip) and aq.allow_net.matches(ip, asn)) or (
        aq.allow_ua is not None and aq.allow_ua.matches(ua)
    )
    if not allowed:
        if on & UA_CHECKS:
            # Spiders by ua-parser's own list are in it; the device type's "bot" substring
            # test is not (it flags phones such as Cubot and XBot).
            reasons |= classify_user_agent(ua)
            if aq.block_ua is not None and on & BLOCKED_UA and aq.block_ua.matches(ua):
                reasons |= BLOCKED_UA
        if net is not None:
            if net.datacenter:
                reasons |= DATACENTER
            if net.tor:
                reasons |= TOR
            if aq.block_net is not None and on & BLOCKED_NETWORK and aq.block_net.matches(ip, asn):
                reasons |= BLOCKED_NETWORK
    if f.purpose and on & PREFETCH and is_prefetch(f.purpose):
        reasons |= PREFETCH
    window = s.flood_window_s
    if ip:
        ua_hash = hash(ua)
        if on & FLOOD_IP and c.ip.hit(hash((f.campaign_id, ip)), now, window) > s.flood_ip_clicks:
            reasons |= FLOOD_IP
        if (
            on & FLOOD_IP_UA
            and c.ip_ua.hit(hash((f.campaign_id, ip, ua_hash)), now, window) > s.flood_ip_user_agent_clicks
        ):
            reasons |= FLOOD_IP_UA
        if on & DUPLICATE and c.recent.seen(hash((f.link_id, ip, ua_hash)), now, s.duplicate_window_s):
            reasons |= DUPLICATE
    if (
        f.device_id
        and on & FLOOD_DEVICE
        and c.device.hit(hash((f.campaign_id, f.device_id)), now, window) > s.flood_device_clicks
    ):
        reasons |= FLOOD_DEVICE
    if on & FLOOD_SUB_ID and aq.flagged:
        flagged = aq.flagged.get(f.campaign_id)
        if flagged:
            subs = f.subs
            for i, values in flagged:
                v = subs[i] if i < len(subs) else None
                if v is not None and v in values:
                    reasons |= FLOOD_SUB_ID
                    break
    return reasons & on


verdict_of = q.verdict_of
