"""Helpers for the campaign-report tests: the report over gRPC, a rollup runner
on the test database, and raw rows written the way the links service writes them."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

import asyncpg
from clicktrail.analytics.v1 import reports_pb2 as rpb
from clicktrail.attribution.v1 import config_pb2 as cpb
from clicktrail.attribution.v1 import config_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb

from libs import quality
from libs.config import Settings
from libs.ids import new_id
from services.analytics import report_service
from services.analytics import server as analytics_server_module
from services.analytics.rollup import RollupRunner

TODAY = dt.datetime.now(dt.UTC).date()


def runner(pool: asyncpg.Pool, settings: Settings) -> RollupRunner:
    """The service's rollups with no lag: run_once folds everything committed."""
    return RollupRunner(
        pool, analytics_server_module.ROLLUPS, dataclasses.replace(settings, analytics_rollup_lag_s=0),
        report_service.DERIVED,
    )  # fmt: skip


async def fold_committed(pool: asyncpg.Pool, settings: Settings, timeout_s: float = 30.0) -> None:
    """Rollup passes until every rollup has folded what was committed before the call.
    One pass may stop short of it: a pass stays behind any write transaction still open
    (another service's, here), and catches up on the next."""
    run = runner(pool, settings)
    until = await pool.fetchval("SELECT clock_timestamp()")
    async with asyncio.timeout(timeout_s):
        while True:
            await run.run_once()
            behind = await pool.fetchval(
                "SELECT count(*) FROM analytics.rollup_state WHERE name = ANY($1::text[]) AND watermark < $2",
                [r.name for r in run.rollups], until,
            )  # fmt: skip
            if not behind:
                return
            await asyncio.sleep(0.05)


async def report(stub: Any, start: dt.date, end: dt.date | None = None, *, group_by: list[str] | None = None,
                 filters: dict[str, list[str]] | None = None, **kw: Any) -> rpb.RunCampaignReportResponse:  # fmt: skip
    req = rpb.RunCampaignReportRequest(
        start_date=start.isoformat(), end_date=(end or start).isoformat(), group_by=group_by or [],
        filters=[rpb.ReportFilter(dimension=k, values=v) for k, v in (filters or {}).items()], **kw,
    )  # fmt: skip
    return await stub.RunCampaignReport(req)  # type: ignore[no-any-return]


async def checks_off(links_stub: Any, *codes: str) -> None:
    """Turns click-time checks off for the account (the links service's own
    replica applies it at once): for worlds whose clicks repeat one IP +
    User-Agent within seconds on purpose, which the duplicate check would call
    invalid."""
    await links_stub.UpdateQualitySettings(
        lpb.UpdateQualitySettingsRequest(settings=lpb.QualitySettings(checks=dict.fromkeys(codes, False)))
    )


async def attribution_checks_off(attribution_stub: Any, *codes: str) -> None:
    """Turns install / conversion checks off for the account: for worlds that
    send an install right after its click (click_injection) and a conversion
    right after it (too_soon_after_install) on purpose."""
    stub = config_pb2_grpc.AttributionQualityServiceStub(attribution_stub.channel)
    await stub.UpdateAttributionQualitySettings(
        cpb.UpdateAttributionQualitySettingsRequest(
            settings=cpb.AttributionQualitySettings(checks=dict.fromkeys(codes, False))
        )
    )


def money(row: rpb.ReportRow, field: str) -> dict[str, Decimal]:
    """{currency: amount} of one money field of a row (zeros left out)."""
    out = {m.currency_code: Decimal(getattr(m, field).amount) for m in row.money}
    return {c: a for c, a in out.items() if a}


def by(resp: rpb.RunCampaignReportResponse, dim: str) -> dict[str, rpb.ReportRow]:
    return {r.dimensions[dim]: r for r in resp.rows}


CLICK_COLUMNS = (
    "account_id", "click_id", "create_time", "link_id", "campaign_id", "partner_id", "app_id", "ip", "country",
    "device_type", "os", "user_agent", "sub1", "sub2", "verdict", "reasons",
)  # fmt: skip


async def insert_clicks(conn: asyncpg.Connection, rows: list[dict[str, Any]]) -> list[str]:
    """Clicks written straight into links.clicks, as its group commit writes them
    (a click id whose leading bits are its create_time); returns their ids.
    ``reasons`` (codes) give the verdict unless ``verdict`` is given."""
    ids = []
    records = []
    for r in rows:
        t = r["create_time"]
        cid = new_id(int(t.timestamp() * 1000))
        ids.append(cid)
        records.append(
            (r["account_id"], cid, t, r.get("link_id", "lnk"), r["campaign_id"], r.get("partner_id", "prt"),
             r.get("app_id"), r.get("ip", "10.0.0.1"), r.get("country"), r.get("device_type", 2), r.get("os"),
             r.get("user_agent", "UA"), r.get("sub1"), r.get("sub2"),
             r.get("verdict", quality.verdict_of(quality.mask_of(r.get("reasons", ())))),
             quality.mask_of(r.get("reasons", ())))
        )  # fmt: skip
    await conn.copy_records_to_table("clicks", schema_name="links", columns=CLICK_COLUMNS, records=records)
    return ids
