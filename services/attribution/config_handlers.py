"""clicktrail.attribution.v1 configuration services: GoalService,
AttributionSettingsService, TariffService and CorrectionService.
Every query is scoped by the caller's account."""

from __future__ import annotations

import datetime as dt
import decimal
import re
from typing import Any

import asyncpg
import grpc
import orjson
from clicktrail.attribution.v1 import config_pb2 as pb
from clicktrail.attribution.v1 import config_pb2_grpc as pb_grpc
from clicktrail.links.v1 import links_pb2, links_pb2_grpc
from clicktrail.type.v1 import money_pb2
from google.protobuf import duration_pb2

from libs import auth
from libs.api import (
    decode_page_token,
    encode_page_token,
    format_money,
    from_timestamp,
    page_size,
    parse_money,
    to_timestamp,
    update_paths,
)
from libs.config import Settings
from libs.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, Unavailable, Validator
from libs.grpc_client import make_channel
from libs.grpc_server import ServiceContext
from libs.ids import new_resource_id
from libs.tls import channel_credentials
from services.attribution import goals as g
from services.attribution import settings as st

# ----------------------------------------------------------------------------- enums

KIND = {pb.GOAL_KIND_PURCHASE: "purchase", pb.GOAL_KIND_CUSTOM: "custom"}
KIND_PB = {v: k for k, v in KIND.items()}
OCCURRENCE = {pb.OCCURRENCE_FIRST: "first", pb.OCCURRENCE_EVERY: "every", pb.OCCURRENCE_NTH: "nth"}
OCCURRENCE_PB = {v: k for k, v in OCCURRENCE.items()}
OPERATOR = {
    pb.OPERATOR_EQUALS: "eq", pb.OPERATOR_NOT_EQUALS: "ne", pb.OPERATOR_GREATER_THAN: "gt",
    pb.OPERATOR_GREATER_OR_EQUAL: "gte", pb.OPERATOR_LESS_THAN: "lt", pb.OPERATOR_LESS_OR_EQUAL: "lte",
    pb.OPERATOR_IN: "in", pb.OPERATOR_CONTAINS: "contains", pb.OPERATOR_EXISTS: "exists",
    pb.OPERATOR_NOT_EXISTS: "not_exists",
}  # fmt: skip
OPERATOR_PB = {v: k for k, v in OPERATOR.items()}
MODELS = frozenset(v for v in pb.TariffModel.values() if v)
GOAL_UPDATABLE = ("name", "kind", "event", "conditions", "occurrence", "nth", "value_path", "currency_path")
MAX_NTH = 1_000_000
MAX_NOTE = 500
MAX_CORRECTION_DAYS = 366
MIN_DATE = dt.date(2000, 1, 1)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PERCENT = re.compile(r"^\d{1,3}(\.\d{1,6})?$")


def _lock_key(kind: str, account_id: str) -> str:
    return f"clicktrail.attribution.{kind}:{account_id}"


# ----------------------------------------------------------------------------- links look-ups


class LinksClient:
    """Campaign look-ups in the links service (over gRPC, as the calling account)."""

    def __init__(self, settings: Settings) -> None:
        self._channel = make_channel(
            settings.links_addr, token=settings.internal_token, tls=channel_credentials(settings)
        )
        self._stub = links_pb2_grpc.LinksServiceStub(self._channel)

    async def campaign(self, account_id: str, campaign_id: str) -> links_pb2.Campaign | None:
        try:
            resp = await self._stub.GetCampaign(
                links_pb2.GetCampaignRequest(campaign_id=campaign_id), metadata=(("x-account-id", account_id),)
            )
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise Unavailable(f"cannot check the campaign with the links service: {err.details()}") from None
        return resp.campaign

    async def campaigns_targeting(self, account_id: str, goal_id: str, limit: int = 5) -> list[links_pb2.Campaign]:
        """(Up to ``limit``) campaigns whose target goal is ``goal_id``, published ones first."""
        found: list[links_pb2.Campaign] = []
        token = ""
        try:
            while True:
                resp = await self._stub.ListCampaigns(
                    links_pb2.ListCampaignsRequest(page_size=1000, page_token=token),
                    metadata=(("x-account-id", account_id),),
                )
                found += [c for c in resp.campaigns if c.target_goal_id == goal_id]
                token = resp.next_page_token
                if not token:
                    found.sort(key=lambda c: not c.HasField("publish_time"))
                    return found[:limit]
        except grpc.aio.AioRpcError as err:
            raise Unavailable(f"cannot check campaigns with the links service: {err.details()}") from None

    async def close(self) -> None:
        await self._channel.close()


