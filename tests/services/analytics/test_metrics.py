"""MetricsService end to end: events go through the real ingest service, the
real rollup runner folds them in, the real analytics server answers."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import grpc
import orjson
import pytest
from clicktrail.analytics.v1 import metrics_pb2 as pb
from clicktrail.analytics.v1 import metrics_pb2_grpc
from clicktrail.ingest.v1 import ingest_pb2 as ipb
from clicktrail.ingest.v1 import ingest_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc
from google.protobuf import duration_pb2

from services.analytics import server as analytics_server_module
from services.analytics.rollup import RollupRunner
from tests.support.wait import wait_until

UTC = dt.UTC
# Day 0 of the story: 20 days ago (ingest takes events up to 30 days old).
D0 = dt.datetime.combine(dt.datetime.now(UTC).date() - dt.timedelta(days=20), dt.time(10, 0), UTC)
IDFV = "6d92078a-8246-4ba4-ae5b-76104861e7dc"


def day(n: int) -> str:
    return (D0 + dt.timedelta(days=n)).date().isoformat()


def ev(kind: str, user: str | None, at: dt.datetime, **kw: Any) -> dict[str, Any]:
    e: dict[str, Any] = {"uuid": str(uuid.uuid4()), "event": kind, "timestamp": at.isoformat(), **kw}
    if user:
        e["user_id"] = user
    return e


def error(user: str, at: dt.datetime, level: str, code: str, message: str) -> dict[str, Any]:
    props = {"error_level": level, "error_code": code, "error_message": message, "error_stacktrace": "",
             "metadata": {}}  # fmt: skip
    return ev("track", user, at, action="error", action_properties=props)


def purchase(user: str, at: dt.datetime, amount: str, currency: str, platform: Any, web3: bool = False) -> dict:
    props = {"bundle_id": "gems", "bundle_package_items": [["gem", "100"]], "bundle_paid_id": f"{currency}_{amount}",
             "bundle_paid_amount": amount, "bundle_paid_currency": currency, "platform": platform,
             "tx_ref": uuid.uuid4().hex}  # fmt: skip
    return ev("track", user, at, action="monetization_web3" if web3 else "monetization_web2", action_properties=props)


def story(app_id: str) -> list[dict[str, Any]]:
    """alice: day 0, 1 and 8 (a 5-minute heartbeat session on day 0; the whole
    funnel; pays twice). bob: day 0 only (half the funnel). carol: first seen
    day 1 (enters the funnel, reaches step 2 too late; pays in RON). A device
    without a user id on day 2. erin: one event at 23:30 UTC on day 0."""
    t0 = D0
    events = [ev("install", "alice", t0, session_id="sa")]
    events += [ev("heartbeat", "alice", t0 + dt.timedelta(seconds=30 * i), session_id="sa") for i in range(1, 11)]
    events += [
        ev("screen", "alice", t0 + dt.timedelta(minutes=1), screen="home", session_id="sa"),
        ev("screen", "alice", t0 + dt.timedelta(minutes=2), screen="shop", session_id="sa"),
        purchase("alice", t0 + dt.timedelta(minutes=3), "9.99", "USD", "Google Play Store"),
        ev("identify", "alice", t0 + dt.timedelta(days=1)),
        purchase("alice", t0 + dt.timedelta(days=1, hours=1), "5", "USD", {"name": "App Store"}),
        ev("track", "alice", t0 + dt.timedelta(days=8), action="level_up"),
        error("alice", t0 + dt.timedelta(minutes=4), "Error", "E1", "boom"),
        error("alice", t0 + dt.timedelta(minutes=5), "Error", "E1", "boom"),
        ev("install", "bob", t0 + dt.timedelta(hours=1), session_id="sb"),
        ev("screen", "bob", t0 + dt.timedelta(hours=1, minutes=1), screen="home"),
        ev("screen", "bob", t0 + dt.timedelta(hours=1, minutes=2), screen="shop"),
        error("bob", t0 + dt.timedelta(hours=2), "Critical", "E2", "disk full"),
        ev("install", "carol", t0 + dt.timedelta(days=1)),
        ev("screen", "carol", t0 + dt.timedelta(days=1, minutes=1), screen="home"),
        ev("screen", "carol", t0 + dt.timedelta(days=3), screen="shop"),
        purchase("carol", t0 + dt.timedelta(days=1, minutes=2), "99", "RON", "Ronin Network", web3=True),
        ev("install", None, t0 + dt.timedelta(days=2), device={"idfv": IDFV, "platform": "ios"}),
        ev("identify", "erin", dt.datetime.combine(D0.date(), dt.time(23, 30), UTC)),
    ]  # fmt: skip
    for e in events:
        e["app_id"] = app_id
    return events


@dataclasses.dataclass
class World:
    metrics: metrics_pb2_grpc.MetricsServiceStub
    app_id: str
    other_app_id: str
    catch_up: Callable[[], Any]
    pool: Any
    addr: str


async def send(stub: ingest_pb2_grpc.IngestServiceStub, events: list[dict[str, Any]]) -> None:
    resp = await stub.SendEventsJson(ipb.SendEventsJsonRequest(body=orjson.dumps({"events": events})))
    assert resp.rejected == 0, [(r.field, r.reason) for r in resp.results if r.reason]


@pytest.fixture
async def world(settings, analytics_server, ingest_stub, links_stub, account, channels) -> World:
    game = lpb.App(name="Game", platform=lpb.PLATFORM_IOS, bundle_id="com.acme.game")
    app = (await links_stub.CreateApp(lpb.CreateAppRequest(app=game))).app
    other = (await links_stub.CreateApp(lpb.CreateAppRequest(app=lpb.App(name="Web", platform=lpb.PLATFORM_WEB)))).app
    await send(ingest_stub, story(app.app_id))
    # The same people in another app of the account: never counted for the first.
    await send(ingest_stub, [ev("identify", u, D0 + dt.timedelta(days=2), app_id=other.app_id)
                             for u in ("alice", "bob", "zed")])  # fmt: skip
    pool = analytics_server.ctx.pool
    runner = RollupRunner(
        pool, analytics_server_module.ROLLUPS, dataclasses.replace(settings, analytics_rollup_lag_s=0.0)
    )
    stub = metrics_pb2_grpc.MetricsServiceStub(channels(analytics_server.addr, token=account.api_key))
    world = World(stub, app.app_id, other.app_id, runner.run_once, pool, analytics_server.addr)
    await world.catch_up()
    return world


async def test_active_users_per_day(world: World) -> None:
    resp = await world.metrics.GetActiveUsers(
        pb.GetActiveUsersRequest(app_id=world.app_id, start_date=day(0), end_date=day(9))
    )
    got = {d.date: (d.dau, d.wau, d.mau) for d in resp.days}
    assert [d.date for d in resp.days] == [day(i) for i in range(10)]
    assert got[day(0)] == (3, 3, 3)  # alice, bob, erin
    assert got[day(1)] == (2, 4, 4)  # alice, carol; the week adds bob, erin
    assert got[day(2)] == (1, 5, 5)  # the device
    assert got[day(3)] == (1, 5, 5)  # carol's late shop visit
    assert got[day(7)] == (0, 3, 5)  # week day 1..7: alice, carol, device
    assert got[day(8)] == (1, 3, 5)  # week day 2..8: device, carol, alice
    assert got[day(9)] == (0, 2, 5)  # week day 3..9: carol, alice


async def test_time_zone_moves_late_evening_activity_to_the_next_day(world: World) -> None:
    resp = await world.metrics.GetActiveUsers(
        pb.GetActiveUsersRequest(app_id=world.app_id, start_date=day(0), end_date=day(1), time_zone="Asia/Tokyo")
    )
    # In Tokyo (+9) erin's 23:30 UTC is the next morning; everyone else is the same day.
    assert [(d.date, d.dau) for d in resp.days] == [(day(0), 2), (day(1), 3)]
    india = await world.metrics.GetActiveUsers(
        pb.GetActiveUsersRequest(app_id=world.app_id, start_date=day(0), end_date=day(1), time_zone="Asia/Kolkata")
    )
    assert [d.dau for d in india.days] == [2, 3]  # +5:30 also moves 23:30 UTC past midnight


async def test_new_retained_and_re_engaged(world: World) -> None:
    default = await world.metrics.GetUserFlow(
        pb.GetUserFlowRequest(app_id=world.app_id, start_date=day(0), end_date=day(8))
    )
    assert default.lookback_days == 30
    flow = {d.date: (d.active_users, d.new_users, d.retained_users, d.re_engaged_users) for d in default.days}
    assert flow[day(0)] == (3, 3, 0, 0)
    assert flow[day(1)] == (2, 1, 1, 0)  # carol new, alice retained
    assert flow[day(8)] == (1, 0, 1, 0)  # alice was active 7 days before: within 30
    short = await world.metrics.GetUserFlow(
        pb.GetUserFlowRequest(app_id=world.app_id, start_date=day(8), end_date=day(8), lookback_days=5)
    )
    assert [(d.retained_users, d.re_engaged_users) for d in short.days] == [(0, 1)]  # inactive days 3..7
    seven = await world.metrics.GetUserFlow(
        pb.GetUserFlowRequest(app_id=world.app_id, start_date=day(8), end_date=day(8), lookback_days=7)
    )
    assert [(d.retained_users, d.re_engaged_users) for d in seven.days] == [(1, 0)]  # day 1 is 7 days back


async def test_day_n_retention_by_cohort(world: World) -> None:
    resp = await world.metrics.GetRetention(
        pb.GetRetentionRequest(app_id=world.app_id, start_date=day(0), end_date=day(1), days=[1, 7, 8])
    )
    d0, d1 = resp.cohorts
    assert (d0.date, d0.users) == (day(0), 3)
    assert [(p.day, p.users, p.complete) for p in d0.points] == [(1, 1, True), (7, 0, True), (8, 1, True)]
    assert d0.points[0].rate == pytest.approx(1 / 3)
    assert (d1.date, d1.users, [p.users for p in d1.points]) == (day(1), 1, [0, 0, 0])
    default = await world.metrics.GetRetention(
        pb.GetRetentionRequest(app_id=world.app_id, start_date=day(0), end_date=day(0))
    )
    assert [p.day for p in default.cohorts[0].points] == [1, 7, 30]
    assert default.cohorts[0].points[2].complete is False  # day 30 is still ahead


async def test_session_duration_from_heartbeats(world: World) -> None:
    resp = await world.metrics.GetSessions(pb.GetSessionsRequest(app_id=world.app_id, start_date=day(0),
                                                                 end_date=day(9)))  # fmt: skip
    assert [d.date for d in resp.days] == [day(0)]
    d = resp.days[0]
    # alice: install then 10 heartbeats 30 s apart = 300 s; bob: one event = 0 s.
    assert d.sessions == 2
    assert d.average_duration.ToTimedelta() == dt.timedelta(seconds=150)
    assert d.median_duration.ToTimedelta() == dt.timedelta(seconds=150)
    by_bucket = {(b.lower_bound.seconds, b.upper_bound.seconds if b.HasField("upper_bound") else None): b.sessions
                 for b in d.buckets}  # fmt: skip
    assert by_bucket[(0, 10)] == 1 and by_bucket[(180, 600)] == 1
    assert sum(by_bucket.values()) == 2 and by_bucket[(3600, None)] == 0
    assert resp.total.sessions == 2


async def test_funnel_with_drop_outs(world: World) -> None:
    steps = [pb.FunnelStep(screen="home"), pb.FunnelStep(screen="shop"), pb.FunnelStep(action="monetization_web2")]
    resp = await world.metrics.GetFunnel(
        pb.GetFunnelRequest(app_id=world.app_id, start_date=day(0), end_date=day(9), steps=steps)
    )
    # carol's shop comes 2 days after home: outside the default 1-day window.
    assert [s.users for s in resp.steps] == [3, 2, 1]
    assert [round(s.conversion_from_previous, 4) for s in resp.steps] == [1.0, round(2 / 3, 4), 0.5]
    assert resp.steps[2].conversion_from_first == pytest.approx(1 / 3)
    assert resp.window.ToTimedelta() == dt.timedelta(days=1)
    wide = await world.metrics.GetFunnel(
        pb.GetFunnelRequest(app_id=world.app_id, start_date=day(0), end_date=day(9), steps=steps[:2],
                            window=duration_pb2.Duration(seconds=3 * 86400))
    )  # fmt: skip
    assert [s.users for s in wide.steps] == [3, 3]
    backwards = await world.metrics.GetFunnel(
        pb.GetFunnelRequest(app_id=world.app_id, start_date=day(0), end_date=day(9), steps=steps[1::-1])
    )
    assert [s.users for s in backwards.steps] == [3, 0]  # nobody saw home after shop


async def test_errors_by_level_and_code(world: World) -> None:
    resp = await world.metrics.GetErrors(pb.GetErrorsRequest(app_id=world.app_id, start_date=day(0), end_date=day(9)))
    assert [(c.date, c.level, c.code, c.count) for c in resp.counts] == [
        (day(0), "Error", "E1", 2), (day(0), "Critical", "E2", 1),
    ]  # fmt: skip
    assert dict(resp.total_by_level) == {"Error": 2, "Critical": 1}
    assert [(m.message, m.count) for m in resp.top_messages] == [("boom", 2), ("disk full", 1)]


async def test_revenue_arpu_arppu(world: World) -> None:
    resp = await world.metrics.GetRevenue(pb.GetRevenueRequest(app_id=world.app_id, start_date=day(0), end_date=day(9)))
    rows = [(r.date, r.kind, r.revenue.amount, r.revenue.currency_code, r.platform, r.purchases, r.paying_users)
            for r in resp.rows]  # fmt: skip
    assert rows == [
        (day(0), pb.REVENUE_KIND_WEB2, "9.99", "USD", "Google Play Store", 1, 1),
        (day(1), pb.REVENUE_KIND_WEB2, "5", "USD", "App Store", 1, 1),
        (day(1), pb.REVENUE_KIND_WEB3, "99", "RON", "Ronin Network", 1, 1),
    ]
    usd, ron = resp.totals
    # 5 users active in the range (alice, bob, carol, erin, the device); alice alone paid USD.
    assert (usd.revenue.amount, usd.paying_users, usd.active_users) == ("14.99", 1, 5)
    assert Decimal(usd.arppu.amount) == Decimal("14.99") and Decimal(usd.arpu.amount) == Decimal("2.998")
    assert (ron.kind, ron.revenue.amount, ron.arppu.currency_code) == (pb.REVENUE_KIND_WEB3, "99", "RON")


async def test_rollups_kept_current_by_the_service(world: World, ingest_stub) -> None:
    """Without calling the runner: the service's own loop folds new events in."""
    await send(ingest_stub, [ev("identify", f"late-{i}", D0 + dt.timedelta(days=9), app_id=world.app_id)
                             for i in range(4)])  # fmt: skip
    request = pb.GetActiveUsersRequest(app_id=world.app_id, start_date=day(9), end_date=day(9))

    async def four() -> bool:
        return (await world.metrics.GetActiveUsers(request)).days[0].dau == 4

    await wait_until(four, "the service's rollup loop to count the 4 new users", every_s=0.1)


