"""Retargeting: re-engagements and re-attributions (issue 22), and the credit
of the conversions inside their window.

Re-engagement (``attribution.reattributions`` kind 1): a user whose device
already has an install opens the app through a link. The SDK reports the open
as a ``track`` event with action ``deeplink_open`` (or ``reengage``) and the
click id the link delivered in ``action_properties.click_id`` (``clickid``
too; a top-level ``click_id`` on a non-install event counts as well) -- what
AppsFlyer records as a deep-linking re-engagement and Adjust as a deep link
``sdk_click``. It is recorded when that click

- is the account's, of the same app (or of no app), valid (an invalid click
  never re-engages), inside the click lookback before the open;
- belongs to a RETARGETING campaign (links CampaignType 3): a click of any
  other campaign type changes nothing here (it may still win conversions by
  the last-click rule, like any click);
- is not the install's own click nor older than it, and has not re-engaged
  this install before (one click re-engages an install once).

Re-attribution (kind 2): an install event of a device that already has an
install (one install per app and device) -- a reinstall -- matched to a click
the usual way (click id, device id, fingerprint; invalid clicks never win).
AppsFlyer's re-attribution window (``reinstall_window`` here, default 90 days)
starts at the install: a reinstall inside it is only a reinstall (not counted,
no row, no postback, the install keeps its attribution) unless a retargeting
campaign's click brought it; after it, the reinstall is credited to the
campaign of its click whatever its type. A reinstall without a click (organic)
records nothing. The window counts from the install or the device's last
re-attribution, whichever is later; the one in force at the reinstall applies.

Both rows carry ``window_end`` = event time + the re-engagement window in force
at the event time. Until then the user's conversions (goal hits of any event of
the install's user) credit the row's campaign instead of the install's, by the
last-click rule: a valid click newer than the row's click, inside the
conversion window, still wins a purchase; a custom goal credits every campaign
clicked inside the conversion window and the row's campaign. A newer row
replaces an older one (the latest active row counts). Should the row's click
since have been overruled invalid, the conversion goes back to the install's
rule. Replayed events change nothing (UNIQUE (account_id, event_uuid)).

Each new row makes one outbound event (kind ``reengagement``, {event}
``re_engagement`` or ``re_attribution``, the row's click and campaign, the
event's device fields), queued in the engine's transaction: the postbacks
service's ``reengagement`` trigger sends it, so the retargeting network learns
its click brought the user back. Conversions inside the window fire their usual
postbacks, with the retargeting campaign's touch.

Sources: https://support.appsflyer.com/hc/en-us/articles/207033786 (retargeting
attribution guide: re-engagement, re-attribution, in-app events attributed to
the retargeting source for the re-engagement window) and
https://support.appsflyer.com/hc/en-us/articles/115002587066 (re-attribution
window: starts at the first install, default 90 days, the setting in force at
the reinstall applies).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import asyncpg
from clicktrail.links.v1 import links_pb2 as lpb
from prometheus_client import Counter

from libs import postback_handoff
from libs import quality as q
from libs.ids import new_id
from libs.queue import enqueue
from services.attribution import settings as windows_mod
from services.attribution.goals import EVENT_TRACK, Goal
from services.attribution.lookups import CLICK, CampaignInfo, Links, Touch
from services.attribution.matching import match_installs
from services.attribution.outbound import device_fields, outbound, quality_fields, rfc3339
from services.attribution.rules import (
    EVENT_INSTALL,
    MATCH_CLICK_ID,
    SKEW,
    InstallRef,
    choose_touch,
    credit,
    device_key,
    identity_keys,
)

RE_ENGAGEMENT, RE_ATTRIBUTION = 1, 2
KIND_NAMES = {RE_ENGAGEMENT: "re_engagement", RE_ATTRIBUTION: "re_attribution"}
RETARGETING = lpb.CAMPAIGN_TYPE_RETARGETING
# The track actions an SDK sends when a link opens the app.
ACTIONS = frozenset({"deeplink_open", "reengage"})
CLICK_ID_KEYS = ("click_id", "clickid")

ROWS = Counter("clicktrail_attribution_reattributions", "Re-engagements and re-attributions recorded", ["kind"])

INSERT = """
INSERT INTO attribution.reattributions (account_id, reattribution_id, kind, install_id, app_id, device_key,
    event_uuid, event_time, match_type, click_id, touch_time, campaign_id, partner_id, link_id, window_end)
