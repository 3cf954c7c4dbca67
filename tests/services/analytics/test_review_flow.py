"""Reviewer 2 (issue 21): campaign reports by stream / lander / offer over the
flow world of test_reports_flow.py: every combination of dimensions, filters,
verdicts, time zones and orderings answers rows or INVALID_ARGUMENT, never an
internal error (see /tmp/review2.md)."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable

import asyncpg
import grpc
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.type.v1 import quality_pb2

from tests.services.analytics.report_support import TODAY, by, report
from tests.services.analytics.test_reports_flow import flow_world  # noqa: F401 - the fixture
from tests.support.wait import wait_until

OTHERS = ("campaign", "link", "partner", "app", "country", "device_type", "os", "day", "hour", "sub1")
FLOW = ("stream", "lander", "offer")
ORDERS = ("lander_ctr desc", "lander_views", "lander_clicks desc", "epc desc", "conversions")
ZONES = ("UTC", "Asia/Kolkata", "America/St_Johns")


async def answered(call: Awaitable[object]) -> str:
    """'ok' or the INVALID_ARGUMENT's field; anything else fails the test."""
    try:
        await call
    except grpc.aio.AioRpcError as err:
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (err.code(), err.details())
        return "invalid"
    return "ok"


async def test_every_flow_report_combination_answers_or_is_invalid_argument(flow_world):  # noqa: F811
    stub = flow_world
    seen: dict[str, int] = {}
    for flow_dim, other in itertools.product(FLOW, (None, *OTHERS)):
        group_by = [flow_dim] + ([other] if other else [])
        for zone, order in itertools.product(ZONES, (None, *ORDERS)):
            kw = {"time_zone": zone, **({"order_by": order} if order else {})}
            outcome = await answered(report(stub, TODAY, group_by=group_by, **kw))
            seen[outcome] = seen.get(outcome, 0) + 1
        # The flow dimension as a filter beside the other as a dimension, and the other way round.
        if other and other not in ("day", "hour"):
            await answered(report(stub, TODAY, group_by=[other], filters={flow_dim: ["str_1", "lnd_1", "off_1"]}))
            await answered(report(stub, TODAY, group_by=[flow_dim], filters={other: ["x"]}))
        for verdicts in ([quality_pb2.VERDICT_INVALID], [quality_pb2.VERDICT_SUSPICIOUS, quality_pb2.VERDICT_CLEAN]):
            await answered(report(stub, TODAY, group_by=group_by, verdicts=verdicts))
    assert seen.get("ok") and seen.get("invalid")


async def test_an_overruled_clicks_lander_click_moves_with_it(flow_world, links_stub, account, settings):  # noqa: F811
    """An operator calls a click of lander 2 invalid (OverruleTouchVerdict): its lander view leaves the
    default report (the recount of its hours), but its lander click stays counted as clean, because
    the fold reads links.lander_clicks.verdict, copied at the click-through and never overruled."""
    stub = flow_world
    conn = await asyncpg.connect(settings.database_url)
    try:
        click_id = await conn.fetchval(
            "SELECT click_id FROM links.lander_clicks WHERE account_id = $1 AND lander_id = 'lnd_2'",
            account.account_id,
        )
    finally:
        await conn.close()
    await links_stub.OverruleTouchVerdict(
        lpb.OverruleTouchVerdictRequest(click_id=click_id, verdict=quality_pb2.VERDICT_INVALID, note="bot")
    )

    async def recounted() -> bool:
        rows = by(await report(stub, TODAY, group_by=["lander"]), "lander")
        return rows["lnd_2"].lander_views == 2

    await wait_until(recounted, "the overrule's recount to move the click's lander view")
    lnd_2 = by(await report(stub, TODAY, group_by=["lander"]), "lander")["lnd_2"]
    invalid = by(await report(stub, TODAY, group_by=["lander"], verdicts=[quality_pb2.VERDICT_INVALID]), "lander")
    assert (lnd_2.lander_views, lnd_2.lander_clicks) == (2, 0)
    assert (invalid["lnd_2"].lander_views, invalid["lnd_2"].lander_clicks) == (1, 1)
