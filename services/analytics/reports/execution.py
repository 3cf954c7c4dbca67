"""Running a report: the request checked (request), the cubes chosen (plan),
the statements composed (sql, subs_sql) and read in one snapshot, on two
connections at once when the pool has one to spare, then added up
(aggregation). The only module of the report path that talks to Postgres."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from typing import Any

import asyncpg

from services.analytics.reports import aggregation
from services.analytics.reports.app_sql import app_sql
from services.analytics.reports.model import Report
from services.analytics.reports.plan import plan, reason_days
from services.analytics.reports.queries import BREAKPOINTS_SQL, CORRECTED_CAMPAIGNS_SQL
from services.analytics.reports.request import parse_request
from services.analytics.reports.sql import CODE_ARGS, filter_args, reasons_args, reasons_sql, report_sql
from services.analytics.reports.subs_sql import DERIVED_DAYS_SQL, derived_sql

Statement = tuple[str, list[Any]]


@contextlib.asynccontextmanager
async def connection(db: asyncpg.Pool | asyncpg.Connection) -> AsyncIterator[asyncpg.Connection]:
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn:
            yield conn
    else:
        yield db


# plan_cache_mode: a statement is prepared once and run with other parameters,
# and a generic plan cannot tell which cube parts the parameters leave empty.
# work_mem and enable_sort: hash aggregates over the cube rows (the row estimates
# are poor). jit: compiling costs ~100 ms, more than it saves on a few hundred
# thousand rows.
REPORT_SETTINGS = (
    "SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL work_mem = '64MB';"
    " SET LOCAL enable_sort = off; SET LOCAL jit = off"
)
# How long a report waits for a second connection before it runs its two
# statements one after the other on one.
SECOND_CONNECTION_WAIT_S = 0.02
RELEASE_TIMEOUT_S = 5.0


async def run_split(
    db: asyncpg.Pool | asyncpg.Connection,
    conn: asyncpg.Connection,
    first: list[Statement],
    second: list[Statement],
) -> list[list[asyncpg.Record]]:
    """The records of each statement (with its arguments) of ``first`` (on
    ``conn``, in its transaction) and ``second``: on a second connection of the
    pool ``db`` at once, in the same snapshot, if one is free; else after
    ``first`` on ``conn``."""

    async def run(c: asyncpg.Connection, statements: list[Statement]) -> list[list[asyncpg.Record]]:
        return [await c.fetch(sql, *args) for sql, args in statements]

    other: asyncpg.Connection | None = None
    if isinstance(db, asyncpg.Pool) and first and second:
        with contextlib.suppress(asyncio.TimeoutError):
            other = await db.acquire(timeout=SECOND_CONNECTION_WAIT_S)
    if other is None:
        return await run(conn, [*first, *second])
    try:
        snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
        begin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
        await other.execute(f"{begin}; SET TRANSACTION SNAPSHOT '{snapshot}'; {REPORT_SETTINGS}")
        # Both run to their end before either's error is raised: a connection
        # goes back to the pool only when it is idle.
        got = await asyncio.gather(run(conn, first), run(other, second), return_exceptions=True)
        for result in got:
            if isinstance(result, BaseException):
                raise result
        return [*got[0], *got[1]]  # type: ignore[misc]
    finally:
        try:
            if other.is_in_transaction():
                await other.execute("ROLLBACK")
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
            other.terminate()  # the pool replaces it
        # (Without a timeout the release would inherit the acquire's 20 ms.)
        await db.release(other, timeout=RELEASE_TIMEOUT_S)  # type: ignore[union-attr]


async def fetch_report(
    db: asyncpg.Pool | asyncpg.Connection,
    traffic: str,
    corrections: str,
    outcomes: str,
    args: list[Any],
    slots: list[Any],
    derived: tuple[str, list[Any]] | None = None,
    reasons: Statement | None = None,
    app: Statement | None = None,
) -> tuple[list[asyncpg.Record], list[asyncpg.Record], list[asyncpg.Record], list[asyncpg.Record]]:
    """The report's records, its reasons' records and its breakpoints, read in one
    snapshot. ``args``: the statements' $1..$8; ``slots``: their filter slots.
    ``derived`` (a sub-id report's derived_sql and its arguments after the
    account): the days whose report_subs_derived rows are current come from
    there, the rest from the cubes. ``reasons``: reasons_sql with all its
    arguments. ``app``: app_sql with all its arguments (its records are
    returned last). From a pool with a connection to spare, traffic (then
    corrections, if any) and outcomes (then reasons) run at once on two
    connections sharing an exported snapshot (each statement is one backend's
    work: on several cores the report takes as long as the longer side)."""
    account_id, start, end, first_day, last_day = args[0], args[1], args[2], args[4], args[5]
    async with contextlib.AsyncExitStack() as stack:
        conn = await stack.enter_async_context(connection(db))
        # A caller's connection may be in its own transaction already (a savepoint then).
        mode: dict[str, Any] = {} if conn.is_in_transaction() else {"isolation": "repeatable_read", "readonly": True}
        await stack.enter_async_context(conn.transaction(**mode))
        await conn.execute(REPORT_SETTINGS)
        records: list[asyncpg.Record] = []
        days: list[dt.date] = []
        if derived is not None:
            days = await conn.fetchval(DERIVED_DAYS_SQL, account_id, first_day, last_day)
            if days:
                records = await conn.fetch(derived[0], account_id, derived[1][0], days, *derived[1][1:])
        corrected = await conn.fetchval(CORRECTED_CAMPAIGNS_SQL, account_id, first_day, last_day) if corrections else []
        args = [*args, corrected, days, *slots, *CODE_ARGS]
        first: list[Statement] = [(traffic, args), *([(corrections, args)] if corrected else [])]
        second: list[Statement] = [(outcomes, args)]
        if len(days) > (last_day - first_day).days:  # every day from report_subs_derived
            first, second = [], []
        if reasons is not None:
            second.append(reasons)
        if app is not None:
            second.append(app)
        got = await run_split(db, conn, first, second)
        app_records: list[asyncpg.Record] = []
        if app is not None:
            *got, app_records = got
        reason_records: list[asyncpg.Record] = []
        if reasons is not None:
            *got, reason_records = got
        records += [rec for part in got for rec in part]
        bps = await conn.fetch(BREAKPOINTS_SQL, account_id, start, end)
    return records, reason_records, bps, app_records


async def campaign_report(
    db: asyncpg.Pool | asyncpg.Connection,
    account_id: str,
    start: dt.datetime,
    end: dt.datetime,
    group_by: Sequence[str],
    filters: Mapping[str, Sequence[str]] | None = None,
    *,
    time_zone: str = "UTC",
    verdicts: Collection[int] | None = None,
) -> Report:
    """The campaign report of one account over [start, end), read from the rollups.

    ``start`` / ``end`` are aware datetimes; the report covers the whole UTC
    hours that overlap them (start floored, end ceiled to the hour). For "the
    last 24 h" pass ``now - 24h, now``. ``group_by``: any of DIMENSIONS (empty:
    one row for everything); ``filters``: dimension -> accepted values (any of
    FILTERABLE; device_type by name: desktop, mobile, tablet, bot, other; a
    sub-id's "" is "no value"). At most one sub-id per report, and then only
    beside campaign / partner / app / day, over whole UTC days (start floored
    and end ceiled to UTC midnight) and with time_zone UTC. ``time_zone`` (IANA)
    shapes the day / hour dimension values; its offset must be whole hours.
    ``verdicts`` (libs.quality values): only the rows with these verdicts, all
    of them in the main counts (see reports.proto); None or empty: clean +
    suspicious in the main counts, the invalid ones beside.

    Returns a Report: ``rows`` (every row, ordered by the dimension values;
    rows with nothing in them left out), ``totals`` (their sum) and the
    attribution-settings ``breakpoints`` in the range. Counts are ints; money is
    Decimal per currency in ``row.money[currency]`` (revenue, cost, profit,
    roi); ``row.cr`` is conversions per click; the verdict parts, invalid_rate
    and top_reasons() beside. See the package docstring for the definitions.

    Raises InvalidArgument (fields start, end, time_zone, group_by, filters.<dim>,
    verdicts[i]) and ResourceExhausted (more than MAX_ROWS rows: group more
    coarsely).
    """
    req = parse_request(account_id, start, end, group_by, filters, time_zone=time_zone, verdicts=verdicts)
    start, end, tz, counted = req.start, req.end, req.tz, req.verdicts
    # The whole UTC days come from the daily rollups, unless rows are by hour or
    # by days of a zone that is not UTC.
    days_from, days_to, cubes = plan(req.group_by, req.filters, start, end, tz)
    traffic, corrections, outcomes = report_sql(req.group_by, req.filters, cubes, counted)
    args = [account_id, start, end, tz.key, req.first_day, req.last_day, days_from, days_to]
    # Built sub-id rows are of the unfiltered report only.
    derived = None if counted.filtered else derived_sql(req.group_by, req.filters)
    reasons: Statement | None = None
    by_reasons = reasons_sql(req.group_by, req.filters, counted)
    if by_reasons is not None:
        r_from, r_to = reason_days(req.group_by, start, end, tz)
        reasons = (by_reasons, [account_id, start, end, tz.key, r_from, r_to, *reasons_args(counted, req.filters)])
    by_app = app_sql(req.group_by, counted)
    app = (by_app, [account_id, start, end, tz.key, *filter_args(req.filters)]) if by_app is not None else None
    records, reason_records, bps, app_records = await fetch_report(
        db, traffic, corrections, outcomes, args, filter_args(req.filters), derived, reasons, app
    )
    rows, totals = aggregation.add_up(records, reason_records, req.group_by, counted, app_records)
    return aggregation.finish(start, end, tz.key, req.group_by, rows, totals, bps)
