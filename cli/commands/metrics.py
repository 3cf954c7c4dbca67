"""`clicktrail metrics ...`: product metrics of an app from its events
(analytics MetricsService): active users, retention, sessions, funnels,
errors and revenue."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, TypedDict

import typer
from clicktrail.analytics.v1 import metrics_pb2 as pb
from clicktrail.analytics.v1 import metrics_pb2_grpc as pb_grpc
from google.protobuf import duration_pb2
from google.protobuf.message import Message
from rich.table import Table
from rich.text import Text

from cli.common import ApiKey, JsonOut, UsageError, _cell, _print_table, account_creds, note, print_json, rpc, to_dict
from libs.vocab.timetext import duration_seconds

app = typer.Typer(
    help="Product metrics of an app, from its events: active users, new/retained/re-engaged users, day-N "
    "retention, sessions, funnels, errors and revenue. Days are calendar days in --tz of the events' own time.",
    no_args_is_help=True,
)

AppOpt = Annotated[str, typer.Option("--app", help="The app's id.", show_default=False)]
FromOpt = Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD. Default: 6 days before --to.")]
ToOpt = Annotated[str, typer.Option("--to", help="Last day (inclusive), YYYY-MM-DD. Default: today in --tz.")]
TzOpt = Annotated[str, typer.Option("--tz", help="IANA time zone of the days, e.g. Europe/Berlin.")]


class Scope(TypedDict):
    start_date: str
    end_date: str
    time_zone: str


def _range(start: str, end: str, tz: str) -> Scope:
    """start_date/end_date/time_zone of a request; the defaults are the last 7 days."""
    if not end:
        try:
            import zoneinfo

            end = dt.datetime.now(zoneinfo.ZoneInfo(tz)).date().isoformat()
        except (ValueError, KeyError):
            end = dt.datetime.now(dt.UTC).date().isoformat()
    if not start:
        try:
            start = (dt.date.fromisoformat(end) - dt.timedelta(days=6)).isoformat()
        except ValueError:
            start = end  # the server names the bad date
    return {"start_date": start, "end_date": end, "time_zone": tz}


def _call(method: str, request: Message, api_key: str) -> Any:
    return rpc("analytics", pb_grpc.MetricsServiceStub, method, request, account_creds(api_key))


def _table(columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*(Text(_cell(v)) for v in row))
    _print_table(table)


def _pct(rate: float) -> str:
    return f"{rate * 100:.1f}%"


def _secs(duration: str) -> str:
    """A Duration as to_dict prints it ("150s", "2.500s")."""
    return duration or "0s"


@app.command("active")
def active(
    app_id: AppOpt,
    start: FromOpt = "",
    end: ToOpt = "",
    tz: TzOpt = "UTC",
    lookback: Annotated[
        int | None, typer.Option("--lookback", help="X: days before a day that count as recently active (default 30).")
    ] = None,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """DAU, WAU and MAU per day, and the active users split into new (first seen that day), retained
    (also active in the X days before) and re-engaged (seen before, not in those X days).

    Example:  clicktrail metrics active --app APP_ID --from 2026-11-01 --to 2026-11-23 --lookback 30
    """
    scope = _range(start, end, tz)
    users = _call("GetActiveUsers", pb.GetActiveUsersRequest(app_id=app_id, **scope), api_key)
    flow_req = pb.GetUserFlowRequest(app_id=app_id, **scope)
    if lookback is not None:
        flow_req.lookback_days = lookback
    flow = _call("GetUserFlow", flow_req, api_key)
    by_day = {d.date: d for d in flow.days}
    days = []
    for d in users.days:
        f = by_day.get(d.date, pb.UserFlowDay())
        days.append({**to_dict(d), **{k: v for k, v in to_dict(f).items() if k != "date"}})
    if json_out:
        print_json({"days": days, "lookback_days": flow.lookback_days})
        return
    cols = ["date", "dau", "wau", "mau", "new_users", "retained_users", "re_engaged_users"]
    _table(cols, [[d[c] for c in cols] for d in days])
    note(f"retained / re-engaged: active / not active in the {flow.lookback_days} days before")


@app.command("retention")
def retention(
    app_id: AppOpt,
    start: FromOpt = "",
    end: ToOpt = "",
    tz: TzOpt = "UTC",
    days: Annotated[str, typer.Option("--days", help="The days N to measure, comma-separated.")] = "1,7,30",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Day-N retention of the cohorts of users first seen on each day: the share active N days later.

    Example:  clicktrail metrics retention --app APP_ID --from 2026-11-01 --to 2026-11-23
    """
    try:
        ns = [int(x) for x in days.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"--days: {days!r} is not a comma-separated list of whole numbers like 1,7,30") from None
    resp = _call("GetRetention", pb.GetRetentionRequest(app_id=app_id, days=ns, **_range(start, end, tz)), api_key)
    if json_out:
        print_json(to_dict(resp))
        return
    ns = [p.day for p in resp.cohorts[0].points] if resp.cohorts else ns
    rows = []
    for c in resp.cohorts:
        rows.append([c.date, c.users] + [_pct(p.rate) + ("" if p.complete else "*") for p in c.points])
    _table(["cohort", "users"] + [f"day {n}" for n in ns], rows)
    note("* the day has not ended yet")