SELECT $1, i, k, ins, a, d, e::uuid, et, m, c, tt, cmp, prt, lnk, we
FROM unnest($2::text[], $3::smallint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[],
    $9::smallint[], $10::text[], $11::timestamptz[], $12::text[], $13::text[], $14::text[], $15::timestamptz[])
    AS t(i, k, ins, a, d, e, et, m, c, tt, cmp, prt, lnk, we)
WHERE NOT EXISTS (SELECT 1 FROM attribution.reattributions r
                  WHERE r.account_id = $1 AND r.install_id = t.ins AND r.click_id = t.c)
ORDER BY e
ON CONFLICT DO NOTHING
RETURNING kind, reattribution_id
"""

# Serialises the batches that store rows of the same install (held until the transaction ends).
LOCK_INSTALLS = (
    "SELECT pg_advisory_xact_lock(hashtext(k)) FROM unnest($1::text[]) WITH ORDINALITY AS t(k, n) ORDER BY n"
)

# The rows of these installs still open after $3 (what conversions need).
ACTIVE = """
SELECT reattribution_id, kind, install_id, event_uuid::text AS event_uuid, event_time, click_id, touch_time,
    campaign_id, window_end
FROM attribution.reattributions
WHERE account_id = $1 AND install_id = ANY($2::text[]) AND window_end > $3
"""

# Clicks that already re-engaged (or re-attributed) these installs.
USED_CLICKS = """
SELECT install_id, click_id FROM attribution.reattributions
WHERE account_id = $1 AND (install_id, click_id) IN (SELECT * FROM unnest($2::text[], $3::text[]))
"""

# A reinstall's previous installs: the install's event, and where its reinstall window starts.
PREVIOUS = """
SELECT i.install_id, i.event_uuid::text AS event_uuid,
    greatest(i.install_time, (SELECT max(r.event_time) FROM attribution.reattributions r
                              WHERE r.account_id = i.account_id AND r.install_id = i.install_id
                                AND r.kind = 2)) AS since
