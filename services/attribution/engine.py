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

Touch look-ups go to the links service before the transaction opens, all of a
batch's at once (bounded concurrency); conversions need one look-up per device
and batch, not per event.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import asyncpg
import orjson
from prometheus_client import Counter, Histogram

from libs import event_handoff, exactjson, postback_handoff, privacy
from libs import quality as q
from libs.ids import new_id
from libs.logging import get_logger
from libs.queue import Consumer, Defer, Job, enqueue
from services.attribution import quality as qual
from services.attribution import settings as windows_mod
from services.attribution.goals import EVENT_TRACK, Goal, load_goals
from services.attribution.lookups import CLICK, IMPRESSION, CampaignInfo, Links, Touch, TouchQuery

log = get_logger("attribution.engine")

EVENT_INSTALL = 1
MATCH_CLICK_ID, MATCH_DEVICE_ID, MATCH_FINGERPRINT, MATCH_ORGANIC = 1, 2, 3, 4
MATCH_NAMES = {1: "click_id", 2: "device_id", 3: "fingerprint", 4: "organic"}
PENDING, APPROVED, REJECTED = 1, 2, 3
STATUS_NAMES = {1: "pending", 2: "approved", 3: "rejected"}
SOURCE_EVENT, SOURCE_POSTBACK = 1, 2
# Event conversions are approved at once; postbacks say their own status.
EVENT_CONVERSION_STATUS = APPROVED
# How far a device clock may run behind ours: touches up to this long after an event's time still count.
SKEW = dt.timedelta(minutes=10)
# A device or fingerprint look-up whose clicks all came back invalid and filled the
# limit is asked again further back, once, with this limit: a flood must not hide
# the touch before it.
REFILL_LIMIT = 100

EVENTS = Counter("clicktrail_attribution_events", "Events handled by the attribution engine")
INSTALLS = Counter("clicktrail_attribution_installs", "Installs recorded", ["match_type"])
CONVERSIONS = Counter("clicktrail_attribution_conversions", "Event conversions recorded")
INVALID_ROWS = Counter("clicktrail_attribution_invalid", "Installs and conversions recorded as invalid", ["kind"])
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


# --------------------------------------------------------------------------- helpers