@pytest.mark.parametrize(
    ("rpc", "request_", "field"),
    [
        ("GetActiveUsers", pb.GetActiveUsersRequest(start_date="2026-01-02", end_date="2026-01-01"), "end_date"),
        ("GetActiveUsers", pb.GetActiveUsersRequest(start_date="2020-01-01", end_date="2023-01-01"), "end_date"),
        ("GetActiveUsers", pb.GetActiveUsersRequest(start_date="2026-13-01", end_date="2026-01-01"), "start_date"),
        (
            "GetActiveUsers",
            pb.GetActiveUsersRequest(start_date="2026-01-01", end_date="2026-01-02", time_zone="Mars/Olympus"),
            "time_zone",
        ),
        (
            "GetActiveUsers",
            pb.GetActiveUsersRequest(start_date="2026-01-01", end_date="2026-01-02", time_zone="Asia/Kathmandu"),
            "time_zone",
        ),
        (
            "GetUserFlow",
            pb.GetUserFlowRequest(start_date="2026-01-01", end_date="2026-01-02", lookback_days=0),
            "lookback_days",
        ),
        (
            "GetUserFlow",
            pb.GetUserFlowRequest(start_date="2026-01-01", end_date="2026-01-02", lookback_days=100000),
            "lookback_days",
        ),
        (
            "GetRetention",
            pb.GetRetentionRequest(start_date="2026-01-01", end_date="2026-01-02", days=[1, 0]),
            "days[1]",
        ),
        (
            "GetFunnel",
            pb.GetFunnelRequest(start_date="2026-01-01", end_date="2026-01-02", steps=[pb.FunnelStep(screen="home")]),
            "steps",
        ),
        (
            "GetFunnel",
            pb.GetFunnelRequest(
                start_date="2026-01-01", end_date="2026-01-02", steps=[pb.FunnelStep(screen="a"), pb.FunnelStep()]
            ),
            "steps[1]",
        ),
        (
            "GetFunnel",
            pb.GetFunnelRequest(
                start_date="2026-01-01",
                end_date="2026-01-02",
                steps=[pb.FunnelStep(screen="a"), pb.FunnelStep(screen="b")],
                window=duration_pb2.Duration(seconds=0, nanos=0),
            ),
            "window",
        ),
        (
            "GetErrors",
            pb.GetErrorsRequest(start_date="2026-01-01", end_date="2026-01-02", top_messages=1000),
            "top_messages",
        ),
    ],
)
async def test_bad_input_names_the_field(world: World, rpc: str, request_: Any, field: str) -> None:
    request_.app_id = world.app_id
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await getattr(world.metrics, rpc)(request_)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith(f"{field}:") or f"; {field}:" in err.value.details(), err.value.details()


