"""clicktrail.analytics.v1.RuleService: automation rules CRUD, RunRule and the
run log; and the scheduler that runs every enabled rule once per
``rules_interval_s`` slot. Every query is scoped by the caller's account; the
links service is called outside any transaction."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import grpc
import orjson
from clicktrail.analytics.v1 import rules_pb2 as pb
from clicktrail.analytics.v1 import rules_pb2_grpc as pb_grpc

from libs import auth
from libs.api import to_timestamp, update_paths
from libs.errors import NotFound, Unavailable, Validator
from libs.grpc_server import ServiceContext
from libs.ids import new_resource_id
from libs.paging import Page
from services.analytics import floods, rules
from services.analytics.rollup import Rollup, RollupRunner
from services.analytics.rules import store

ROLLUPS: list[Rollup] = []

# Every field a create sets; the ones an update may name.
RULE_FIELDS = (
    "name", "enabled", "dry_run", "campaign_ids", "grouping", "sub_id_field", "window", "conditions", "action",
    "currency_code",
)  # fmt: skip
COLUMNS = {"window": "window_s"}
MAX_RUN_PAGE = 100


def _action_record(row: asyncpg.Record) -> pb.RuleActionRecord:
    return pb.RuleActionRecord(
        campaign_id=row["campaign_id"], sub_id_field=row["sub_id_field"], sub_id_value=row["sub_id_value"],
        action=row["action"], outcome=row["outcome"], detail=row["detail"], metrics=orjson.loads(row["metrics"]),
        create_time=to_timestamp(row["create_time"]),
    )  # fmt: skip


def _run(row: asyncpg.Record, actions: list[asyncpg.Record]) -> pb.RuleRun:
    return pb.RuleRun(
        run_id=row["run_id"], rule_id=row["rule_id"], trigger=row["trigger"], dry_run=row["dry_run"],
        status=row["status"], error=row["error"], start_time=to_timestamp(row["start_time"]),
        end_time=to_timestamp(row["end_time"]), window_start=to_timestamp(row["window_start"]),
        window_end=to_timestamp(row["window_end"]), groups_evaluated=row["groups_evaluated"],
        groups_matched=row["groups_matched"], actions=[_action_record(a) for a in actions],
    )  # fmt: skip


class RuleService(pb_grpc.RuleServiceServicer):
    def __init__(
        self, pool: asyncpg.Pool, links: rules.LinksActions, runner: rules.RuleRunner, interval_s: float
    ) -> None:
        self._pool = pool
        self._links = links
        self._runner = runner
        self._interval = dt.timedelta(seconds=interval_s)

    async def _check_campaigns(self, v: Validator, account_id: str, campaign_ids: list[str]) -> None:
        """Every scoped campaign must be the account's own."""
        for i, cid in enumerate(campaign_ids):
            if not cid:
                continue
            try:
                found = await self._links.campaign(account_id, cid)
            except grpc.aio.AioRpcError as err:
                raise Unavailable(f"cannot check the campaigns with the links service: {err.details()}") from None
            if found is None:
                v.add(f"rule.campaign_ids[{i}]", f"campaign {cid!r} not found")

    async def _get_row(self, conn: Any, account_id: str, rule_id: str, lock: bool = False) -> asyncpg.Record:
        row = await conn.fetchrow(store.SELECT_RULE + (" FOR NO KEY UPDATE" if lock else ""), account_id, rule_id)
        if row is None:
            raise NotFound(f"rule {rule_id!r} not found")
        return row

    async def CreateRule(self, request: pb.CreateRuleRequest, context: Any) -> pb.CreateRuleResponse:
        account_id = auth.require_account()
        r = pb.Rule()
        r.CopyFrom(request.rule)
        if not r.HasField("enabled"):
            r.enabled = True
        if r.grouping == pb.RULE_GROUPING_UNSPECIFIED:
            # Unset: by sub-id when a sub field is named, else by campaign.
            r.grouping = pb.RULE_GROUPING_SUB_ID if r.sub_id_field else pb.RULE_GROUPING_CAMPAIGN
        v = Validator()
        values = rules.validate_fields(v, r, RULE_FIELDS)
        rules.check_consistency(v, values)
        await self._check_campaigns(v, account_id, values.get("campaign_ids", []))
        v.raise_if_any()
        # The columns from the fixed RULE_FIELDS (validate_fields returns no others).
        sql = store.INSERT_RULE.format(
            columns=", ".join(COLUMNS.get(k, k) for k in values),
            values=", ".join(f"${i + 3}" for i in range(len(values))),
            interval=len(values) + 3,
        )
        row = await self._pool.fetchrow(sql, account_id, new_resource_id("rul"), *values.values(), self._interval)
        return pb.CreateRuleResponse(rule=rules.rule_to_pb(row))

    async def GetRule(self, request: pb.GetRuleRequest, context: Any) -> pb.GetRuleResponse:
        account_id = auth.require_account()
        return pb.GetRuleResponse(rule=rules.rule_to_pb(await self._get_row(self._pool, account_id, request.rule_id)))

    async def ListRules(self, request: pb.ListRulesRequest, context: Any) -> pb.ListRulesResponse:
        account_id = auth.require_account()
        page = Page.of(request, "after")
        rows = await self._pool.fetch(store.LIST_RULES, account_id, page.get("after", "", str), page.limit)
        rows, token = page.cut(rows, lambda r: {"after": r["rule_id"]})
        return pb.ListRulesResponse(rules=[rules.rule_to_pb(r) for r in rows], next_page_token=token)

    async def UpdateRule(self, request: pb.UpdateRuleRequest, context: Any) -> pb.UpdateRuleResponse:
        account_id = auth.require_account()
        r = request.rule
        paths = update_paths(request.update_mask, r, RULE_FIELDS)
        v = Validator()
        values = rules.validate_fields(v, r, paths)
        v.raise_if_any()
        # The campaigns are checked with the links service before the transaction
        # (their violations reported after the consistency checks', as ever).
        campaigns = Validator()
        if values.get("campaign_ids"):
            await self._get_row(self._pool, account_id, r.rule_id)  # a missing rule is NotFound first
            await self._check_campaigns(campaigns, account_id, values["campaign_ids"])
        # Waits for a run in progress (it holds the run lock); the next run sees the change.
        async with self._pool.acquire() as conn, conn.transaction():
            await store.lock_for_change(conn, account_id, r.rule_id)
            cur = await self._get_row(conn, account_id, r.rule_id, lock=True)
            merged = {
                "grouping": cur["grouping"], "sub_id_field": cur["sub_id_field"], "action": cur["action"], **values,
            }  # fmt: skip
            if "grouping" in paths and "sub_id_field" not in paths and merged["grouping"] == pb.RULE_GROUPING_CAMPAIGN:
                merged["sub_id_field"] = values["sub_id_field"] = ""
            rules.check_consistency(v, merged)
            for field, description in campaigns.violations:
                v.add(field, description)
            v.raise_if_any()
            # The columns from the fixed RULE_FIELDS (validate_fields returns no others).
            sets = ", ".join(f"{COLUMNS.get(k, k)} = ${i + 3}" for i, k in enumerate(values))
            row = await conn.fetchrow(store.UPDATE_RULE.format(sets=sets), account_id, r.rule_id, *values.values())
        return pb.UpdateRuleResponse(rule=rules.rule_to_pb(row))

    async def DeleteRule(self, request: pb.DeleteRuleRequest, context: Any) -> pb.DeleteRuleResponse:
        account_id = auth.require_account()
        async with self._pool.acquire() as conn, conn.transaction():
            await store.lock_for_change(conn, account_id, request.rule_id)  # after a run in progress
            deleted = await conn.fetchval(store.DELETE_RULE, account_id, request.rule_id)
        if deleted is None:
            raise NotFound(f"rule {request.rule_id!r} not found")
        return pb.DeleteRuleResponse()

    async def RunRule(self, request: pb.RunRuleRequest, context: Any) -> pb.RunRuleResponse:
        account_id = auth.require_account()
        run_id = await self._runner.run(
            account_id, request.rule_id, trigger=pb.RUN_TRIGGER_MANUAL, dry_run=request.dry_run
        )
        assert run_id is not None  # manual runs raise instead
        runs = await self._runs(account_id, await self._pool.fetch(store.GET_RUN, account_id, run_id))
        return pb.RunRuleResponse(run=runs[0])

    async def _runs(self, account_id: str, rows: list[asyncpg.Record]) -> list[pb.RuleRun]:
        actions = await self._pool.fetch(store.RUN_ACTIONS, account_id, [r["run_id"] for r in rows])
        by_run: dict[str, list[asyncpg.Record]] = {}
        for a in actions:
            by_run.setdefault(a["run_id"], []).append(a)
        return [_run(r, by_run.get(r["run_id"], [])) for r in rows]

    async def ListRuleRuns(self, request: pb.ListRuleRunsRequest, context: Any) -> pb.ListRuleRunsResponse:
        account_id = auth.require_account()
        page = Page.of(request, "before", default=20, maximum=MAX_RUN_PAGE)
        before = page.get("before", None, str)
        if request.rule_id:
            await self._get_row(self._pool, account_id, request.rule_id)
        rows = await self._pool.fetch(store.LIST_RUNS, account_id, request.rule_id or None, before, page.limit)
        rows, token = page.cut(rows, lambda r: {"before": r["run_id"]})
        return pb.ListRuleRunsResponse(runs=await self._runs(account_id, rows), next_page_token=token)


def register(server: grpc.aio.Server, ctx: ServiceContext, runner: RollupRunner) -> list[str]:
    links = rules.LinksActions(ctx.settings)
    rule_runner = rules.RuleRunner(ctx.pool, links, rules.report_groups)
    scheduler = rules.RuleScheduler(ctx.pool, rule_runner, ctx.settings.rules_interval_s)
    ctx.spawn(scheduler.run(), "analytics-rules")
    ctx.on_stop.append(scheduler.stop)
    # The sub-id flood finder acts through the links service too: the same client.
    finder = floods.FloodFinder(ctx.pool, links, ctx.settings)
    ctx.spawn(finder.run(), "analytics-floods")
    ctx.on_stop.append(finder.stop)
    ctx.on_stop.append(links.close)
    pb_grpc.add_RuleServiceServicer_to_server(
        RuleService(ctx.pool, links, rule_runner, ctx.settings.rules_interval_s), server
    )
    return [pb.DESCRIPTOR.services_by_name["RuleService"].full_name]
