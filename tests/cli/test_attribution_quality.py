"""`clicktrail install|conversion list --verdict/--reason`, `install|conversion
overrule`, `settings quality get|set` and `settings revenue-range ...` against
real links, ingest and attribution servers."""

from __future__ import annotations

import datetime as dt

from libs.grpc_server import RunningService
from tests.cli.conftest import Cli
from tests.services.attribution.engine_support import drained, event, make_app, make_campaign, send, touch

GAID = "6d92078a-8246-4ba4-ae5b-76104861e7dc"


async def test_rejected_installs_and_conversions_listed_filtered_and_overruled(
    cli: Cli, cli_env, attribution_server: RunningService, ingest_server, ingest_stub, links_stub,
    gateway_links_stub, attribution_stub, settings,
) -> None:  # fmt: skip
    cli_env.setenv("CLICKTRAIL_ATTRIBUTION_ADDR", attribution_server.addr)
    app_id = await make_app(links_stub)
    camp = await make_campaign(links_stub, app_id, "Spring")
    goal = (await cli("goal", "create", "--name", "Purchase", "--event", "purchase", "--kind", "purchase",
                      "--occurrence", "every", "--json")).json()  # fmt: skip
    click_id = await touch(gateway_links_stub, camp)
    await send(ingest_stub, event(app_id, "install", click_id=click_id, device={"gaid": GAID}))
    await drained(settings)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    await send(ingest_stub, event(app_id, "track", action="purchase", device={"gaid": GAID}, at=later))
    await drained(settings)

    [inst] = (await cli("install", "list", "--verdict", "invalid", "--json")).json()["installs"]
    assert (inst["verdict"], inst["reasons"], inst["campaign_id"]) == ("invalid", ["click_injection"],
                                                                         camp.campaign_id)  # fmt: skip
    table = (await cli("install", "list", "--reason", "click_injection")).stdout
    assert "verdict" in table and "reasons" in table and "invalid" in table and "click_injection" in table
    assert (await cli("install", "list", "--verdict", "clean", "--json")).json()["installs"] == []
    bad = await cli("install", "list", "--reason", "robots", code=2)
    assert "not an install reason" in bad.stderr
    [conv] = (await cli("conversion", "list", "--reason", "rejected_install", "--json")).json()["conversions"]
    assert (conv["verdict"], conv["goal"]) == ("invalid", "Purchase")
    assert "rejected_install" in (await cli("conversion", "list", "--goal", goal["goal_id"])).stdout

    out = (await cli("install", "overrule", inst["install_id"], "--verdict", "clean", "--note", "QA phone",
                     "--json")).json()  # fmt: skip
    assert (out["verdict"], out["reasons"], out["verdict_note"], out["changed"], out["conversions_changed"]) == (
        "clean", ["click_injection", "operator"], "QA phone", True, 1,
    )  # fmt: skip
    assert (await cli("conversion", "get", conv["conversion_id"], "--json")).json()["verdict"] == "clean"
    text = (await cli("conversion", "overrule", conv["conversion_id"], "--verdict", "invalid")).stdout
    assert "invalid" in text and "operator" in text
    refused = await cli("install", "overrule", inst["install_id"], "--verdict", "rotten", code=2)
    assert "--verdict" in refused.stderr
    missing = await cli("install", "overrule", "nope", "--verdict", "clean", code=1)
    assert "not found" in missing.stderr


async def test_quality_settings_and_revenue_ranges(
    cli: Cli, cli_env, attribution_server: RunningService, links_stub,
) -> None:  # fmt: skip
    cli_env.setenv("CLICKTRAIL_ATTRIBUTION_ADDR", attribution_server.addr)
    shown = (await cli("settings", "quality", "get")).stdout
    assert "check click_injection" in shown and "on (inherited)" in shown and "10s (inherited)" in shown
    got = (await cli("settings", "quality", "set", "--click-injection", "15s", "--check", "client_mismatch=off",
                     "--burst-ip", "3", "--json")).json()  # fmt: skip
    assert got["settings"]["click_injection_time"] == "15s" and got["settings"]["install_burst_ip"] == 3
    assert got["effective"]["checks"]["client_mismatch"] is False and got["effective"]["install_burst_subnet"] == 30

    app_id = await make_app(links_stub)
    camp = await make_campaign(links_stub, app_id)
    text = (await cli("settings", "quality", "set", "--campaign", camp.campaign_id, "--too-soon", "1m")).stdout
    assert "1m (campaign)" in text and "15s (inherited)" in text and "off (inherited)" in text
    text = (await cli("settings", "quality", "set", "--campaign", camp.campaign_id, "--inherit",
                      "too_soon_after_install_time")).stdout  # fmt: skip
    assert "5s (inherited)" in text
    bad = await cli("settings", "quality", "set", "--click-injection", "2h", code=2)
    assert "settings.click_injection_time" in bad.stderr
    assert "not a check" in (await cli("settings", "quality", "set", "--check", "robots=off", code=2)).stderr
    assert "nothing to change" in (await cli("settings", "quality", "set", code=2)).stderr

    goal = (await cli("goal", "create", "--name", "Purchase", "--event", "purchase", "--kind", "purchase",
                      "--json")).json()  # fmt: skip
    made = (await cli("settings", "revenue-range", "add", "--goal", goal["goal_id"], "--currency", "usd", "--max",
                      "500", "--json")).json()  # fmt: skip
    assert (made["currency"], made["min_amount"], made["max_amount"]) == ("USD", "", "500")
    refused = await cli("settings", "revenue-range", "add", "--goal", goal["goal_id"], "--currency", "EUR", "--min",
                        "10", "--max", "5", code=2)  # fmt: skip
    assert "range.max_amount" in refused.stderr
    upd = (await cli("settings", "revenue-range", "update", made["range_id"], "--min", "0.99", "--json")).json()
    assert (upd["min_amount"], upd["max_amount"]) == ("0.99", "500")
    table = (await cli("settings", "revenue-range", "list")).stdout
    assert made["range_id"] in table and "0.99" in table
    assert "deleted" in (await cli("settings", "revenue-range", "delete", made["range_id"])).stdout
    assert (await cli("settings", "revenue-range", "list", "--json")).json()["ranges"] == []