async def test_another_accounts_app_and_data_never_appear(
    world: World, new_account, links_server, ingest_server, channels
) -> None:
    other = await new_account("Rival")
    links = links_pb2_grpc.LinksServiceStub(channels(links_server.addr, token=other.api_key))
    their_app = lpb.App(name="R", platform=lpb.PLATFORM_IOS, bundle_id="com.rival")
    rival_app = (await links.CreateApp(lpb.CreateAppRequest(app=their_app))).app
    rival_ingest = ingest_pb2_grpc.IngestServiceStub(channels(ingest_server.addr, token=other.api_key))
    await send(rival_ingest, [ev("identify", u, D0, app_id=rival_app.app_id) for u in ("alice", "x", "y", "z")])
    await world.catch_up()
    # Our account cannot read the rival's app ...
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await world.metrics.GetActiveUsers(
            pb.GetActiveUsersRequest(app_id=rival_app.app_id, start_date=day(0), end_date=day(0))
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND and "app_id" in err.value.details()
    # ... nor does the rival's activity change ours; the rival sees only its own.
    ours = await world.metrics.GetActiveUsers(
        pb.GetActiveUsersRequest(app_id=world.app_id, start_date=day(0), end_date=day(0))
    )
    assert ours.days[0].dau == 3
    rival = metrics_pb2_grpc.MetricsServiceStub(channels(world.addr, token=other.api_key))
    theirs = await rival.GetActiveUsers(
        pb.GetActiveUsersRequest(app_id=rival_app.app_id, start_date=day(0), end_date=day(0))
    )
    assert theirs.days[0].dau == 4
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await rival.GetRevenue(pb.GetRevenueRequest(app_id=world.app_id, start_date=day(0), end_date=day(0)))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
