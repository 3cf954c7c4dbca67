"""Every command group against a real links server (in-process, fresh database)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from clicktrail.links.v1 import links_pb2 as pb
from clicktrail.links.v1 import links_pb2_grpc as pb_grpc

from tests.cli.conftest import Cli
from tests.conftest import AccountInfo

ANDROID_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)


async def _setup(cli: Cli) -> tuple[str, str, str]:
    app_ = (
        await cli(
            "app",
            "create",
            "--name",
            "Space Miner",
            "--platform",
            "android",
            "--bundle-id",
            "com.acme.spaceminer",
            "--json",
        )
    ).json()
    partner = (await cli("partner", "create", "--name", "Unity Ads", "--json")).json()
    campaign = (
        await cli(
            "campaign",
            "create",
            "--name",
            "Spring UA",
            "--app",
            app_["app_id"],
            "--partner",
            partner["partner_id"],
            "--fallback-url",
            "https://acme.example/",
            "--json",
        )
    ).json()
    return app_["app_id"], partner["partner_id"], campaign["campaign_id"]


async def test_account_commands(cli: Cli, account: AccountInfo) -> None:
    created = (
        await cli("account", "create", "--name", "Beta", "--currency", "EUR", "--time-zone", "Europe/Berlin", "--json")
    ).json()
    assert created["account_id"] and created["api_key"] and created["postback_token"]
    assert created["currency_code"] == "EUR" and created["time_zone"] == "Europe/Berlin"

    mine = (await cli("account", "get", "--json", "--api-key", created["api_key"])).json()
    assert mine["account_id"] == created["account_id"] and "api_key" not in mine
    # The admin token can look at any account by id.
    other = (await cli("account", "get", account.account_id, "--json")).json()
    assert other["name"] == "Acme Games"
    listed = (await cli("account", "list", "--json")).json()
    assert {a["account_id"] for a in listed["accounts"]} >= {created["account_id"], account.account_id}

    new_key = (await cli("account", "rotate-key", "--api-key", created["api_key"], "--json")).json()["api_key"]
    assert new_key != created["api_key"]
    old = await cli("account", "get", "--api-key", created["api_key"], code=1)
    assert old.stderr.startswith("error: invalid credentials")
    await cli("account", "get", "--api-key", new_key)
    token = (await cli("account", "rotate-postback-token", "--api-key", new_key, "--json")).json()
    assert token["postback_token"] and token["postback_token"] != created["postback_token"]

    human = await cli("account", "create", "--name", "Gamma")
    assert "api_key" in human.stdout and "export CLICKTRAIL_API_KEY=" in human.stderr


async def test_account_create_needs_the_admin_token(cli: Cli, cli_env: pytest.MonkeyPatch) -> None:
    cli_env.setenv("CLICKTRAIL_ADMIN_TOKEN", "wrong")
    res = await cli("account", "create", "--name", "x", code=1)
    assert res.stderr.startswith("error: invalid credentials") and "admin" in res.stderr
    cli_env.delenv("CLICKTRAIL_ADMIN_TOKEN")
    res = await cli("account", "create", "--name", "x", code=2)
    assert res.stderr.startswith("error: no admin token")


async def test_app_commands(cli: Cli) -> None:
    created = (
        await cli(
            "app", "create", "--name", "Space Miner", "--platform", "ios", "--bundle-id", "com.acme.miner", "--json"
        )
    ).json()
    app_id = created["app_id"]
    assert created["platform"] == "ios" and created["app_key"]
    got = (await cli("app", "get", app_id, "--json")).json()
    assert got["bundle_id"] == "com.acme.miner" and "app_key" not in got
    updated = (await cli("app", "update", app_id, "--store-url", "https://apps.apple.com/app/id1", "--json")).json()
    assert updated["store_url"] == "https://apps.apple.com/app/id1" and updated["name"] == "Space Miner"
    rotated = (await cli("app", "rotate-key", app_id, "--json")).json()
    assert rotated["app_key"] and rotated["app_key"] != created["app_key"]
    listed = (await cli("app", "list", "--json")).json()
    assert [a["app_id"] for a in listed["apps"]] == [app_id]
    table = await cli("app", "list")
    assert "Space Miner" in table.stdout and "app_id" in table.stdout
    assert (await cli("app", "delete", app_id, "--json")).json() == {"app_id": app_id, "deleted": True}
    missing = await cli("app", "get", app_id, code=1)
    assert "not found" in missing.stderr and missing.stderr.count("\n") == 1


async def test_invalid_argument_names_the_field_and_exits_2(cli: Cli) -> None:
    res = await cli("app", "create", "--name", "x", "--platform", "android", code=2)
    assert res.stderr.startswith("error: app.bundle_id: ")
    partner = (await cli("partner", "create", "--name", "Net", "--json")).json()
    res = await cli("campaign", "create", "--name", "", "--partner", partner["partner_id"], code=2)
    assert res.stderr == "error: campaign.name: is required\n"


async def test_partner_commands_and_pagination(cli: Cli, cli_env: pytest.MonkeyPatch) -> None:
    ids = [(await cli("partner", "create", "--name", f"Net {i}", "--json")).json()["partner_id"] for i in range(5)]
    page = (await cli("partner", "list", "--limit", "3", "--json")).json()
    assert len(page["partners"]) == 3 and page["next_page_token"]
    rest = (await cli("partner", "list", "--page-token", page["next_page_token"], "--json")).json()
    assert len(rest["partners"]) == 2 and rest["next_page_token"] == ""
    assert {p["partner_id"] for p in page["partners"] + rest["partners"]} == set(ids)
    # Lists longer than one server page follow next_page_token up to --limit.
    cli_env.setattr("cli.common.MAX_PAGE_SIZE", 2)
    everything = (await cli("partner", "list", "--json")).json()
    assert len(everything["partners"]) == 5 and everything["next_page_token"] == ""
    human = await cli("partner", "list", "--limit", "1")
    assert "--page-token" in human.stderr
    # Names print as they are: no rich markup is interpreted.
    await cli("partner", "create", "--name", "[red]Net[/red] a[]=1")
    assert "[red]Net[/red] a[]=1" in (await cli("partner", "list")).stdout

    renamed = (await cli("partner", "update", ids[0], "--name", "Renamed", "--json")).json()
    assert renamed["name"] == "Renamed"
    assert (await cli("partner", "get", ids[0], "--json")).json()["name"] == "Renamed"
    nothing = await cli("partner", "update", ids[0], code=2)
    assert nothing.stderr.startswith("error: nothing to update")
    await cli("partner", "delete", ids[4])
    await cli("partner", "get", ids[4], code=1)


async def test_campaign_life_cycle(cli: Cli) -> None:
    app_id, partner_id, campaign_id = await _setup(cli)
    got = (await cli("campaign", "get", campaign_id, "--json")).json()
    assert got["status"] == "draft" and got["type"] == "app_install" and got["app_id"] == app_id

    published = (await cli("campaign", "publish", campaign_id, "--json")).json()
    assert published["status"] == "active" and published["publish_time"]
    # Defining fields are frozen once published: FAILED_PRECONDITION, exit 1.
    other = (await cli("partner", "create", "--name", "Other", "--json")).json()["partner_id"]
    frozen = await cli("campaign", "update", campaign_id, "--partner", other, code=1)
    assert frozen.stderr.startswith("error: ") and frozen.stderr.count("\n") == 1
    # Name, fallback URL and budget still change; only the given flags change.
    updated = (
        await cli(
            "campaign",
            "update",
            campaign_id,
            "--name",
            "Spring UA (EU)",
            "--budget",
            "250.50",
            "--currency",
            "eur",
            "--json",
        )
    ).json()
    assert updated["name"] == "Spring UA (EU)" and updated["fallback_url"] == "https://acme.example/"
    assert updated["budget"]["currency_code"] == "EUR" and float(updated["budget"]["amount"]) == 250.5
    assert updated["partner_id"] == partner_id

    assert (await cli("campaign", "pause", campaign_id, "--json")).json()["status"] == "paused"
    active = (await cli("campaign", "list", "--status", "active", "--json")).json()
    assert active["campaigns"] == []
    paused = (await cli("campaign", "list", "--status", "paused", "--json")).json()
    assert [c["campaign_id"] for c in paused["campaigns"]] == [campaign_id]
    assert (await cli("campaign", "archive", campaign_id, "--json")).json()["status"] == "archived"
    res = await cli("campaign", "delete", campaign_id, code=1)
    assert res.stderr.startswith("error: ")

    web = (
        await cli("campaign", "create", "--name", "Web", "--partner", partner_id, "--traffic-type", "social", "--json")
    ).json()
    assert web["type"] == "web" and web["traffic_type"] == "social" and web["status"] == "draft"
    await cli("campaign", "delete", web["campaign_id"])
    await cli("campaign", "get", web["campaign_id"], code=1)
    table = await cli("campaign", "list")
    assert "Spring UA (EU)" in table.stdout and "archived" in table.stdout


async def test_link_commands(cli: Cli) -> None:
    _, _, campaign_id = await _setup(cli)
    link = (
        await cli(
            "link",
            "create",
            "--campaign",
            campaign_id,
            "--url",
            "https://acme.example/land?cid={click_id}&src={sub1}",
            "--ios-url",
            "https://apps.apple.com/app/id1",
            "--name",
            "banner",
            "--json",
        )
    ).json()
    assert link["link_id"] and link["slug"] and link["campaign_id"] == campaign_id
    assert link["click_url"].endswith("/c/" + link["slug"])
    assert link["impression_url"].endswith("/i/" + link["slug"])
    updated = (
        await cli(
            "link",
            "update",
            link["link_id"],
            "--ios-url",
            "",
            "--desktop-url",
            "https://acme.example/desktop",
            "--json",
        )
    ).json()
    assert updated["ios_url"] == "" and updated["desktop_url"] == "https://acme.example/desktop"
    assert updated["name"] == "banner" and updated["slug"] == link["slug"]
    listed = (await cli("link", "list", "--campaign", campaign_id, "--json")).json()
    assert [x["link_id"] for x in listed["links"]] == [link["link_id"]]
    assert (await cli("link", "get", link["link_id"], "--json")).json()["desktop_url"].endswith("/desktop")
    await cli("link", "delete", link["link_id"])
    await cli("link", "get", link["link_id"], code=1)


async def test_click_and_impression_lists(cli: Cli, gateway_links_stub: pb_grpc.LinksServiceStub) -> None:
    _, _, campaign_id = await _setup(cli)
    await cli("campaign", "publish", campaign_id)
    link = (
        await cli("link", "create", "--campaign", campaign_id, "--url", "https://acme.example/?c={click_id}", "--json")
    ).json()
    touch = pb.TouchInput(
        slug=link["slug"], raw_query=b"sub1=banner42&sub2=eu&clickid=net-1", ip="81.2.69.142", user_agent=ANDROID_UA
    )
    clicks = await gateway_links_stub.RecordClicks(pb.RecordClicksRequest(clicks=[touch, touch]))
    ids = {r.touch_id for r in clicks.results}
    await gateway_links_stub.RecordImpressions(pb.RecordImpressionsRequest(impressions=[touch]))

    listed = (await cli("click", "list", "--campaign", campaign_id, "--json")).json()
    assert {c["click_id"] for c in listed["clicks"]} == ids
    first = listed["clicks"][0]
    assert first["link_id"] == link["link_id"] and first["campaign_id"] == campaign_id
    assert first["country"] == "GB" and first["os"] == "Android" and first["device_type"] == "mobile"
    assert first["browser"].startswith("Chrome") and first["ip"] == "81.2.69.142"
    assert first["sub1"] == "banner42" and first["sub2"] == "eu" and first["sub10"] == ""
    assert first["partner_click_id"] == "net-1" and first["create_time"].endswith("Z")

    one = (await cli("click", "list", "--link", link["link_id"], "--limit", "1", "--json")).json()
    assert len(one["clicks"]) == 1 and one["next_page_token"]
    got = (await cli("click", "get", first["click_id"], "--json")).json()
    assert got["click_id"] == first["click_id"] and got["user_agent"] == ANDROID_UA
    none = (await cli("click", "list", "--campaign", campaign_id, "--since", "2999-01-01", "--json")).json()
    assert none["clicks"] == []

    table = await cli("click", "list", "--campaign", campaign_id)
    assert "banner42" in table.stdout and "GB" in table.stdout and "mobile" in table.stdout

    views = (await cli("impression", "list", "--campaign", campaign_id, "--json")).json()
    assert len(views["impressions"]) == 1
    assert views["impressions"][0]["impression_id"] and views["impressions"][0]["sub1"] == "banner42"


async def test_another_account_sees_nothing(cli: Cli, new_account: Callable[[str], Awaitable[AccountInfo]]) -> None:
    _, partner_id, campaign_id = await _setup(cli)
    other = await new_account("Rival")
    res = await cli("campaign", "get", campaign_id, "--api-key", other.api_key, code=1)
    assert res.stderr.startswith("error: ") and "not found" in res.stderr and res.stdout == ""
    assert (await cli("campaign", "list", "--api-key", other.api_key, "--json")).json()["campaigns"] == []
    await cli("partner", "update", partner_id, "--name", "Stolen", "--api-key", other.api_key, code=1)
    await cli("campaign", "pause", campaign_id, "--api-key", other.api_key, code=1)
    assert (await cli("campaign", "get", campaign_id, "--json")).json()["status"] == "draft"
