"""Traffic quality of installs and conversions: the checks' settings and the
pure checks the engine applies inside its batches.

Settings live per account (campaign_id '') with per-campaign overrides, as a
JSON document in attribution.quality_settings; ``Settings`` is the effective,
merged view for one campaign. Revenue ranges (attribution.revenue_ranges)
are per goal and currency. ``load`` reads both for an account (cached for
CACHE_TTL_S, so a change applies within seconds on every replica).

Defaults and why (README "Traffic quality: installs and conversions"):
- click_injection 10 s: install-hijacking shows as installs within the first
  3-10 s after the click (a click fired while the install completes); a person
  needs longer to get from the ad through the store to the first open.
- click_flooding 2 h: flooding shows as a flat tail of click-to-install times
  from hours 2 to 24 and days 2 to 7; alone a long time is normal (a user who
  installs the next day), so it takes a flood sign too.
- install_burst 10 per address / 30 per /24 or /64 in an hour: a carrier NAT
  puts many phones behind one address, so only bursts well above a household.
- too_soon_after_install 5 s: nobody buys or finishes a level that soon after
  the first open.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import ipaddress
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson

from libs import quality as q
from libs.cache import TTLCache
from libs.useragent import parse_user_agent
from services.attribution.goals import Fetcher

CACHE_TTL_S = 1.0

# Every install / conversion check is named by the reason code it gives.
CHECKS: tuple[str, ...] = (
    "click_injection", "install_before_click", "click_flooding", "install_burst", "client_mismatch",
    "too_soon_after_install", "revenue_out_of_range", "rejected_install",
)  # fmt: skip
DEFAULTS: dict[str, int] = {
    "click_injection_s": 10,
    "click_flooding_s": 2 * 3600,
    "install_burst_ip": 10,
    "install_burst_subnet": 30,
    "install_burst_window_s": 3600,
    "too_soon_after_install_s": 5,
}
# Field -> (minimum, maximum): anything outside is INVALID_ARGUMENT.
LIMITS: dict[str, tuple[int, int]] = {
    "click_injection_s": (1, 3600),
    "click_flooding_s": (60, 90 * 86400),
    "install_burst_ip": (1, 1_000_000),
    "install_burst_subnet": (1, 1_000_000),
    "install_burst_window_s": (60, 7 * 86400),
    "too_soon_after_install_s": (1, 86400),
}

CLICK_INJECTION = q.BY_CODE["click_injection"].mask
INSTALL_BEFORE_CLICK = q.BY_CODE["install_before_click"].mask
CLICK_FLOODING = q.BY_CODE["click_flooding"].mask
INSTALL_BURST = q.BY_CODE["install_burst"].mask
CLIENT_MISMATCH = q.BY_CODE["client_mismatch"].mask
TOO_SOON = q.BY_CODE["too_soon_after_install"].mask
REVENUE_OUT_OF_RANGE = q.BY_CODE["revenue_out_of_range"].mask
REJECTED_INSTALL = q.BY_CODE["rejected_install"].mask
INVALID_CLICK = q.BY_CODE["invalid_click"].mask
# Touch reasons that say its source floods (a flood_sub_id click can win: it is only suspicious).
FLOOD_SIGNS = q.mask_of(("flood_ip", "flood_device", "flood_ip_user_agent", "flood_sub_id"))
# Install-referrer timestamps are whole seconds (truncated): a click is after
# the install began only when it is at least this much after the timestamp.
REFERRER_RESOLUTION = dt.timedelta(seconds=1)
# passed_over keeps at most this many touches.
MAX_PASSED_OVER = 20


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """The effective settings for one campaign (or the account's)."""

    off: frozenset[str] = frozenset()
    click_injection_s: int = DEFAULTS["click_injection_s"]
    click_flooding_s: int = DEFAULTS["click_flooding_s"]
    install_burst_ip: int = DEFAULTS["install_burst_ip"]
    install_burst_subnet: int = DEFAULTS["install_burst_subnet"]
    install_burst_window_s: int = DEFAULTS["install_burst_window_s"]
    too_soon_after_install_s: int = DEFAULTS["too_soon_after_install_s"]

    def on(self, check: str) -> bool:
        return check not in self.off

    def checks(self) -> dict[str, bool]:
        return {c: c not in self.off for c in CHECKS}


DEFAULT_SETTINGS = Settings()


def merge(*docs: Mapping[str, Any]) -> Settings:
    """The effective settings of stored documents, broadest first (account, campaign)."""
    checks: dict[str, bool] = {}
    values: dict[str, int] = dict(DEFAULTS)
    for doc in docs:
        for code, on in (doc.get("checks") or {}).items():
            if code in CHECKS:
                checks[code] = bool(on)
        for key in DEFAULTS:
            if isinstance(doc.get(key), int):
                values[key] = doc[key]
    return Settings(off=frozenset(c for c, on in checks.items() if not on), **values)


@dataclasses.dataclass(frozen=True, slots=True)
class RevenueRange:
    low: Decimal | None
    high: Decimal | None

    def outside(self, amount: Decimal) -> bool:
        return (self.low is not None and amount < self.low) or (self.high is not None and amount > self.high)


@dataclasses.dataclass
class Config:
    """An account's quality settings and revenue ranges, as one batch reads them."""

    docs: dict[str, dict[str, Any]]  # campaign_id ('' = account) -> stored document
    ranges: dict[tuple[str, str], RevenueRange]  # (goal_id, currency) -> range
    _merged: dict[str, Settings] = dataclasses.field(default_factory=dict)

    def settings(self, campaign_id: str | None) -> Settings:
        key = campaign_id or ""
        hit = self._merged.get(key)
        if hit is None:
            account = self.docs.get("", {})
            hit = self._merged[key] = merge(account, self.docs.get(key, {})) if key else merge(account)
        return hit

    def revenue_range(self, goal_id: str, currency: str | None) -> RevenueRange | None:
        if not goal_id or not currency:
            return None
        return self.ranges.get((goal_id, currency.upper()))


EMPTY = Config({}, {})
_cache: TTLCache[str, Config] = TTLCache(CACHE_TTL_S)

LOAD_SQL = """
SELECT 's' AS what, campaign_id AS a, '' AS b, settings::text AS doc, NULL::numeric AS low, NULL::numeric AS high
FROM attribution.quality_settings WHERE account_id = $1
UNION ALL
SELECT 'r', goal_id, currency, NULL, min_amount, max_amount FROM attribution.revenue_ranges WHERE account_id = $1
"""


def invalidate(account_id: str | None = None) -> None:
    _cache.invalidate(account_id)


async def load(conn_or_pool: Fetcher, account_id: str, *, fresh: bool = False) -> Config:
    """The account's settings and revenue ranges (one query; cached for CACHE_TTL_S)."""

    async def read() -> Config:
        docs: dict[str, dict[str, Any]] = {}
        ranges: dict[tuple[str, str], RevenueRange] = {}
        for r in await conn_or_pool.fetch(LOAD_SQL, account_id):
            if r["what"] == "s":
                doc = orjson.loads(r["doc"])
                docs[r["a"]] = doc if isinstance(doc, dict) else {}
            else:
                ranges[(r["a"], r["b"])] = RevenueRange(r["low"], r["high"])
        return Config(docs, ranges) if docs or ranges else EMPTY

    return await _cache.get_or_load(account_id, read, fresh=fresh)


# --------------------------------------------------------------------------- checks


@functools.lru_cache(maxsize=65_536)
def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def subnet(ip: str) -> str:
    """The /24 (IPv4) or /64 (IPv6) of an address, as Postgres writes a cidr ('' when not an address)."""
    head, dot, last = ip.rpartition(".")
    if dot and ":" not in ip and last.isdigit() and head.count(".") == 2:
        return f"{head}.0/24"  # the common case, without parsing (ingest stored a valid address)
    return _subnet(ip)


@functools.lru_cache(maxsize=65_536)
def _subnet(ip: str) -> str:
    addr = _address(ip)
    if addr is None:
        return ""
    return str(ipaddress.ip_network(f"{addr}/{24 if addr.version == 4 else 64}", strict=False))


def client_mismatch(event: Mapping[str, Any]) -> bool:
    """An app-key event whose client claimed an IP or a User-Agent that disagrees
    with its connection's (ingest keeps the claim apart in claimed_ip /
    claimed_user_agent; ip / user_agent are the connection's).

    IP: a public address of the same family in another /24 (/64). A private
    claim is what a phone behind NAT knows of itself, and a claim of the other
    family is a dual-stack phone: neither disagrees. User-Agent: an SDK's HTTP
    client and its web view never send the same string, so the operating
    systems are compared, when both name one (Android SDKs often send
    okhttp's User-Agent, which names none: that is no disagreement)."""
    claimed_ip, ip = event.get("claimed_ip"), event.get("ip")
    if claimed_ip and ip:
        claim, conn = _address(str(claimed_ip)), _address(str(ip))
        if (
            claim is not None and conn is not None and claim.version == conn.version and claim.is_global
            and subnet(str(claim)) != subnet(str(conn))
        ):  # fmt: skip
            return True
    claimed_ua, ua = event.get("claimed_user_agent"), event.get("user_agent")
    if claimed_ua and ua:
        claimed_os, conn_os = parse_user_agent(str(claimed_ua)).os, parse_user_agent(str(ua)).os
        if claimed_os and conn_os and claimed_os != conn_os:
            return True
    return False


def parse_time(value: Any) -> dt.datetime | None:
    """A hand-off timestamp (RFC 3339 text) or None."""
    if not value:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    try:
        t = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def install_began_before(event: Mapping[str, Any], click_time: dt.datetime) -> bool:
    """The install-referrer timestamps the SDK sent say the store visit or the
    install began before the click: the click was injected."""
    for col in ("install_begin_time", "referrer_click_time"):
        t = parse_time(event.get(col))
        if t is not None and click_time >= t + REFERRER_RESOLUTION:
            return True
    return False


# A batch has a handful of distinct reason masks and thresholds; each is worked out once.


@functools.lru_cache(maxsize=1024)
def seconds(n: int) -> dt.timedelta:
    return dt.timedelta(seconds=n)


@functools.lru_cache(maxsize=4096)
def verdict(mask: int) -> int:
    """libs.quality.verdict_of, cached."""
    return q.verdict_of(mask)


@functools.lru_cache(maxsize=4096)
def codes_text(mask: int) -> str:
    """The reason codes of a mask, comma-separated (the outbound event's `reasons`), cached."""
    return ",".join(q.codes_of(mask))
