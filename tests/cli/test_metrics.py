"""`clicktrail metrics ...` against real links, ingest and analytics servers."""

from __future__ import annotations

import dataclasses

from services.analytics import server as analytics_server_module
from services.analytics.rollup import RollupRunner
from tests.cli.conftest import Cli
from tests.services.analytics.test_metrics import day, send, story


async def test_metrics_commands(cli: Cli, cli_env, settings, analytics_server, ingest_stub) -> None:
    cli_env.setenv("CLICKTRAIL_ANALYTICS_ADDR", analytics_server.addr)
    app = (await cli("app", "create", "--name", "Web", "--platform", "web", "--json")).json()["app_id"]
    await send(ingest_stub, story(app))
    no_lag = dataclasses.replace(settings, analytics_rollup_lag_s=0.0)
    await RollupRunner(analytics_server.ctx.pool, analytics_server_module.ROLLUPS, no_lag).run_once()
    span = ["--app", app, "--from", day(0), "--to", day(8)]

    active = (await cli("metrics", "active", *span, "--lookback", "5", "--json")).json()
    assert active["lookback_days"] == 5
    first, last = active["days"][0], active["days"][-1]
    assert (first["date"], first["dau"], first["new_users"]) == (day(0), "3", "3")
    assert (last["date"], last["dau"], last["re_engaged_users"], last["retained_users"]) == (day(8), "1", "1", "0")
    table = (await cli("metrics", "active", *span)).stdout
    assert "re_engaged_users" in table and day(8) in table

    cohorts = (await cli("metrics", "retention", *span, "--days", "1,8", "--json")).json()["cohorts"]
    assert [(p["day"], p["users"]) for p in cohorts[0]["points"]] == [(1, "1"), (8, "1")]
    assert "33.3%" in (await cli("metrics", "retention", *span, "--days", "1")).stdout

    sessions = (await cli("metrics", "sessions", *span, "--json")).json()
    assert sessions["total"]["sessions"] == "2" and sessions["days"][0]["average_duration"] == "150s"

    funnel = (await cli("metrics", "funnel", *span, "--step", "screen:home", "--step", "screen:shop",
                        "--step", "action:monetization_web2", "--json")).json()  # fmt: skip
    assert [s["users"] for s in funnel["steps"]] == ["3", "2", "1"]
    text = (await cli("metrics", "funnel", *span, "--step", "screen:home", "--step", "screen:shop")).stdout
    assert "66.7%" in text
    one = await cli("metrics", "funnel", *span, "--step", "screen:home", code=2)
    assert "steps" in one.stderr and "2 to 10" in one.stderr
    bad = await cli("metrics", "funnel", *span, "--step", "home", "--step", "shop", code=2)
    assert "screen:NAME" in bad.stderr

    errors = (await cli("metrics", "errors", *span, "--json")).json()
    assert errors["total_by_level"] == {"Error": "2", "Critical": "1"}
    assert "disk full" in (await cli("metrics", "errors", *span)).stdout

    revenue = (await cli("metrics", "revenue", *span, "--json")).json()
    usd = next(t for t in revenue["totals"] if t["revenue"]["currency_code"] == "USD")
    assert usd["kind"] == "web2" and usd["arppu"] == {"amount": "14.99", "currency_code": "USD"}
    assert "Ronin Network" in (await cli("metrics", "revenue", *span)).stdout

    reversed_range = await cli("metrics", "active", "--app", app, "--from", day(8), "--to", day(0), code=2)
    assert reversed_range.stderr.startswith("error: end_date:")
    zero = await cli("metrics", "active", *span, "--lookback", "0", code=2)
    assert "lookback_days" in zero.stderr
    missing = await cli("metrics", "active", "--app", "nope", "--from", day(0), "--to", day(1), code=1)
    assert "app_id" in missing.stderr
