"""Inbound (S2S) postbacks and the conversion status state machine.

A network reports a conversion for one of our clicks: ``click_id`` (aliases
``clickid``, ``subid``), ``status`` (a word, see STATUS_WORDS), ``payout``,
``currency``, ``goal``, ``txid``. The same txid for the same click updates
that conversion; without a txid there is one conversion per click and goal.
Two postbacks with one txid at the same moment meet on the unique dedup key:
one conversion. Every postback is logged, whatever came of it.

A postback for an invalid click (links' verdict) is recorded, but as an
invalid conversion (``invalid_click``): kept and listed, never counted, paid
for or posted back as attributed, so a network's postback for a bot click
cannot earn it a payout. A payout outside the goal's revenue range makes it
invalid too (``revenue_out_of_range``).

Postbacks arriving together are group-committed (libs/groupcommit): one
transaction stores the conversions, status changes, log lines and outbound
events of all of them, and each is answered once that transaction commits.
Within a group, postbacks for one conversion are applied in arrival order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import asyncpg
import orjson

from libs import postback_handoff
from libs import quality as q
from libs.errors import DomainError, FailedPrecondition, InvalidArgument, NotFound
from libs.groupcommit import GroupCommitter
from libs.ids import new_id
from libs.queue import enqueue
from libs.text import check_text, clean_text
from services.attribution import quality as qual
from services.attribution.goals import load_goals
from services.attribution.lookups import CampaignInfo, Links, Touch
from services.attribution.outbound import conversion_outbound
from services.attribution.postback_rules import (
    CURRENCY,
    GATEWAY_OUTCOMES,
    MAX_PARAM_NAME,
    MAX_TXID,
    PostbackInput,
    check_transition,
    from_request,
    http_status,
    parse_payout,
    parse_status,
)
from services.attribution.rules import SOURCE_POSTBACK, STATUS_NAMES


@dataclasses.dataclass
class Result:
    row: asyncpg.Record
    created: bool
    changed: bool
    previous: int
    postback_id: str


LOG_SQL = """
INSERT INTO attribution.inbound_postbacks (account_id, postback_id, method, client_ip, user_agent, params,
    click_id, txid, http_status, outcome, error, field, conversion_id, status)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11, $12, $13, $14)
"""

# The new conversions of a group, in (account, dedup key, arrival) order so that two
# groups meeting on one key wait for each other instead of deadlocking; of two
# postbacks for one key in the same group, the first is inserted.
INSERT_MANY_SQL = """
INSERT INTO attribution.conversions (account_id, conversion_id, dedup_key, source, goal_id, goal, status,
    payout, currency, txid, click_id, touch_time, campaign_id, partner_id, link_id, app_id, event_time, verdict,
    reasons)
SELECT a, c, d, $19, g, gn, s, p, cur, tx, cl, tt, cmp, prt, lnk, app, clock_timestamp(), v, r
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::smallint[], $7::numeric[],
    $8::text[], $9::text[], $10::text[], $11::timestamptz[], $12::text[], $13::text[], $14::text[], $15::text[],
    $16::int[], $17::smallint[], $18::bigint[]) AS t(a, c, d, g, gn, s, p, cur, tx, cl, tt, cmp, prt, lnk, app, n, v, r)
ORDER BY a, d, n
ON CONFLICT (account_id, dedup_key) DO NOTHING
RETURNING *
"""

LOCK_MANY_SQL = """
SELECT c.* FROM unnest($1::text[], $2::text[]) AS k(a, d)
JOIN attribution.conversions c ON c.account_id = k.a AND c.dedup_key = k.d
ORDER BY c.account_id, c.dedup_key
FOR UPDATE OF c
"""

UPDATE_MANY_SQL = """
UPDATE attribution.conversions c
SET status = t.s, payout = t.p, currency = t.cur, verdict = t.v, reasons = t.r, update_time = clock_timestamp()
FROM unnest($1::text[], $2::text[], $3::smallint[], $4::numeric[], $5::text[], $6::smallint[], $7::bigint[])
    AS t(a, id, s, p, cur, v, r)
WHERE c.account_id = t.a AND c.conversion_id = t.id
RETURNING c.*
"""

LOG_MANY_SQL = """
INSERT INTO attribution.inbound_postbacks (account_id, postback_id, method, client_ip, user_agent, params,
    click_id, txid, http_status, outcome, error, field, conversion_id, status)
