"""GoalService against real Postgres and real gRPC servers: CRUD, validation,
the 25-goal limit (also under concurrency), tenant isolation, load_goals."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from clicktrail.attribution.v1 import config_pb2 as pb
from clicktrail.attribution.v1 import config_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2, status_pb2

from libs.db import create_pool
from services.attribution.goals import MAX_GOALS, invalidate_goals, load_goals


def violations(err: grpc.aio.AioRpcError) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                bad = error_details_pb2.BadRequest()
                if detail.Unpack(bad):
                    out.update({v.field: v.description for v in bad.field_violations})
    return out


def purchase_goal(name="Big purchase", **kw) -> pb.Goal:
    base = dict(
        name=name,
        kind=pb.GOAL_KIND_PURCHASE,
        event="purchase",
        conditions=[
            pb.Condition(field="action_properties.price", operator=pb.OPERATOR_GREATER_THAN, value="10"),
            pb.Condition(field="action_properties.sku", operator=pb.OPERATOR_IN, values=["gold", "silver"]),
        ],
        occurrence=pb.OCCURRENCE_EVERY,
        value_path="action_properties.price",
        currency_path="action_properties.currency",
    )
    base.update(kw)
    return pb.Goal(**base)


async def create(stubs, goal: pb.Goal) -> pb.Goal:
    return (await stubs.goals.CreateGoal(pb.CreateGoalRequest(goal=goal))).goal


async def test_goal_crud(attribution_stub):
    g = await create(attribution_stub, purchase_goal())
    assert g.goal_id.startswith("goal_") and g.create_time.seconds > 0
    assert g.kind == pb.GOAL_KIND_PURCHASE and g.occurrence == pb.OCCURRENCE_EVERY
    assert [c.field for c in g.conditions] == ["action_properties.price", "action_properties.sku"]
    assert list(g.conditions[1].values) == ["gold", "silver"]

    got = (await attribution_stub.goals.GetGoal(pb.GetGoalRequest(goal_id=g.goal_id))).goal
    assert got == g

    # Defaults: custom kind, first occurrence; monetization events get the bundle_paid value paths.
    m = await create(attribution_stub, pb.Goal(name="Web2 sale", event="monetization_web2"))
    assert m.kind == pb.GOAL_KIND_CUSTOM and m.occurrence == pb.OCCURRENCE_FIRST
    assert m.value_path == "action_properties.bundle_paid_amount"
    assert m.currency_path == "action_properties.bundle_paid_currency"
    inst = await create(attribution_stub, pb.Goal(name="Install", event="install"))
    assert inst.value_path == ""

    listed = await attribution_stub.goals.ListGoals(pb.ListGoalsRequest(page_size=2))
    assert len(listed.goals) == 2 and listed.next_page_token
    rest = await attribution_stub.goals.ListGoals(pb.ListGoalsRequest(page_token=listed.next_page_token))
    assert {x.goal_id for x in [*listed.goals, *rest.goals]} == {g.goal_id, m.goal_id, inst.goal_id}
    assert not rest.next_page_token

    upd = await attribution_stub.goals.UpdateGoal(
        pb.UpdateGoalRequest(
            goal=pb.Goal(goal_id=g.goal_id, occurrence=pb.OCCURRENCE_NTH, nth=3, conditions=[]),
            update_mask=field_mask_pb2.FieldMask(paths=["occurrence", "nth", "conditions"]),
        )
    )
    assert upd.goal.occurrence == pb.OCCURRENCE_NTH and upd.goal.nth == 3 and not upd.goal.conditions
    assert upd.goal.name == g.name and upd.goal.value_path == g.value_path
    # Back to "every": nth is cleared with it.
    upd = await attribution_stub.goals.UpdateGoal(
        pb.UpdateGoalRequest(goal=pb.Goal(goal_id=g.goal_id, occurrence=pb.OCCURRENCE_EVERY))
    )
    assert upd.goal.nth == 0

    await attribution_stub.goals.DeleteGoal(pb.DeleteGoalRequest(goal_id=g.goal_id))
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await attribution_stub.goals.GetGoal(pb.GetGoalRequest(goal_id=g.goal_id))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await attribution_stub.goals.DeleteGoal(pb.DeleteGoalRequest(goal_id=g.goal_id))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


async def test_goal_validation_names_every_field(attribution_stub):
    bad = pb.Goal(
        name="",
        kind=7,
        event="screen",
        conditions=[
            pb.Condition(field="nonsense", operator=pb.OPERATOR_EQUALS, value="x"),
            pb.Condition(field="action_properties.price", operator=pb.OPERATOR_GREATER_THAN, value="ten"),
            pb.Condition(field="action_properties.sku", operator=pb.OPERATOR_IN),
            pb.Condition(field="action_properties.sku"),
        ],
        occurrence=pb.OCCURRENCE_NTH,
        value_path="price",
    )
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await create(attribution_stub, bad)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    v = violations(e.value)
    assert set(v) == {
        "goal.name",
        "goal.kind",
        "goal.event",
        "goal.conditions[0].field",
        "goal.conditions[1].value",
        "goal.conditions[2].values",
        "goal.conditions[3].operator",
        "goal.nth",
        "goal.value_path",
    }
    assert "event type" in v["goal.event"]
    assert "not an event field" in v["goal.conditions[0].field"]

    for goal, field in [
        (pb.Goal(name="x", event=""), "goal.event"),
        (pb.Goal(name="x", event="buy now"), "goal.event"),
        (pb.Goal(name="x", event="purchase", occurrence=pb.OCCURRENCE_FIRST, nth=2), "goal.nth"),
        (pb.Goal(name="x", event="purchase", currency_path="action_properties.c"), "goal.currency_path"),
        (pb.Goal(name="x" * 201, event="purchase"), "goal.name"),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await create(attribution_stub, goal)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in violations(e.value), goal

    # Nothing was stored.
    assert not (await attribution_stub.goals.ListGoals(pb.ListGoalsRequest())).goals

    # Names are unique per account, case-insensitively.
    await create(attribution_stub, pb.Goal(name="Level 10", event="level_up"))
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await create(attribution_stub, pb.Goal(name="level 10", event="level_up"))
    assert e.value.code() == grpc.StatusCode.ALREADY_EXISTS

    # An update is validated as a whole, and an unknown mask path is refused.
    g = await create(attribution_stub, purchase_goal())
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await attribution_stub.goals.UpdateGoal(
            pb.UpdateGoalRequest(
                goal=pb.Goal(goal_id=g.goal_id, occurrence=pb.OCCURRENCE_NTH),
                update_mask=field_mask_pb2.FieldMask(paths=["occurrence"]),
            )
        )
    assert "goal.nth" in violations(e.value)
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await attribution_stub.goals.UpdateGoal(
            pb.UpdateGoalRequest(
                goal=pb.Goal(goal_id=g.goal_id), update_mask=field_mask_pb2.FieldMask(paths=["goal_id"])
            )
        )
    assert "update_mask" in violations(e.value)
    assert (await attribution_stub.goals.GetGoal(pb.GetGoalRequest(goal_id=g.goal_id))).goal == g


async def test_at_most_25_goals(attribution_stub):
    for i in range(MAX_GOALS):
        await create(attribution_stub, pb.Goal(name=f"g{i}", event=f"action_{i}"))
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await create(attribution_stub, pb.Goal(name="one too many", event="x"))
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "at most 25 goals" in e.value.details()
    # Deleting one makes room for one.
    first = (await attribution_stub.goals.ListGoals(pb.ListGoalsRequest())).goals[0]
    await attribution_stub.goals.DeleteGoal(pb.DeleteGoalRequest(goal_id=first.goal_id))
    await create(attribution_stub, pb.Goal(name="one more", event="x"))


async def test_concurrent_creates_cannot_exceed_the_limit(attribution_stub, attribution_server):
    for i in range(MAX_GOALS - 3):
        await create(attribution_stub, pb.Goal(name=f"g{i}", event="e"))
    results = await asyncio.gather(
        *(create(attribution_stub, pb.Goal(name=f"race{i}", event="e")) for i in range(12)), return_exceptions=True
    )
    ok = [r for r in results if isinstance(r, pb.Goal)]
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(ok) == 3 and len(refused) == 9
    assert all(r.code() == grpc.StatusCode.FAILED_PRECONDITION for r in refused)
    count = await attribution_server.ctx.pool.fetchval("SELECT count(*) FROM attribution.goals")
    assert count == MAX_GOALS


async def test_other_accounts_goals_are_not_found(attribution_stub, attribution_server, new_account, channels):
    g = await create(attribution_stub, purchase_goal())
    other = await new_account("Rival")
    rival = config_pb2_grpc.GoalServiceStub(channels(attribution_server.addr, token=other.api_key))
    for call in (
        rival.GetGoal(pb.GetGoalRequest(goal_id=g.goal_id)),
        rival.UpdateGoal(pb.UpdateGoalRequest(goal=pb.Goal(goal_id=g.goal_id, name="pwned"))),
        rival.DeleteGoal(pb.DeleteGoalRequest(goal_id=g.goal_id)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await call
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert not (await rival.ListGoals(pb.ListGoalsRequest())).goals
    # The rival may use the same name; its limit is its own.
    await rival.CreateGoal(pb.CreateGoalRequest(goal=purchase_goal()))
    assert (await attribution_stub.goals.GetGoal(pb.GetGoalRequest(goal_id=g.goal_id))).goal == g


async def test_calls_need_an_account_key(attribution_server, channels, account, links_stub):
    anon = config_pb2_grpc.GoalServiceStub(channels(attribution_server.addr))
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await anon.ListGoals(pb.ListGoalsRequest())
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # The postback token and app keys cannot manage goals.
    app = await links_stub.CreateApp(lpb.CreateAppRequest(app=lpb.App(name="Game", platform=lpb.PLATFORM_WEB)))
    for token in (account.postback_token, app.app_key):
        stub = config_pb2_grpc.GoalServiceStub(channels(attribution_server.addr, token=token))
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await stub.CreateGoal(pb.CreateGoalRequest(goal=purchase_goal()))
        assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_load_goals_sees_changes(attribution_stub, attribution_server, account, settings):
    pool = await create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        assert await load_goals(pool, account.account_id) == []
        g = await create(attribution_stub, purchase_goal())
        # The server runs in this process: its writes invalidate the cache at once.
        goals = await load_goals(pool, account.account_id)
        assert [x.goal_id for x in goals] == [g.goal_id]
        goal = goals[0]
        assert goal.kind == "purchase" and goal.occurrence == "every" and goal.event == "purchase"
        ev = {
            "event": 3,
            "action": "purchase",
            "action_properties": {"price": "12.5", "sku": "gold", "currency": "EUR"},
        }
        assert goal.matches(ev)
        assert not goal.matches({**ev, "action_properties": {"price": "9", "sku": "gold"}})
        assert goal.value(ev, "USD")[1] == "EUR"
        async with pool.acquire() as conn:
            invalidate_goals(account.account_id)
            assert len(await load_goals(conn, account.account_id)) == 1
    finally:
        await pool.close()
