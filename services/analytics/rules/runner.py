"""Runs rules: read the rule under its run lock, evaluate the metrics, act
through the links service, log it all (analytics.rule_runs / rule_actions, each
row written as the run goes, so a crash leaves a RUNNING run behind, never a
silent action). No transaction is open while the links service is called."""

from __future__ import annotations

import asyncio
import datetime as dt

import asyncpg
import grpc
import orjson
from clicktrail.analytics.v1 import rules_pb2 as pb
from clicktrail.links.v1 import links_pb2 as lpb

from libs.errors import FailedPrecondition, NotFound
from libs.ids import new_resource_id
from libs.logging import get_logger
from services.analytics.rules import store
from services.analytics.rules.domain import (
    ActionResult,
    Group,
    Rule,
    blacklist_decision,
    campaign_change,
    select_groups,
)
from services.analytics.rules.evaluation import MetricsSource
from services.analytics.rules.links_actions import LinksActions

log = get_logger("analytics.rules")


class RuleRunner:
    """Runs rules: evaluate the metrics, act through the links service, log it all."""

    def __init__(self, pool: asyncpg.Pool, links: LinksActions, metrics: MetricsSource, concurrency: int = 2) -> None:
        self._pool = pool
        self._links = links
        self._metrics = metrics
        # A run holds one pool connection (its rule's lock) and uses another: a bound
        # on concurrent runs keeps manual runs from draining the pool.
        self._slots = asyncio.Semaphore(concurrency)

    async def run(
        self,
        account_id: str,
        rule_id: str,
        *,
        trigger: int,
        dry_run: bool = False,
        slot_time: dt.datetime | None = None,
    ) -> str | None:
        """Runs one rule under its run lock (waiting up to store.LOCK_TIMEOUT for
        a run in progress); returns the run id, None when a scheduled run finds
        the rule deleted or disabled meanwhile."""
        async with self._slots, self._pool.acquire() as conn:
            try:
                await store.lock_run(conn, account_id, rule_id)
            except asyncpg.LockNotAvailableError:
                raise FailedPrecondition(f"rule {rule_id} is running now; try again in a moment") from None
            except BaseException:
                conn.terminate()  # the lock may have been granted as we were cancelled
                raise
            try:
                run_id = await self._run_under_lock(conn, account_id, rule_id, trigger, dry_run, slot_time)
            except Exception:
                await self._unlock(conn, account_id, rule_id)
                raise
            except BaseException:
                # A cancelled run: the session lock must not go back to the pool with
                # the connection; closing it releases the lock.
                conn.terminate()
                raise
            await self._unlock(conn, account_id, rule_id)
            return run_id

    @staticmethod
    async def _unlock(conn: asyncpg.Connection, account_id: str, rule_id: str) -> None:
        try:
            await store.unlock_run(conn, account_id, rule_id)
        except BaseException:
            conn.terminate()  # (closing the connection releases the lock)
            raise

    async def _run_under_lock(
        self,
        conn: asyncpg.Connection,
        account_id: str,
        rule_id: str,
        trigger: int,
        dry_run: bool,
        slot_time: dt.datetime | None,
    ) -> str | None:
        row = await conn.fetchrow(store.SELECT_RULE, account_id, rule_id)
        if row is None:
            if trigger == pb.RUN_TRIGGER_MANUAL:
                raise NotFound(f"rule {rule_id!r} not found")
            return None
        rule = Rule.from_row(row)
        if trigger == pb.RUN_TRIGGER_SCHEDULE and not rule.enabled:
            return None
        end: dt.datetime = await conn.fetchval("SELECT clock_timestamp()")
        return await self._run_locked(rule, trigger, dry_run or rule.dry_run, slot_time, end)

    async def _run_locked(
        self, rule: Rule, trigger: int, dry_run: bool, slot_time: dt.datetime | None, end: dt.datetime
    ) -> str:
        start = end - rule.window
        run_id = new_resource_id("run")
        await store.start_run(
            self._pool, rule.account_id, run_id, rule.rule_id, trigger, slot_time, dry_run, pb.RUN_STATUS_RUNNING,
            start, end,
        )  # fmt: skip
        log.info("rule_run_start", account_id=rule.account_id, rule_id=rule.rule_id, run_id=run_id, dry_run=dry_run)
        sub_id_field = rule.sub_id_field if rule.grouping == pb.RULE_GROUPING_SUB_ID else ""
        try:
            currency = rule.currency_code or await self._links.currency(rule.account_id)
            evaluation = await self._metrics(
                self._pool, rule.account_id, start, end, sub_id_field, rule.campaign_ids, currency
            )
        except Exception as exc:
            log.warning("rule_run_failed", rule_id=rule.rule_id, run_id=run_id, error=str(exc))
            await store.finish_run(
                self._pool, rule.account_id, run_id, pb.RUN_STATUS_FAILED, f"cannot read the metrics: {exc}",
                0, 0, start, end,
            )  # fmt: skip
            return run_id
        groups, matched, todo = select_groups(rule, evaluation.groups)
        failed = 0
        lists: dict[str, dict[int, set[str]]] = {}
        for n, group in todo:
            try:
                result = await self._act(rule, run_id, group, dry_run, lists)
            except grpc.aio.AioRpcError as err:
                result = ActionResult(pb.ACTION_OUTCOME_FAILED, f"links service: {err.code().name}: {err.details()}")
            if result.outcome == pb.ACTION_OUTCOME_FAILED:
                failed += 1
            metrics = {k: str(v) for k, v in group.metrics.items() if v is not None}
            await self._pool.execute(
                store.INSERT_ACTION, rule.account_id, run_id, n, group.campaign_id, sub_id_field,
                group.sub_id_value, rule.action.kind, result.outcome, result.detail, orjson.dumps(metrics).decode(),
            )  # fmt: skip
            log.info(
                "rule_action", rule_id=rule.rule_id, run_id=run_id, campaign_id=group.campaign_id,
                sub_id_value=group.sub_id_value, action=rule.action.kind,
                outcome=pb.ActionOutcome.Name(result.outcome), detail=result.detail,
            )  # fmt: skip
        status = pb.RUN_STATUS_PARTIAL if failed else pb.RUN_STATUS_SUCCEEDED
        await store.finish_run(
            self._pool, rule.account_id, run_id, status, f"{failed} action(s) failed" if failed else "",
            len(groups), len(matched), evaluation.start, evaluation.end,
        )  # fmt: skip
        return run_id

    async def _act(
        self, rule: Rule, run_id: str, group: Group, dry_run: bool, lists: dict[str, dict[int, set[str]]]
    ) -> ActionResult:
        account, cid, kind = rule.account_id, group.campaign_id, rule.action.kind
        if kind == "blacklist_sub_id":
            value, field = group.sub_id_value, rule.sub_id_field
            if value and cid not in lists:
                lists[cid] = await self._links.sub_id_entries(account, cid, field)
            decided = blacklist_decision(field, value, lists.get(cid), dry_run)
            if decided is not None:
                return decided
            try:
                created = await self._links.blacklist(
                    account, cid, field, value, f"rule {rule.rule_id} ({rule.name[:100]}) run {run_id}"
                )
            except grpc.aio.AioRpcError as err:
                if err.code() == grpc.StatusCode.FAILED_PRECONDITION:  # whitelisted meanwhile
                    return ActionResult(pb.ACTION_OUTCOME_SKIPPED, err.details() or "whitelisted")
                raise
            lists[cid][lpb.SUB_ID_LIST_BLACKLIST].add(value)
            if not created:
                return ActionResult(pb.ACTION_OUTCOME_SKIPPED, f"{field}={value!r} is already blacklisted")
            return ActionResult(pb.ACTION_OUTCOME_APPLIED, f"blacklisted {field}={value!r}")

        change = campaign_change(rule.action, cid, await self._links.campaign(account, cid), dry_run)
        if change.update is not None:
            await self._links.update_campaign(account, change.update, list(change.paths))
        return change.result
