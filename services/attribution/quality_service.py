"""clicktrail.attribution.v1.AttributionQualityService: the install and
conversion checks' settings (the account's and a campaign's overrides) and the
revenue ranges of goals. Every query is scoped by the caller's account."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import asyncpg
import grpc
import orjson
from clicktrail.attribution.v1 import config_pb2 as pb
from clicktrail.attribution.v1 import config_pb2_grpc as pb_grpc

from libs import auth
from libs.api import format_money, to_timestamp, update_paths
from libs.errors import AlreadyExists, InvalidArgument, NotFound, Validator
from libs.grpc_server import ServiceContext
from libs.ids import new_resource_id
from libs.paging import Page
from libs.quality_settings import SettingsFields
from services.attribution import quality as qual
from services.attribution.campaigns import Campaigns

# Proto field -> stored key.
INT_FIELDS = ("install_burst_ip", "install_burst_subnet")
DURATION_FIELDS = {
    "click_injection_time": "click_injection_s",
    "click_flooding_time": "click_flooding_s",
    "install_burst_window": "install_burst_window_s",
    "too_soon_after_install_time": "too_soon_after_install_s",
}
FIELDS = SettingsFields(pb.AttributionQualitySettings, INT_FIELDS, DURATION_FIELDS)
SETTINGS_PATHS = FIELDS.paths
_AMOUNT = re.compile(r"^\d{1,18}(\.\d{1,6})?$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
RANGE_PATHS = ("min_amount", "max_amount")


def _human(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def apply_update(doc: dict[str, Any], request: pb.UpdateAttributionQualitySettingsRequest) -> dict[str, Any]:
    """The stored document after the update (validated; INVALID_ARGUMENT names the field)."""
    new = request.settings
    if request.update_mask.paths:
        paths = list(dict.fromkeys(request.update_mask.paths))
        bad = [p for p in paths if p not in SETTINGS_PATHS and not p.startswith("checks.")]
        if bad:
            raise InvalidArgument(
                "update_mask", f"cannot update {', '.join(bad)}; updatable: {', '.join(SETTINGS_PATHS)}, checks.<code>"
            )
    else:
        paths = [p for p in SETTINGS_PATHS if p != "checks" and new.HasField(p)]
        if new.checks:
            paths.append("checks")
        if not paths:
            raise InvalidArgument("update_mask", "nothing to update: set fields or an update_mask")
    v = Validator()
    for path in paths:
        if path == "checks" or path.startswith("checks."):
            codes = list(new.checks) if path == "checks" else [path.split(".", 1)[1]]
            for code in codes:
                if code not in qual.CHECKS:
                    v.add(f"settings.checks[{code}]", f"is not a check; checks: {', '.join(qual.CHECKS)}")
        elif path in INT_FIELDS:
            if not new.HasField(path):
                continue
            lo, hi = qual.LIMITS[path]
            value = getattr(new, path)
            if not lo <= value <= hi:
                v.add(f"settings.{path}", f"must be from {lo:,} to {hi:,}; got {value:,}")
        else:
            key = DURATION_FIELDS[path]
            if not new.HasField(path):
                continue
            d = getattr(new, path)
            lo, hi = qual.LIMITS[key]
            if d.nanos or d.seconds < 0:
                v.add(f"settings.{path}", "must be whole seconds")
            elif not lo <= d.seconds <= hi:
                v.add(f"settings.{path}", f"must be from {_human(lo)} to {_human(hi)}; got {_human(d.seconds)}")
    v.raise_if_any()
    return FIELDS.apply(doc, new, paths)


def _amount(v: Validator, field: str, text: str) -> Decimal | None:
    t = text.strip()
    if not t:
        return None
    if not _AMOUNT.match(t):
        v.add(field, f"{t[:40]!r} is not a non-negative decimal like 0.99 (at most 18 digits and 6 decimals)")
        return None
    return Decimal(t)


def _bounds(v: Validator, low: Decimal | None, high: Decimal | None, low_text: str, high_text: str) -> None:
    if low is None and high is None and not low_text.strip() and not high_text.strip():
        v.add("range.min_amount", "set min_amount, max_amount or both")
    if low is not None and high is not None and low > high:
        v.add("range.max_amount", f"must not be below min_amount ({format_money(low)})")


def range_pb(row: Any) -> pb.RevenueRange:
    return pb.RevenueRange(
        range_id=row["range_id"], goal_id=row["goal_id"], currency=row["currency"],
        min_amount=format_money(row["min_amount"]) if row["min_amount"] is not None else "",
        max_amount=format_money(row["max_amount"]) if row["max_amount"] is not None else "",
        create_time=to_timestamp(row["create_time"]), update_time=to_timestamp(row["update_time"]),
    )  # fmt: skip


class QualityService(pb_grpc.AttributionQualityServiceServicer):
    def __init__(self, pool: asyncpg.Pool, links: Campaigns) -> None:
        self._pool = pool
        self._links = links

    async def _level(self, account_id: str, campaign_id: str) -> tuple[dict[str, Any], dt.datetime | None]:
        row = await self._pool.fetchrow(
            "SELECT settings::text AS doc, update_time FROM attribution.quality_settings"
            " WHERE account_id = $1 AND campaign_id = $2",
            account_id,
            campaign_id,
        )
        return (orjson.loads(row["doc"]), row["update_time"]) if row else ({}, None)

    async def _answer(self, account_id: str, campaign_id: str, doc: dict[str, Any],
                      update_time: dt.datetime | None) -> tuple[pb.AttributionQualitySettings, ...]:  # fmt: skip
        account_doc = doc if not campaign_id else (await self._level(account_id, ""))[0]
        merged = qual.merge(account_doc, doc) if campaign_id else qual.merge(doc)
        return FIELDS.stored_pb(campaign_id, doc, update_time), FIELDS.effective_pb(campaign_id, merged)

    async def GetAttributionQualitySettings(
        self, request: pb.GetAttributionQualitySettingsRequest, context: Any
    ) -> pb.GetAttributionQualitySettingsResponse:
        account_id = auth.require_account()
        campaign_id = request.campaign_id.strip()
        if campaign_id and await self._links.campaign(account_id, campaign_id) is None:
            raise NotFound(f"campaign {campaign_id!r} not found")
        doc, update_time = await self._level(account_id, campaign_id)
        settings, effective = await self._answer(account_id, campaign_id, doc, update_time)
        return pb.GetAttributionQualitySettingsResponse(settings=settings, effective=effective)

    async def UpdateAttributionQualitySettings(
        self, request: pb.UpdateAttributionQualitySettingsRequest, context: Any
    ) -> pb.UpdateAttributionQualitySettingsResponse:
        account_id = auth.require_account()
        campaign_id = request.settings.campaign_id.strip()
        if campaign_id and await self._links.campaign(account_id, campaign_id) is None:
            raise InvalidArgument("settings.campaign_id", f"campaign {campaign_id!r} not found")
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO attribution.quality_settings (account_id, campaign_id) VALUES ($1, $2)"
                " ON CONFLICT DO NOTHING",
                account_id,
                campaign_id,
            )
            current = await conn.fetchval(
                "SELECT settings::text FROM attribution.quality_settings WHERE account_id = $1 AND campaign_id = $2"
                " FOR UPDATE",
                account_id,
                campaign_id,
            )
            doc = apply_update(orjson.loads(current), request)
            row = await conn.fetchrow(
                "UPDATE attribution.quality_settings SET settings = $3::jsonb, update_time = now()"
                " WHERE account_id = $1 AND campaign_id = $2 RETURNING update_time",
                account_id,
                campaign_id,
                orjson.dumps(doc).decode(),
            )
        qual.invalidate(account_id)
        settings, effective = await self._answer(account_id, campaign_id, doc, row["update_time"])
        return pb.UpdateAttributionQualitySettingsResponse(settings=settings, effective=effective)

    async def CreateRevenueRange(
        self, request: pb.CreateRevenueRangeRequest, context: Any
    ) -> pb.CreateRevenueRangeResponse:
        account_id = auth.require_account()
        r = request.range
        v = Validator()
        goal_id = r.goal_id.strip()
        if not goal_id:
            v.add("range.goal_id", "is required")
        elif not await self._pool.fetchval(
            "SELECT 1 FROM attribution.goals WHERE account_id = $1 AND goal_id = $2", account_id, goal_id
        ):
            v.add("range.goal_id", f"goal {goal_id!r} not found")
        currency = r.currency.strip().upper()
        v.check(
            bool(_CURRENCY.match(currency)), "range.currency", f"{r.currency[:20]!r} is not an ISO 4217 code like USD"
        )
        low = _amount(v, "range.min_amount", r.min_amount)
        high = _amount(v, "range.max_amount", r.max_amount)
        _bounds(v, low, high, r.min_amount, r.max_amount)
        v.raise_if_any()
        try:
            row = await self._pool.fetchrow(
                "INSERT INTO attribution.revenue_ranges (account_id, range_id, goal_id, currency, min_amount,"
                " max_amount) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
                account_id, new_resource_id("rr"), goal_id, currency, low, high,
            )  # fmt: skip
        except asyncpg.UniqueViolationError:
            raise AlreadyExists(f"goal {goal_id} already has a {currency} revenue range; update that one") from None
        except asyncpg.ForeignKeyViolationError:  # the goal went away meanwhile
            raise InvalidArgument("range.goal_id", f"goal {goal_id!r} not found") from None
        qual.invalidate(account_id)
        return pb.CreateRevenueRangeResponse(range=range_pb(row))

    async def ListRevenueRanges(
        self, request: pb.ListRevenueRangesRequest, context: Any
    ) -> pb.ListRevenueRangesResponse:
        account_id = auth.require_account()
        page = Page.of(request, "goal_id", "currency")
        rows = await self._pool.fetch(
            "SELECT * FROM attribution.revenue_ranges WHERE account_id = $1 AND ($2::text IS NULL OR goal_id = $2)"
            " AND (goal_id, currency) > ($3, $4) ORDER BY goal_id, currency LIMIT $5",
            account_id,
            request.goal_id.strip() or None,
            page.get("goal_id", ""),
            page.get("currency", ""),
            page.limit,
        )
        rows, token = page.cut(rows, lambda r: {"goal_id": r["goal_id"], "currency": r["currency"]})
        return pb.ListRevenueRangesResponse(ranges=[range_pb(r) for r in rows], next_page_token=token)

    async def UpdateRevenueRange(
        self, request: pb.UpdateRevenueRangeRequest, context: Any
    ) -> pb.UpdateRevenueRangeResponse:
        account_id = auth.require_account()
        r = request.range
        if not r.range_id.strip():
            raise InvalidArgument("range.range_id", "is required")
        paths = update_paths(request.update_mask, r, RANGE_PATHS) if request.update_mask.paths else list(RANGE_PATHS)
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT * FROM attribution.revenue_ranges WHERE account_id = $1 AND range_id = $2 FOR UPDATE",
                account_id,
                r.range_id.strip(),
            )
            if row is None:
                raise NotFound(f"revenue range {r.range_id[:64]!r} not found")
            v = Validator()
            low, high = row["min_amount"], row["max_amount"]
            if "min_amount" in paths:
                low = _amount(v, "range.min_amount", r.min_amount)
            if "max_amount" in paths:
                high = _amount(v, "range.max_amount", r.max_amount)
            _bounds(v, low, high, "", "")
            v.raise_if_any()
            row = await conn.fetchrow(
                "UPDATE attribution.revenue_ranges SET min_amount = $3, max_amount = $4, update_time = now()"
                " WHERE account_id = $1 AND range_id = $2 RETURNING *",
                account_id,
                row["range_id"],
                low,
                high,
            )
        qual.invalidate(account_id)
        return pb.UpdateRevenueRangeResponse(range=range_pb(row))

    async def DeleteRevenueRange(
        self, request: pb.DeleteRevenueRangeRequest, context: Any
    ) -> pb.DeleteRevenueRangeResponse:
        account_id = auth.require_account()
        deleted = await self._pool.fetchval(
            "DELETE FROM attribution.revenue_ranges WHERE account_id = $1 AND range_id = $2 RETURNING range_id",
            account_id,
            request.range_id,
        )
        if deleted is None:
            raise NotFound(f"revenue range {request.range_id[:64]!r} not found")
        qual.invalidate(account_id)
        return pb.DeleteRevenueRangeResponse()


def register(server: grpc.aio.Server, ctx: ServiceContext, links: Campaigns) -> list[str]:
    pb_grpc.add_AttributionQualityServiceServicer_to_server(QualityService(ctx.pool, links), server)
    return [pb.DESCRIPTOR.services_by_name["AttributionQualityService"].full_name]