def parse_time(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    t = dt.datetime.fromisoformat(str(value))
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def prepare(event: dict[str, Any]) -> dict[str, Any]:
    """A hand-off dict as goals see it: parsed times and ``action_properties``."""
    props = event.get("properties")
    parsed: Any = {}
    if props:
        try:
            parsed = exactjson.loads(props)  # numbers exactly as stored: an amount is never a rounded float
        except exactjson.JSONDecodeError:
            parsed = {}
    event["action_properties"] = parsed if isinstance(parsed, dict) else {}
    event["_time"] = parse_time(event["event_time"])
    event["_received"] = parse_time(event["receive_time"])
    return event


def identity_keys(event: dict[str, Any]) -> list[str]:
    """Every identity of the event's device and user, most specific first."""
    keys = []
    for col in ("gaid", "idfa", "idfv", "android_id"):
        if event.get(col):
            keys.append(f"{col}:{event[col]}")
    if event.get("user_id"):
        keys.append(f"user:{event['user_id']}")
    return keys


def device_key(event: dict[str, Any]) -> str:
    """The device an install is of (one install per app and device)."""
    keys = identity_keys(event)
    return keys[0] if keys else f"event:{event['event_uuid']}"


def user_key(event: dict[str, Any]) -> str:
    """Whose occurrences a goal counts: the user id, else the device."""
    if event.get("user_id"):
        return f"user:{event['user_id']}"
    return device_key(event)


def device_ids(event: dict[str, Any]) -> list[str]:
    return [event[c] for c in ("gaid", "idfa") if event.get(c)]


def erased_pseudonym(event: dict[str, Any], stones: dict[str, privacy.Tombstone]) -> str | None:
    """The pseudonym of an erasure that came after this event was queued and
    names one of its ids (None: nothing to erase, or already anonymised)."""
    queued = event.get("_queued")
    if queued is None or str(event.get("user_id") or "").startswith("erased:"):
        return None
    hits = [t for k in event_handoff.person_keys(event) if (t := stones.get(k)) and t.erase_time > queued]
    return max(hits, key=lambda t: t.erase_time).pseudonym if hits else None


def _ts(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value else ""


def money_text(value: Decimal | None) -> str:
    if value is None:
        return ""
    return format(value.normalize(), "f") if value != 0 else "0"


def quality_fields(event_id: str, verdict: int, reasons: int) -> dict[str, str]:
    """An outbound event's id, verdict and reasons. A rejected install or
    conversion goes out under its own event id, so that overruling it back
    later still fires its normal postback once (deliveries are unique per
    event id and template)."""
    return {
        "event_id": f"{event_id}:rejected" if verdict == q.INVALID else event_id,
        "verdict": q.verdict_name(verdict), "reasons": qual.codes_text(reasons),
    }  # fmt: skip


def outbound(kind: str, account_id: str, *, touch: Touch | None, campaign: CampaignInfo | None,
             **fields: Any) -> bytes:  # fmt: skip
    """An outbound event (libs/postback_handoff) for an install, conversion or status change."""
    event: dict[str, Any] = {"kind": kind, "account_id": account_id, "attributed": campaign is not None}
    if campaign is not None:
        event.update(campaign_id=campaign.campaign_id, campaign_name=campaign.name, partner_id=campaign.partner_id)
    if touch is not None:
        event.update(
            link_id=touch.link_id, partner_click_id=touch.partner_click_id, country=touch.country, os=touch.os,
            **({"click_id": touch.touch_id} if touch.kind == CLICK else {}),
            **{f"sub{i + 1}": v for i, v in enumerate(touch.subs)},
        )  # fmt: skip
    event.update({k: v for k, v in fields.items() if v is not None})
    return postback_handoff.encode(event)


# --------------------------------------------------------------------------- install matching


def choose_touch(
    touches: Sequence[Touch], anchor: dt.datetime, upper: dt.datetime, app_id: str,
    click_window: dt.timedelta, view_window: dt.timedelta, passed: list[Touch] | None = None,
) -> Touch | None:  # fmt: skip
    """Clicks beat impressions; the newest inside its window wins. Touches of
    another app never get the credit; invalid touches never win, and those
    that would have are added to ``passed``."""
    best_click: Touch | None = None
    best_view: Touch | None = None
    invalid: list[Touch] = []
    for t in touches:
        if t.app_id and t.app_id != app_id:
            continue
        if t.time > upper or t.time < anchor - (click_window if t.kind == CLICK else view_window):
            continue
        if t.verdict == q.INVALID:
            invalid.append(t)
        elif t.kind == CLICK:
            if best_click is None or t.time > best_click.time:
                best_click = t
        elif best_view is None or t.time > best_view.time:
            best_view = t
    winner = best_click or best_view
    if passed is not None:
        passed.extend(t for t in invalid if _outranks(t, winner))
    return winner


def _outranks(t: Touch, winner: Touch | None) -> bool:
    if winner is None:
        return True
    if t.kind != winner.kind:
        return t.kind == CLICK
    return t.time > winner.time


def _flooded(touches: list[Touch], limit: int) -> bool:
    clicks = [t for t in touches if t.kind == CLICK]
    return len(clicks) >= limit and all(t.verdict == q.INVALID for t in clicks)


async def touches_beyond_floods(links: Links, account_id: str, queries: list[TouchQuery]) -> list[list[Touch]]:
    """``Links.touches_many``; a query whose clicks all came back invalid and
    filled its limit is asked again (all of them in one more call) for what is
    older than the oldest of them."""
    found = await links.touches_many(account_id, queries)
    again: list[tuple[int, TouchQuery]] = []
    for n, (query, touches) in enumerate(zip(queries, found, strict=True)):
        if _flooded(touches, query.limit) and query.limit < REFILL_LIMIT:
            oldest = min(t.time for t in touches if t.kind == CLICK)
            again.append((n, dataclasses.replace(query, end=oldest, limit=REFILL_LIMIT)))
    if again:
        more = await links.touches_many(account_id, [qr for _, qr in again])
        for (n, _), extra in zip(again, more, strict=True):
            found[n] = found[n] + extra
    return found


def passed_json(passed: list[Touch]) -> str | None:
    """installs.passed_over: the passed-over touches, newest first, each once."""
    if not passed:
        return None
    seen: set[str] = set()
    out = []
    for t in sorted(passed, key=lambda t: t.time, reverse=True):
        if t.touch_id in seen:
            continue
        seen.add(t.touch_id)
        out.append({"touch_id": t.touch_id, "kind": "click" if t.kind == CLICK else "impression",
                    "reasons": q.codes_of(t.reasons)})  # fmt: skip
        if len(out) == qual.MAX_PASSED_OVER:
            break
    return orjson.dumps(out).decode() if out else None


@dataclasses.dataclass
class Attributed:
    event: dict[str, Any]
    match_type: int
    touch: Touch | None
    install_id: str = ""
    # The install's time as the windows see it (the event's, capped at our receive time).
    anchor: dt.datetime | None = None
    # Invalid touches that would have won.
    passed: list[Touch] = dataclasses.field(default_factory=list)
    reasons: int = 0

    @property
    def verdict(self) -> int:
        return qual.verdict(self.reasons)


async def match_installs(links: Links, account_id: str, events: list[dict[str, Any]],
                         history: list[windows_mod.Breakpoint]) -> list[Attributed]:  # fmt: skip
    """Attribute install events, in order, in three rounds of batched look-ups:
    click ids, then device ids for the rest, then fingerprints for the rest.
    Invalid touches never win: they are kept as passed over, and the next round
    (or organic) decides."""
    out: list[Attributed | None] = [None] * len(events)
    passed: list[list[Touch]] = [[] for _ in events]
    spans: list[tuple[windows_mod.Windows, dt.datetime, dt.datetime]] = []
    for ev in events:
        # The device clock may be a little off (SKEW); nothing after our receive time counts.
        upper = min(ev["_received"], ev["_time"] + SKEW)
        spans.append((windows_mod.windows_in(history, ev["_time"]), min(ev["_time"], upper), upper))
    with_click = [i for i, ev in enumerate(events) if ev.get("click_id")]
    if with_click:
        clicks = await links.clicks(account_id, [events[i]["click_id"] for i in with_click])
        for i, click in zip(with_click, clicks, strict=True):
            w, anchor, upper = spans[i]
            ev = events[i]
            if click is not None and choose_touch([click], anchor, upper, ev["app_id"], w.click_lookback,
                                                  w.click_lookback, passed[i]):  # fmt: skip
                out[i] = Attributed(ev, MATCH_CLICK_ID, click)
    asks: list[tuple[int, TouchQuery]] = []
    for i, ev in enumerate(events):
        if out[i] is None:
            w, anchor, upper = spans[i]
            start, end = anchor - max(w.click_lookback, w.view_lookback), upper + dt.timedelta(milliseconds=1)
            asks += [(i, TouchQuery(start, end, device_id=d)) for d in device_ids(ev)]
    if asks:
        found: dict[int, list[Touch]] = {}
        answers = await touches_beyond_floods(links, account_id, [qr for _, qr in asks])
        for (i, _), touches in zip(asks, answers, strict=True):
            found.setdefault(i, []).extend(touches)
        for i, touches in found.items():
            w, anchor, upper = spans[i]
            touch = choose_touch(touches, anchor, upper, events[i]["app_id"], w.click_lookback, w.view_lookback,
                                 passed[i])  # fmt: skip
            if touch is not None:
                out[i] = Attributed(events[i], MATCH_DEVICE_ID, touch)
    asks = []
    for i, ev in enumerate(events):
        if out[i] is None and ev.get("ip"):
            w, anchor, upper = spans[i]
            asks.append((i, TouchQuery(anchor - w.fingerprint_window, upper + dt.timedelta(milliseconds=1),
                                       ip=ev["ip"], user_agent=ev.get("user_agent") or "")))  # fmt: skip
    if asks:
        answers = await touches_beyond_floods(links, account_id, [qr for _, qr in asks])
        for (i, _), touches in zip(asks, answers, strict=True):
            w, anchor, upper = spans[i]
            fp = w.fingerprint_window
            touch = choose_touch(touches, anchor, upper, events[i]["app_id"], min(fp, w.click_lookback),
                                 min(fp, w.view_lookback), passed[i])  # fmt: skip
            if touch is not None:
                out[i] = Attributed(events[i], MATCH_FINGERPRINT, touch)
    result = [a if a is not None else Attributed(events[i], MATCH_ORGANIC, None) for i, a in enumerate(out)]
    for i, a in enumerate(result):
        a.anchor, a.passed = spans[i][1], passed[i]
    return result


# --------------------------------------------------------------------------- conversions


@dataclasses.dataclass
class InstallRef:
    install_id: str
    campaign_id: str | None
    click_id: str | None
    touch_type: int
    touch_time: dt.datetime | None
    verdict: int = q.CLEAN
    install_time: dt.datetime | None = None


@dataclasses.dataclass
class Hit:
    event: dict[str, Any]
    goal: Goal
    user_key: str
    credits: list[Touch | None] = dataclasses.field(default_factory=list)
    install: InstallRef | None = None


def credit(goal: Goal, clicks: Sequence[Touch], install: InstallRef | None, install_touch: Touch | None,
           at: dt.datetime, window: dt.timedelta) -> list[Touch | None]:  # fmt: skip
    """The touches a conversion is credited to (None: organic).

    purchase: the last click inside the window, across campaigns; custom:
    the last click of every campaign clicked inside the window. Without a
    click newer than the install's touch inside the window: the install's.
    Invalid clicks are never credited (nor an install's touch an operator has
    since overruled to invalid)."""
    if install_touch is not None and install_touch.verdict == q.INVALID:
        install_touch = None
    inside = [c for c in clicks if c.kind == CLICK and c.verdict != q.INVALID and at - window <= c.time <= at]
    if install_touch is not None and install_touch.kind == CLICK and at - window <= install_touch.time <= at:
        if all(c.touch_id != install_touch.touch_id for c in inside):
            inside.append(install_touch)
    inside.sort(key=lambda c: c.time, reverse=True)
    if goal.kind == "purchase":
        install_time = install.touch_time if install is not None else None
        newer = [c for c in inside if install_time is None or c.time >= install_time]
        if newer:
            return [newer[0]]
    elif inside:
        per_campaign: dict[str, Touch] = {}
        for c in inside:
            per_campaign.setdefault(c.campaign_id, c)
        return list(per_campaign.values())
    if install is not None and install.campaign_id:
        return [install_touch]
    return [None]


def conversion_reasons(s: qual.Settings, cfg: qual.Config, h: Hit, amount: Decimal | None, currency: str,
                       mismatch: bool) -> int:  # fmt: skip
    """The conversion checks of one credited conversion."""
    m = 0
    if mismatch and s.on("client_mismatch"):
        m |= qual.CLIENT_MISMATCH
    ref = h.install
    if ref is not None:
        if ref.verdict == q.INVALID and s.on("rejected_install"):
            m |= qual.REJECTED_INSTALL
        # Device times on both sides (one clock); a goal on the install event itself is its own install.
        if ref.install_time is not None and h.goal.event != "install" and s.on("too_soon_after_install"):
            after = h.event["_time"] - ref.install_time
            if dt.timedelta(0) <= after < qual.seconds(s.too_soon_after_install_s):
                m |= qual.TOO_SOON
    if amount is not None and s.on("revenue_out_of_range"):
        allowed = cfg.revenue_range(h.goal.goal_id, currency)
        if allowed is not None and allowed.outside(amount):
            m |= qual.REVENUE_OUT_OF_RANGE
    return m


def exhausted(goal: Goal, count: int) -> bool:
    """A "first" / "nth" goal whose user already had this many matching events counts no more."""
    if goal.occurrence == "every":
        return False
    return count >= (goal.nth if goal.occurrence == "nth" else 1)


# --------------------------------------------------------------------------- SQL

INSERT_INSTALLS = """
INSERT INTO attribution.installs (account_id, install_id, app_id, device_key, event_uuid, install_time,
    receive_time, match_type, touch_type, click_id, touch_time, campaign_id, partner_id, link_id, user_id,
    idfa, gaid, ip, verdict, reasons, passed_over)
SELECT $1, i, a, d, e::uuid, it, rt, m, tt, c, tm, cmp, prt, lnk, u, idfa, gaid, ip::inet, v, r, po::jsonb
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[],
    $8::smallint[], $9::smallint[], $10::text[], $11::timestamptz[], $12::text[], $13::text[], $14::text[],
    $15::text[], $16::text[], $17::text[], $18::text[], $19::smallint[], $20::bigint[], $21::text[])
    AS t(i, a, d, e, it, rt, m, tt, c, tm, cmp, prt, lnk, u, idfa, gaid, ip, v, r, po)
ON CONFLICT DO NOTHING
RETURNING install_id
"""

INSERT_KEYS = """
INSERT INTO attribution.install_keys (account_id, app_id, key, install_id)
SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[])
ON CONFLICT DO NOTHING
"""

FIND_INSTALLS = """
SELECT k.app_id, k.key, i.install_id, i.campaign_id, i.click_id, i.touch_type, i.touch_time, i.verdict,
    i.install_time
FROM attribution.install_keys k
JOIN attribution.installs i ON i.account_id = k.account_id AND i.install_id = k.install_id
WHERE k.account_id = $1 AND (k.app_id, k.key) IN (SELECT * FROM unnest($2::text[], $3::text[]))
"""

INSERT_HITS = """
INSERT INTO attribution.goal_hits (account_id, event_uuid, goal_id)
SELECT $1, e::uuid, g FROM unnest($2::text[], $3::text[]) AS t(e, g)
ON CONFLICT DO NOTHING
RETURNING event_uuid::text, goal_id
"""

# install_burst: the installs of these apps and subnets already stored since each
# key's time, per address, and the oldest of them; the newest `cap` rows per key at
# most (past any threshold, the exact count no longer matters).
BURST_SQL = """
SELECT q.app AS app_id, host(i.ip) AS ip, count(*) AS n, min(i.receive_time) AS oldest
FROM unnest($2::text[], $3::cidr[], $4::timestamptz[], $5::int[]) AS q(app, net, since, cap)
CROSS JOIN LATERAL (
    SELECT ip, receive_time FROM attribution.installs
    WHERE account_id = $1 AND app_id = q.app AND ip IS NOT NULL
      AND network(set_masklen(ip, CASE WHEN family(ip) = 4 THEN 24 ELSE 64 END)) = q.net
      AND receive_time >= q.since
    ORDER BY receive_time DESC
    LIMIT q.cap
) i
GROUP BY 1, 2
"""

READ_COUNTS = """
SELECT goal_id, user_key, count FROM attribution.goal_counts
WHERE account_id = $1 AND (goal_id, user_key) IN (SELECT * FROM unnest($2::text[], $3::text[]))
"""

BUMP_COUNTS = """
INSERT INTO attribution.goal_counts AS g (account_id, goal_id, user_key, count)
SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[])
ON CONFLICT (account_id, goal_id, user_key) DO UPDATE SET count = g.count + excluded.count
RETURNING goal_id, user_key, count
"""

INSERT_CONVERSIONS = """
INSERT INTO attribution.conversions (account_id, conversion_id, dedup_key, source, goal_id, goal, kind, status,
    payout, currency, click_id, touch_time, campaign_id, partner_id, link_id, install_id, app_id, user_key,
    user_id, event_uuid, event_time, receive_time, verdict, reasons)
SELECT $1, c, d, 1, g, gn, k, $2, p, cur, cl, tt, cmp, prt, lnk, ins, app, uk, uid, ev::uuid, et, rt, v, r
FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::numeric[], $9::text[], $10::text[],
    $11::timestamptz[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[],
    $18::text[], $19::text[], $20::timestamptz[], $21::timestamptz[], $22::smallint[], $23::bigint[])
    AS t(c, d, g, gn, k, p, cur, cl, tt, cmp, prt, lnk, ins, app, uk, uid, ev, et, rt, v, r)
ORDER BY d
ON CONFLICT DO NOTHING
RETURNING conversion_id
"""


# --------------------------------------------------------------------------- the engine


class Engine:
    """Handles event hand-off jobs: the claimed jobs of one account in one transaction."""

    def __init__(self, pool: asyncpg.Pool, links: Links) -> None:
        self._pool = pool
        self.links = links
        # install_burst: (account, app, subnet) -> (n, oldest): the subnet had at least n installs
        # received since `oldest`. Counts only grow (other replicas add theirs), so while an
        # install's window still reaches back to `oldest`, a subnet past its threshold needs no query.
        self._bursting: dict[tuple[str, str, str], tuple[int, dt.datetime]] = {}

    async def handle_jobs(self, jobs: list[Job]) -> dict[int, BaseException | None]:
        """The claimed jobs of each account are handled together (one transaction per account)."""
        by_account: dict[str, list[Job]] = {}
        for job in jobs:
            by_account.setdefault(job.account_id, []).append(job)

        def decode(job: Job) -> list[dict[str, Any]]:
            events = event_handoff.decode(job.payload)
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
            for r in await self._pool.fetch(FIND_INSTALLS, account_id, list(apps), list(keys)):
                known[(r["app_id"], r["key"])] = InstallRef(
                    r["install_id"], r["campaign_id"], r["click_id"], r["touch_type"], r["touch_time"], r["verdict"],
                    r["install_time"],
                )  # fmt: skip
        cfg = await qual.load(self._pool, account_id)
        new_installs = [ev for (app, dk), ev in candidates.items() if (app, dk) not in known]
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
            rows = await self._pool.fetch(READ_COUNTS, account_id, [p[0] for p in pairs], [p[1] for p in pairs])
            counts = {(r["goal_id"], r["user_key"]): r["count"] for r in rows}
        hits = [h for h in hits if not exhausted(h.goal, counts.get((h.goal.goal_id, h.user_key), 0))]
        if hits:
            await self._credit_hits(account_id, hits, known, touch_of_install, history)
        # Everything the transaction needs from links, fetched before it opens (cached).
        campaign_ids = {a.touch.campaign_id for a in attributed if a.touch} | {
            t.campaign_id for h in hits for t in h.credits if t is not None and t.campaign_id
        }
        await asyncio.gather(*(self.links.campaign(account_id, c) for c in campaign_ids))
        if hits:
            await self.links.currency(account_id)

        async with self._pool.acquire() as conn, conn.transaction():
            # An erasure that committed since erase_queued: handle the jobs again (then anonymised).
            await privacy.lock_account(conn, account_id, shared=True)
            if await self.erase_queued(conn, account_id, events, apply=False):
                raise Defer("an erasure reached these events meanwhile: attributed again", 0.0)
            await self._store_installs(conn, account_id, attributed)
            await self._store_conversions(conn, account_id, hits, cfg)
        now = time.time()
        for ev in events:
            LAG.observe(max(0.0, now - ev["_received"].timestamp()))
        EVENTS.inc(len(events))
        BATCH.observe(len(events))

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
        bursting: list[tuple[Attributed, qual.Settings, str, str]] = []
        for a in attributed:
            ev, t = a.event, a.touch
            s = cfg.settings(t.campaign_id if t else None)
            m = 0
            if t is not None and t.kind == CLICK and a.anchor is not None:
                ctit = a.anchor - t.time
                if s.on("click_injection") and ctit < qual.seconds(s.click_injection_s):
                    m |= qual.CLICK_INJECTION
                if (
                    (ev.get("install_begin_time") or ev.get("referrer_click_time"))
                    and s.on("install_before_click") and qual.install_began_before(ev, t.time)
                ):  # fmt: skip
                    m |= qual.INSTALL_BEFORE_CLICK
                if (
                    (t.reasons & qual.FLOOD_SIGNS or any(p.reasons & qual.FLOOD_SIGNS for p in a.passed))
                    and s.on("click_flooding") and ctit > qual.seconds(s.click_flooding_s)
                ):  # fmt: skip
                    m |= qual.CLICK_FLOODING
            if (ev.get("claimed_ip") or ev.get("claimed_user_agent")) and s.on("client_mismatch"):
                if qual.client_mismatch(ev):
                    m |= qual.CLIENT_MISMATCH
            a.reasons = m
            ip = str(ev.get("ip") or "")
            if ip and s.on("install_burst") and (net := qual.subnet(ip)):
                bursting.append((a, s, ip, net))
        if bursting:
            await self._count_bursts(account_id, bursting)

    async def _count_bursts(self, account_id: str, bursting: list[tuple[Attributed, qual.Settings, str, str]]) -> None:
        """install_burst: one query for the batch's subnets (those known to be past
        their threshold skipped), then the batch's own installs in the order they came."""
        known = self._bursting
        left: list[tuple[Attributed, qual.Settings, str, str]] = []
        for b in bursting:
            a, s, _, net = b
            hit = known.get((account_id, a.event["app_id"], net))
            window_start = a.event["_received"] - qual.seconds(s.install_burst_window_s)
            if hit is not None and hit[0] > s.install_burst_subnet and window_start <= hit[1]:
                a.reasons |= qual.INSTALL_BURST
            else:
                left.append(b)
        if not left:
            return
        # Per (app, subnet): from the earliest window start among its installs, the newest rows, enough for
        # any threshold.
        keys: dict[tuple[str, str], tuple[dt.datetime, int]] = {}
        for a, s, _, net in left:
            key = (a.event["app_id"], net)
            since = a.event["_received"] - qual.seconds(s.install_burst_window_s)
            cap = max(s.install_burst_ip, s.install_burst_subnet) + 1
            old = keys.get(key)
            keys[key] = (min(old[0], since), max(old[1], cap)) if old else (since, cap)
        ordered = sorted(keys)
        rows = await self._pool.fetch(
            BURST_SQL, account_id, [k[0] for k in ordered], [k[1] for k in ordered],
            [keys[k][0] for k in ordered], [keys[k][1] for k in ordered],
        )  # fmt: skip
        by_ip: dict[tuple[str, str], int] = {}
        by_net: dict[tuple[str, str], int] = {}
        oldest: dict[tuple[str, str], dt.datetime] = {}
        for r in rows:
            by_ip[(r["app_id"], r["ip"])] = by_ip.get((r["app_id"], r["ip"]), 0) + r["n"]
            net_key = (r["app_id"], qual.subnet(r["ip"]))
            by_net[net_key] = by_net.get(net_key, 0) + r["n"]
            oldest[net_key] = min(oldest.get(net_key, r["oldest"]), r["oldest"])
        if len(known) > 100_000:
            known.clear()
        for net_key, n in by_net.items():
            if n >= keys[net_key][1]:  # as many as asked for: at least that many, since the oldest of them
                known[(account_id, *net_key)] = (n, oldest[net_key])
        # This batch's installs count too, in the order they came.
        for a, s, ip, net in sorted(left, key=lambda b: b[0].event["_received"]):
            app = a.event["app_id"]
            n_ip = by_ip[(app, ip)] = by_ip.get((app, ip), 0) + 1
            n_net = by_net[(app, net)] = by_net.get((app, net), 0) + 1
            if n_ip > s.install_burst_ip or n_net > s.install_burst_subnet:
                a.reasons |= qual.INSTALL_BURST

    async def _credit_hits(
        self, account_id: str, hits: list[Hit], known: dict[tuple[str, str], InstallRef],
        touch_of_install: dict[str, Touch | None], history: list[windows_mod.Breakpoint],
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

        for (h, at, window), ref in zip(plans, refs, strict=True):
            ev = h.event
            h.install = ref
            clicks = [t for d in device_ids(ev) for t in found[(d, window)] if not t.app_id or t.app_id == ev["app_id"]]
            touch = install_touches.get(ref.install_id) if ref is not None and ref.click_id else None
            h.credits = credit(h.goal, clicks, ref, touch, at, window)

    async def _campaigns(self, account_id: str, touches: list[Touch | None]) -> dict[str, CampaignInfo | None]:
        """The campaigns of these touches (cached by Links: fetched before the transaction)."""
        ids = {t.campaign_id for t in touches if t is not None and t.campaign_id}
        return {c: await self.links.campaign(account_id, c) for c in ids}

    async def _store_installs(self, conn: asyncpg.Connection, account_id: str, items: list[Attributed]) -> None:
        if not items:
            return
        items = sorted(items, key=lambda a: (a.event["app_id"], device_key(a.event)))
        cols: list[list[Any]] = [[] for _ in range(20)]
        for a in items:
            ev, t = a.event, a.touch
            row = (
                a.install_id, ev["app_id"], device_key(ev), ev["event_uuid"], ev["_time"], ev["_received"],
                a.match_type, t.kind if t else 0, t.touch_id if t else None, t.time if t else None,
                t.campaign_id if t else None, t.partner_id if t else None, t.link_id if t else None,
                ev.get("user_id") or None, ev.get("idfa") or None, ev.get("gaid") or None, ev.get("ip") or None,
                a.verdict, a.reasons, passed_json(a.passed),
            )  # fmt: skip
            for i, v in enumerate(row):
                cols[i].append(v)
        inserted = {r["install_id"] for r in await conn.fetch(INSERT_INSTALLS, account_id, *cols)}
        if not inserted:
            return
        mine = [a for a in items if a.install_id in inserted]
        keys = sorted({(a.event["app_id"], k, a.install_id) for a in mine for k in identity_keys(a.event)})
        if keys:
            await conn.execute(INSERT_KEYS, account_id, *[list(c) for c in zip(*keys, strict=True)])
        campaigns = await self._campaigns(account_id, [a.touch for a in mine])
        payloads = []
        matched: dict[int, int] = {}
        for a in mine:
            ev, t = a.event, a.touch
            at = _ts(ev["_time"])
            payloads.append(outbound(
                "install", account_id, touch=t, campaign=campaigns.get(t.campaign_id) if t else None,
                app_id=ev["app_id"], event="install", idfa=ev.get("idfa") or "", gaid=ev.get("gaid") or "",
                ip=ev.get("ip") or "", install_time=at, event_time=at,
                **quality_fields(a.install_id, a.verdict, a.reasons),
            ))  # fmt: skip
            matched[a.match_type] = matched.get(a.match_type, 0) + 1
        for match_type, n in matched.items():
            INSTALLS.labels(MATCH_NAMES[match_type]).inc(n)
        rejected = sum(1 for a in mine if a.verdict == q.INVALID)
        if rejected:
            INVALID_ROWS.labels("install").inc(rejected)
        await enqueue(conn, postback_handoff.POSTBACK_QUEUE, payloads, account_ids=[account_id] * len(payloads))

    async def _store_conversions(self, conn: asyncpg.Connection, account_id: str, hits: list[Hit],
                                 cfg: qual.Config) -> None:  # fmt: skip
        if not hits:
            return
        hits = sorted(hits, key=lambda h: (h.event["event_uuid"], h.goal.goal_id))
        fresh = await conn.fetch(INSERT_HITS, account_id, [h.event["event_uuid"] for h in hits],
                                 [h.goal.goal_id for h in hits])  # fmt: skip
        new = {(r["event_uuid"], r["goal_id"]) for r in fresh}
        hits = [h for h in hits if (h.event["event_uuid"], h.goal.goal_id) in new]
        # Count occurrences of "first" / "nth" goals; the n-th of a user's events is known after the bump.
        limited: dict[tuple[str, str], list[Hit]] = {}
        for h in hits:
            if h.goal.occurrence != "every":
                limited.setdefault((h.goal.goal_id, h.user_key), []).append(h)
        counted: list[Hit] = [h for h in hits if h.goal.occurrence == "every"]
        if limited:
            keys = sorted(limited)
            rows = await conn.fetch(
                BUMP_COUNTS, account_id, [k[0] for k in keys], [k[1] for k in keys], [len(limited[k]) for k in keys]
            )
            for r in rows:
                group = sorted(
                    limited[(r["goal_id"], r["user_key"])], key=lambda h: (h.event["_time"], h.event["event_uuid"])
                )
                first_n = r["count"] - len(group) + 1
                counted += [h for i, h in enumerate(group) if h.goal.counts(first_n + i)]
        if not counted:
            return
        currency = await self.links.currency(account_id)
        rows_out: list[tuple[Any, ...]] = []
        meta: dict[str, tuple[Hit, Touch | None, Decimal | None, str, int]] = {}
        mismatched: dict[str, bool] = {}
        for h in counted:
            ev, g = h.event, h.goal
            amount, cur = g.value(ev, currency)
            if amount is not None and (amount < 0 or amount.adjusted() >= 18):
                amount = None  # not a payout we can keep
            if ev["event_uuid"] not in mismatched:
                mismatched[ev["event_uuid"]] = qual.client_mismatch(ev)
            for t in h.credits or [None]:
                cid = new_id()
                campaign_id = t.campaign_id if t else None
                dedup = f"ev:{g.goal_id}:{ev['event_uuid']}:{campaign_id or '-'}"
                reasons = conversion_reasons(cfg.settings(campaign_id), cfg, h, amount, cur,
                                             mismatched[ev["event_uuid"]])  # fmt: skip
                meta[cid] = (h, t, amount, cur, reasons)
                rows_out.append((
                    cid, dedup, g.goal_id, g.name, g.kind, amount, cur if amount is not None else None,
                    t.touch_id if t else None, t.time if t else None, campaign_id, t.partner_id if t else None,
                    t.link_id if t else None, h.install.install_id if h.install else None, ev["app_id"], h.user_key,
                    ev.get("user_id") or None, ev["event_uuid"], ev["_time"], ev["_received"],
                    qual.verdict(reasons), reasons,
                ))  # fmt: skip
        cols = [list(c) for c in zip(*rows_out, strict=True)]
        inserted = await conn.fetch(INSERT_CONVERSIONS, account_id, EVENT_CONVERSION_STATUS, *cols)
        payloads = []
        campaigns = await self._campaigns(account_id, [meta[r["conversion_id"]][1] for r in inserted])
        rejected = 0
        for r in inserted:
            h, t, amount, cur, reasons = meta[r["conversion_id"]]
            ev = h.event
            verdict = qual.verdict(reasons)
            rejected += verdict == q.INVALID
            payloads.append(outbound(
                "conversion", account_id, touch=t, campaign=campaigns.get(t.campaign_id) if t else None,
                app_id=ev["app_id"], event=h.goal.name, goal_id=h.goal.goal_id, goal=h.goal.name,
                status=STATUS_NAMES[EVENT_CONVERSION_STATUS], payout=money_text(amount), revenue=money_text(amount),
                currency=cur if amount is not None else "", idfa=ev.get("idfa") or "", gaid=ev.get("gaid") or "",
                ip=ev.get("ip") or "", event_time=_ts(ev["_time"]),
                **quality_fields(r["conversion_id"], verdict, reasons),
            ))  # fmt: skip
        CONVERSIONS.inc(len(payloads))
        if rejected:
            INVALID_ROWS.labels("conversion").inc(rejected)
        await enqueue(conn, postback_handoff.POSTBACK_QUEUE, payloads, account_ids=[account_id] * len(payloads))


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
