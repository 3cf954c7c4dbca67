"""clicktrail.analytics.v1.MetricsService: product metrics from the events,
read from the rollups in services/analytics/metrics/. Every query is scoped
by the caller's account and one of its apps."""

from __future__ import annotations

import datetime as dt
import decimal
import zoneinfo
from typing import Any

import asyncpg
import grpc
from clicktrail.analytics.v1 import metrics_pb2 as pb
from clicktrail.analytics.v1 import metrics_pb2_grpc as pb_grpc
from clicktrail.type.v1 import money_pb2
from google.protobuf import duration_pb2

from libs import auth
from libs.api import format_money
from libs.errors import NotFound, Validator
from libs.grpc_server import ServiceContext
from libs.vocab.windows import MAX_LOOKBACK_DAYS
from services.analytics import metrics as m
from services.analytics.report_service import parse_date
from services.analytics.rollup import Rollup, RollupRunner

ROLLUPS: list[Rollup] = m.ROLLUPS

MAX_RANGE_DAYS = 366
DEFAULT_LOOKBACK = 30
MAX_LOOKBACK = MAX_LOOKBACK_DAYS
DEFAULT_RETENTION_DAYS = (1, 7, 30)
MAX_RETENTION_POINTS = 20
MIN_FUNNEL_STEPS, MAX_FUNNEL_STEPS = 2, 10
DEFAULT_FUNNEL_WINDOW = dt.timedelta(days=1)
MAX_FUNNEL_WINDOW = dt.timedelta(days=90)
DEFAULT_TOP_MESSAGES, MAX_TOP_MESSAGES = 10, 100
MAX_STEP_NAME = 128

_APP_EXISTS = "SELECT 1 FROM links.apps WHERE account_id = $1 AND app_id = $2"


def _days(v: Validator, request: Any) -> m.Days | None:
    """The request's app_id / start_date / end_date / time_zone, checked
    (violations go to ``v``)."""
    if not request.app_id:
        v.add("app_id", "is required")
    first = parse_date(v, "start_date", request.start_date)
    last = parse_date(v, "end_date", request.end_date)
    tz_name = request.time_zone or "UTC"
    tz: zoneinfo.ZoneInfo | None
    try:
        tz = zoneinfo.ZoneInfo(tz_name) if len(tz_name) <= 64 and ".." not in tz_name else None
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = None
    if tz is None:
        v.add("time_zone", f"{tz_name!r} is not an IANA time zone like Europe/Berlin")
    if first is None or last is None or tz is None:
        return None
    if last < first:
        v.add("end_date", f"{last} is before start_date {first}: swap them")
        return None
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        v.add("end_date", f"the range is {(last - first).days + 1} days; at most {MAX_RANGE_DAYS} are allowed")
        return None
    days = m.Days(first, last, tz)
    if not m.offsets_supported(days):
        v.add("time_zone", f"{tz_name}'s UTC offset is not a multiple of 30 minutes, which metrics do not support")
        return None
    return days


def _dur(seconds: float | None) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromTimedelta(dt.timedelta(seconds=round(seconds or 0.0, 3)))
    return d


def _money(amount: decimal.Decimal, currency: str) -> money_pb2.Money:
    return money_pb2.Money(amount=format_money(amount), currency_code=currency)


def _kind(web3: bool) -> pb.RevenueKind:
    return pb.REVENUE_KIND_WEB3 if web3 else pb.REVENUE_KIND_WEB2


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