SELECT a, pid, m, ip, ua, prm::jsonb, cl, tx, hs, o, e, f, c, s
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
    $9::smallint[], $10::text[], $11::text[], $12::text[], $13::text[], $14::smallint[])
    AS t(a, pid, m, ip, ua, prm, cl, tx, hs, o, e, f, c, s)
"""


async def _log(conn: Any, account_id: str, pid: str, inp: PostbackInput, http_status: int, outcome: str,
               error: str = "", field: str = "", conversion_id: str = "", status: int = 0) -> None:  # fmt: skip
    await conn.execute(
        LOG_SQL, account_id, pid, inp.method, inp.client_ip, inp.user_agent, orjson.dumps(inp.params).decode(),
        clean_text(inp.click_id[:128]), clean_text(inp.txid[:256]), http_status, outcome, clean_text(error[:1000]),
        clean_text(field), conversion_id, status,
    )  # fmt: skip


async def log_refused(pool: asyncpg.Pool, account_id: str, request: Any) -> str:
    """A postback the gateway refused before it came here, logged with its outcome
    (GATEWAY_OUTCOMES); nothing else happens. Returns its postback id."""
    status = int(request.http_status)
    if not 400 <= status <= 599:
        raise InvalidArgument("http_status", "must be the HTTP status the gateway answered (400..599)")
    inp = from_request(request)
    pid = new_id()
    await _log(pool, account_id, pid, inp, status, GATEWAY_OUTCOMES.get(status, "refused"),
               clean_text(request.error), clean_text(request.field[:MAX_PARAM_NAME]))  # fmt: skip
    return pid


@dataclasses.dataclass
class _Postback:
    """A validated postback, ready to be stored with its group."""

    account_id: str
    inp: PostbackInput
    pid: str
    dedup: str
    goal_id: str
    goal_name: str
    status: int
    payout: Decimal | None
    currency: str | None
    click: Touch
    campaign: CampaignInfo | None
    # The postback's own checks: invalid_click, revenue_out_of_range.
    reasons: int = 0


class PostbackRecorder:
    """Records inbound postbacks; concurrent ones share one transaction."""

    def __init__(self, pool: asyncpg.Pool, links: Links, *, max_inflight: int = 1, max_items: int = 500) -> None:
        self._pool = pool
        self._links = links
        self.committer: GroupCommitter[_Postback, Result | DomainError] = GroupCommitter(
            self._flush, name="attribution.inbound_postbacks", max_items=max_items, max_inflight=max_inflight
        )

    async def record(self, account_id: str, inp: PostbackInput) -> Result:
        """Validate, find the click, record or update the conversion, log; answers
        once all of it is committed. Domain errors are logged, then raised."""
        pid = new_id()
        try:
            item = await self._prepare(account_id, inp, pid)
            result = await self.committer.submit([item])
        except DomainError as err:
            status, outcome = http_status(err)
            field = err.violations[0][0] if isinstance(err, InvalidArgument) else ""
            await _log(self._pool, account_id, pid, inp, status, outcome, err.message, field)
            raise
        if isinstance(result, DomainError):  # refused in the group's transaction, and logged there
            raise result
        return result

    async def _prepare(self, account_id: str, inp: PostbackInput, pid: str) -> _Postback:
        if inp.problem is not None:
            raise InvalidArgument(*inp.problem)
        if not inp.click_id:
            raise InvalidArgument("click_id", "is required (also accepted as clickid or subid)")
        if len(inp.txid) > MAX_TXID:
            raise InvalidArgument("txid", f"must be at most {MAX_TXID} characters")
        for name in ("click_id", "txid", "goal", "status", "payout", "currency"):
            check_text(name, getattr(inp, name))
        if len(inp.click_id) > 64:
            raise InvalidArgument("click_id", "is too long to be a click id")
        status = parse_status(inp.status)
        payout = parse_payout(inp.payout)
        currency = inp.currency.upper()
        if currency and not CURRENCY.match(currency):
            raise InvalidArgument("currency", f"{inp.currency[:20]!r} is not an ISO 4217 code like USD")
        if len(inp.txid) > 256:
            raise InvalidArgument("txid", "must be at most 256 characters")
        if len(inp.goal) > 200:
            raise InvalidArgument("goal", "must be at most 200 characters")
        links = self._links
        click = await links.click(account_id, inp.click_id)
        if click is None:
            raise NotFound(f"click {inp.click_id[:64]!r} not found")
        # Fetched now (cached) for the outbound event built inside the group's transaction.
        campaign = await links.campaign(account_id, click.campaign_id)
        # The goal: one of the account's goals by id or name, else a label as sent; default the campaign's target.
        goals = await load_goals(self._pool, account_id)
        goal_id, goal_name = "", inp.goal
        wanted = inp.goal or (campaign.target_goal_id if campaign else "")
        for g in goals:
            if wanted and (g.goal_id == wanted or g.name.lower() == wanted.lower()):
                goal_id, goal_name = g.goal_id, g.name
                break
        if payout is not None and not currency:
            currency = await links.currency(account_id)
        dedup = f"tx:{inp.click_id}:{inp.txid}" if inp.txid else f"goal:{inp.click_id}:{goal_id or goal_name.lower()}"
        reasons = qual.INVALID_CLICK if click.verdict == q.INVALID else 0
        cfg = await qual.load(self._pool, account_id)
        if payout is not None and cfg.settings(click.campaign_id).on("revenue_out_of_range"):
            allowed = cfg.revenue_range(goal_id, currency)
            if allowed is not None and allowed.outside(payout):
                reasons |= qual.REVENUE_OUT_OF_RANGE
        return _Postback(account_id, inp, pid, dedup, goal_id, goal_name, status, payout, currency or None, click,
                         campaign, reasons)  # fmt: skip

    async def _flush(self, groups: list[list[_Postback]]) -> list[Result | DomainError]:
        """Store one group of postbacks in one transaction; one result per submission
        (a Result, or the FailedPrecondition of a refused move, already logged)."""
        items = [p for g in groups for p in g]
        results: list[Result | DomainError | None] = [None] * len(items)
        logs: list[tuple[Any, ...]] = []
        payloads: list[tuple[str, bytes]] = []
        async with self._pool.acquire() as conn, conn.transaction():
            cids = [new_id() for _ in items]
            created = {
                r["conversion_id"]: r
                for r in await conn.fetch(
                    INSERT_MANY_SQL, [p.account_id for p in items], cids, [p.dedup for p in items],
                    [p.goal_id for p in items], [p.goal_name for p in items], [p.status for p in items],
                    [p.payout for p in items], [p.currency for p in items], [p.inp.txid or None for p in items],
                    [p.click.touch_id for p in items], [p.click.time for p in items],
                    [p.click.campaign_id for p in items], [p.click.partner_id for p in items],
                    [p.click.link_id for p in items], [p.click.app_id or None for p in items],
                    list(range(len(items))), [qual.verdict(p.reasons) for p in items], [p.reasons for p in items],
                    SOURCE_POSTBACK,
                )
            }  # fmt: skip
            # The current row of every conversion the group touches, by (account, dedup key).
            rows: dict[tuple[str, str], dict[str, Any]] = {}
            for n, p in enumerate(items):
                row = created.get(cids[n])
                if row is not None:
                    rows[(p.account_id, p.dedup)] = dict(row)
            existing = sorted({(p.account_id, p.dedup) for p in items} - rows.keys())
            if existing:
                for r in await conn.fetch(LOCK_MANY_SQL, [k[0] for k in existing], [k[1] for k in existing]):
                    rows[(r["account_id"], r["dedup_key"])] = dict(r)
            changed: dict[tuple[str, str], dict[str, Any]] = {}
            for n, p in enumerate(items):
                key = (p.account_id, p.dedup)
                row = rows[key]
                if cids[n] in created:  # this postback's own new conversion
                    results[n] = Result(row, True, True, 0, p.pid)
                    logs.append(_log_row(p, 200, "created", conversion_id=row["conversion_id"], status=p.status))
                    payloads.append((p.account_id, _outbound(p, row, "conversion")))
                    continue
                previous = row["status"]
                try:
                    check_transition(row["conversion_id"], previous, p.status)
                except FailedPrecondition as err:
                    results[n] = err
                    logs.append(_log_row(p, 409, "refused", error=err.message))
                    continue
                if previous == p.status:
                    results[n] = Result(dict(row), False, False, previous, p.pid)
                    logs.append(_log_row(p, 200, "unchanged", conversion_id=row["conversion_id"], status=p.status))
                    continue
                row = rows[key] = {**row, "status": p.status}
                if p.payout is not None:
                    row["payout"], row["currency"] = p.payout, p.currency
                    if not row["reasons"] & q.OPERATOR:  # a new payout is checked again
                        reasons = (row["reasons"] & ~qual.REVENUE_OUT_OF_RANGE) | (
                            p.reasons & qual.REVENUE_OUT_OF_RANGE
                        )
                        row["reasons"], row["verdict"] = reasons, qual.verdict(reasons)
                changed[key] = row
                results[n] = Result(row, False, True, previous, p.pid)
                logs.append(_log_row(p, 200, "updated", conversion_id=row["conversion_id"], status=p.status))
                payloads.append((p.account_id, _outbound(p, row, "status_change")))
            if changed:
                keys = sorted(changed)
                updated = await conn.fetch(
                    UPDATE_MANY_SQL, [k[0] for k in keys], [changed[k]["conversion_id"] for k in keys],
                    [changed[k]["status"] for k in keys], [changed[k]["payout"] for k in keys],
                    [changed[k]["currency"] for k in keys], [changed[k]["verdict"] for k in keys],
                    [changed[k]["reasons"] for k in keys],
                )  # fmt: skip
                stamps = {(r["account_id"], r["conversion_id"]): r["update_time"] for r in updated}
                for res in results:
                    if isinstance(res, Result) and not res.created and res.changed:
                        res.row["update_time"] = stamps.get((res.row["account_id"], res.row["conversion_id"]),
                                                            res.row["update_time"])  # fmt: skip
            await conn.execute(LOG_MANY_SQL, *[list(c) for c in zip(*logs, strict=True)])
            if payloads:
                await enqueue(conn, postback_handoff.POSTBACK_QUEUE, [pl for _, pl in payloads],
                              account_ids=[a for a, _ in payloads])  # fmt: skip
        out: list[Result | DomainError] = []
        for r in results:
            assert r is not None
            out.append(r)
        return out


def _log_row(p: _Postback, http_status: int, outcome: str, error: str = "", conversion_id: str = "",
             status: int = 0) -> tuple[Any, ...]:  # fmt: skip
    inp = p.inp
    return (
        p.account_id, p.pid, inp.method, inp.client_ip, inp.user_agent, orjson.dumps(inp.params).decode(),
        inp.click_id[:128], inp.txid[:256], http_status, outcome, error[:1000], "", conversion_id, status,
    )  # fmt: skip


def _outbound(p: _Postback, row: Mapping[str, Any], kind: str) -> bytes:
    return conversion_outbound(p.account_id, row, kind, p.click, p.campaign)


async def update_status(pool: asyncpg.Pool, links: Links, account_id: str, conversion_id: str,
                        status: int) -> tuple[asyncpg.Record, int, bool]:  # fmt: skip
    """Move a conversion to ``status``; returns (row, previous status, changed)."""
    if status not in STATUS_NAMES:
        raise InvalidArgument("status", "is required: pending, approved or rejected")
    row = await pool.fetchrow(
        "SELECT click_id, campaign_id FROM attribution.conversions WHERE account_id = $1 AND conversion_id = $2",
        account_id,
        conversion_id,
    )
    if row is None:
        raise NotFound(f"conversion {conversion_id[:64]!r} not found")
    # Look-ups before the transaction: no call to another service while it holds the row.
    touch = await links.click(account_id, row["click_id"]) if row["click_id"] else None
    campaign = await links.campaign(account_id, row["campaign_id"]) if row["campaign_id"] else None
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT * FROM attribution.conversions WHERE account_id = $1 AND conversion_id = $2 FOR UPDATE",
            account_id,
            conversion_id,
        )
        assert row is not None
        previous = row["status"]
        check_transition(conversion_id, previous, status)
        if previous == status:
            return row, previous, False
        row = await conn.fetchrow(
            "UPDATE attribution.conversions SET status = $3, update_time = clock_timestamp()"
            " WHERE account_id = $1 AND conversion_id = $2 RETURNING *",
            account_id,
            conversion_id,
            status,
        )
        assert row is not None
        payload = conversion_outbound(account_id, row, "status_change", touch, campaign)
        await enqueue(conn, postback_handoff.POSTBACK_QUEUE, [payload], account_ids=[account_id])
    return row, previous, True
