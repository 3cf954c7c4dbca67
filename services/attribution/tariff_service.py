"""clicktrail.attribution.v1.TariffService and CorrectionService: what a
campaign costs from a day on, and manual corrections of its cost over a period."""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Callable
from typing import Any

import asyncpg
from clicktrail.attribution.v1 import config_pb2 as pb
from clicktrail.attribution.v1 import config_pb2_grpc as pb_grpc
from clicktrail.links.v1 import links_pb2
from clicktrail.type.v1 import money_pb2

from libs import auth
from libs.api import (
    format_money,
    parse_money,
    to_timestamp,
)
from libs.errors import AlreadyExists, InvalidArgument, NotFound, Validator
from libs.ids import new_resource_id
from libs.paging import Page
from libs.vocab import timetext
from services.attribution.campaigns import Campaigns

MODELS = frozenset(v for v in pb.TariffModel.values() if v)
MAX_NOTE = 500
MAX_CORRECTION_DAYS = 366
MIN_DATE = timetext.MIN_DATE
_PERCENT = re.compile(r"^\d{1,3}(\.\d{1,6})?$")


def parse_date(v: Validator, field: str, value: str, *, default: dt.date | None = None) -> dt.date | None:
    value = value.strip()
    if not value:
        if default is None:
            v.add(field, "is required: YYYY-MM-DD")
        return default
    try:
        day = timetext.parse_date(value)
    except ValueError as exc:
        v.add(field, str(exc))
        return None
    today = dt.datetime.now(dt.UTC).date()
    if not MIN_DATE <= day <= today + dt.timedelta(days=366):
        v.add(field, f"must be from {MIN_DATE} to a year from today")
        return None
    return day


def _money(v: Validator, field: str, money: money_pb2.Money) -> tuple[decimal.Decimal, str] | None:
    if not money.amount and not money.currency_code:
        v.add(field, "is required: an amount and a currency code")
        return None
    try:
        return parse_money(money.amount, money.currency_code, field)
    except InvalidArgument as exc:
        v.violations.extend(exc.violations)
        return None


def _money_pb(amount: decimal.Decimal | None, currency: str | None) -> money_pb2.Money | None:
    if amount is None:
        return None
    return money_pb2.Money(amount=format_money(amount), currency_code=currency or "")


def tariff_to_pb(row: Any) -> pb.Tariff:
    return pb.Tariff(
        tariff_id=row["tariff_id"], campaign_id=row["campaign_id"], model=row["model"],
        amount=_money_pb(row["amount"], row["currency"]),
        percent=format_money(row["percent"]) if row["percent"] is not None else "",
        goal_id=row["goal_id"] or "", effective_date=row["effective_date"].isoformat(),
        create_time=to_timestamp(row["create_time"]),
    )  # fmt: skip


def correction_to_pb(row: Any) -> pb.Correction:
    return pb.Correction(
        correction_id=row["correction_id"], campaign_id=row["campaign_id"],
        amount=_money_pb(row["amount"], row["currency"]), start_date=row["start_date"].isoformat(),
        end_date=row["end_date"].isoformat(), note=row["note"], create_time=to_timestamp(row["create_time"]),
    )  # fmt: skip


async def _check_campaign(
    v: Validator, links: Campaigns, account_id: str, field: str, campaign_id: str
) -> links_pb2.Campaign | None:
    if not campaign_id.strip():
        v.add(field, "is required")
        return None
    campaign = await links.campaign(account_id, campaign_id.strip())
    if campaign is None:
        v.add(field, f"campaign {campaign_id!r} not found")
    return campaign


def _cursor(*keys: str) -> Callable[[Any], dict[str, str]]:
    """A keyset cursor of these columns of a row (as text)."""
    return lambda row: {k: str(row[k]) for k in keys}


