"""Operator overrules of install and conversion verdicts.

An overrule sets the verdict, adds the ``operator`` reason (automatic checks
never touch an overruled row again), keeps the note on the row and in
attribution.verdict_overrules, and bumps update_time: analytics re-folds the
row, so reports and cost follow. Postbacks follow too: a row that stops being
invalid goes out as its normal outbound event (its own id: if it had already
gone out, the postbacks service makes no second delivery), one that becomes
invalid as ``<id>:rejected`` (`rejected` templates only).

An install's event conversions follow it: overruled to invalid, they get
``rejected_install`` (where the check is on); overruled back, they lose it.
Conversions an operator overruled themselves are left alone.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import asyncpg

from libs import postback_handoff
from libs import quality as q
from libs.errors import NotFound, Validator
from libs.ids import new_resource_id
from libs.queue import enqueue
from services.attribution import offer_caps
from services.attribution import quality as qual
from services.attribution.lookups import IMPRESSION, Links, Touch
from services.attribution.outbound import conversion_outbound, install_outbound
from services.attribution.rules import SOURCE_EVENT

MAX_NOTE = 500
VERDICTS = (q.CLEAN, q.SUSPICIOUS, q.INVALID)

LOG_SQL = """
INSERT INTO attribution.verdict_overrules (account_id, overrule_id, kind, target_id, previous_verdict, verdict, note)
VALUES ($1, $2, $3, $4, $5, $6, $7)
"""
# verdict_overrules.kind, the table and its id column of what is overruled.
INSTALL = (b"i", "installs", "install_id")
CONVERSION = (b"v", "conversions", "conversion_id")
# The install's event conversions no operator has overruled: they follow the install.
# $3 SOURCE_EVENT, $4 the operator reason bit.
FOLLOWERS_SQL = """
SELECT * FROM attribution.conversions
WHERE account_id = $1 AND install_id = $2 AND source = $3 AND reasons & $4::bigint = 0
ORDER BY conversion_id
"""


@dataclasses.dataclass
class Result:
    row: asyncpg.Record
    previous: int
    changed: bool
    followers: int = 0


def check_request(id_field: str, target_id: str, verdict: int, note: str) -> tuple[int, str]:
    v = Validator()
    v.check(bool(target_id.strip()), id_field, "is required")
    v.check(verdict in VERDICTS, "verdict", "is required: clean, suspicious or invalid")
    v.check(len(note) <= MAX_NOTE, "note", f"must be at most {MAX_NOTE} characters")
    v.raise_if_any()
    return verdict, note.strip()


def _flips(before: int, after: int) -> bool:
    """Whether a verdict change moves the row in or out of invalid (what postbacks see)."""
    return (before == q.INVALID) != (after == q.INVALID)


async def _set_verdict(conn: asyncpg.Connection, target: tuple[bytes, str, str], account_id: str, target_id: str,
                       verdict: int, note: str) -> tuple[int, asyncpg.Record]:  # fmt: skip
    """Locks the row, sets the operator's verdict (adding the ``operator`` reason) and note, and
    logs the overrule; returns the verdict it had and the updated row."""
    kind, table, key = target
    current = await conn.fetchrow(
        f"SELECT verdict FROM attribution.{table} WHERE account_id = $1 AND {key} = $2 FOR UPDATE",
        account_id,
        target_id,
    )
    assert current is not None  # installs and conversions are never deleted
    previous: int = current["verdict"]
    row = await conn.fetchrow(
        f"UPDATE attribution.{table} SET verdict = $3, reasons = reasons | $4, verdict_note = $5,"
        f" update_time = clock_timestamp() WHERE account_id = $1 AND {key} = $2 RETURNING *",
        account_id, target_id, verdict, q.OPERATOR, note,
    )  # fmt: skip
    assert row is not None
    await conn.execute(LOG_SQL, account_id, new_resource_id("ovr"), kind, target_id, previous, verdict, note)
    return previous, row


async def _touch(links: Links, account_id: str, click_id: str | None, touch_type: int, touch_time: Any,
                 campaign_id: str | None) -> Touch | None:  # fmt: skip
    if not click_id:
        return None
    if touch_type == IMPRESSION:  # enough to name its campaign
        return Touch(click_id, IMPRESSION, touch_time or dt.datetime.now(dt.UTC), campaign_id or "", "", "", "")
    return await links.click(account_id, click_id)


async def overrule_install(pool: asyncpg.Pool, links: Links, account_id: str, install_id: str, verdict: int,
                           note: str) -> Result:  # fmt: skip
    row = await pool.fetchrow(
        "SELECT * FROM attribution.installs WHERE account_id = $1 AND install_id = $2", account_id, install_id
    )
    if row is None:
        raise NotFound(f"install {install_id[:64]!r} not found")
    # Look-ups before the transaction (links is another service; answers are cached).
    touch = await _touch(links, account_id, row["click_id"], row["touch_type"], row["touch_time"], row["campaign_id"])
    followers = await pool.fetch(FOLLOWERS_SQL, account_id, install_id, SOURCE_EVENT, q.OPERATOR)
    campaign_ids = {row["campaign_id"]} | {c["campaign_id"] for c in followers}
    campaigns = {c: await links.campaign(account_id, c) for c in campaign_ids if c}
    clicks = {c["click_id"]: await links.click(account_id, c["click_id"]) for c in followers if c["click_id"]}
    cfg = await qual.load(pool, account_id, fresh=True)
    payloads: list[bytes] = []
    async with pool.acquire() as conn, conn.transaction():
        previous, row = await _set_verdict(conn, INSTALL, account_id, install_id, verdict, note)
        if _flips(previous, verdict):
            payloads.append(install_outbound(account_id, row, touch, campaigns.get(row["campaign_id"])))
        moved = 0
        for c in await conn.fetch(FOLLOWERS_SQL + " FOR UPDATE", account_id, install_id, SOURCE_EVENT, q.OPERATOR):
            reasons = c["reasons"]
            if verdict == q.INVALID:
                if cfg.settings(c["campaign_id"]).on("rejected_install"):
                    reasons |= qual.REJECTED_INSTALL
            else:
                reasons &= ~qual.REJECTED_INSTALL
            if reasons == c["reasons"]:
                continue
            updated = await conn.fetchrow(
                "UPDATE attribution.conversions SET reasons = $3, verdict = $4, update_time = clock_timestamp()"
                " WHERE account_id = $1 AND conversion_id = $2 RETURNING *",
                account_id, c["conversion_id"], reasons, q.verdict_of(reasons),
            )  # fmt: skip
            assert updated is not None
            moved += 1
            if _flips(c["verdict"], updated["verdict"]):
                payloads.append(conversion_outbound(
                    account_id, updated, "conversion", clicks.get(c["click_id"]), campaigns.get(c["campaign_id"]),
                    idfa=row["idfa"] or "", gaid=row["gaid"] or "",
                    ip=str(row["ip"]) if row["ip"] is not None else "",
                ))  # fmt: skip
        if payloads:
            await enqueue(conn, postback_handoff.POSTBACK_QUEUE, payloads, account_ids=[account_id] * len(payloads))
    return Result(row, previous, previous != verdict, moved)


async def overrule_conversion(pool: asyncpg.Pool, links: Links, account_id: str, conversion_id: str, verdict: int,
                              note: str) -> Result:  # fmt: skip
    row = await pool.fetchrow(
        "SELECT c.*, i.idfa AS install_idfa, i.gaid AS install_gaid, i.ip AS install_ip"
        " FROM attribution.conversions c LEFT JOIN attribution.installs i"
        " ON i.account_id = c.account_id AND i.install_id = c.install_id"
        " WHERE c.account_id = $1 AND c.conversion_id = $2",
        account_id,
        conversion_id,
    )
    if row is None:
        raise NotFound(f"conversion {conversion_id[:64]!r} not found")
    touch = await links.click(account_id, row["click_id"]) if row["click_id"] else None
    campaign = await links.campaign(account_id, row["campaign_id"]) if row["campaign_id"] else None
    async with pool.acquire() as conn, conn.transaction():
        previous, updated = await _set_verdict(conn, CONVERSION, account_id, conversion_id, verdict, note)
        if _flips(previous, verdict):
            payload = conversion_outbound(
                account_id, updated, "conversion", touch, campaign, idfa=row["install_idfa"] or "",
                gaid=row["install_gaid"] or "", ip=str(row["install_ip"]) if row["install_ip"] is not None else "",
            )  # fmt: skip
            await enqueue(conn, postback_handoff.POSTBACK_QUEUE, [payload], account_ids=[account_id])
        # An invalid conversion stops counting for its offer's caps (and counts again when overruled back).
        reported = [updated] if _flips(previous, verdict) else []
        await offer_caps.enqueue_reports(conn, reported)
    await offer_caps.report_now(links, reported)
    return Result(updated, previous, previous != verdict)
