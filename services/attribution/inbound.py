"""Inbound (S2S) postbacks and the conversion status state machine.

A network reports a conversion for one of our clicks: ``click_id`` (aliases
``clickid``, ``subid``), ``status`` (a word, see STATUS_WORDS), ``payout``,
``currency``, ``goal`` (the conversion type), ``txid``. The partner's postback
format (postback_formats.py) adds its own aliases and status words. Which
format: the partner the URL names, else the click's offer's partner, else the
click's campaign's partner, else the defaults. The click is found with the
URL partner's click_id aliases, or without one, the defaults and every
click_id alias of the account's formats; every other field is read with the
format decided once the click is known.

Which conversion a postback creates or updates (types, updates without the
txid), refunds, offer payouts: postback_matching.py; a resent refund applies
once: postback_refunds.py. Every postback is logged.

A postback for an invalid click (links' verdict) is recorded, but as an
invalid conversion (``invalid_click``): kept and listed, never counted, paid
for or posted back as attributed, so a network's postback for a bot click
cannot earn it a payout. A payout outside the goal's revenue range makes it
invalid too (``revenue_out_of_range``).

Postbacks arriving together are group-committed (libs/groupcommit): one
transaction stores the conversions, status changes, log lines and outbound
events of all of them, and each is answered once that transaction commits
and the conversions with an offer were reported for its caps (offer_caps.py).
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
from services.attribution import offer_caps, postback_refunds
from services.attribution import quality as qual
from services.attribution.goals import load_goals
from services.attribution.lookups import Links
from services.attribution.outbound import conversion_outbound
from services.attribution.postback_formats import FormatStore, Vocabulary, vocabulary
from services.attribution.postback_items import Postback
from services.attribution.postback_matching import KeyQuery, dedup_key, offer_payout, resolve_keys
from services.attribution.postback_rules import (
    CURRENCY,
    GATEWAY_OUTCOMES,
    MAX_PARAM_NAME,
    MAX_TXID,
    PostbackInput,
    check_transition,
    from_request,
    http_status,
    parse_signed_payout,
    parse_status,
)
from services.attribution.rules import REJECTED, SOURCE_POSTBACK


@dataclasses.dataclass
class Result:
    row: asyncpg.Record
    created: bool
    changed: bool
    previous: int
    postback_id: str


LOG_SQL = """
INSERT INTO attribution.inbound_postbacks (account_id, postback_id, method, client_ip, user_agent, params,
    click_id, txid, http_status, outcome, error, field, conversion_id, status, partner_id)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11, $12, $13, $14, $15)
"""

# The new conversions of a group, in (account, dedup key, arrival) order so that two
# groups meeting on one key wait for each other instead of deadlocking; of two
# postbacks for one key in the same group, the first is inserted. A refund (mc false)
# never creates one.
INSERT_MANY_SQL = """
INSERT INTO attribution.conversions (account_id, conversion_id, dedup_key, source, goal_id, goal, status,
    payout, currency, txid, click_id, touch_time, campaign_id, partner_id, link_id, app_id, event_time, verdict,
    reasons, offer_id, lander_id, stream_id)
SELECT a, c, d, $19, g, gn, s, p, cur, tx, cl, tt, cmp, prt, lnk, app, clock_timestamp(), v, r, ofr, lnd, str
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::smallint[], $7::numeric[],
    $8::text[], $9::text[], $10::text[], $11::timestamptz[], $12::text[], $13::text[], $14::text[], $15::text[],
    $16::int[], $17::smallint[], $18::bigint[], $20::text[], $21::text[], $22::text[], $23::bool[])
    AS t(a, c, d, g, gn, s, p, cur, tx, cl, tt, cmp, prt, lnk, app, n, v, r, ofr, lnd, str, mc)
WHERE mc
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
    click_id, txid, http_status, outcome, error, field, conversion_id, status, partner_id)