# ----------------------------------------------------------------------------- goals


def goal_to_pb(goal: g.Goal, row: Any) -> pb.Goal:
    return pb.Goal(
        goal_id=goal.goal_id, name=goal.name, kind=KIND_PB[goal.kind], event=goal.event,
        conditions=[
            pb.Condition(field=c.path, operator=OPERATOR_PB[c.op], value=c.value, values=list(c.values))
            for c in goal.conditions
        ],
        occurrence=OCCURRENCE_PB[goal.occurrence], nth=goal.nth, value_path=goal.value_path,
        currency_path=goal.currency_path, create_time=to_timestamp(row["create_time"]),
        update_time=to_timestamp(row["update_time"]),
    )  # fmt: skip


def _row_to_pb(row: Any) -> pb.Goal:
    return goal_to_pb(g.goal_from_row(row), row)


def validate_goal(goal: pb.Goal) -> g.Goal:
    """The goal's fields, checked and with defaults applied (ids left empty)."""
    v = Validator()
    name = goal.name.strip()
    v.check(bool(name), "goal.name", "is required")
    v.check(len(name) <= g.MAX_NAME, "goal.name", f"must be at most {g.MAX_NAME} characters")
    kind = KIND.get(goal.kind or pb.GOAL_KIND_CUSTOM, "")
    v.check(bool(kind), "goal.kind", "must be purchase or custom")
    event = goal.event.strip()
    if not event:
        v.add("goal.event", "is required: install, or the action name of track events (e.g. purchase)")
    elif len(event) > g.MAX_EVENT:
        v.add("goal.event", f"must be at most {g.MAX_EVENT} characters")
    elif event in g.NOT_GOAL_EVENTS:
        v.add(
            "goal.event",
            f"{event!r} is an event type, not a goal event: use install, or the action name of track events",
        )
    elif any(ch.isspace() or ord(ch) < 32 for ch in event):
        v.add("goal.event", f"{event!r} is not an action name (no spaces or control characters)")
    if len(goal.conditions) > g.MAX_CONDITIONS:
        v.add("goal.conditions", f"at most {g.MAX_CONDITIONS} conditions")
    conditions = []
    for i, c in enumerate(goal.conditions):
        if c.operator not in OPERATOR:
            v.add(f"goal.conditions[{i}].operator", f"is required: one of {', '.join(g.OPERATORS)}")
            continue
        cond = g.Condition(c.field.strip(), OPERATOR[c.operator], c.value, tuple(c.values))
        for sub, problem in g.check_condition(cond):
            v.add(f"goal.conditions[{i}].{'field' if sub == 'path' else sub}", problem)
        conditions.append(cond)
    occurrence = OCCURRENCE.get(goal.occurrence or pb.OCCURRENCE_FIRST, "")
    v.check(bool(occurrence), "goal.occurrence", "must be first, every or nth")
    nth = goal.nth
    if occurrence == "nth":
        v.check(1 <= nth <= MAX_NTH, "goal.nth", f"is required for occurrence nth: 1 to {MAX_NTH}")
    elif nth:
        v.add("goal.nth", "is only for occurrence nth")
    value_path, currency_path = goal.value_path.strip(), goal.currency_path.strip()
    if event in g.MONETIZATION_EVENTS and not value_path:
        value_path = g.MONETIZATION_VALUE_PATH
        currency_path = currency_path or g.MONETIZATION_CURRENCY_PATH
    if value_path:
        path_problem = g.check_path(value_path)
        if path_problem:
            v.add("goal.value_path", path_problem)
    if currency_path:
        path_problem = g.check_path(currency_path)
        if path_problem:
            v.add("goal.currency_path", path_problem)
        elif not value_path:
            v.add("goal.currency_path", "needs a value_path")
    v.raise_if_any()
    return g.Goal(
        goal_id="", account_id="", name=name, kind=kind, event=event, conditions=tuple(conditions),
        occurrence=occurrence, nth=nth if occurrence == "nth" else 0, value_path=value_path,
        currency_path=currency_path,
    )  # fmt: skip


