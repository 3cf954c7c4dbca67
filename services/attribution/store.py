"""The engine's store: its named queries and the writes of one account's batch
(installs, identity keys, goal hits and counts, conversions, outbound events),
all inside the caller's transaction and without any call to another service:
what they need from links is fetched before the transaction opens."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import asyncpg
from prometheus_client import Counter

from libs import postback_handoff
from libs import quality as q
from libs.ids import new_id
from libs.queue import enqueue
from services.attribution import quality as qual
from services.attribution.apple_ads import enqueue_lookups
from services.attribution.lookups import CampaignInfo, Touch
from services.attribution.outbound import device_fields, money_text, outbound, quality_fields, rfc3339
from services.attribution.rules import (
    EVENT_CONVERSION_STATUS,
    MATCH_NAMES,
    SOURCE_EVENT,
    STATUS_NAMES,
    Attributed,
    Hit,
    conversion_reasons,
    device_key,
    identity_keys,
    passed_json,
)

INSTALLS = Counter("clicktrail_attribution_installs", "Installs recorded", ["match_type"])
CONVERSIONS = Counter("clicktrail_attribution_conversions", "Event conversions recorded")
INVALID_ROWS = Counter("clicktrail_attribution_invalid", "Installs and conversions recorded as invalid", ["kind"])

# --------------------------------------------------------------------------- named queries

INSERT_INSTALLS = """
INSERT INTO attribution.installs (account_id, install_id, app_id, device_key, event_uuid, install_time,
    receive_time, match_type, touch_type, click_id, touch_time, campaign_id, partner_id, link_id, user_id,
    idfa, gaid, ip, verdict, reasons, passed_over, tracking_status)
SELECT $1, i, a, d, e::uuid, it, rt, m, tt, c, tm, cmp, prt, lnk, u, idfa, gaid, ip::inet, v, r, po::jsonb, ts
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[],
    $8::smallint[], $9::smallint[], $10::text[], $11::timestamptz[], $12::text[], $13::text[], $14::text[],
    $15::text[], $16::text[], $17::text[], $18::text[], $19::smallint[], $20::bigint[], $21::text[],
    $22::smallint[])
    AS t(i, a, d, e, it, rt, m, tt, c, tm, cmp, prt, lnk, u, idfa, gaid, ip, v, r, po, ts)
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
    user_id, event_uuid, event_time, receive_time, verdict, reasons, tracking_status)
SELECT $1, c, d, $25, g, gn, k, $2, p, cur, cl, tt, cmp, prt, lnk, ins, app, uk, uid, ev::uuid, et, rt, v, r, ts
FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::numeric[], $9::text[], $10::text[],
    $11::timestamptz[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[],
    $18::text[], $19::text[], $20::timestamptz[], $21::timestamptz[], $22::smallint[], $23::bigint[],
    $24::smallint[])
    AS t(c, d, g, gn, k, p, cur, cl, tt, cmp, prt, lnk, ins, app, uk, uid, ev, et, rt, v, r, ts)
ORDER BY d
ON CONFLICT DO NOTHING
RETURNING conversion_id
"""


# --------------------------------------------------------------------------- writes


async def store_installs(conn: asyncpg.Connection, account_id: str, items: list[Attributed],
                         campaigns: Mapping[str, CampaignInfo | None]) -> None:  # fmt: skip
    """The new installs, their identity keys and outbound events (``campaigns``: fetched before the transaction)."""
    if not items:
        return
    items = sorted(items, key=lambda a: (a.event["app_id"], device_key(a.event)))
    cols: list[list[Any]] = [[] for _ in range(21)]
    for a in items:
        ev, t = a.event, a.touch
        row = (
            a.install_id, ev["app_id"], device_key(ev), ev["event_uuid"], ev["_time"], ev["_received"],
            a.match_type, t.kind if t else 0, t.touch_id if t else None, t.time if t else None,
            t.campaign_id if t else None, t.partner_id if t else None, t.link_id if t else None,
            ev.get("user_id") or None, ev.get("idfa") or None, ev.get("gaid") or None, ev.get("ip") or None,
            a.verdict, a.reasons, passed_json(a.passed), ev.get("tracking_status") or None,
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
    payloads = []
    matched: dict[int, int] = {}
    for a in mine:
        ev, t = a.event, a.touch
        at = rfc3339(ev["_time"])
        payloads.append(outbound(
            "install", account_id, touch=t, campaign=campaigns.get(t.campaign_id) if t else None,
            app_id=ev["app_id"], event="install", idfa=ev.get("idfa") or "", gaid=ev.get("gaid") or "",
            ip=ev.get("ip") or "", install_time=at, event_time=at, **device_fields(ev),
            **quality_fields(a.install_id, a.verdict, a.reasons),
        ))  # fmt: skip
        matched[a.match_type] = matched.get(a.match_type, 0) + 1
    for match_type, n in matched.items():
        INSTALLS.labels(MATCH_NAMES[match_type]).inc(n)
    rejected = sum(1 for a in mine if a.verdict == q.INVALID)
    if rejected:
        INVALID_ROWS.labels("install").inc(rejected)
    # Tokens to resolve with Apple, off this transaction; those installs' events are held (sent by the resolver).
    held = await enqueue_lookups(conn, account_id, mine, {a.install_id: p for a, p in zip(mine, payloads, strict=True)})
    payloads = [p for a, p in zip(mine, payloads, strict=True) if a.install_id not in held]
    await enqueue(conn, postback_handoff.POSTBACK_QUEUE, payloads, account_ids=[account_id] * len(payloads))


async def store_conversions(conn: asyncpg.Connection, account_id: str, hits: list[Hit], cfg: qual.Config,
                            campaigns: Mapping[str, CampaignInfo | None], currency: str) -> None:  # fmt: skip
    """The goal hits not recorded yet, the counts of first / nth goals, the conversions
    and their outbound events (``campaigns`` and ``currency``: fetched before the transaction)."""
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
                (t.touch_id or None) if t else None, t.time if t else None, campaign_id,
                (t.partner_id or None) if t else None, (t.link_id or None) if t else None,
                h.install.install_id if h.install else None, ev["app_id"], h.user_key,
                ev.get("user_id") or None, ev["event_uuid"], ev["_time"], ev["_received"],
                qual.verdict(reasons), reasons, ev.get("tracking_status") or None,
            ))  # fmt: skip
    cols = [list(c) for c in zip(*rows_out, strict=True)]
    inserted = await conn.fetch(INSERT_CONVERSIONS, account_id, EVENT_CONVERSION_STATUS, *cols, SOURCE_EVENT)
    payloads = []
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
            ip=ev.get("ip") or "", event_time=rfc3339(ev["_time"]), **device_fields(ev),
            # The install's time too (Unity's install_ts): the conversion's install is known here.
            install_time=rfc3339(h.install.install_time) if h.install else "",
            **quality_fields(r["conversion_id"], verdict, reasons),
        ))  # fmt: skip
    CONVERSIONS.inc(len(payloads))
    if rejected:
        INVALID_ROWS.labels("conversion").inc(rejected)
    await enqueue(conn, postback_handoff.POSTBACK_QUEUE, payloads, account_ids=[account_id] * len(payloads))
