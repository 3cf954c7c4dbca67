"""The rules' schedule: every ``rules_interval_s`` each enabled rule runs once
per slot of the interval grid, whichever replica claims it."""

from __future__ import annotations

import asyncio

import asyncpg
from clicktrail.analytics.v1 import rules_pb2 as pb

from libs.logging import get_logger
from services.analytics.periodic import run_until_stopped
from services.analytics.rules import store
from services.analytics.rules.runner import RuleRunner

log = get_logger("analytics.rules")


class RuleScheduler:
    """Every ``rules_interval_s`` each enabled rule runs once per slot. Any
    number of replicas can run this loop: a slot is claimed by exactly one."""

    def __init__(self, pool: asyncpg.Pool, runner: RuleRunner, interval_s: float, batch: int = 20) -> None:
        self._pool = pool
        self._runner = runner
        self.interval_s = interval_s
        self._batch = batch
        self._stopping = asyncio.Event()

    async def run_due_once(self) -> list[str]:
        """Claims and runs the rules that are due; returns the run ids."""
        runs: list[str] = []
        while True:
            claimed = await self._pool.fetch(store.CLAIM, self.interval_s, self._batch)
            for row in claimed:
                try:
                    run_id = await self._runner.run(
                        row["account_id"], row["rule_id"], trigger=pb.RUN_TRIGGER_SCHEDULE, slot_time=row["slot"]
                    )
                except Exception as exc:  # one rule's trouble does not stop the others
                    log.warning("rule_run_error", rule_id=row["rule_id"], error=str(exc))
                    continue
                if run_id:
                    runs.append(run_id)
            if len(claimed) < self._batch:
                return runs

    async def run(self) -> None:
        await run_until_stopped(self.run_due_once, self._stopping, min(self.interval_s, 5.0), log, "rules pass failed")

    async def stop(self) -> None:
        self._stopping.set()
