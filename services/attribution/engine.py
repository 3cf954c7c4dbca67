"""The attribution engine: consumes the events ingest stored (libs/event_handoff),
attributes installs to touches and turns goal-matching events into conversions.

Installs: the exact click id first; then a device id (IDFA / GAID) seen on a
click or an impression; then IP + User-Agent inside the fingerprint window.
Clicks beat impressions; inside the click lookback (or view lookback for
impressions) the last touch wins; no touch means organic. An invalid touch
(links' verdict) never wins: the next eligible one does, and the install keeps
the touches it passed over. One install per (account, app, device); the match
type is kept. The install checks (services/attribution/quality.py) then give
its verdict; an invalid (rejected) install keeps its campaign, costs nothing
and fires only `rejected` postbacks.

Conversions: every event is checked against the account's goals. ``purchase``
goals credit the last click inside the conversion window across campaigns;
``custom`` goals every campaign clicked inside the window. With no click newer
than the install's touch inside the window, the conversion belongs to the
campaign that got the install. Invalid clicks are never credited. Windows
are the settings in force at the event's time (breakpoints). The conversion
checks give each conversion its verdict.

Delivery is at least once, so everything is idempotent: the jobs one claim
got for an account are handled in one transaction; installs are unique per event and per device; every (event,
goal) pair is recorded once in ``goal_hits`` (a replayed event is neither
counted nor credited again), and conversions are unique by dedup key. Each
new install and conversion enqueues its outbound event (libs/postback_handoff)
in that same transaction.

Every look-up in the links service (touches, campaigns, the account's currency)
is made before the transaction opens, all of a batch's at once (bounded
concurrency); conversions need one look-up per device and batch, not per event.

Here: the flow of one claim. The rules are services/attribution/rules.py (pure),
the install look-ups matching.py, install_burst bursts.py, the writes store.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

import asyncpg
from prometheus_client import Counter, Histogram

from libs import event_handoff, privacy
from libs.ids import new_id
from libs.logging import get_logger
from libs.queue import Consumer, Defer, Job
from services.attribution import quality as qual
from services.attribution import reengagement, store
from services.attribution import settings as windows_mod
from services.attribution.apple_ads import install_touches as apple_ads_touches
from services.attribution.bursts import Bursting, Bursts
from services.attribution.goals import EVENT_TRACK, Goal, load_goals
from services.attribution.lookups import CLICK, IMPRESSION, Links, Touch, TouchQuery
from services.attribution.matching import match_installs
from services.attribution.rules import (
    EVENT_INSTALL,
    SKEW,
    Attributed,
    Hit,
    InstallRef,
    credit,
    device_ids,
    device_key,
    erased_pseudonym,
    exhausted,
    identity_keys,
    install_reasons,
    prepare,
    user_key,
)

log = get_logger("attribution.engine")

EVENTS = Counter("clicktrail_attribution_events", "Events handled by the attribution engine")
BATCH = Histogram(
    "clicktrail_attribution_batch_events",
    "Events handled in one transaction of the engine",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000),
)
LAG = Histogram(
    "clicktrail_attribution_lag_seconds",
    "From the ingest receive time to the commit of the event's attribution",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)

# The installs (of an account with Apple Ads on) whose campaign or click differs from what was read.
MOVED_INSTALLS = """
SELECT count(*) FROM (
    SELECT i.campaign_id, i.click_id, t.campaign_id AS read_campaign, t.click_id AS read_click
    FROM attribution.installs i
    JOIN unnest($2::text[], $3::text[], $4::text[]) AS t(install_id, campaign_id, click_id)
        ON i.install_id = t.install_id
    WHERE i.account_id = $1
      AND EXISTS (SELECT 1 FROM attribution.apple_ads_settings s WHERE s.account_id = $1 AND s.enabled)
    ORDER BY i.install_id
    FOR KEY SHARE OF i
) x WHERE x.campaign_id IS DISTINCT FROM x.read_campaign OR x.click_id IS DISTINCT FROM x.read_click
"""


class Engine:
    """Handles event hand-off jobs: the claimed jobs of one account in one transaction."""

    def __init__(self, pool: asyncpg.Pool, links: Links) -> None:
        self._pool = pool
        self.links = links
        self._bursts = Bursts(pool)

    async def handle_jobs(self, jobs: list[Job]) -> dict[int, BaseException | None]:
        """The claimed jobs of each account are handled together (one transaction per account)."""
        by_account: dict[str, list[Job]] = {}
        for job in jobs:
            by_account.setdefault(job.account_id, []).append(job)

        def decode(job: Job) -> list[dict[str, Any]]:
            events = event_handoff.decode_fields(job.payload)
            for e in events:  # an erasure after this time reaches the event (erase_queued)
                e["_queued"] = job.create_time
            return events

        async def one(account_id: str, group: list[Job]) -> BaseException | None:
            try:
                await self.handle(account_id, [e for j in group for e in decode(j)])
                return None
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("attribution_jobs_failed", jobs=[j.job_id for j in group], error=repr(exc)[:300])
                return exc

        results = await asyncio.gather(*(one(a, g) for a, g in by_account.items()))
        return {j.job_id: r for (_, g), r in zip(by_account.items(), results, strict=True) for j in g}

    async def handle(self, account_id: str, raw_events: list[dict[str, Any]]) -> None:
        """Attribute events of one account (one or more jobs)."""
        # A job handed twice (redelivered beside its original) is one set of events.
        unique = {e["event_uuid"]: e for e in raw_events if e.get("account_id") == account_id}
        if not unique:
            return
        await self.erase_queued(self._pool, account_id, list(unique.values()))
        events = [prepare(e) for e in unique.values()]
        history = await windows_mod.breakpoints(self._pool, account_id)
        goals = await load_goals(self._pool, account_id)

        # Installs: one per device (the earliest event of a job wins); skip devices already installed.
        candidates: dict[tuple[str, str], dict[str, Any]] = {}
        for ev in events:
            if ev["event"] == EVENT_INSTALL:
                key = (ev["app_id"], device_key(ev))
                if key not in candidates or ev["_time"] < candidates[key]["_time"]:
                    candidates[key] = ev
        known: dict[tuple[str, str], InstallRef] = {}
        lookup_keys = {(ev["app_id"], k) for ev in events for k in identity_keys(ev)}
        if lookup_keys:
            apps, keys = zip(*sorted(lookup_keys), strict=True)
            for r in await self._pool.fetch(store.FIND_INSTALLS, account_id, list(apps), list(keys)):
                known[(r["app_id"], r["key"])] = InstallRef(
                    r["install_id"], r["campaign_id"], r["click_id"], r["touch_type"], r["touch_time"], r["verdict"],
                    r["install_time"],
                )  # fmt: skip
        cfg = await qual.load(self._pool, account_id)
        new_installs = [ev for (app, dk), ev in candidates.items() if (app, dk) not in known]
        reinstalls = [ev for (app, dk), ev in candidates.items() if (app, dk) in known]  # reengagement.py
        attributed = await match_installs(self.links, account_id, new_installs, history) if new_installs else []
        if attributed:
            await self._check_installs(account_id, attributed, cfg)
        for a in attributed:
            a.install_id = new_id()
            ref = InstallRef(
                a.install_id, a.touch.campaign_id if a.touch else None, a.touch.touch_id if a.touch else None,
                a.touch.kind if a.touch else 0, a.touch.time if a.touch else None, a.verdict, a.event["_time"],
            )  # fmt: skip
            for k in identity_keys(a.event) or [device_key(a.event)]:
                known.setdefault((a.event["app_id"], k), ref)
        touch_of_install = {a.install_id: a.touch for a in attributed}
        # Re-engagements and re-attributions (services/attribution/reengagement.py).
        reeng = await reengagement.find(self.links, self._pool, account_id, events, known, reinstalls, history)

        # Goal hits, minus those a "first" / "nth" goal can no longer count.
        # Each event is checked against the goals on its own event name only (the others cannot match).
        goals_of: dict[str, list[Goal]] = {}
        for g in goals:
            goals_of.setdefault(g.event, []).append(g)
        hits: list[Hit] = []
        for ev in events:
            code = ev["event"]
            name = "install" if code == EVENT_INSTALL else ev.get("action") if code == EVENT_TRACK else None
            for g in goals_of.get(name, ()) if isinstance(name, str) else ():
                if g.matches(ev):
                    hits.append(Hit(ev, g, user_key(ev)))
        limited = [h for h in hits if h.goal.occurrence in ("first", "nth")]
        counts: dict[tuple[str, str], int] = {}
        if limited:
            pairs = sorted({(h.goal.goal_id, h.user_key) for h in limited})
            rows = await self._pool.fetch(store.READ_COUNTS, account_id, [p[0] for p in pairs], [p[1] for p in pairs])
            counts = {(r["goal_id"], r["user_key"]): r["count"] for r in rows}
        hits = [h for h in hits if not exhausted(h.goal, counts.get((h.goal.goal_id, h.user_key), 0))]
        if hits:
            await self._credit_hits(account_id, hits, known, touch_of_install, history, reeng)
        # Everything the transaction needs from links, fetched before it opens: no call to
        # another service while it holds its locks.
        campaign_ids = sorted({a.touch.campaign_id for a in attributed if a.touch} | {
            t.campaign_id for h in hits for t in h.credits if t is not None and t.campaign_id
        } | {r.campaign_id for r in reeng.rows if r.campaign_id})  # fmt: skip
        found = await asyncio.gather(*(self.links.campaign(account_id, c) for c in campaign_ids))
        campaigns = dict(zip(campaign_ids, found, strict=True))
        currency = await self.links.currency(account_id) if hits else ""

        async with self._pool.acquire() as conn, conn.transaction():
            # An erasure that committed since erase_queued: handle the jobs again (then anonymised).
            await privacy.lock_account(conn, account_id, shared=True)
            if await self.erase_queued(conn, account_id, events, apply=False):
                raise Defer("an erasure reached these events meanwhile: attributed again", 0.0)
            # Apple Ads re-credits installs off this path (apple_ads.py): one that committed since the
            # installs were read above would leave these conversions on the old campaign.
            if hits and await self._installs_moved(conn, account_id, hits, touch_of_install):
                raise Defer("an install was credited to Apple Ads meanwhile: conversions credited again", 0.0)
            await store.store_installs(conn, account_id, attributed, campaigns)
            await store.store_conversions(conn, account_id, hits, cfg, campaigns, currency)
            await reengagement.store(conn, account_id, reeng, campaigns)
        now = time.time()
        for ev in events:
            LAG.observe(max(0.0, now - ev["_received"].timestamp()))
        EVENTS.inc(len(events))
        BATCH.observe(len(events))

    @staticmethod
    async def _installs_moved(conn: asyncpg.Connection, account_id: str, hits: list[Hit],
                              new: dict[str, Touch | None]) -> bool:  # fmt: skip
        """Whether a stored install of these hits' users no longer has the campaign / click it was
        read with. Key-share locked (an Apple Ads account only): a re-credit in progress commits
        first, and one that starts after this commits moves these conversions itself."""
        refs = {
            h.install.install_id: h.install for h in hits if h.install is not None and h.install.install_id not in new
        }
        if not refs:
            return False
        ids = sorted(refs)
        moved = await conn.fetchval(
            MOVED_INSTALLS, account_id, ids, [refs[i].campaign_id for i in ids], [refs[i].click_id for i in ids]
        )
        return bool(moved)

    @staticmethod
    async def erase_queued(
        db: asyncpg.Pool | asyncpg.Connection, account_id: str, events: list[dict[str, Any]], *, apply: bool = True
    ) -> int:
        """GDPR: events queued before an erasure that names one of their ids
        (libs/privacy.py tombstones) are anonymised, as ingest anonymised its rows,
        so a backlogged or already-claimed job cannot bring erased data back.
        Answers how many events it anonymised (or, without ``apply``, would)."""
        keys = {k for e in events if e.get("_queued") is not None for k in event_handoff.person_keys(e)}
        stones = await privacy.erased_keys(db, account_id, keys) if keys else {}
        n = 0
        for e in events:
            pseudonym = erased_pseudonym(e, stones) if stones else None
            if pseudonym is not None:
                n += 1
                if apply:
                    event_handoff.erase_event(e, pseudonym)
        return n

    async def _check_installs(self, account_id: str, attributed: list[Attributed], cfg: qual.Config) -> None:
        """The install checks: each install's reasons, from its match, its event
        and (install_burst) one query for the whole batch."""
        bursting: list[Bursting] = []
        for a in attributed:
            s = cfg.settings(a.touch.campaign_id if a.touch else None)
            a.reasons = install_reasons(a, s)
            ip = str(a.event.get("ip") or "")
            if ip and s.on("install_burst") and (net := qual.subnet(ip)):
                bursting.append((a, s, ip, net))
        if bursting:
            await self._bursts.count(account_id, bursting)

    async def _credit_hits(
        self, account_id: str, hits: list[Hit], known: dict[tuple[str, str], InstallRef],
        touch_of_install: dict[str, Touch | None], history: list[windows_mod.Breakpoint],
        reeng: reengagement.Found,
    ) -> None:  # fmt: skip
        """Look up the touches each hit is credited to (before the transaction):
        one look-up per device and window covers all of the job's hits of that device."""
        spans: dict[tuple[str, dt.timedelta], list[dt.datetime]] = {}
        plans: list[tuple[Hit, dt.datetime, dt.timedelta]] = []
        for h in hits:
            ev = h.event
            at = min(ev["_received"], ev["_time"] + SKEW)
            window = windows_mod.windows_in(history, ev["_time"]).conversion_window
            plans.append((h, at, window))
            for d in device_ids(ev):
                span = spans.setdefault((d, window), [at, at])
                span[0], span[1] = min(span[0], at), max(span[1], at)
        keys = list(spans)
        queries = [
            TouchQuery(spans[k][0] - k[1], spans[k][1] + dt.timedelta(milliseconds=1), device_id=k[0],
                       impressions=False, limit=100)
            for k in keys
        ]  # fmt: skip
        found = dict(zip(keys, await self.links.touches_many(account_id, queries), strict=True)) if keys else {}

        # The install each hit's user has, and the touch that install was credited to.
        refs: list[InstallRef | None] = []
        for h, _, _ in plans:
            ev = h.event
            ref = next((known[(ev["app_id"], k)] for k in identity_keys(ev) if (ev["app_id"], k) in known), None)
            if ref is None and ev["event"] == EVENT_INSTALL:
                ref = known.get((ev["app_id"], device_key(ev)))
            refs.append(ref)
        install_touches: dict[str, Touch | None] = {}
        by_click: dict[str, list[str]] = {}
        for ref in refs:
            if ref is None or not ref.click_id or ref.install_id in install_touches:
                continue
            if ref.install_id in touch_of_install:
                install_touches[ref.install_id] = touch_of_install[ref.install_id]
            elif ref.touch_type == CLICK:
                install_touches[ref.install_id] = None
                by_click.setdefault(ref.click_id, []).append(ref.install_id)
            else:  # An impression-credited install: enough to name its campaign.
                install_touches[ref.install_id] = Touch(
                    ref.click_id, IMPRESSION, ref.touch_time or dt.datetime.now(dt.UTC), ref.campaign_id or "",
                    "", "", "",
                )  # fmt: skip
        if by_click:
            ids = list(by_click)
            for click_id, click in zip(ids, await self.links.clicks(account_id, ids), strict=True):
                for install_id in by_click[click_id]:
                    install_touches[install_id] = click
        # Apple Ads installs have no touch of ours: their campaign (services/attribution/apple_ads.py).
        install_touches.update(await apple_ads_touches(self._pool, account_id, refs))

        # An open re-engagement / re-attribution stands in for the install's touch.
        since = min(h.event["_time"] for h in hits)
        reopened = await reengagement.active(self.links, self._pool, account_id, refs, since, reeng)
        for (h, at, window), ref in zip(plans, refs, strict=True):
            ev = h.event
            h.install = ref
            clicks = [t for d in device_ids(ev) for t in found[(d, window)] if not t.app_id or t.app_id == ev["app_id"]]
            touch = install_touches.get(ref.install_id) if ref is not None else None
            h.credits = reengagement.recredit(h.goal, clicks, ref, at, window, ev["_time"], reopened) or credit(
                h.goal, clicks, ref, touch, at, window
            )


def consumers(
    pool: asyncpg.Pool,
    engine: Engine,
    *,
    count: int = 3,
    batch_size: int = 32,
    lease_s: float = 120.0,
    dead_retention_s: float | None = None,
) -> list[Consumer]:
    """Consumers of the event hand-off; several, so look-ups of one batch overlap the next.
    A batch claimed by a consumer that died is handled again after ``lease_s``."""
    return [
        Consumer(pool, event_handoff.EVENT_QUEUE, batch_handler=engine.handle_jobs, batch_size=batch_size,
                 lease_s=lease_s, poll_s=0.5, dead_retention_s=dead_retention_s)
        for _ in range(count)
    ]  # fmt: skip