FROM attribution.installs i
WHERE i.account_id = $1 AND i.install_id = ANY($2::text[])
"""


@dataclasses.dataclass(frozen=True)
class Row:
    """A re-engagement or re-attribution: a row of attribution.reattributions."""

    reattribution_id: str
    kind: int
    install_id: str
    event_uuid: str
    event_time: dt.datetime
    click_id: str
    touch_time: dt.datetime | None
    campaign_id: str
    window_end: dt.datetime
    app_id: str = ""
    device_key: str = ""
    match_type: int = MATCH_CLICK_ID
    partner_id: str = ""
    link_id: str = ""
    # A new row's click and the outbound fields of its event (device ids, address, device
    # macros, the install's time); unset for stored rows.
    touch: Touch | None = None
    fields: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Found:
    """What one batch recorded: the new rows (stored in the engine's transaction)."""

    rows: list[Row] = dataclasses.field(default_factory=list)


def click_id_of(event: Mapping[str, Any]) -> str | None:
    """The click id of an app open through a link (None: not a re-engagement event)."""
    if event["event"] == EVENT_INSTALL:
        return None
    top = event.get("click_id")
    if isinstance(top, str) and top:
        return top
    if event["event"] != EVENT_TRACK or event.get("action") not in ACTIONS:
        return None
    props = event.get("action_properties") or {}
    for key in CLICK_ID_KEYS:
        value = props.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def install_of(event: dict[str, Any], known: Mapping[tuple[str, str], InstallRef]) -> InstallRef | None:
    return next((known[(event["app_id"], k)] for k in identity_keys(event) if (event["app_id"], k) in known), None)


def _span(event: Mapping[str, Any]) -> tuple[dt.datetime, dt.datetime]:
    """(anchor, upper) as install matching takes them: nothing after our receive time counts."""
    upper = min(event["_received"], event["_time"] + SKEW)
    return min(event["_time"], upper), upper


def _newer_than_install(touch: Touch, ref: InstallRef) -> bool:
    if touch.touch_id == ref.click_id:
        return False
    return ref.touch_time is None or touch.time > ref.touch_time


async def _types(links: Links, account_id: str, touches: Iterable[Touch]) -> dict[str, int]:
    """The campaign type of each touch's campaign (0: unknown)."""
    ids = sorted({t.campaign_id for t in touches if t.campaign_id})
    found = await asyncio.gather(*(links.campaign(account_id, c) for c in ids))
    return {c: (info.campaign_type if info is not None else 0) for c, info in zip(ids, found, strict=True)}


def _row(kind: int, ev: dict[str, Any], ref: InstallRef, touch: Touch, match_type: int,
         history: list[windows_mod.Breakpoint]) -> Row:  # fmt: skip
    window = windows_mod.windows_in(history, ev["_time"]).re_engagement_window
    return Row(
        new_id(), kind, ref.install_id, ev["event_uuid"], ev["_time"], touch.touch_id, touch.time,
        touch.campaign_id, ev["_time"] + window, ev["app_id"], device_key(ev), match_type,
        touch.partner_id, touch.link_id, touch, _event_fields(ev, ref),
    )  # fmt: skip


def _event_fields(ev: Mapping[str, Any], ref: InstallRef) -> dict[str, str]:
    """What the outbound event of a row takes from its app open or reinstall: the device ids
    and address a retargeting network matches on, the device macros, the install's time."""
    return {
        "idfa": ev.get("idfa") or "", "gaid": ev.get("gaid") or "", "ip": ev.get("ip") or "",
        "install_time": rfc3339(ref.install_time), **device_fields(ev),
    }  # fmt: skip


async def find(
    links: Links, pool: asyncpg.Pool, account_id: str, events: Sequence[dict[str, Any]],
    known: Mapping[tuple[str, str], InstallRef], reinstalls: Sequence[dict[str, Any]],
    history: list[windows_mod.Breakpoint],
) -> Found:  # fmt: skip
    """The batch's new re-engagements (app opens through a retargeting click) and
    re-attributions (``reinstalls``: install events of devices already installed).
    Look-ups only (links, and reads): called before the engine's transaction."""
    found = Found()
    opens: list[tuple[dict[str, Any], InstallRef, str]] = []
    for ev in events:
        click_id = click_id_of(ev)
        ref = install_of(ev, known) if click_id else None
        if click_id and ref is not None:
            opens.append((ev, ref, click_id))
    candidates: list[tuple[int, dict[str, Any], InstallRef, Touch, int]] = []
    if opens:
        clicks = await links.clicks(account_id, [c for _, _, c in opens])
        for (ev, ref, _), click in zip(opens, clicks, strict=True):
            if click is None or click.kind != CLICK or not _newer_than_install(click, ref):
                continue
            w = windows_mod.windows_in(history, ev["_time"])
            anchor, upper = _span(ev)
            # Inside the click lookback, of this app, valid (choose_touch's rules).
            if choose_touch([click], anchor, upper, ev["app_id"], w.click_lookback, w.click_lookback) is not None:
                candidates.append((RE_ENGAGEMENT, ev, ref, click, MATCH_CLICK_ID))
    if reinstalls:
        candidates += await _reinstalls(links, pool, account_id, reinstalls, known, history)
    if not candidates:
        return found
    types = await _types(links, account_id, (c[3] for c in candidates))
    used: set[tuple[str, str]] = set()
    pairs = sorted({(ref.install_id, t.touch_id) for _, _, ref, t, _ in candidates})
    rows = await pool.fetch(USED_CLICKS, account_id, [p[0] for p in pairs], [p[1] for p in pairs])
    used = {(r["install_id"], r["click_id"]) for r in rows}
    candidates.sort(key=lambda c: (c[1]["_time"], c[1]["event_uuid"]))
    for kind, ev, ref, touch, match_type in candidates:
        retargeting = types.get(touch.campaign_id) == RETARGETING
        if kind == RE_ENGAGEMENT and not retargeting:
            continue
        if kind == RE_ATTRIBUTION and not (retargeting or ev.get("_after_window")):
            continue
        if (ref.install_id, touch.touch_id) in used:
            continue
        used.add((ref.install_id, touch.touch_id))
        found.rows.append(_row(kind, ev, ref, touch, match_type, history))
    return found


async def _reinstalls(
    links: Links, pool: asyncpg.Pool, account_id: str, reinstalls: Sequence[dict[str, Any]],
    known: Mapping[tuple[str, str], InstallRef], history: list[windows_mod.Breakpoint],
) -> list[tuple[int, dict[str, Any], InstallRef, Touch, int]]:  # fmt: skip
    """Reinstalls matched to a click: after the reinstall window (marked ``_after_window``), or inside it
    (re-attributed only when the click is a retargeting campaign's; the caller knows the types)."""
    refs = {ev["event_uuid"]: known[(ev["app_id"], device_key(ev))] for ev in reinstalls}
    prev = {r["install_id"]: r for r in await pool.fetch(PREVIOUS, account_id,
                                                        sorted({r.install_id for r in refs.values()}))}  # fmt: skip
    # The install's own event handed again (a replay) is no reinstall.
    todo = []
    for ev in reinstalls:
        p = prev.get(refs[ev["event_uuid"]].install_id)
        if p is not None and p["event_uuid"] != ev["event_uuid"]:
            todo.append(dict(ev))
    if not todo:
        return []
    out: list[tuple[int, dict[str, Any], InstallRef, Touch, int]] = []
    for a in await match_installs(links, account_id, todo, history):
        ev, touch = a.event, a.touch
        ref = refs[ev["event_uuid"]]
        if touch is None or touch.kind != CLICK or touch.verdict == q.INVALID or not _newer_than_install(touch, ref):
            continue
        since = prev[ref.install_id]["since"]
        ev["_after_window"] = ev["_time"] - since > windows_mod.windows_in(history, ev["_time"]).reinstall_window
        out.append((RE_ATTRIBUTION, ev, ref, touch, a.match_type))
    return out


async def store(
    conn: asyncpg.Connection, account_id: str, found: Found, campaigns: Mapping[str, CampaignInfo | None]
) -> int:
    """The new rows and their outbound events (inside the engine's transaction; ``campaigns``:
    fetched before it); a replayed event or an already used click adds nothing."""
    if not found.rows:
        return 0
    cols: list[list[Any]] = [[] for _ in range(14)]
    for r in found.rows:
        values = (r.reattribution_id, r.kind, r.install_id, r.app_id, r.device_key, r.event_uuid, r.event_time,
                  r.match_type, r.click_id, r.touch_time, r.campaign_id, r.partner_id or None, r.link_id or None,
                  r.window_end)  # fmt: skip
        for i, v in enumerate(values):
            cols[i].append(v)
    # One transaction at a time per install: consumers handle jobs of one account at once, and
    # INSERT's NOT EXISTS cannot see another transaction's uncommitted row of the same click
    # (two opens of one click would both be stored). Sorted: no deadlock between batches.
    await conn.execute(LOCK_INSTALLS, [f"clicktrail.reattributions.{account_id}.{i}" for i in
                                       sorted({r.install_id for r in found.rows})])  # fmt: skip
    inserted = await conn.fetch(INSERT, account_id, *cols)
    by_id = {r.reattribution_id: r for r in found.rows}
    payloads = [_outbound(account_id, by_id[r["reattribution_id"]], campaigns) for r in inserted]
    await enqueue(conn, postback_handoff.POSTBACK_QUEUE, payloads, account_ids=[account_id] * len(payloads))
    for kind in (RE_ENGAGEMENT, RE_ATTRIBUTION):
        n = sum(1 for r in inserted if r["kind"] == kind)
        if n:
            ROWS.labels(KIND_NAMES[kind]).inc(n)
    return len(inserted)


def _outbound(account_id: str, row: Row, campaigns: Mapping[str, CampaignInfo | None]) -> bytes:
    """A new row's outbound event: its click and campaign (the retargeting partner's), the event's device."""
    verdict = row.touch.verdict if row.touch is not None else q.CLEAN
    return outbound(
        "reengagement", account_id, touch=row.touch, campaign=campaigns.get(row.campaign_id), app_id=row.app_id,
        event=KIND_NAMES[row.kind], event_time=rfc3339(row.event_time), **row.fields,
        **quality_fields(row.reattribution_id, verdict, 0),
    )  # fmt: skip


# --------------------------------------------------------------------------- conversions


@dataclasses.dataclass
class Active:
    """The open rows of the batch's installs and their clicks (as links knows them now)."""

    rows: dict[str, list[Row]] = dataclasses.field(default_factory=dict)
    clicks: dict[str, Touch | None] = dataclasses.field(default_factory=dict)

    def at(self, install_id: str, t: dt.datetime) -> Row | None:
        """The latest row of the install open at ``t`` (event_time <= t < window_end)."""
        best = None
        for r in self.rows.get(install_id, ()):
            if r.event_time <= t < r.window_end and (best is None or (r.event_time, r.event_uuid) > (
                    best.event_time, best.event_uuid)):  # fmt: skip
                best = r
        return best


async def active(links: Links, pool: asyncpg.Pool, account_id: str, refs: Iterable[InstallRef | None],
                 since: dt.datetime, found: Found) -> Active:  # fmt: skip
    """The rows of these installs open after ``since`` (stored, and this batch's new
    ones), with their clicks. Look-ups only: before the engine's transaction."""
    out = Active()
    ids = sorted({r.install_id for r in refs if r is not None})
    if not ids:
        return out
    seen: set[str] = set()
    for r in found.rows:
        if r.install_id in ids and r.window_end > since:
            out.rows.setdefault(r.install_id, []).append(r)
            seen.add(r.event_uuid)
    for rec in await pool.fetch(ACTIVE, account_id, ids, since):
        if rec["event_uuid"] in seen:
            continue
        out.rows.setdefault(rec["install_id"], []).append(Row(
            rec["reattribution_id"], rec["kind"], rec["install_id"], rec["event_uuid"], rec["event_time"],
            rec["click_id"] or "", rec["touch_time"], rec["campaign_id"], rec["window_end"],
        ))  # fmt: skip
    click_ids = sorted({r.click_id for rows in out.rows.values() for r in rows if r.click_id})
    if click_ids:
        out.clicks = dict(zip(click_ids, await links.clicks(account_id, click_ids), strict=True))
    return out


def recredit(goal: Goal, clicks: Sequence[Touch], ref: InstallRef | None, at: dt.datetime, window: dt.timedelta,
             event_time: dt.datetime, found: Active) -> list[Touch | None] | None:  # fmt: skip
    """The credit of a conversion of an install with an open re-engagement or
    re-attribution at ``event_time``: the row's click stands in for the install's
    touch in the last-click rule (services/attribution/rules.credit), and a
    custom goal credits the row's campaign besides the campaigns clicked inside
    the window. None: no open row (or its click is gone or invalid now): the
    install's rule stands."""
    if ref is None:
        return None
    row = found.at(ref.install_id, event_time)
    touch = found.clicks.get(row.click_id) if row is not None else None
    if row is None or touch is None or touch.verdict == q.INVALID:
        return None
    stand_in = InstallRef(ref.install_id, touch.campaign_id, touch.touch_id, CLICK, touch.time, ref.verdict,
                          ref.install_time)  # fmt: skip
    credits = credit(goal, clicks, stand_in, touch, at, window)
    if goal.kind != "purchase" and all(c is None or c.campaign_id != touch.campaign_id for c in credits):
        credits = [*(c for c in credits if c is not None), touch]
    return credits
