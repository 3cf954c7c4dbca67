"""The rules schedule: each enabled rule runs once per slot, even with several
analytics replicas (here: two schedulers on two connection pools, beside the
service's own) claiming at the same time."""

import asyncio
import dataclasses
import datetime as dt

import asyncpg
from clicktrail.analytics.v1 import rules_pb2 as pb
from clicktrail.analytics.v1 import rules_pb2_grpc

from services.analytics import rules
from tests.services.analytics.test_rules_crud import losers_rule


async def test_two_replicas_run_each_due_rule_once_per_slot(
    analytics_server, links_server, account, channels, settings, db_url
):
    stub = rules_pb2_grpc.RuleServiceStub(channels(analytics_server.addr, token=account.api_key))
    ids = []
    for i in range(4):
        rule = losers_rule(name=f"r{i}", dry_run=True)
        ids.append((await stub.CreateRule(pb.CreateRuleRequest(rule=rule))).rule.rule_id)
    disabled = (await stub.CreateRule(pb.CreateRuleRequest(rule=losers_rule(name="off", enabled=False)))).rule.rule_id

    pools = [await asyncpg.create_pool(db_url, min_size=1, max_size=4) for _ in range(2)]
    link_clients = [rules.LinksActions(dataclasses.replace(settings, links_addr=links_server.addr)) for _ in pools]
    schedulers = [
        rules.RuleScheduler(p, rules.RuleRunner(p, lc, rules.report_groups), interval_s=60.0, batch=1)
        for p, lc in zip(pools, link_clients, strict=True)
    ]
    try:
        # Every rule (the disabled one too) becomes due for the slot 10 s ago.
        slot = await pools[0].fetchval(
            "UPDATE analytics.rules SET next_run_time = date_trunc('second', now()) - interval '10 seconds'"
            " RETURNING next_run_time"
        )
        await asyncio.gather(*(s.run_due_once() for s in schedulers))
        # A second pass right away finds nothing due: the next slot is a minute on.
        assert await asyncio.gather(*(s.run_due_once() for s in schedulers)) == [[], []]

        runs = (await stub.ListRuleRuns(pb.ListRuleRunsRequest(page_size=100))).runs
        assert sorted(r.rule_id for r in runs) == sorted(ids)  # once each, none for the disabled rule
        assert {r.trigger for r in runs} == {pb.RUN_TRIGGER_SCHEDULE}
        assert all(r.dry_run and r.status != pb.RUN_STATUS_RUNNING for r in runs)
        slots = await pools[0].fetch("SELECT rule_id, slot_time FROM analytics.rule_runs")
        assert {s["slot_time"] for s in slots} == {slot}

        for rule_id in ids:
            got = (await stub.GetRule(pb.GetRuleRequest(rule_id=rule_id))).rule
            assert got.next_run_time.ToDatetime(tzinfo=dt.UTC) == slot + dt.timedelta(seconds=60)
            assert got.last_run_time.seconds > 0
        off = (await stub.GetRule(pb.GetRuleRequest(rule_id=disabled))).rule
        assert off.next_run_time.ToDatetime(tzinfo=dt.UTC) == slot and off.last_run_time.seconds == 0

        # Long overdue: the next slot is the first one on the grid after now, not a backlog.
        await pools[0].execute(
            "UPDATE analytics.rules SET next_run_time = $1 WHERE rule_id = $2",
            slot - dt.timedelta(hours=5),
            ids[0],
        )
        await asyncio.gather(*(s.run_due_once() for s in schedulers))
        runs = (await stub.ListRuleRuns(pb.ListRuleRunsRequest(rule_id=ids[0]))).runs
        assert len(runs) == 2
        got = (await stub.GetRule(pb.GetRuleRequest(rule_id=ids[0]))).rule
        next_run = got.next_run_time.ToDatetime(tzinfo=dt.UTC)
        now = dt.datetime.now(dt.UTC)
        assert now < next_run <= now + dt.timedelta(seconds=61)
    finally:
        for lc in link_clients:
            await lc.close()
        for p in pools:
            await p.close()