def _conditions_json(goal: g.Goal) -> str:
    return orjson.dumps([c.to_json() for c in goal.conditions]).decode()


class GoalService(pb_grpc.GoalServiceServicer):
    def __init__(self, pool: asyncpg.Pool, links: LinksClient) -> None:
        self._pool = pool
        self._links = links

    async def CreateGoal(self, request: pb.CreateGoalRequest, context: Any) -> pb.CreateGoalResponse:
        account_id = auth.require_account()
        goal = validate_goal(request.goal)
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                # One creator at a time per account, so two concurrent creates cannot make 26.
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", _lock_key("goals", account_id))
                count = await conn.fetchval("SELECT count(*) FROM attribution.goals WHERE account_id = $1", account_id)
                if count >= g.MAX_GOALS:
                    raise FailedPrecondition(
                        f"an account can have at most {g.MAX_GOALS} goals and this one has {count}: delete or reuse one"
                    )
                row = await conn.fetchrow(
                    "INSERT INTO attribution.goals (account_id, goal_id, name, kind, event, conditions, occurrence,"
                    " nth, value_path, currency_path) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10)"
                    " RETURNING *",
                    account_id, new_resource_id("goal"), goal.name, goal.kind, goal.event, _conditions_json(goal),
                    goal.occurrence, goal.nth, goal.value_path, goal.currency_path,
                )  # fmt: skip
        except asyncpg.UniqueViolationError:
            raise AlreadyExists(f"a goal named {goal.name!r} already exists") from None
        g.invalidate_goals(account_id)
        return pb.CreateGoalResponse(goal=_row_to_pb(row))

    async def GetGoal(self, request: pb.GetGoalRequest, context: Any) -> pb.GetGoalResponse:
        account_id = auth.require_account()
        row = await self._pool.fetchrow(
            "SELECT * FROM attribution.goals WHERE account_id = $1 AND goal_id = $2", account_id, request.goal_id
        )
        if row is None:
            raise NotFound(f"goal {request.goal_id!r} not found")
        return pb.GetGoalResponse(goal=_row_to_pb(row))

    async def ListGoals(self, request: pb.ListGoalsRequest, context: Any) -> pb.ListGoalsResponse:
        account_id = auth.require_account()
        size = page_size(request.page_size)
        cursor = decode_page_token(request.page_token, "after")
        rows = await self._pool.fetch(
            "SELECT * FROM attribution.goals WHERE account_id = $1 AND goal_id > $2 ORDER BY goal_id LIMIT $3",
            account_id,
            cursor["after"] if cursor else "",
            size + 1,
        )
        token = encode_page_token({"after": rows[size - 1]["goal_id"]}) if len(rows) > size else ""
        return pb.ListGoalsResponse(goals=[_row_to_pb(r) for r in rows[:size]], next_page_token=token)

    async def UpdateGoal(self, request: pb.UpdateGoalRequest, context: Any) -> pb.UpdateGoalResponse:
        account_id = auth.require_account()
        paths = update_paths(request.update_mask, request.goal, GOAL_UPDATABLE)
        if set(paths) - {"name"}:
            # What a published campaign counts is frozen with it: its target goal's definition too.
            published = [
                c.campaign_id
                for c in await self._links.campaigns_targeting(account_id, request.goal.goal_id)
                if c.HasField("publish_time")
            ]
            if published:
                raise FailedPrecondition(
                    f"goal {request.goal.goal_id} is the target goal of published campaign {', '.join(published)}: "
                    "only its name can change; create a new goal for new campaigns"
                )
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                cur = await conn.fetchrow(
                    "SELECT * FROM attribution.goals WHERE account_id = $1 AND goal_id = $2 FOR UPDATE",
                    account_id,
                    request.goal.goal_id,
                )
                if cur is None:
                    raise NotFound(f"goal {request.goal.goal_id!r} not found")
                merged = _row_to_pb(cur)
                for p in paths:
                    if p == "conditions":
                        del merged.conditions[:]
                        merged.conditions.extend(request.goal.conditions)
                    else:
                        setattr(merged, p, getattr(request.goal, p))
                if "occurrence" in paths and merged.occurrence != pb.OCCURRENCE_NTH and "nth" not in paths:
                    merged.nth = 0
                if "event" in paths and "value_path" not in paths and cur["event"] in g.MONETIZATION_EVENTS:
                    # Defaults of the old event do not follow the goal to a new one.
                    if cur["value_path"] == g.MONETIZATION_VALUE_PATH:
                        merged.value_path = ""
                        if cur["currency_path"] == g.MONETIZATION_CURRENCY_PATH:
                            merged.currency_path = ""
                goal = validate_goal(merged)
                row = await conn.fetchrow(
                    "UPDATE attribution.goals SET name = $3, kind = $4, event = $5, conditions = $6::jsonb,"
                    " occurrence = $7, nth = $8, value_path = $9, currency_path = $10, update_time = now()"
                    " WHERE account_id = $1 AND goal_id = $2 RETURNING *",
                    account_id, request.goal.goal_id, goal.name, goal.kind, goal.event, _conditions_json(goal),
                    goal.occurrence, goal.nth, goal.value_path, goal.currency_path,
                )  # fmt: skip
        except asyncpg.UniqueViolationError:
            raise AlreadyExists(f"a goal named {request.goal.name.strip()!r} already exists") from None
        g.invalidate_goals(account_id)
        return pb.UpdateGoalResponse(goal=_row_to_pb(row))

    async def DeleteGoal(self, request: pb.DeleteGoalRequest, context: Any) -> pb.DeleteGoalResponse:
        account_id = auth.require_account()
        exists = await self._pool.fetchval(
            "SELECT 1 FROM attribution.goals WHERE account_id = $1 AND goal_id = $2", account_id, request.goal_id
        )
        if not exists:
            raise NotFound(f"goal {request.goal_id!r} not found")
        # Campaigns name their target goal in the links service: a goal still targeted stays.
        targeting = await self._links.campaigns_targeting(account_id, request.goal_id)
        if targeting:
            raise FailedPrecondition(
                f"goal {request.goal_id} is the target goal of campaign {', '.join(c.campaign_id for c in targeting)}; "
                "give those campaigns another target goal first (a published campaign's goal is frozen)"
            )
        try:
            deleted = await self._pool.fetchval(
                "DELETE FROM attribution.goals WHERE account_id = $1 AND goal_id = $2 RETURNING goal_id",
                account_id,
                request.goal_id,
            )
        except asyncpg.ForeignKeyViolationError as exc:
            what = "a tariff" if "tariff" in (exc.table_name or "") else f"{exc.table_name or 'another record'}"
            raise FailedPrecondition(
                f"goal {request.goal_id} is still used by {what}; delete or change that first"
            ) from None
        if deleted is None:
            raise NotFound(f"goal {request.goal_id!r} not found")
        g.invalidate_goals(account_id)
        return pb.DeleteGoalResponse()


