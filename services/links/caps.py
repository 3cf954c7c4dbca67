"""Offer caps: how many conversions each offer has counted today (the day in
the account's time zone) and in all, against its daily_cap / total_cap.

The click path asks ``capped()`` for every offer it considers, so that answer
is a dict look-up in memory (no SQL per click). An account's state is loaded on
first use (``ensure``) and refreshed from links.offer_cap_counts at most every
``refresh_s`` seconds while clicks ask for it (other replicas' conversions
arrive that way); RecordOfferConversions in this process updates it at once, so
after that RPC answers no click of this process goes to an offer it capped.

Only offers with a cap are held. Counts come from links.offer_cap_counts, the
per-day counters RecordOfferConversions keeps in the statement that records the
conversions: a refresh reads a few rows per capped offer (its days with
conversions), never the conversions themselves. GetOffer / ListOffers read the
same counters with ``counts()`` (one query, off the click path).

Counts only ever go up in memory between refreshes: a rejection (or anything
that lowers a count) waits for the next refresh, so memory errs on the capped
side and never lets a click through that the table would not."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import time
import zoneinfo
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import asyncpg

log = logging.getLogger(__name__)

UTC = dt.UTC
# Reads of one account that start over because a conversion was recorded or an
# offer changed while one ran (then the last read is kept, merged upwards).
MAX_LOAD_ATTEMPTS = 3
NOTHING: frozenset[str] = frozenset()

# $1 account, $2 now. The capped offers of the account with today's count and
# their total, from the per-day counters RecordOfferConversions keeps; one row
# with NULL offer_id when the account has none (its time zone is still wanted).
LOAD_SQL = """
SELECT a.time_zone, o.offer_id, o.daily_cap, o.total_cap,
    coalesce(sum(n.conversions) FILTER (WHERE n.day = ($2::timestamptz AT TIME ZONE a.time_zone)::date), 0)::bigint
        AS today,
    coalesce(sum(n.conversions), 0)::bigint AS total
FROM accounts.accounts a
LEFT JOIN links.offers o ON o.account_id = a.account_id AND (o.daily_cap > 0 OR o.total_cap > 0)
LEFT JOIN links.offer_cap_counts n ON n.account_id = o.account_id AND n.offer_id = o.offer_id
WHERE a.account_id = $1
GROUP BY a.time_zone, o.offer_id, o.daily_cap, o.total_cap
"""

# $1 account, $2 offer ids, $3 now: the counts of the offers asked.
COUNTS_SQL = """
SELECT o.offer_id, o.daily_cap, o.total_cap,
    coalesce(sum(n.conversions) FILTER (
        WHERE n.day = ($3::timestamptz AT TIME ZONE coalesce(a.time_zone, 'UTC'))::date
    ), 0)::bigint AS today,
    coalesce(sum(n.conversions), 0)::bigint AS total
FROM links.offers o
LEFT JOIN accounts.accounts a ON a.account_id = o.account_id
LEFT JOIN links.offer_cap_counts n ON n.account_id = o.account_id AND n.offer_id = o.offer_id
WHERE o.account_id = $1 AND o.offer_id = ANY($2::text[])
GROUP BY o.offer_id, o.daily_cap, o.total_cap
"""


class OfferCounts(NamedTuple):
    today: int
    total: int
    capped: bool


def is_capped(daily_cap: int, total_cap: int, today: int, total: int) -> bool:
    return (total_cap > 0 and total >= total_cap) or (daily_cap > 0 and today >= daily_cap)


@dataclasses.dataclass(slots=True)
class OfferCap:
    daily_cap: int
    total_cap: int
    today: int
    total: int


@dataclasses.dataclass(slots=True)
class AccountCaps:
    """One account's capped offers on one day of its time zone."""

    zone: dt.tzinfo
    day: dt.date
    day_start: dt.datetime  # the day's first instant (aware, UTC)
    day_end: dt.datetime  # the next day's first instant
    offers: dict[str, OfferCap]
    loaded_at: float  # time.monotonic() of the read it holds
    # An offer of the account changed (its caps, status, a new one): the next
    # ensure() waits for a reload; until then this state still answers.
    changed: bool = False

    def holds(self, now: dt.datetime) -> bool:
        return self.day_start <= now < self.day_end


def zone_of(name: str | None) -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return UTC  # accounts validate their zone; an unknown one must not stop clicks


def day_bounds(now: dt.datetime, zone: dt.tzinfo) -> tuple[dt.date, dt.datetime, dt.datetime]:
    day = now.astimezone(zone).date()
    start = dt.datetime.combine(day, dt.time(), tzinfo=zone).astimezone(UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=zone).astimezone(UTC)
    return day, start, end


