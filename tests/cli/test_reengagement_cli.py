"""`clicktrail settings set --re-engagement-window / --reinstall-window` and
`clicktrail install reattributions` against real links, ingest and attribution
servers (the rules themselves: tests/services/attribution/test_reengagement.py)."""

from __future__ import annotations

import pytest

from libs.grpc_server import RunningService
from tests.cli.conftest import Cli
from tests.services.attribution.engine_support import drained, event, send
from tests.services.attribution.test_reengagement import GAID, opened, setup, touch


@pytest.fixture
def acli(cli: Cli, cli_env: pytest.MonkeyPatch, attribution_server: RunningService) -> Cli:
    cli_env.setenv("CLICKTRAIL_ATTRIBUTION_ADDR", attribution_server.addr)
    return cli


async def test_retargeting_windows_in_the_settings_commands(acli: Cli) -> None:
    now = (await acli("settings", "get", "--json")).json()
    assert (now["re_engagement_window"], now["reinstall_window"]) == ("2592000s", "7776000s")
    assert "30d" in (await acli("settings", "get")).stdout
    changed = (await acli("settings", "set", "--re-engagement-window", "7d", "--reinstall-window", "180d",
                          "--json")).json()  # fmt: skip
    assert changed["changed"] is True
    assert (changed["re_engagement_window"], changed["reinstall_window"]) == ("604800s", "15552000s")
    hist = (await acli("settings", "history", "--json")).json()
    assert [sorted(b["changed_fields"]) for b in hist["breakpoints"]] == [["re_engagement_window", "reinstall_window"]]
    assert "180d" in (await acli("settings", "history")).stdout
    bad = await acli("settings", "set", "--reinstall-window", "2h", code=2)
    assert "error: settings.reinstall_window: must be from 1d to 730d; got 2h" in bad.stderr


async def test_install_reattributions_lists_a_re_engagement(
    acli: Cli, attribution_stub, ingest_server, ingest_stub, links_stub, gateway_links_stub, settings,
) -> None:  # fmt: skip
    app_id, ua, rt = await setup(attribution_stub, links_stub)
    await send(ingest_stub, event(app_id, "install", click_id=await touch(gateway_links_stub, ua),
                                  device={"gaid": GAID}))  # fmt: skip
    await drained(settings)
    assert "no reattributions" in (await acli("install", "reattributions")).stderr
    rt_click = await touch(gateway_links_stub, rt)
    await send(ingest_stub, opened(app_id, rt_click))
    await drained(settings)
    [row] = (await acli("install", "reattributions", "--json")).json()["reattributions"]
    assert (row["kind"], row["campaign_id"], row["click_id"], row["match_type"]) == (
        "re_engagement", rt.campaign_id, rt_click, "click_id",
    )  # fmt: skip
    assert row["window_end"].endswith("Z") and row["install_id"]
    listed = await acli("install", "reattributions", "--kind", "re_attribution", "--json")
    assert listed.json()["reattributions"] == []
    by_campaign = (await acli("install", "reattributions", "--campaign", rt.campaign_id, "--json")).json()
    assert [r["click_id"] for r in by_campaign["reattributions"]] == [rt_click]
    table = (await acli("install", "reattributions")).stdout
    assert "re_engagement" in table and rt_click in table
    bad = await acli("install", "reattributions", "--kind", "lapsed", code=2)
    assert "re_engagement" in bad.stderr
