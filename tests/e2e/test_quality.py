"""Traffic quality end to end against the suite as `make run` starts it, driven
the way an operator would: the CLI sets a flood threshold, clicks come in
through the gateway (a person, an ad-platform crawler, a flood), the SDK sends
an install the moment its click lands (click injection) and a forged event,
and the campaign report, the cost and the lists follow the verdicts and the
operator's overrules."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.e2e.conftest import Suite
from tests.e2e.test_pipeline import (  # noqa: F401 (fixtures)
    _setup_account,
    eventually,
    money,
    shared_suite,
    sink,
    suite,
)

# test_pipeline's suite fixture: one suite per module, in the module's event loop.
pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

# Real User-Agents: a Pixel's Chrome and an iPhone's Safari as the browsers send them, and Google's
# ad-landing-page crawler as Google documents it (developers.google.com/search/docs/crawling-indexing/
# google-special-case-crawlers).
PHONES = [
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile "
    "Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
    "Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Mobile "
    "Safari/537.36",
    "Mozilla/5.0 (Linux; Android 12; moto g(60)) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile "
    "Safari/537.36",
]
ADSBOT = "AdsBot-Google (+http://www.google.com/adsbot.html)"


async def test_bots_floods_and_injected_installs_stay_out_of_the_report_until_overruled(
    suite: Suite,  # noqa: F811
) -> None:
    env, _account = await _setup_account(suite, "Quality Co")

    async def cli(*args: object) -> Any:
        return (await suite.cli(*args, "--json", env=env)).json()

    app = await cli("app", "create", "--name", "Space Miner", "--platform", "android", "--bundle-id", "com.qc.miner")
    partner = await cli("partner", "create", "--name", "Cheap Clicks")
    campaign = await cli("campaign", "create", "--name", "Quality UA", "--app", app["app_id"],
                         "--partner", partner["partner_id"])  # fmt: skip
    cid = campaign["campaign_id"]
    await cli("campaign", "publish", cid)
    await cli("tariff", "set", "--campaign", cid, "--model", "cpc", "--amount", "0.10", "--currency", "USD")
    # Every click here comes from 127.0.0.1: a flood is a fifth click from one address within the hour.
    await cli("quality", "settings", "set", "--campaign", cid, "--flood-ip", "4")
    link = await cli("link", "create", "--campaign", cid, "--url", "https://play.example/store?cid={click_id}")

    click_ids = []
    async with httpx.AsyncClient(timeout=10) as http:
        for ua in [PHONES[0], ADSBOT, *PHONES[1:]]:
            click = await http.get(link["click_url"] + "?sub1=banner", headers={"User-Agent": ua})
            assert click.status_code == 302  # the campaign redirects invalid traffic as usual (the default)
            click_ids.append(parse_qs(urlsplit(click.headers["location"]).query)["cid"][0])
        person, crawler, *others = click_ids

        # The person's install arrives 0.2 s after the click: an injected click, rejected.
        gaid = str(uuid.uuid4())
        now = dt.datetime.now(dt.UTC).isoformat()
        install = {"uuid": str(uuid.uuid4()), "event": "install", "click_id": person, "timestamp": now,
                   "device": {"gaid": gaid, "platform": "android"}}  # fmt: skip
        sent = await http.post(f"{suite.gateway_url}/v1/events", json={"events": [install]},
                               headers={"X-Api-Key": app["app_key"], "User-Agent": PHONES[0]})  # fmt: skip
        assert sent.status_code == 202 and sent.json()["accepted"] == 1, sent.text

    # What the click path decided, as the CLI lists it.
    invalid = (await cli("click", "list", "--campaign", cid, "--verdict", "invalid"))["clicks"]
    reasons = {c["click_id"]: c["reasons"] for c in invalid}
    assert "bot_user_agent" in reasons[crawler]
    assert reasons[others[-1]] == ["flood_ip"], reasons  # the 5th click from the address
    assert person not in reasons and others[0] not in reasons
    clean = {c["click_id"] for c in (await cli("click", "list", "--campaign", cid, "--verdict", "clean"))["clicks"]}
    assert clean == {person, others[0], others[1]}

    async def rejected() -> dict[str, Any]:
        items = (await cli("install", "list", "--campaign", cid, "--verdict", "invalid"))["installs"]
        assert len(items) == 1, items
        return dict(items[0])

    rejected_install = await eventually(rejected)
    assert rejected_install["click_id"] == person and "click_injection" in rejected_install["reasons"]

    today = dt.datetime.now(dt.UTC).date().isoformat()

    async def report_row(clicks: int, installs: int) -> dict[str, Any]:
        report = await cli("report", "campaigns", "--from", today, "--to", today, "--group-by", "campaign")
        [row] = [r for r in report["rows"] if r["dimensions"]["campaign"] == cid]
        assert (int(row.get("clicks", 0)), int(row.get("installs", 0))) == (clicks, installs), row
        return dict(row)

    # Three paid clicks (0.30 USD); the crawler and the flood click counted apart, unpaid; no install.
    row = await eventually(lambda: report_row(3, 0))
    assert int(row["click_verdicts"]["invalid"]) == 2 and int(row["install_verdicts"]["invalid"]) == 1, row
    assert money(row["money"], "cost") == Decimal("0.30"), row
    assert Decimal(str(row["invalid_rate"])) == Decimal("0.4"), row
    top = {r["reason"] for r in row["top_reasons"]}
    assert {"bot_user_agent", "flood_ip", "click_injection"} <= top, row

    # The operator knows better: the "crawler" was their own QA check, the install a real one.
    await cli("click", "overrule", crawler, "--verdict", "clean", "--note", "our landing-page check")
    overruled = await cli("install", "overrule", rejected_install["install_id"], "--verdict", "clean",
                          "--note", "a preloaded build: fast installs are expected")  # fmt: skip
    assert overruled["verdict"] == "clean" and "operator" in overruled["reasons"], overruled

    # Reports and cost follow: four paid clicks, one install.
    row = await eventually(lambda: report_row(4, 1))
    assert money(row["money"], "cost") == Decimal("0.40"), row
    assert int(row["click_verdicts"]["invalid"]) == 1, row
