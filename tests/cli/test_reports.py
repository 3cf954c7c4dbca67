"""`clicktrail report ...` against real links and analytics servers."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from services.analytics.rollup import RollupRunner
from tests.cli.conftest import Cli
from tests.services.analytics.report_support import TODAY, checks_off, runner
from tests.services.attribution.engine_support import make_app, make_campaign, touch
from tests.support.wait import wait_until


async def fold(run: RollupRunner, pool: Any, *, clicks: int) -> None:
    """Passes until the rollups hold ``clicks`` clicks of every verdict. One pass can stop short
    of the last click: the server's own runner, folding at the same time, is a writer the pass
    stays behind (rollup.py, oldest_writer)."""

    async def folded() -> bool:
        await run.run_once()
        async with pool.acquire() as conn:
            n = await conn.fetchval("SELECT sum(clicks + invalid_clicks) FROM analytics.report_traffic_links")
        assert n == clicks, f"the rollups hold {n} clicks, not {clicks}"
        return True

    await wait_until(folded, f"the rollups to hold {clicks} clicks")


async def test_report_campaigns_json_csv_table_and_errors(
    cli: Cli, cli_env, settings, analytics_server, links_stub, gateway_links_stub
) -> None:
    cli_env.setenv("CLICKTRAIL_ANALYTICS_ADDR", analytics_server.addr)
    await checks_off(links_stub, "duplicate")  # three clicks of one IP + User-Agent: two not unique, all clean
    app_id = await make_app(links_stub)
    spring = await make_campaign(links_stub, app_id, "Spring")
    autumn = await make_campaign(links_stub, app_id, "Autumn")
    for query in ("sub1=a", "sub1=a", "sub1=b"):
        await touch(gateway_links_stub, spring, query=query)
    # A sub-id from the public that a spreadsheet would run as a formula.
    await touch(gateway_links_stub, autumn, ip="81.2.69.160", query="sub1=%3DHYPERLINK(%22http://x.example%22)")
    run: RollupRunner = runner(analytics_server.ctx.pool, settings)
    await fold(run, analytics_server.ctx.pool, clicks=4)
    day = TODAY.isoformat()

    data = (await cli("report", "campaigns", "--from", day, "--to", day, "--group-by", "campaign,sub1",
                      "--filter", f"campaign={spring.campaign_id}", "--json")).json()  # fmt: skip
    rows = {r["dimensions"]["sub1"]: r for r in data["rows"]}
    assert {k: (r["clicks"], r["unique_clicks"]) for k, r in rows.items()} == {"a": ("2", "1"), "b": ("1", "0")}
    assert data["totals"]["clicks"] == "3" and data["total_rows"] == 2

    text = (await cli("report", "campaigns", "--from", day, "--group-by", "campaign", "--csv")).stdout
    lines = list(csv.DictReader(io.StringIO(text)))
    assert {line["campaign"]: line["clicks"] for line in lines} == {
        spring.campaign_id: "3", autumn.campaign_id: "1", "total": "4",
    }  # fmt: skip
    text = (await cli("report", "campaigns", "--from", day, "--group-by", "sub1", "--csv")).stdout
    cells = {line["sub1"] for line in csv.DictReader(io.StringIO(text))}
    assert cells == {"a", "b", '\'=HYPERLINK("http://x.example")', "total"}  # exported as text, not a formula
    around = ["--from", (TODAY - dt.timedelta(days=1)).isoformat(), "--to", (TODAY + dt.timedelta(days=1)).isoformat()]
    table = (
        await cli("report", "campaigns", *around, "--group-by", "campaign,country", "--tz", "Europe/Berlin")
    ).stdout
    assert spring.campaign_id in table and "unique_clicks" in table and "total" in table

    bad = await cli("report", "campaigns", "--group-by", "campaign,planet", code=2)
    assert bad.stderr.startswith("error: group_by: unknown dimension 'planet'")
    zone = await cli("report", "campaigns", "--tz", "Asia/Kolkata", code=2)
    assert "time_zone" in zone.stderr and "whole number of hours" in zone.stderr
    usage = await cli("report", "campaigns", "--filter", "country", code=2)
    assert "DIMENSION=VALUE" in usage.stderr

    done = (await cli("report", "recount", "--from", day, "--json")).json()
    assert done["start_time"].startswith(day)
    again = (await cli("report", "campaigns", "--from", day, "--json")).json()
    assert again["totals"]["clicks"] == "4"


async def test_report_campaigns_by_verdict(cli: Cli, cli_env, settings, analytics_server, links_stub,
                                           gateway_links_stub) -> None:  # fmt: skip
    """The verdict columns (CSV: one each; table: clean/suspicious/invalid per
    kind), the invalid rate and top reasons, and --verdict."""
    cli_env.setenv("CLICKTRAIL_ANALYTICS_ADDR", analytics_server.addr)
    app_id = await make_app(links_stub)
    spring = await make_campaign(links_stub, app_id, "Spring")
    await touch(gateway_links_stub, spring, query="sub1=a")  # a person
    await touch(gateway_links_stub, spring, query="sub1=a")  # again a moment later: a duplicate, invalid
    await touch(gateway_links_stub, spring, query="sub1=b", ip="81.2.69.161", ua="")  # no User-Agent: invalid
    await fold(runner(analytics_server.ctx.pool, settings), analytics_server.ctx.pool, clicks=3)
    day = TODAY.isoformat()

    text = (await cli("report", "campaigns", "--from", day, "--group-by", "sub1", "--csv")).stdout
    lines = {line["sub1"]: line for line in csv.DictReader(io.StringIO(text))}
    assert {k: (v["clicks"], v["clean_clicks"], v["invalid_clicks"], v["invalid_rate"]) for k, v in lines.items()} == {
        "a": ("1", "1", "1", "0.5000"), "b": ("0", "0", "1", "1.0000"), "total": ("1", "1", "2", "0.6667"),
    }  # fmt: skip
    # Top reasons are kept by campaign, partner, app and time only: by campaign, not by sub-id.
    text = (await cli("report", "campaigns", "--from", day, "--group-by", "campaign", "--csv")).stdout
    [row, _total] = csv.DictReader(io.StringIO(text))
    assert row["top_reasons"] == "duplicate/click:1 missing_user_agent/click:1"
    table = (await cli("report", "campaigns", "--from", day)).stdout
    assert "clicks c/s/i" in table and "1/0/2" in table and "0.6667" in table

    invalid = (await cli("report", "campaigns", "--from", day, "--verdict", "invalid", "--json")).json()
    assert (invalid["totals"]["clicks"], invalid["totals"]["click_verdicts"]["invalid"]) == ("2", "2")
    both = (await cli("report", "campaigns", "--from", day, "--verdict", "clean,invalid", "--json")).json()
    assert both["totals"]["clicks"] == "3"
    bad = await cli("report", "campaigns", "--verdict", "fraud", code=2)
    assert "--verdict" in bad.stderr and "clean, suspicious or invalid" in bad.stderr
