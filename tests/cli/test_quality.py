"""`clicktrail quality ...`, verdict filters and overrules on `click` / `impression`,
and `campaign update --invalid-traffic`, against a real links server."""

from __future__ import annotations

import enum

import pytest
from clicktrail.links.v1 import links_pb2 as pb
from clicktrail.links.v1 import links_pb2_grpc as pb_grpc
from clicktrail.type.v1 import quality_pb2

from cli import choices
from cli.common import enum_choices
from tests.cli.conftest import Cli

PHONE = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)
CRAWLER = "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"


@pytest.mark.parametrize(
    ("choice", "proto_enum"),
    [(choices.Verdict, quality_pb2.Verdict), (choices.InvalidTrafficAction, pb.InvalidTrafficAction)],
)
def test_flag_choices_match_the_protos(choice: type[enum.StrEnum], proto_enum: object) -> None:
    assert [c.value for c in choice] == enum_choices(proto_enum.DESCRIPTOR)  # type: ignore[attr-defined]


async def _link(cli: Cli) -> tuple[str, str]:
    app_ = await cli("app", "create", "--name", "Miner", "--platform", "android", "--bundle-id", "com.a.m", "--json")
    partner = (await cli("partner", "create", "--name", "Net", "--json")).json()
    campaign = (await cli(
        "campaign", "create", "--name", "UA", "--app", app_.json()["app_id"], "--partner", partner["partner_id"],
        "--fallback-url", "https://acme.example/", "--invalid-traffic", "fallback", "--json",
    )).json()  # fmt: skip
    assert campaign["invalid_traffic_action"] == "fallback"
    link = (await cli(
        "link", "create", "--campaign", campaign["campaign_id"], "--url", "https://shop.example/?c={click_id}",
        "--json",
    )).json()  # fmt: skip
    return campaign["campaign_id"], link["slug"]


async def test_verdicts_in_click_list_filters_and_overrule(
    cli: Cli, gateway_links_stub: pb_grpc.LinksServiceStub
) -> None:
    campaign_id, slug = await _link(cli)
    got = await gateway_links_stub.RecordClicks(pb.RecordClicksRequest(clicks=[
        pb.TouchInput(slug=slug, ip="73.162.10.20", user_agent=PHONE),
        pb.TouchInput(slug=slug, ip="73.162.10.21", user_agent=CRAWLER),
    ]))  # fmt: skip
    person, bot = (r.touch_id for r in got.results)
    assert got.results[1].outcome == pb.TOUCH_OUTCOME_FALLBACK  # --invalid-traffic fallback

    table = (await cli("click", "list", "--campaign", campaign_id)).stdout
    assert "verdict" in table.splitlines()[0] and "reasons" in table.splitlines()[0]
    bot_line = next(line for line in table.splitlines() if line.startswith(bot))
    assert "invalid" in bot_line and "bot_user_agent" in bot_line

    invalid = (await cli("click", "list", "--verdict", "invalid", "--json")).json()
    assert [c["click_id"] for c in invalid["clicks"]] == [bot]
    assert invalid["clicks"][0]["verdict"] == "invalid"
    by_reason = (await cli("click", "list", "--reason", "bot_user_agent", "--json")).json()
    assert [c["click_id"] for c in by_reason["clicks"]] == [bot]
    clean = (await cli("click", "list", "--verdict", "clean", "--json")).json()
    assert [c["click_id"] for c in clean["clicks"]] == [person]
    res = await cli("click", "list", "--reason", "robots", code=2)
    assert "--reason 'robots'" in res.stderr

    over = (await cli("click", "overrule", bot, "--verdict", "clean", "--note", "our link preview", "--json")).json()
    assert (over["previous_verdict"], over["verdict"], over["note"]) == ("invalid", "clean", "our link preview")
    shown = (await cli("click", "get", bot, "--json")).json()
    assert shown["verdict"] == "clean" and "operator" in shown["reasons"]
    res = await cli("click", "overrule", "0" * 26, "--verdict", "invalid", code=1)
    assert "not found" in res.stderr

    await cli("campaign", "update", campaign_id, "--invalid-traffic", "block")
    got = await gateway_links_stub.RecordClicks(
        pb.RecordClicksRequest(clicks=[pb.TouchInput(slug=slug, ip="73.162.10.22", user_agent=CRAWLER)])
    )
    assert got.results[0].outcome == pb.TOUCH_OUTCOME_BLOCKED


async def test_quality_settings_get_and_set(cli: Cli) -> None:
    campaign_id, _ = await _link(cli)
    shown = (await cli("quality", "settings", "get")).stdout
    assert "flood_ip_clicks" in shown and "20  (inherited)" in shown and "every check is on" in shown

    got = (await cli("quality", "settings", "set", "--flood-ip", "50", "--check", "prefetch=off", "--json")).json()
    assert got["effective"]["flood_ip_clicks"] == 50 and got["effective"]["checks"]["prefetch"] is False
    got = (await cli(
        "quality", "settings", "set", "--campaign", campaign_id, "--flood-device", "3", "--duplicate-window", "30s",
        "--json",
    )).json()  # fmt: skip
    eff = got["effective"]
    assert (eff["flood_ip_clicks"], eff["flood_device_clicks"], eff["duplicate_window"]) == (50, 3, "30s")
    shown = (await cli("quality", "settings", "get", "--campaign", campaign_id)).stdout
    assert "checks_off" in shown and "prefetch" in shown and "30s" in shown

    res = await cli("quality", "settings", "set", "--flood-ip", "-1", code=2)
    assert res.stderr.startswith("error: settings.flood_ip_clicks: ")
    res = await cli("quality", "settings", "set", "--check", "robots=off", code=2)
    assert "not a check" in res.stderr
    res = await cli("quality", "settings", "set", "--flood-window", "3d", code=2)
    assert res.stderr.startswith("error: settings.flood_window: ")


async def test_quality_lists(cli: Cli) -> None:
    added = (await cli("quality", "list", "add", "block", "network", "as14061", "--note", "hosting", "--json")).json()
    assert (added["value"], added["created"]) == ("AS14061", True)
    await cli("quality", "list", "add", "allow", "user-agent", "AcmeQA/")
    res = await cli("quality", "list", "add", "block", "network", "10.0.0.0/33", code=2)
    assert res.stderr.startswith("error: entry.value: ")
    res = await cli("quality", "list", "add", "block", "robots", "x", code=2)
    assert "not a kind" in res.stderr

    listed = (await cli("quality", "list", "ls", "--json")).json()
    assert [(e["list"], e["kind"], e["value"]) for e in listed["entries"]] == [
        ("allow", "user_agent", "AcmeQA/"), ("block", "network", "AS14061"),
    ]  # fmt: skip
    only = (await cli("quality", "list", "ls", "--list", "block", "--json")).json()
    assert [e["value"] for e in only["entries"]] == ["AS14061"]
    await cli("quality", "list", "remove", "block", "network", "AS14061")
    await cli("quality", "list", "remove", "block", "network", "AS14061", code=1)
    assert "no entries" in (await cli("quality", "list", "ls", "--kind", "network")).stderr