# ----------------------------------------------------------------------------- settings


def _duration(td: dt.timedelta) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromTimedelta(td)
    return d


def settings_to_pb(w: st.Windows, effective: dt.datetime | None) -> pb.AttributionSettings:
    s = pb.AttributionSettings(effective_time=to_timestamp(effective))
    for f in st.FIELDS:
        getattr(s, f).CopyFrom(_duration(getattr(w, f)))
    return s


def _human(td: dt.timedelta) -> str:
    secs = int(td.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs % size == 0:
            return f"{secs // size}{unit}"
    return f"{secs}s"


class SettingsService(pb_grpc.AttributionSettingsServiceServicer):
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def GetSettings(self, request: pb.GetSettingsRequest, context: Any) -> pb.GetSettingsResponse:
        account_id = auth.require_account()
        at = from_timestamp(request.time) if request.HasField("time") else None
        history = await st.breakpoints(self._pool, account_id, fresh=True)
        at = at or dt.datetime.now(dt.UTC)
        current = None
        for bp in history:
            if bp.effective_time > at:
                break
            current = bp
        if current is None:
            return pb.GetSettingsResponse(settings=settings_to_pb(st.DEFAULT_WINDOWS, None))
        return pb.GetSettingsResponse(settings=settings_to_pb(current.windows, current.effective_time))

    async def UpdateSettings(self, request: pb.UpdateSettingsRequest, context: Any) -> pb.UpdateSettingsResponse:
        account_id = auth.require_account()
        paths = update_paths(request.update_mask, request.settings, st.FIELDS)
        v = Validator()
        new: dict[str, dt.timedelta] = {}
        for p in paths:
            d = getattr(request.settings, p)
            lo, hi = st.BOUNDS[p]
            if d.nanos:
                v.add(f"settings.{p}", "must be whole seconds")
                continue
            value = dt.timedelta(seconds=d.seconds)
            if not lo <= value <= hi:
                v.add(f"settings.{p}", f"must be from {_human(lo)} to {_human(hi)}; got {_human(value)}")
            new[p] = value
        v.raise_if_any()
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", _lock_key("settings", account_id))
            row = await conn.fetchrow(
                "SELECT * FROM attribution.settings_history WHERE account_id = $1"
                " ORDER BY effective_time DESC, breakpoint_id DESC LIMIT 1",
                account_id,
            )
            current = st.breakpoint_from_row(row) if row else None
            base = current.windows if current else st.DEFAULT_WINDOWS
            changed = [p for p in paths if getattr(base, p) != new[p]]
            if not changed:
                return pb.UpdateSettingsResponse(
                    settings=settings_to_pb(base, current.effective_time if current else None), changed=False
                )
            merged = st.Windows(**{f: new.get(f, getattr(base, f)) for f in st.FIELDS})
            # clock_timestamp(), not now(): taken under the lock, so breakpoints are in order.
            row = await conn.fetchrow(
                "INSERT INTO attribution.settings_history (account_id, effective_time, click_lookback_s,"
                " view_lookback_s, fingerprint_window_s, conversion_window_s, changed)"
                " VALUES ($1, clock_timestamp(), $2, $3, $4, $5, $6) RETURNING *",
                account_id,
                *[int(getattr(merged, f).total_seconds()) for f in st.FIELDS],
                changed,
            )
        st.invalidate_settings(account_id)
        bp = st.breakpoint_from_row(row)
        return pb.UpdateSettingsResponse(settings=settings_to_pb(bp.windows, bp.effective_time), changed=True)

    async def ListSettingsHistory(
        self, request: pb.ListSettingsHistoryRequest, context: Any
    ) -> pb.ListSettingsHistoryResponse:
        account_id = auth.require_account()
        size = page_size(request.page_size)
        cursor = decode_page_token(request.page_token, "before")
        rows = await self._pool.fetch(
            "SELECT * FROM attribution.settings_history WHERE account_id = $1 AND breakpoint_id < $2"
            " ORDER BY breakpoint_id DESC LIMIT $3",
            account_id,
            int(cursor["before"]) if cursor else 2**62,
            size + 1,
        )
        token = encode_page_token({"before": rows[size - 1]["breakpoint_id"]}) if len(rows) > size else ""
        out = []
        for r in rows[:size]:
            bp = st.breakpoint_from_row(r)
            out.append(
                pb.SettingsBreakpoint(
                    breakpoint_id=str(bp.breakpoint_id),
                    effective_time=to_timestamp(bp.effective_time),
                    settings=settings_to_pb(bp.windows, bp.effective_time),
                    changed_fields=list(bp.changed),
                )
            )
        return pb.ListSettingsHistoryResponse(breakpoints=out, next_page_token=token)


# ----------------------------------------------------------------------------- tariffs and corrections


def parse_date(v: Validator, field: str, value: str, *, default: dt.date | None = None) -> dt.date | None:
    value = value.strip()
    if not value:
        if default is None:
            v.add(field, "is required: YYYY-MM-DD")
        return default
    try:
        if not _DATE.match(value):
            raise ValueError
        day = dt.date.fromisoformat(value)
    except ValueError:
        v.add(field, f"{value!r} is not a date like 2026-01-31")
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
    v: Validator, links: LinksClient, account_id: str, field: str, campaign_id: str
) -> links_pb2.Campaign | None:
    if not campaign_id.strip():
        v.add(field, "is required")
        return None
    campaign = await links.campaign(account_id, campaign_id.strip())
    if campaign is None:
        v.add(field, f"campaign {campaign_id!r} not found")
    return campaign


