"""clicktrail.attribution.v1.GoalService: the account's goals (the rules are
services/attribution/goals.py). A goal a campaign targets cannot be deleted, and
only its name can change once a published campaign targets it."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson
from clicktrail.attribution.v1 import config_pb2 as pb
from clicktrail.attribution.v1 import config_pb2_grpc as pb_grpc

from libs import auth
from libs.api import (
    to_timestamp,
    update_paths,
)
from libs.errors import AlreadyExists, FailedPrecondition, NotFound, Validator
from libs.ids import new_resource_id
from libs.paging import Page
from services.attribution import goals as g
from services.attribution.campaigns import Campaigns

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
GOAL_UPDATABLE = ("name", "kind", "event", "conditions", "occurrence", "nth", "value_path", "currency_path")
MAX_NTH = 1_000_000


def lock_key(kind: str, account_id: str) -> str:
    return f"clicktrail.attribution.{kind}:{account_id}"


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


def _goal_values(goal: g.Goal) -> tuple[Any, ...]:
    """A goal's columns as INSERT / UPDATE take them ($3..$10: name, kind, event, conditions,
    occurrence, nth, value_path, currency_path)."""
    return (goal.name, goal.kind, goal.event, _conditions_json(goal), goal.occurrence, goal.nth, goal.value_path,
            goal.currency_path)  # fmt: skip


class GoalService(pb_grpc.GoalServiceServicer):
    def __init__(self, pool: asyncpg.Pool, links: Campaigns) -> None:
        self._pool = pool
        self._links = links

    async def CreateGoal(self, request: pb.CreateGoalRequest, context: Any) -> pb.CreateGoalResponse:
        account_id = auth.require_account()
        goal = validate_goal(request.goal)
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                # One creator at a time per account, so two concurrent creates cannot make 26.
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", lock_key("goals", account_id))
                count = await conn.fetchval("SELECT count(*) FROM attribution.goals WHERE account_id = $1", account_id)
                if count >= g.MAX_GOALS:
                    raise FailedPrecondition(
                        f"an account can have at most {g.MAX_GOALS} goals and this one has {count}: delete or reuse one"
                    )
                row = await conn.fetchrow(
                    "INSERT INTO attribution.goals (account_id, goal_id, name, kind, event, conditions, occurrence,"
                    " nth, value_path, currency_path) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10)"
                    " RETURNING *",
                    account_id, new_resource_id("goal"), *_goal_values(goal),
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
        page = Page.of(request, "after")
        rows = await self._pool.fetch(
            "SELECT * FROM attribution.goals WHERE account_id = $1 AND goal_id > $2 ORDER BY goal_id LIMIT $3",
            account_id,
            page.get("after", ""),
            page.limit,
        )
        rows, token = page.cut(rows, lambda r: {"after": r["goal_id"]})
        return pb.ListGoalsResponse(goals=[_row_to_pb(r) for r in rows], next_page_token=token)

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
                    account_id, request.goal.goal_id, *_goal_values(goal),
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