class TariffService(pb_grpc.TariffServiceServicer):
    def __init__(self, pool: asyncpg.Pool, links: Campaigns) -> None:
        self._pool = pool
        self._links = links

    async def CreateTariff(self, request: pb.CreateTariffRequest, context: Any) -> pb.CreateTariffResponse:
        account_id = auth.require_account()
        t = request.tariff
        v = Validator()
        model = t.model
        v.check(model in MODELS, "tariff.model", "is required: cpc, cpm, cpi, cpa or revshare")
        amount: decimal.Decimal | None = None
        currency: str | None = None
        percent: decimal.Decimal | None = None
        if model == pb.TARIFF_MODEL_REVSHARE:
            v.check(not t.HasField("amount") or not t.amount.amount, "tariff.amount", "revshare takes a percent")
            text = t.percent.strip()
            if not _PERCENT.match(text):
                v.add("tariff.percent", f"{t.percent!r} is not a percent like 30 or 12.5")
            else:
                percent = decimal.Decimal(text)
                v.check(0 < percent <= 100, "tariff.percent", "must be above 0 and at most 100")
        elif model:
            v.check(not t.percent, "tariff.percent", "only revshare takes a percent")
            money = _money(v, "tariff.amount", t.amount)
            if money:
                amount, currency = money
                v.check(amount >= 0, "tariff.amount.amount", "must not be negative")
        if t.goal_id and model != pb.TARIFF_MODEL_CPA:
            v.add("tariff.goal_id", "only cpa tariffs name a goal")
        day = parse_date(v, "tariff.effective_date", t.effective_date, default=dt.datetime.now(dt.UTC).date())
        campaign = await _check_campaign(v, self._links, account_id, "tariff.campaign_id", t.campaign_id)
        goal_id: str | None = None
        if model == pb.TARIFF_MODEL_CPA:
            goal_id = t.goal_id.strip() or (campaign.target_goal_id if campaign else "")
            if not goal_id:
                if campaign is not None:
                    v.add("tariff.goal_id", "is required for cpa: the campaign has no target goal")
            elif not await self._pool.fetchval(
                "SELECT 1 FROM attribution.goals WHERE account_id = $1 AND goal_id = $2", account_id, goal_id
            ):
                v.add("tariff.goal_id", f"goal {goal_id!r} not found")
        v.raise_if_any()
        conflict = (
            "DO UPDATE SET model = EXCLUDED.model, amount = EXCLUDED.amount, currency = EXCLUDED.currency,"
            " percent = EXCLUDED.percent, goal_id = EXCLUDED.goal_id, create_time = now()"
            if request.replace
            else "DO NOTHING"
        )
        try:
            row = await self._pool.fetchrow(
                "INSERT INTO attribution.tariffs (account_id, tariff_id, campaign_id, model, amount, currency, percent,"
                " goal_id, effective_date) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                f" ON CONFLICT (account_id, campaign_id, effective_date) {conflict} RETURNING *",
                account_id, new_resource_id("trf"), t.campaign_id.strip(), model, amount, currency, percent,
                goal_id, day,
            )  # fmt: skip
        except asyncpg.ForeignKeyViolationError:
            raise InvalidArgument("tariff.goal_id", f"goal {goal_id!r} not found") from None
        if row is None:
            raise AlreadyExists(f"campaign {t.campaign_id} already has a tariff from {day}; delete it or set replace")
        return pb.CreateTariffResponse(tariff=tariff_to_pb(row))

    async def ListTariffs(self, request: pb.ListTariffsRequest, context: Any) -> pb.ListTariffsResponse:
        account_id = auth.require_account()
        page = Page.of(request, "campaign_id", "effective_date")
        rows = await self._pool.fetch(
            "SELECT * FROM attribution.tariffs WHERE account_id = $1 AND ($2::text IS NULL OR campaign_id = $2)"
            " AND (campaign_id, effective_date) > ($3, $4) ORDER BY campaign_id, effective_date LIMIT $5",
            account_id,
            request.campaign_id or None,
            page.get("campaign_id", ""),
            page.get("effective_date", dt.date.min, dt.date.fromisoformat),
            page.limit,
        )
        rows, token = page.cut(rows, _cursor("campaign_id", "effective_date"))
        return pb.ListTariffsResponse(tariffs=[tariff_to_pb(r) for r in rows], next_page_token=token)

    async def DeleteTariff(self, request: pb.DeleteTariffRequest, context: Any) -> pb.DeleteTariffResponse:
        account_id = auth.require_account()
        deleted = await self._pool.fetchval(
            "DELETE FROM attribution.tariffs WHERE account_id = $1 AND tariff_id = $2 RETURNING tariff_id",
            account_id,
            request.tariff_id,
        )
        if deleted is None:
            raise NotFound(f"tariff {request.tariff_id!r} not found")
        return pb.DeleteTariffResponse()


