"""The whole pipeline end to end against the suite as `make run` starts it: an
operator sets everything up with the CLI, a click comes in through the gateway,
the SDK sends events, a network posts back, the partner receives postbacks on a
local sink, and the campaign report adds it all up."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import pytest_asyncio

from tests.e2e.conftest import Suite, start_suite, still_running, stop_shared
from tests.services.postbacks.sink import Sink

# The module's tests share one suite (each on an account of its own), in the module's event loop.
pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

ANDROID_UA = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile"


@pytest_asyncio.fixture(loop_scope="module")
async def sink() -> AsyncIterator[Sink]:
    """A partner endpoint of the test's own (the module's suite delivers to it)."""
    s = await Sink().start()
    yield s
    await s.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_suite(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Suite]:
    running = await start_suite(
        tmp_path_factory.mktemp("pipeline"), module_db_url,
        CLICKTRAIL_POSTBACK_ALLOWED_NETWORKS="127.0.0.0/8", CLICKTRAIL_POSTBACK_POLL_S="0.2",
        CLICKTRAIL_ANALYTICS_ROLLUP_INTERVAL_S="0.3", CLICKTRAIL_ANALYTICS_ROLLUP_LAG_S="0.5",
    )  # fmt: skip
    yield running
    await stop_shared(running)


@pytest.fixture
def suite(shared_suite: Suite) -> Suite:
    return still_running(shared_suite)


async def eventually(check: Callable[[], Awaitable[Any]], within_s: float = 30.0) -> Any:
    """Retries ``check`` (an assertion-raising coroutine) until it passes; fails
    with its last assertion after ``within_s``."""
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        try:
            return await check()
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.3)


async def _setup_account(suite: Suite, name: str) -> tuple[dict[str, str], dict[str, Any]]:
    account = (await suite.cli("account", "create", "--name", name, "--json")).json()
    return dict(suite.cli_env, CLICKTRAIL_API_KEY=account["api_key"]), account


def money(figures: list[dict[str, Any]], field: str, currency: str = "USD") -> Decimal:
    for f in figures:
        if f["currency_code"] == currency and f.get(field):
            return Decimal(f[field]["amount"])
    return Decimal(0)


async def test_an_app_campaign_from_setup_to_the_report(suite: Suite, sink: Sink) -> None:
    env, account = await _setup_account(suite, "Acme Games")

    async def cli(*args: object) -> Any:
        return (await suite.cli(*args, "--json", env=env)).json()

    app = await cli("app", "create", "--name", "Space Miner", "--platform", "android", "--bundle-id", "com.acme.miner")
    partner = await cli("partner", "create", "--name", "Unity Ads")
    purchase = await cli(
        "goal", "create", "--name", "Purchase", "--event", "purchase", "--kind", "purchase", "--occurrence", "every",
        "--value-path", "action_properties.price", "--currency-path", "action_properties.currency",
    )  # fmt: skip
    await cli("goal", "create", "--name", "Tutorial", "--event", "tutorial_done")
    # This user installs the moment they click and buys the moment they install (a test's timing): what click
    # injection and a bot's purchase look like, so those two checks are off.
    await cli("settings", "quality", "set", "--check", "click_injection=off", "--check", "too_soon_after_install=off")
    campaign = await cli(
        "campaign", "create", "--name", "Spring UA", "--app", app["app_id"], "--partner", partner["partner_id"],
        "--goal", purchase["goal_id"],
    )  # fmt: skip
    cid = campaign["campaign_id"]
    await cli("campaign", "publish", cid)
    await cli("tariff", "set", "--campaign", cid, "--model", "cpi", "--amount", "2", "--currency", "USD")
    for trigger in ("install", "conversion"):
        await cli(
            "postback", "create", "--partner", partner["partner_id"], "--trigger", trigger,
            "--url", sink.base + "/pb?e={event_id}&k=" + trigger + "&c={click_id}&g={goal}&p={payout}",
        )  # fmt: skip
    link = await cli("link", "create", "--campaign", cid, "--url", "https://play.example/store?cid={click_id}")

    gaid = str(uuid.uuid4())
    async with httpx.AsyncClient(timeout=10, headers={"User-Agent": ANDROID_UA}) as http:
        click = await http.get(link["click_url"] + f"?gaid={gaid}&sub1=banner")
        assert click.status_code == 302
        click_id = parse_qs(urlsplit(click.headers["location"]).query)["cid"][0]
        now = dt.datetime.now(dt.UTC).isoformat()
        device = {"gaid": gaid, "platform": "android"}
        events = [
            {"uuid": str(uuid.uuid4()), "event": "install", "click_id": click_id, "timestamp": now, "device": device},
            {"uuid": str(uuid.uuid4()), "event": "track", "action": "purchase", "timestamp": now, "device": device,
             "action_properties": {"price": "9.99", "currency": "USD"}},
            {"uuid": str(uuid.uuid4()), "event": "track", "action": "tutorial_done", "timestamp": now,
             "device": device},
        ]  # fmt: skip
        sent = await http.post(f"{suite.gateway_url}/v1/events", json={"events": events},
                               headers={"X-Api-Key": app["app_key"]})  # fmt: skip
        assert sent.status_code == 202 and sent.json()["accepted"] == 3, sent.text

        # The install is attributed to the click before the network reports its sale.
        async def installed() -> list[dict[str, Any]]:
            items = (await cli("install", "list", "--campaign", cid))["installs"]
            assert len(items) == 1
            return list(items)

        [install] = await eventually(installed)
        assert (install["click_id"], install["match_type"]) == (click_id, "click_id")
        pb = await http.get(
            f"{suite.gateway_url}/postback?click_id={click_id}&payout=3.00&status=approved&txid=T-1"
            f"&token={account['postback_token']}"
        )
        assert pb.status_code == 200 and pb.json()["status"] == "approved", pb.text

    # Conversions as the rules credit them: the purchase (last click), the custom goal, the network's sale.
    async def converted() -> list[dict[str, Any]]:
        items = (await cli("conversion", "list", "--campaign", cid))["conversions"]
        assert len(items) == 3
        return list(items)

    conversions = await eventually(converted)
    by_goal = {c["goal"]: c for c in conversions if c.get("source") != "postback"}
    assert Decimal(by_goal["Purchase"]["payout"]) == Decimal("9.99")
    assert "Tutorial" in by_goal
    assert any(c.get("txid") == "T-1" and Decimal(c["payout"]) == 3 for c in conversions)
    revenue = sum(Decimal(c["payout"]) for c in conversions if c.get("payout"))
    assert revenue == Decimal("12.99")

    # The partner heard of the install and each conversion, macros filled.
    async def delivered() -> None:
        kinds = sorted(h.query["k"] for h in sink.hits if h.query.get("c") == click_id)
        assert kinds == ["conversion", "conversion", "conversion", "install"], kinds

    await eventually(delivered)
    sale = next(h.query for h in sink.hits if h.query.get("p") == "9.99")
    assert (sale["g"], sale["c"]) == ("Purchase", click_id)

    # The report adds it up: clicks, installs, conversions, revenue, cost (CPI) and ROI.
    today = dt.datetime.now(dt.UTC).date().isoformat()

    async def reported() -> dict[str, Any]:
        report = await cli("report", "campaigns", "--from", today, "--to", today, "--group-by", "campaign")
        [row] = [r for r in report["rows"] if r["dimensions"]["campaign"] == cid]
        assert (int(row["clicks"]), int(row["installs"]), int(row["conversions"])) == (1, 1, 3), row
        assert money(row["money"], "revenue") == revenue, row
        return dict(row)

    row = await eventually(reported)
    assert money(row["money"], "cost") == Decimal(2)
    assert money(row["money"], "profit") == revenue - 2
    roi = next(f["roi"] for f in row["money"] if f["currency_code"] == "USD")
    assert Decimal(str(roi)).quantize(Decimal("0.0001")) == ((revenue - 2) / 2).quantize(Decimal("0.0001"))


async def test_a_web_campaign_with_an_affiliate_network(suite: Suite, sink: Sink) -> None:
    env, account = await _setup_account(suite, "Shop")

    async def cli(*args: object) -> Any:
        return (await suite.cli(*args, "--json", env=env)).json()

    partner = await cli("partner", "create", "--name", "Affiliate Net")
    campaign = await cli("campaign", "create", "--name", "Summer sale", "--partner", partner["partner_id"])
    cid = campaign["campaign_id"]
    await cli("campaign", "publish", cid)
    await cli("postback", "create", "--partner", partner["partner_id"], "--trigger", "status_change",
              "--url", sink.base + "/st?c={click_id}&s={status}&p={payout}")  # fmt: skip
    link = await cli("link", "create", "--campaign", cid, "--url", "https://shop.example/?clickid={click_id}")
    token = account["postback_token"]
    # A person's browser: a click with httpx's own User-Agent is invalid, and a network's postback for an
    # invalid click is recorded rejected (it must not pay), which fires no status-change postback.
    async with httpx.AsyncClient(timeout=10, headers={"User-Agent": ANDROID_UA}) as http:
        click = await http.get(link["click_url"])
        assert click.status_code == 302
        click_id = parse_qs(urlsplit(click.headers["location"]).query)["clickid"][0]
        states = []
        for word in ("lead", "sale", "trash"):
            r = await http.get(
                f"{suite.gateway_url}/postback?clickid={click_id}&payout=20&status={word}&txid=W-1&token={token}"
            )
            assert r.status_code == 200, r.text
            states.append(r.json()["status"])
        assert states == ["pending", "approved", "rejected"]
        # A rejected conversion cannot come back.
        back = await http.get(f"{suite.gateway_url}/postback?clickid={click_id}&status=sale&txid=W-1&token={token}")
        assert back.status_code == 409 and "rejected" in back.text, back.text
    [conversion] = (await cli("conversion", "list", "--campaign", cid))["conversions"]
    assert (conversion["status"], conversion["txid"]) == ("rejected", "W-1")
    logged = (await cli("postback-in", "list", "--click", click_id))["postbacks"]
    assert len(logged) == 4

    async def told() -> None:
        seen = [h.query["s"] for h in sink.hits if h.query.get("c") == click_id]
        assert seen == ["approved", "rejected"], seen

    await eventually(told)
    today = dt.datetime.now(dt.UTC).date().isoformat()

    async def reported() -> None:
        report = await cli("report", "campaigns", "--from", today, "--group-by", "campaign")
        [row] = [r for r in report["rows"] if r["dimensions"]["campaign"] == cid]
        # Rejected: no conversion, no revenue.
        assert (int(row["clicks"]), int(row.get("conversions", 0))) == (1, 0), row
        assert money(row["money"], "revenue") == 0

    await eventually(reported)