@app.command("sessions")
def sessions(
    app_id: AppOpt, start: FromOpt = "", end: ToOpt = "", tz: TzOpt = "UTC", api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:  # fmt: skip
    """Sessions per day (by start): count, average, median and p90 duration, and the duration
    distribution. A session's duration is its last event (heartbeat) time minus its first.

    Example:  clicktrail metrics sessions --app APP_ID --from 2026-11-01 --to 2026-11-23 --json
    """
    resp = _call("GetSessions", pb.GetSessionsRequest(app_id=app_id, **_range(start, end, tz)), api_key)
    if json_out:
        print_json(to_dict(resp))
        return
    data = to_dict(resp)
    all_days = [*data["days"], {**data["total"], "date": "total"}] if data["days"] else []
    if not all_days:
        note("no sessions")
        return
    bounds = [_secs(b["lower_bound"]) + "+" for b in data["total"]["buckets"]]
    rows = [
        [d["date"], d["sessions"], _secs(d["average_duration"]), _secs(d["median_duration"]), _secs(d["p90_duration"])]
        + [b["sessions"] for b in d["buckets"]]
        for d in all_days
    ]
    _table(["date", "sessions", "average", "median", "p90", *bounds], rows)


def _step(text: str) -> pb.FunnelStep:
    kind, sep, name = text.partition(":")
    if not sep or kind not in ("screen", "action") or not name:
        raise UsageError(f"--step: {text!r} must be screen:NAME or action:NAME")
    return pb.FunnelStep(screen=name) if kind == "screen" else pb.FunnelStep(action=name)


@app.command("funnel")
def funnel(
    app_id: AppOpt,
    steps: Annotated[
        list[str], typer.Option("--step", help="A step, screen:NAME or action:NAME; repeat in order (2 to 10).")
    ],
    start: FromOpt = "",
    end: ToOpt = "",
    tz: TzOpt = "UTC",
    window: Annotated[str, typer.Option("--window", help="Time from the first step for the rest: 30m, 2h, 1d.")] = "1d",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Users reaching each step in order (each step after the previous one, all within --window of the
    user's first step-1 event in the range), and the conversion between steps.

    Example:  clicktrail metrics funnel --app APP_ID --step main_menu --step shop --step checkout
    """
    try:
        win = duration_pb2.Duration(seconds=duration_seconds(window))
    except ValueError:
        raise UsageError(f"--window: {window!r} is not a duration like 30m, 2h or 1d") from None
    request = pb.GetFunnelRequest(app_id=app_id, steps=[_step(s) for s in steps], window=win, **_range(start, end, tz))
    resp = _call("GetFunnel", request, api_key)
    if json_out:
        print_json(to_dict(resp))
        return
    rows = []
    for i, s in enumerate(resp.steps, 1):
        which = s.step.WhichOneof("step") or ""
        rows.append([i, f"{which}:{getattr(s.step, which) if which else ''}", s.users,
                     _pct(s.conversion_from_previous), _pct(s.conversion_from_first)])  # fmt: skip
    _table(["#", "step", "users", "from previous", "from first"], rows)


@app.command("errors")
def errors(
    app_id: AppOpt,
    start: FromOpt = "",
    end: ToOpt = "",
    tz: TzOpt = "UTC",
    top: Annotated[int, typer.Option("--top", help="How many of the most frequent messages to show.")] = 10,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Error events (track action `error`) per day, level and code, and the most frequent messages.

    Example:  clicktrail metrics errors --app APP_ID --from 2026-11-20 --to 2026-11-23
    """
    resp = _call("GetErrors", pb.GetErrorsRequest(app_id=app_id, top_messages=top, **_range(start, end, tz)), api_key)
    if json_out:
        print_json(to_dict(resp))
        return
    if not resp.counts:
        note("no errors")
        return
    _table(["date", "level", "code", "count"], [[c.date, c.level, c.code, c.count] for c in resp.counts])
    print()
    _table(["count", "level", "code", "message"], [[t.count, t.level, t.code, t.message] for t in resp.top_messages])


@app.command("revenue")
def revenue(
    app_id: AppOpt, start: FromOpt = "", end: ToOpt = "", tz: TzOpt = "UTC", api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:  # fmt: skip
    """Web2 and web3 revenue per day, currency, platform and bundle; per currency the paying users,
    ARPU (revenue / active users) and ARPPU (revenue / paying users).

    Example:  clicktrail metrics revenue --app APP_ID --from 2026-11-01 --to 2026-11-23 --json
    """
    resp = _call("GetRevenue", pb.GetRevenueRequest(app_id=app_id, **_range(start, end, tz)), api_key)
    if json_out:
        print_json(to_dict(resp))
        return
    if not resp.rows:
        note("no purchases")
        return
    data = to_dict(resp)
    _table(
        ["date", "kind", "revenue", "platform", "bundle", "purchases", "paying users"],
        [[r["date"], r["kind"], r["revenue"], r["platform"], r["bundle_id"], r["purchases"], r["paying_users"]]
         for r in data["rows"]],
    )  # fmt: skip
    print()
    _table(
        ["kind", "revenue", "purchases", "paying users", "active users", "ARPU", "ARPPU"],
        [[t["kind"], t["revenue"], t["purchases"], t["paying_users"], t["active_users"], t["arpu"], t["arppu"]]
         for t in data["totals"]],
    )  # fmt: skip
