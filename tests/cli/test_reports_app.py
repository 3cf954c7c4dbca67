"""`clicktrail report campaigns` for app campaigns: --group-by the Apple Ads
dimensions, --metrics with the SKAN and re-engagement columns (CSV, table, JSON)
against a real analytics server folding rows written as attribution writes them."""

from __future__ import annotations

import csv
import datetime as dt
import io

import asyncpg

from tests.cli.conftest import Cli
from tests.services.analytics.test_reports_app import APPLE, NETWORK, RETARGET, WEB, YESTERDAY, write_world
from tests.support.wait import wait_until


async def test_report_campaigns_apple_ads_skan_and_re_engagement(
    cli: Cli, cli_env, settings, analytics_server, account
):
    cli_env.setenv("CLICKTRAIL_ANALYTICS_ADDR", analytics_server.addr)
    conn = await asyncpg.connect(settings.database_url)
    try:
        await write_world(conn, account.account_id)
    finally:
        await conn.close()
    today = dt.datetime.now(dt.UTC).date().isoformat()

    async def folded() -> bool:
        data = (await cli("report", "campaigns", "--from", today, "--json")).json()
        assert (data["totals"]["installs"], data["totals"]["skan_installs"], data["totals"]["re_engagements"]) == (
            "4", "2", "2",
        )  # fmt: skip
        return True

    await wait_until(folded, "the analytics server to fold the app campaign rows")

    metrics = "installs,skan_installs,skan_conversions,skan_revenue,re_engagements,re_attributions"
    text = (await cli("report", "campaigns", "--from", today, "--group-by", "campaign", "--metrics", metrics,
                      "--csv")).stdout  # fmt: skip
    reader = csv.DictReader(io.StringIO(text))
    # The columns asked for, in that order; currency comes along with the SKAN revenue.
    assert reader.fieldnames == ["campaign", "installs", "skan_installs", "skan_conversions", "currency",
                                 "skan_revenue", "re_engagements", "re_attributions"]  # fmt: skip
    lines = {line["campaign"]: line for line in reader}
    assert lines[NETWORK] == {"campaign": NETWORK, "installs": "0", "skan_installs": "1", "skan_conversions": "3",
                              "currency": "USD", "skan_revenue": "14.99", "re_engagements": "0",
                              "re_attributions": "0"}  # fmt: skip
    assert (lines[RETARGET]["re_engagements"], lines[RETARGET]["re_attributions"]) == ("2", "1")
    assert (lines[""]["skan_installs"], lines[APPLE]["installs"], lines[WEB]["installs"]) == ("1", "3", "1")
    assert (lines["total"]["installs"], lines["total"]["skan_installs"], lines["total"]["skan_revenue"]) == (
        "4", "2", "14.99",
    )  # fmt: skip

    # SKAN by the day the postbacks came in.
    text = (await cli("report", "campaigns", "--from", YESTERDAY.isoformat(), "--to", today, "--group-by", "day",
                      "--metrics", "skan_installs,skan_revenue", "--csv")).stdout  # fmt: skip
    days = {line["day"]: (line["skan_installs"], line["skan_revenue"]) for line in csv.DictReader(io.StringIO(text))}
    assert days == {YESTERDAY.isoformat(): ("1", "1.5"), today: ("2", "14.99"), "total": ("3", "16.49")}

    # Apple Ads: by Apple's campaign and keyword, the default columns.
    text = (await cli("report", "campaigns", "--from", today, "--group-by", "campaign,apple_ads_campaign,"
                      "apple_ads_keyword", "--csv")).stdout  # fmt: skip
    rows = [line for line in csv.DictReader(io.StringIO(text)) if line["campaign"] == APPLE]
    assert {(r["apple_ads_campaign"], r["apple_ads_keyword"]): (r["installs"], r["conversions"]) for r in rows} == {
        ("5500", "7001"): ("2", "1"), ("5500", "7002"): ("1", "0"),
    }  # fmt: skip
    assert "skan_installs" not in text  # not asked for
    table = (await cli("report", "campaigns", "--from", today, "--group-by", "apple_ads_campaign", "--metrics",
                       "installs,re_engagements")).stdout  # fmt: skip
    assert "apple_ads_campaign" in table and "re_engagements" in table and "5500" in table

    data = (await cli("report", "campaigns", "--from", today, "--group-by", "campaign", "--json")).json()
    network = next(r for r in data["rows"] if r["dimensions"]["campaign"] == NETWORK)
    assert network["skan_conversions"] == "3" and network["skan_revenue"] == [
        {"amount": "14.99", "currency_code": "USD"}
    ]

    bad = await cli("report", "campaigns", "--metrics", "installs,skan_instals", code=2)
    assert "--metrics" in bad.stderr and "skan_instals" in bad.stderr and "skan_installs" in bad.stderr
    clash = await cli("report", "campaigns", "--group-by", "apple_ads_keyword,country", code=2)
    assert "group_by" in clash.stderr and "apple_ads_keyword does not combine with country" in clash.stderr