class OfferCaps:
    def __init__(self, pool: asyncpg.Pool, refresh_s: float = 1.0) -> None:
        self._pool = pool
        self._refresh_s = refresh_s
        self._accounts: dict[str, AccountCaps] = {}
        self._loads: dict[str, asyncio.Task[None]] = {}
        # Bumped by every change recorded in this process (per account) and by
        # invalidate(): a read that overlapped one must not undo it.
        self._versions: dict[str, int] = {}
        # capped_offers()' answers: (the state, its version, whether its day held, the set).
        self._capped: dict[str, tuple[AccountCaps, int, bool, frozenset[str]]] = {}

    # -- the click path -----------------------------------------------------

    def capped(self, account_id: str, offer_id: str, now: dt.datetime) -> bool:
        state = self._accounts.get(account_id)
        if state is None:
            self._start_load(account_id)
            return False
        cap = state.offers.get(offer_id)
        if cap is None:
            return False
        if cap.total_cap > 0 and cap.total >= cap.total_cap:
            return True
        # Another day than the one held (ensure() not awaited since midnight): nothing counted yet.
        return cap.daily_cap > 0 and cap.today >= cap.daily_cap and state.holds(now)

    def capped_offers(self, account_id: str, now: dt.datetime) -> frozenset[str]:
        """The account's offers capped at ``now``: capped() of each, as one set. Worked
        out again only when the state held changed (a load, record(), invalidate())
        or the day it holds ended, so a click pays a few look-ups, not one call per offer."""
        state = self._accounts.get(account_id)
        if state is None:
            self._start_load(account_id)
            return NOTHING
        if not state.offers:  # no offer of the account has a cap
            return NOTHING
        version = self._versions.get(account_id, 0)
        holds = state.holds(now)
        got = self._capped.get(account_id)
        if got is not None and got[0] is state and got[1] == version and got[2] == holds:
            return got[3]
        ids = frozenset(offer_id for offer_id in state.offers if self.capped(account_id, offer_id, now))
        self._capped[account_id] = (state, version, holds, ids)
        return ids

    async def ensure(self, account_ids: Iterable[str], now: dt.datetime | None = None) -> None:
        """Loads (and waits for) the accounts not held yet, the ones whose day
        has turned and the ones whose offers changed; starts a background
        refresh of those read more than ``refresh_s`` ago. A failed load is
        logged: the state held keeps answering."""
        now = now or dt.datetime.now(UTC)
        stale_before = time.monotonic() - self._refresh_s
        waits: list[asyncio.Task[None]] = []
        for account_id in set(account_ids):
            state = self._accounts.get(account_id)
            if state is None or state.changed or not state.holds(now):
                waits.append(self._start_load(account_id))
            elif state.loaded_at <= stale_before:
                self._start_load(account_id)
        if waits:
            await asyncio.gather(*(asyncio.shield(t) for t in waits), return_exceptions=True)

    # -- changes --------------------------------------------------------------

    def record(self, account_id: str, changes: Iterable[tuple[str, dt.date, int]]) -> None:
        """(offer_id, day, +1 / -1) of conversions just committed to
        links.offer_conversions. Rises apply at once; a fall waits for the
        next refresh (marked due now)."""
        self._versions[account_id] = self._versions.get(account_id, 0) + 1
        state = self._accounts.get(account_id)
        if state is None:
            return  # the next load reads the table, which has them
        for offer_id, day, delta in changes:
            cap = state.offers.get(offer_id)
            if delta < 0 or day != state.day:
                state.loaded_at = float("-inf")
            if cap is None or delta <= 0:
                continue
            cap.total += delta
            if day == state.day:
                cap.today += delta

    def invalidate(self, account_id: str) -> None:
        """An offer of the account changed: the next ensure() reloads it. The
        state held keeps answering meanwhile (dropping it would let a batch
        between its ensure() and its decisions send clicks to a capped offer)."""
        self._versions[account_id] = self._versions.get(account_id, 0) + 1
        state = self._accounts.get(account_id)
        if state is not None:
            state.changed = True

    def clear(self) -> None:
        for account_id in {*self._accounts, *self._loads}:
            self.invalidate(account_id)

    # -- GetOffer / ListOffers --------------------------------------------

    async def counts(
        self, account_id: str, offer_ids: Sequence[str], now: dt.datetime | None = None
    ) -> dict[str, OfferCounts]:
        rows = await self._pool.fetch(COUNTS_SQL, account_id, list(set(offer_ids)), now or dt.datetime.now(UTC))
        out = {offer_id: OfferCounts(0, 0, False) for offer_id in offer_ids}
        for r in rows:
            out[r["offer_id"]] = OfferCounts(
                r["today"], r["total"], is_capped(r["daily_cap"], r["total_cap"], r["today"], r["total"])
            )
        return out

    # -- loading ----------------------------------------------------------

    def _start_load(self, account_id: str) -> asyncio.Task[None]:
        task = self._loads.get(account_id)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._load(account_id))
            self._loads[account_id] = task
            task.add_done_callback(lambda t: self._load_done(account_id, t))
        return task

    def _load_done(self, account_id: str, task: asyncio.Task[None]) -> None:
        self._loads.pop(account_id, None)
        if not task.cancelled() and task.exception() is not None:
            log.warning("offer caps of account %s not loaded: %r", account_id, task.exception())

    async def _load(self, account_id: str) -> None:
        """Reads the account's capped offers. A conversion recorded or an offer
        changed in this process while it read may be missing from the read:
        then it reads again; after MAX_LOAD_ATTEMPTS it keeps the last read with
        the higher count of each offer (memory errs on the capped side) and
        reads again at the next ensure()."""
        for _ in range(MAX_LOAD_ATTEMPTS):
            version = self._versions.get(account_id, 0)
            now = dt.datetime.now(UTC)
            read_at = time.monotonic()
            rows = await self._pool.fetch(LOAD_SQL, account_id, now)
            zone = zone_of(rows[0]["time_zone"] if rows else None)
            day, start, end = day_bounds(now, zone)
            offers = {
                r["offer_id"]: OfferCap(r["daily_cap"], r["total_cap"], r["today"], r["total"])
                for r in rows
                if r["offer_id"] is not None
            }
            fresh = AccountCaps(zone, day, start, end, offers, read_at)
            if self._versions.get(account_id, 0) == version:
                self._accounts[account_id] = fresh
                return
        held = self._accounts.get(account_id)
        if held is not None and held.day == fresh.day:
            for offer_id, cap in fresh.offers.items():
                old = held.offers.get(offer_id)
                if old is not None:
                    cap.today = max(cap.today, old.today)
                    cap.total = max(cap.total, old.total)
        fresh.loaded_at = float("-inf")
        self._accounts[account_id] = fresh
