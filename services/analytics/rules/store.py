"""The rules' tables (analytics.rules, rule_runs, rule_actions): statements and
the run lock. One run of a rule at a time, across replicas: a session advisory
lock per rule, held for the run's length on a connection with no transaction
open (the run calls the links service; no network call waits inside a
transaction). An update or delete of the rule waits for a run in progress
(lock_for_change, in its transaction); the scheduler skips a running rule."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg

# How long a run waits for a run of the same rule in progress.
LOCK_TIMEOUT = "30s"
# The run lock's key (CLAIM spells it out over its columns).
_KEY = "hashtextextended('clicktrail.analytics.rule:' || $1 || '/' || $2, 0)"

SELECT_RULE = "SELECT * FROM analytics.rules WHERE account_id = $1 AND rule_id = $2"
INSERT_RULE = """
INSERT INTO analytics.rules (account_id, rule_id, {columns}, next_run_time)
VALUES ($1, $2, {values}, clock_timestamp() + ${interval}::interval) RETURNING *
"""
UPDATE_RULE = (
    "UPDATE analytics.rules SET {sets}, update_time = now() WHERE account_id = $1 AND rule_id = $2 RETURNING *"
)
DELETE_RULE = "DELETE FROM analytics.rules WHERE account_id = $1 AND rule_id = $2 RETURNING rule_id"
# A page of rules after rule id $2 ($3 rows).
LIST_RULES = "SELECT * FROM analytics.rules WHERE account_id = $1 AND rule_id > $2 ORDER BY rule_id LIMIT $3"
# Runs, newest first: of rule $2 (NULL: every rule), before run id $3 (NULL: from the newest), $4 rows.
LIST_RUNS = """
SELECT * FROM analytics.rule_runs
WHERE account_id = $1 AND ($2::text IS NULL OR rule_id = $2) AND ($3::text IS NULL OR run_id < $3)
ORDER BY run_id DESC LIMIT $4
"""
GET_RUN = "SELECT * FROM analytics.rule_runs WHERE account_id = $1 AND run_id = $2"
RUN_ACTIONS = """
SELECT * FROM analytics.rule_actions WHERE account_id = $1 AND run_id = ANY($2::text[]) ORDER BY run_id, n
"""

INSERT_RUN = """
INSERT INTO analytics.rule_runs (account_id, run_id, rule_id, trigger, slot_time, dry_run, status,
                                 window_start, window_end)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
"""
FINISH_RUN = """
UPDATE analytics.rule_runs SET status = $3, error = $4, end_time = clock_timestamp(),
       groups_evaluated = $5, groups_matched = $6, window_start = $7, window_end = $8
WHERE account_id = $1 AND run_id = $2
"""
INSERT_ACTION = """
INSERT INTO analytics.rule_actions (account_id, run_id, n, campaign_id, sub_id_field, sub_id_value, action,
                                    outcome, detail, metrics)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
"""

# Claims due rules: each gets its next slot on the interval grid (the first one after
# now) in the same statement, so no other replica sees it due for this slot. A rule
# being run (its run lock held) waits for a later pass.
CLAIM = """
WITH due AS (
    SELECT account_id, rule_id, next_run_time AS slot FROM analytics.rules
    WHERE enabled AND next_run_time <= clock_timestamp()
    ORDER BY next_run_time LIMIT $2
    FOR UPDATE SKIP LOCKED
),
free AS (
    SELECT * FROM due
    WHERE pg_try_advisory_xact_lock(hashtextextended('clicktrail.analytics.rule:' || account_id || '/' || rule_id, 0))
)
UPDATE analytics.rules r
SET next_run_time = free.slot + make_interval(
        secs => $1 * (floor(extract(epoch FROM clock_timestamp() - free.slot) / $1) + 1)),
    last_run_time = clock_timestamp()
FROM free
WHERE r.account_id = free.account_id AND r.rule_id = free.rule_id
RETURNING r.account_id, r.rule_id, free.slot
"""


async def lock_run(conn: asyncpg.Connection, account_id: str, rule_id: str) -> None:
    """Takes the rule's run lock for the session, waiting up to LOCK_TIMEOUT
    (asyncpg.LockNotAvailableError after that). Release it with unlock_run."""
    async with conn.transaction():
        await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        await conn.execute(f"SELECT pg_advisory_lock({_KEY})", account_id, rule_id)


async def unlock_run(conn: asyncpg.Connection, account_id: str, rule_id: str) -> None:
    await conn.execute(f"SELECT pg_advisory_unlock({_KEY})", account_id, rule_id)


async def lock_for_change(conn: asyncpg.Connection, account_id: str, rule_id: str) -> None:
    """In a transaction: waits for a run of the rule in progress, and keeps new
    runs waiting until the transaction ends."""
    await conn.execute(f"SELECT pg_advisory_xact_lock({_KEY})", account_id, rule_id)


async def start_run(
    pool: asyncpg.Pool, account_id: str, run_id: str, rule_id: str, trigger: int, slot_time: dt.datetime | None,
    dry_run: bool, status: int, start: dt.datetime, end: dt.datetime,
) -> None:  # fmt: skip
    await pool.execute(INSERT_RUN, account_id, run_id, rule_id, trigger, slot_time, dry_run, status, start, end)


async def finish_run(pool: asyncpg.Pool, account_id: str, run_id: str, *values: Any) -> None:
    """Sets (status, error, groups_evaluated, groups_matched, window_start, window_end)."""
    await pool.execute(FINISH_RUN, account_id, run_id, *values)