class MetricsService(pb_grpc.MetricsServiceServicer):
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def _scope(self, request: Any, v: Validator) -> tuple[str, m.Days]:
        """The caller's account and the request's days, after every check."""
        account_id = auth.require_account()
        days = _days(v, request)
        v.raise_if_any()
        assert days is not None
        if await self._pool.fetchval(_APP_EXISTS, account_id, request.app_id) is None:
            raise NotFound(f"app_id: no app {request.app_id!r} in this account")
        return account_id, days

    async def GetActiveUsers(self, request: pb.GetActiveUsersRequest, context: Any) -> pb.GetActiveUsersResponse:
        account_id, days = await self._scope(request, Validator())
        async with m.reading(self._pool) as conn:
            rows = await m.active_users(conn, account_id, request.app_id, days)
        return pb.GetActiveUsersResponse(
            days=[pb.ActiveUsersDay(date=r["d"].isoformat(), dau=r["dau"], wau=r["wau"], mau=r["mau"]) for r in rows]
        )

    async def GetUserFlow(self, request: pb.GetUserFlowRequest, context: Any) -> pb.GetUserFlowResponse:
        v = Validator()
        lookback = request.lookback_days if request.HasField("lookback_days") else DEFAULT_LOOKBACK
        v.check(
            1 <= lookback <= MAX_LOOKBACK, "lookback_days",
            f"must be 1 to {MAX_LOOKBACK} days (leave it unset for {DEFAULT_LOOKBACK}); got {lookback}",
        )  # fmt: skip
        account_id, days = await self._scope(request, v)
        async with m.reading(self._pool) as conn:
            by_day = await m.user_flow(conn, account_id, request.app_id, days, lookback)
        out = []
        for day in days.each():
            r = by_day.get(day)
            out.append(
                pb.UserFlowDay(
                    date=day.isoformat(),
                    active_users=r["active"],
                    new_users=r["new"],
                    retained_users=r["retained"],
                    re_engaged_users=r["re_engaged"],
                )
                if r
                else pb.UserFlowDay(date=day.isoformat())
            )
        return pb.GetUserFlowResponse(days=out, lookback_days=lookback)

    async def GetRetention(self, request: pb.GetRetentionRequest, context: Any) -> pb.GetRetentionResponse:
        v = Validator()
        ns = list(request.days) or list(DEFAULT_RETENTION_DAYS)
        v.check(len(ns) <= MAX_RETENTION_POINTS, "days", f"at most {MAX_RETENTION_POINTS} values")
        for i, n in enumerate(ns):
            v.check(1 <= n <= MAX_LOOKBACK, f"days[{i}]", f"must be 1 to {MAX_LOOKBACK}; got {n}")
        v.check(len(set(ns)) == len(ns), "days", "must not repeat a value")
        account_id, days = await self._scope(request, v)
        async with m.reading(self._pool) as conn:
            sizes, retained = await m.retention(conn, account_id, request.app_id, days, ns)
        today = dt.datetime.now(days.tz).date()
        cohorts = []
        for day in days.each():
            size = sizes.get(day, 0)
            points = []
            for n in ns:
                users = retained.get((day, n), 0)
                complete = day + dt.timedelta(days=n) < today
                points.append(pb.RetentionPoint(day=n, users=users, rate=_rate(users, size), complete=complete))
            cohorts.append(pb.RetentionCohort(date=day.isoformat(), users=size, points=points))
        return pb.GetRetentionResponse(cohorts=cohorts)

    async def GetSessions(self, request: pb.GetSessionsRequest, context: Any) -> pb.GetSessionsResponse:
        account_id, days = await self._scope(request, Validator())
        async with m.reading(self._pool) as conn:
            per_day, total = await m.sessions(conn, account_id, request.app_id, days)

        def day_pb(date: str, s: m.SessionStats) -> pb.SessionsDay:
            bounds = [0, *m.DURATION_BOUNDS]
            buckets = [
                pb.DurationBucket(
                    lower_bound=_dur(lo),
                    upper_bound=_dur(bounds[i + 1]) if i + 1 < len(bounds) else None,
                    sessions=s.buckets[i],
                )
                for i, lo in enumerate(bounds)
            ]
            return pb.SessionsDay(
                date=date, sessions=s.sessions, average_duration=_dur(s.avg), median_duration=_dur(s.p50),
                p90_duration=_dur(s.p90), buckets=buckets,
            )  # fmt: skip

        return pb.GetSessionsResponse(
            days=[day_pb(d.isoformat(), s) for d, s in sorted(per_day.items())], total=day_pb("", total)
        )

    async def GetFunnel(self, request: pb.GetFunnelRequest, context: Any) -> pb.GetFunnelResponse:
        v = Validator()
        n = len(request.steps)
        if not MIN_FUNNEL_STEPS <= n <= MAX_FUNNEL_STEPS:
            v.add("steps", f"a funnel needs {MIN_FUNNEL_STEPS} to {MAX_FUNNEL_STEPS} steps; got {n}")
        steps: list[m.Step] = []
        for i, step in enumerate(request.steps):
            which = step.WhichOneof("step")
            name = getattr(step, which) if which else ""
            if not name:
                v.add(f"steps[{i}]", "set screen (a screen name) or action (a track action)")
            elif len(name) > MAX_STEP_NAME:
                v.add(f"steps[{i}]", f"must be at most {MAX_STEP_NAME} characters")
            steps.append(m.Step(m.EVENT_SCREEN if which == "screen" else m.EVENT_TRACK, name))
        window = request.window.ToTimedelta() if request.HasField("window") else DEFAULT_FUNNEL_WINDOW
        v.check(
            dt.timedelta(0) < window <= MAX_FUNNEL_WINDOW, "window",
            f"must be more than 0 and at most {MAX_FUNNEL_WINDOW.days} days (unset: 1 day)",
        )  # fmt: skip
        account_id, days = await self._scope(request, v)
        async with m.reading(self._pool) as conn:
            counts = await m.funnel(conn, account_id, request.app_id, days, steps, window)
        results = []
        for i, step in enumerate(request.steps):
            prev = counts[i - 1] if i else counts[0]
            results.append(
                pb.FunnelStepResult(
                    step=step,
                    users=counts[i],
                    conversion_from_previous=_rate(counts[i], prev) if i else (1.0 if counts[0] else 0.0),
                    conversion_from_first=_rate(counts[i], counts[0]),
                )
            )
        win = duration_pb2.Duration()
        win.FromTimedelta(window)
        return pb.GetFunnelResponse(steps=results, window=win)

    async def GetErrors(self, request: pb.GetErrorsRequest, context: Any) -> pb.GetErrorsResponse:
        v = Validator()
        top = request.top_messages or DEFAULT_TOP_MESSAGES
        v.check(1 <= top <= MAX_TOP_MESSAGES, "top_messages", f"must be 1 to {MAX_TOP_MESSAGES}; got {top}")
        account_id, days = await self._scope(request, v)
        async with m.reading(self._pool) as conn:
            counts, messages = await m.errors(conn, account_id, request.app_id, days, top)
        by_level: dict[str, int] = {}
        for r in counts:
            by_level[r["level"]] = by_level.get(r["level"], 0) + r["n"]
        return pb.GetErrorsResponse(
            counts=[
                pb.ErrorCount(date=r["day"].isoformat(), level=r["level"], code=r["code"], count=r["n"]) for r in counts
            ],
            total_by_level=by_level,
            top_messages=[
                pb.ErrorMessage(message=r["message"], level=r["level"], code=r["code"], count=r["n"]) for r in messages
            ],
        )

    async def GetRevenue(self, request: pb.GetRevenueRequest, context: Any) -> pb.GetRevenueResponse:
        account_id, days = await self._scope(request, Validator())
        async with m.reading(self._pool) as conn:
            rows, totals, active = await m.revenue(conn, account_id, request.app_id, days)
        return pb.GetRevenueResponse(
            rows=[
                pb.RevenueRow(
                    date=r["day"].isoformat(),
                    kind=_kind(r["web3"]),
                    revenue=_money(r["revenue"], r["currency"]),
                    platform=r["platform"],
                    bundle_id=r["bundle_id"],
                    purchases=r["purchases"],
                    paying_users=r["paying"],
                )
                for r in rows
            ],
            totals=[
                pb.RevenueTotal(
                    kind=_kind(t["web3"]),
                    revenue=_money(t["revenue"], t["currency"]),
                    purchases=t["purchases"],
                    paying_users=t["paying"],
                    active_users=active,
                    arpu=_money(m.per_user(t["revenue"], active), t["currency"]),
                    arppu=_money(m.per_user(t["revenue"], t["paying"]), t["currency"]),
                )
                for t in totals
            ],
        )


def register(server: grpc.aio.Server, ctx: ServiceContext, runner: RollupRunner) -> list[str]:
    pb_grpc.add_MetricsServiceServicer_to_server(MetricsService(ctx.pool), server)
    return [pb.DESCRIPTOR.services_by_name["MetricsService"].full_name]