def _keyset_page(rows: list[Any], size: int, keys: tuple[str, ...]) -> str:
    if len(rows) <= size:
        return ""
    last = rows[size - 1]
    return encode_page_token({k: str(last[k]) for k in keys})


class TariffService(pb_grpc.TariffServiceServicer):
    def __init__(self, pool: asyncpg.Pool, links: LinksClient) -> None:
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
        size = page_size(request.page_size)
        cursor = decode_page_token(request.page_token, "campaign_id", "effective_date")
        rows = await self._pool.fetch(
            "SELECT * FROM attribution.tariffs WHERE account_id = $1 AND ($2 = '' OR campaign_id = $2)"
            " AND (campaign_id, effective_date) > ($3, $4) ORDER BY campaign_id, effective_date LIMIT $5",
            account_id,
            request.campaign_id,
            cursor["campaign_id"] if cursor else "",
            dt.date.fromisoformat(cursor["effective_date"]) if cursor else dt.date.min,
            size + 1,
        )
        token = _keyset_page(rows, size, ("campaign_id", "effective_date"))
        return pb.ListTariffsResponse(tariffs=[tariff_to_pb(r) for r in rows[:size]], next_page_token=token)

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
    def __init__(self, pool: asyncpg.Pool, links: LinksClient) -> None:
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
        size = page_size(request.page_size)
        cursor = decode_page_token(request.page_token, "campaign_id", "start_date", "correction_id")
        rows = await self._pool.fetch(
            "SELECT * FROM attribution.corrections WHERE account_id = $1 AND ($2 = '' OR campaign_id = $2)"
            " AND (campaign_id, start_date, correction_id) > ($3, $4, $5)"
            " ORDER BY campaign_id, start_date, correction_id LIMIT $6",
            account_id,
            request.campaign_id,
            cursor["campaign_id"] if cursor else "",
            dt.date.fromisoformat(cursor["start_date"]) if cursor else dt.date.min,
            cursor["correction_id"] if cursor else "",
            size + 1,
        )
        token = _keyset_page(rows, size, ("campaign_id", "start_date", "correction_id"))
        return pb.ListCorrectionsResponse(corrections=[correction_to_pb(r) for r in rows[:size]], next_page_token=token)

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


# ----------------------------------------------------------------------------- registration


def register(server: grpc.aio.Server, ctx: ServiceContext) -> list[str]:
    """Adds the four configuration services; returns their full names."""
    links = LinksClient(ctx.settings)
    ctx.on_stop.append(links.close)
    pb_grpc.add_GoalServiceServicer_to_server(GoalService(ctx.pool, links), server)
    pb_grpc.add_AttributionSettingsServiceServicer_to_server(SettingsService(ctx.pool), server)
    pb_grpc.add_TariffServiceServicer_to_server(TariffService(ctx.pool, links), server)
    pb_grpc.add_CorrectionServiceServicer_to_server(CorrectionService(ctx.pool, links), server)
    services = pb.DESCRIPTOR.services_by_name
    return [
        services[n].full_name
        for n in ("GoalService", "AttributionSettingsService", "TariffService", "CorrectionService")
    ]