class CorrectionService(pb_grpc.CorrectionServiceServicer):
    def __init__(self, pool: asyncpg.Pool, links: Campaigns) -> None:
        self._pool = pool
        self._links = links

    async def CreateCorrection(self, request: pb.CreateCorrectionRequest, context: Any) -> pb.CreateCorrectionResponse:
        account_id = auth.require_account()
        c = request.correction
        v = Validator()
        money = _money(v, "correction.amount", c.amount)
        if money:
            v.check(money[0] != 0, "correction.amount.amount", "must not be zero")
        start = parse_date(v, "correction.start_date", c.start_date)
        end = parse_date(v, "correction.end_date", c.end_date)
        if start and end:
            if end < start:
                v.add("correction.end_date", f"must not be before start_date {start}")
            elif (end - start).days + 1 > MAX_CORRECTION_DAYS:
                v.add("correction.end_date", f"the period must be at most {MAX_CORRECTION_DAYS} days")
        v.check(len(c.note) <= MAX_NOTE, "correction.note", f"must be at most {MAX_NOTE} characters")
        await _check_campaign(v, self._links, account_id, "correction.campaign_id", c.campaign_id)
        v.raise_if_any()
        assert money is not None
        row = await self._pool.fetchrow(
            "INSERT INTO attribution.corrections (account_id, correction_id, campaign_id, amount, currency,"
            " start_date, end_date, note) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *",
            account_id, new_resource_id("cor"), c.campaign_id.strip(), money[0], money[1], start, end, c.note,
        )  # fmt: skip
        return pb.CreateCorrectionResponse(correction=correction_to_pb(row))

    async def ListCorrections(self, request: pb.ListCorrectionsRequest, context: Any) -> pb.ListCorrectionsResponse:
        account_id = auth.require_account()
        page = Page.of(request, "campaign_id", "start_date", "correction_id")
        rows = await self._pool.fetch(
            "SELECT * FROM attribution.corrections WHERE account_id = $1 AND ($2::text IS NULL OR campaign_id = $2)"
            " AND (campaign_id, start_date, correction_id) > ($3, $4, $5)"
            " ORDER BY campaign_id, start_date, correction_id LIMIT $6",
            account_id,
            request.campaign_id or None,
            page.get("campaign_id", ""),
            page.get("start_date", dt.date.min, dt.date.fromisoformat),
            page.get("correction_id", ""),
            page.limit,
        )
        rows, token = page.cut(rows, _cursor("campaign_id", "start_date", "correction_id"))
        return pb.ListCorrectionsResponse(corrections=[correction_to_pb(r) for r in rows], next_page_token=token)

    async def DeleteCorrection(self, request: pb.DeleteCorrectionRequest, context: Any) -> pb.DeleteCorrectionResponse:
        account_id = auth.require_account()
        deleted = await self._pool.fetchval(
            "DELETE FROM attribution.corrections WHERE account_id = $1 AND correction_id = $2 RETURNING correction_id",
            account_id,
            request.correction_id,
        )
        if deleted is None:
            raise NotFound(f"correction {request.correction_id!r} not found")
        return pb.DeleteCorrectionResponse()