SELECT a, pid, m, ip, ua, prm::jsonb, cl, tx, hs, o, e, f, c, s, prt
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
    $9::smallint[], $10::text[], $11::text[], $12::text[], $13::text[], $14::smallint[], $15::text[])
    AS t(a, pid, m, ip, ua, prm, cl, tx, hs, o, e, f, c, s, prt)
"""


async def _log(conn: Any, account_id: str, pid: str, inp: PostbackInput, http_status: int, outcome: str,
               error: str = "", field: str = "", conversion_id: str = "", status: int = 0,
               partner_id: str = "") -> None:  # fmt: skip
    await conn.execute(
        LOG_SQL, account_id, pid, inp.method, inp.client_ip, inp.user_agent, orjson.dumps(inp.params).decode(),
        clean_text(inp.click_id[:128]), clean_text(inp.txid[:256]), http_status, outcome, clean_text(error[:1000]),
        clean_text(field), conversion_id, status, clean_text(partner_id[:64]),
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


class PostbackRecorder:
    """Records inbound postbacks; concurrent ones share one transaction."""

    def __init__(self, pool: asyncpg.Pool, links: Links, *, max_inflight: int = 1, max_items: int = 500,
                 formats: FormatStore | None = None) -> None:  # fmt: skip
        self._pool = pool
        self._links = links
        self.formats = formats or FormatStore(pool)
        self.committer: GroupCommitter[Postback, Result | DomainError] = GroupCommitter(
            self._flush, name="attribution.inbound_postbacks", max_items=max_items, max_inflight=max_inflight
        )

    async def record(self, account_id: str, inp: PostbackInput) -> Result:
        """Validate, find the click, record or update the conversion, log; answers
        once all of it is committed. Domain errors are logged, then raised."""
        pid = new_id()
        read: list[Any] = [inp, ""]  # the postback as last read (the partner's aliases), the format's partner
        try:
            item = await self._prepare(account_id, inp, pid, read)
            result = await self.committer.submit([item])
        except DomainError as err:
            status, outcome = http_status(err)
            field = err.violations[0][0] if isinstance(err, InvalidArgument) else ""
            await _log(self._pool, account_id, pid, read[0], status, outcome, err.message, field, partner_id=read[1])
            raise
        if isinstance(result, DomainError):  # refused in the group's transaction, and logged there
            raise result
        return result

    async def _vocabulary(self, account_id: str, partner_id: str) -> tuple[Vocabulary, str]:
        """The partner's vocabulary, and the partner if it has a stored format (else "")."""
        fmt = (await self.formats.formats(account_id)).get(partner_id) if partner_id else None
        return vocabulary(fmt, self.formats.presets), partner_id if fmt is not None else ""

    async def _prepare(self, account_id: str, inp: PostbackInput, pid: str, read: list[Any]) -> Postback:
        if inp.problem is not None:
            raise InvalidArgument(*inp.problem)
        # The click first: the URL's partner's aliases, else every alias the account configured.
        if inp.partner_id:
            vocab, read[1] = await self._vocabulary(account_id, inp.partner_id)
            inp = read[0] = inp.reread(vocab.aliases, ("click_id",))
        elif await self.formats.formats(account_id):
            inp = read[0] = inp.reread({"click_id": await self.formats.click_aliases(account_id)}, ("click_id",))
        if not inp.click_id:
            raise InvalidArgument("click_id", "is required (also accepted as clickid or subid)")
        check_text("click_id", inp.click_id)
        if len(inp.click_id) > 64:
            raise InvalidArgument("click_id", "is too long to be a click id")
        links = self._links
        click = await links.click(account_id, inp.click_id)
        if click is None:
            raise NotFound(f"click {inp.click_id[:64]!r} not found")
        # Fetched now (cached) for the outbound event built inside the group's transaction.
        campaign = await links.campaign(account_id, click.campaign_id)
        offer = await links.offer(account_id, click.offer_id) if click.offer_id else None
        # Every other field through the format of the URL's partner, else the offer's, else the campaign's.
        partner = inp.partner_id or (offer.partner_id if offer else "") or (campaign.partner_id if campaign else "")
        vocab, read[1] = await self._vocabulary(account_id, partner)
        inp = read[0] = inp.reread(vocab.aliases, ("status", "payout", "currency", "goal", "txid", "refund_id"))
        for name in ("txid", "refund_id"):
            if len(getattr(inp, name)) > MAX_TXID:
                raise InvalidArgument(name, f"must be at most {MAX_TXID} characters")
        for name in ("txid", "goal", "status", "payout", "currency", "refund_id"):
            check_text(name, getattr(inp, name))
        status = parse_status(inp.status, vocab.words)
        payout = parse_signed_payout(inp.payout)
        currency = inp.currency.upper()
        if currency and not CURRENCY.match(currency):
            raise InvalidArgument("currency", f"{inp.currency[:20]!r} is not an ISO 4217 code like USD")
        if len(inp.goal) > 200:
            raise InvalidArgument("goal", "must be at most 200 characters")
        # The goal: one of the account's goals by id or name, else a label as sent; default the campaign's target.
        goals = await load_goals(self._pool, account_id)
        goal_id, goal_name = "", inp.goal
        wanted = inp.goal or (campaign.target_goal_id if campaign else "")
        for g in goals:
            if wanted and (g.goal_id == wanted or g.name.lower() == wanted.lower()):
                goal_id, goal_name = g.goal_id, g.name
                break
        sent_payout, sent_currency = payout, currency
        payout, currency = offer_payout(offer, payout, currency)  # a new conversion's
        if payout is not None and not currency:
            currency = await links.currency(account_id)
        dedup = dedup_key(inp.click_id, inp.txid, goal_id, goal_name, bool(inp.goal))  # resolved in the group
        reasons = qual.INVALID_CLICK if click.verdict == q.INVALID else 0
        cfg = await qual.load(self._pool, account_id)
        p = Postback(account_id, inp, pid, dedup, goal_id, goal_name, status, payout, currency or None, click,
                     campaign, reasons, str(read[1]), status if inp.status else None, sent_payout, sent_currency,
                     bool(offer and offer.fixed and offer.amount is not None),
                     cfg if cfg.settings(click.campaign_id).on("revenue_out_of_range") else None)  # fmt: skip
        if payout is not None and payout >= 0 and p.out_of_range(goal_id, payout, currency):
            p.reasons |= qual.REVENUE_OUT_OF_RANGE
        return p

    async def _flush(self, groups: list[list[Postback]]) -> list[Result | DomainError]:
        """Store one group of postbacks in one transaction; one result per submission
        (a Result, or the DomainError of a refused move, already logged). Conversions
        with an offer that were created or rejected are reported for the caps after the
        commit and before the answers (with a durable job in the same transaction)."""
        items = [p for g in groups for p in g]
        results: list[Result | DomainError | None] = [None] * len(items)
        logs: list[tuple[Any, ...]] = []
        payloads: list[tuple[str, bytes]] = []
        capped: dict[tuple[str, str], dict[str, Any]] = {}  # conversions whose cap count may change
        async with self._pool.acquire() as conn, conn.transaction():
            queries = [KeyQuery(p.account_id, p.inp.click_id, p.inp.txid, p.goal_id, p.goal_name, bool(p.inp.goal))
                       for p in items]  # fmt: skip
            for p, found in zip(items, await resolve_keys(conn, queries), strict=True):
                p.dedup = found or p.dedup
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
                    SOURCE_POSTBACK, [p.click.offer_id or None for p in items],
                    [p.click.lander_id or None for p in items], [p.click.stream_id or None for p in items],
                    [p.refund is None for p in items],
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
            # Refunds already applied (a resend), and the ones this group applies.
            refund_keys = {n: p.refund_key(rows[(p.account_id, p.dedup)]) for n, p in enumerate(items)
                           if p.refund is not None and (p.account_id, p.dedup) in rows}  # fmt: skip
            seen = await postback_refunds.seen(conn, refund_keys.values())
            applied: list[tuple[postback_refunds.RefundKey, Decimal, str]] = []
            for n, p in enumerate(items):
                key = (p.account_id, p.dedup)
                row = rows.get(key)
                if row is None:  # a refund for a conversion that does not exist (checked before, so rare)
                    results[n] = err = InvalidArgument("payout", "is a refund, but the click has no such conversion")
                    logs.append(_log_row(p, 400, "invalid", error=err.message, field="payout"))
                    continue
                if cids[n] in created:  # this postback's own new conversion
                    results[n] = Result(row, True, True, 0, p.pid)
                    logs.append(_log_row(p, 200, "created", conversion_id=row["conversion_id"], status=p.status))
                    payloads.append((p.account_id, _outbound(p, row, "conversion")))
                    capped[key] = row
                    continue
                previous = row["status"]
                refund_key = refund_keys.get(n)
                # A refund of a rejected conversion (nothing is paid) or one already applied (a resend): no move.
                unchanged = refund_key is not None and (previous == REJECTED or refund_key in seen)
                if not unchanged:
                    try:
                        move = p.update(row)
                        check_transition(row["conversion_id"], previous, move.status)
                    except FailedPrecondition as err:
                        results[n] = err
                        logs.append(_log_row(p, 409, "refused", error=err.message))
                        continue
                    unchanged = previous == move.status and (p.refund is None or move.payout == row["payout"])
                if unchanged:
                    results[n] = Result(dict(row), False, False, previous, p.pid)
                    logs.append(_log_row(p, 200, "unchanged", conversion_id=row["conversion_id"], status=p.status))
                    continue
                if refund_key is not None and p.refund is not None:
                    seen.add(refund_key)
                    applied.append((refund_key, p.refund, p.pid))
                counted = offer_caps.counts(row)
                row = rows[key] = {**row, "status": move.status, "payout": move.payout, "currency": move.currency}
                if move.repriced and not row["reasons"] & q.OPERATOR:  # a new payout is checked again
                    out = p.out_of_range(row["goal_id"], move.payout, move.currency)
                    reasons = (row["reasons"] & ~qual.REVENUE_OUT_OF_RANGE) | (qual.REVENUE_OUT_OF_RANGE if out else 0)
                    row["reasons"], row["verdict"] = reasons, qual.verdict(reasons)
                changed[key] = row
                if offer_caps.counts(row) != counted:
                    capped[key] = row
                results[n] = Result(row, False, True, previous, p.pid)
                outcome = "refunded" if p.refund is not None else "updated"
                logs.append(_log_row(p, 200, outcome, conversion_id=row["conversion_id"], status=move.status))
                event_id = f"{row['conversion_id']}:refund:{p.pid}" if previous == move.status else ""
                payloads.append((p.account_id, _outbound(p, row, "status_change", event_id)))
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
            await postback_refunds.store(conn, applied)
            await conn.execute(LOG_MANY_SQL, *[list(c) for c in zip(*logs, strict=True)])
            if payloads:
                await enqueue(conn, postback_handoff.POSTBACK_QUEUE, [pl for _, pl in payloads],
                              account_ids=[a for a, _ in payloads])  # fmt: skip
            await offer_caps.enqueue_reports(conn, capped.values())
        await offer_caps.report_now(self._links, capped.values())
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]


def _log_row(p: Postback, http_status: int, outcome: str, error: str = "", conversion_id: str = "",
             status: int = 0, field: str = "") -> tuple[Any, ...]:  # fmt: skip
    inp = p.inp
    return (
        p.account_id, p.pid, inp.method, inp.client_ip, inp.user_agent, orjson.dumps(inp.params).decode(),
        inp.click_id[:128], inp.txid[:256], http_status, outcome, error[:1000], field, conversion_id, status,
        p.partner_id,
    )  # fmt: skip


def _outbound(p: Postback, row: Mapping[str, Any], kind: str, event_id: str = "") -> bytes:
    return conversion_outbound(p.account_id, row, kind, p.click, p.campaign, event_id=event_id)
