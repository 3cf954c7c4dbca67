"""`clicktrail app` / `clicktrail link` deep-link options against the real links server:
Apple team id, App Store id and Android fingerprints on apps (set, replaced, cleared,
found by App Store id), a link's --deep-link, and the errors naming the field."""

from tests.cli.conftest import Cli

PRINT = ":".join(f"{b:02X}" for b in range(0x40, 0x60))
OTHER = ":".join(f"{b:02X}" for b in range(0x60, 0x80))


async def test_app_identity_options(cli: Cli) -> None:
    created = (
        await cli(
            "app",
            "create",
            "--name",
            "Miner",
            "--platform",
            "ios",
            "--bundle-id",
            "com.acme.miner",
            "--apple-team-id",
            "abcde12345",
            "--apple-app-id",
            "1234567890",
            "--android-fingerprint",
            PRINT.replace(":", ""),
            "--json",
        )
    ).json()
    app_id = created["app_id"]
    assert (created["apple_team_id"], created["apple_app_id"], created["android_sha256_fingerprints"]) == (
        "ABCDE12345",
        "1234567890",
        [PRINT],
    )
    await cli("app", "create", "--name", "Other", "--platform", "web", "--json")
    found = (await cli("app", "list", "--apple-app-id", "1234567890", "--json")).json()
    assert [a["app_id"] for a in found["apps"]] == [app_id]
    table = await cli("app", "list")
    assert "apple_app_id" in table.stdout and "1234567890" in table.stdout
    replaced = (
        await cli("app", "update", app_id, "--android-fingerprint", OTHER, "--android-fingerprint", PRINT, "--json")
    ).json()
    assert replaced["android_sha256_fingerprints"] == [OTHER, PRINT] and replaced["apple_team_id"] == "ABCDE12345"
    cleared = (
        await cli("app", "update", app_id, "--clear-android-fingerprints", "--apple-team-id", "", "--json")
    ).json()
    assert "android_sha256_fingerprints" not in cleared or cleared["android_sha256_fingerprints"] == []
    assert cleared.get("apple_team_id", "") == "" and cleared["apple_app_id"] == "1234567890"
    bad = await cli("app", "update", app_id, "--apple-app-id", "id123", code=2)
    assert bad.stderr.startswith("error: app.apple_app_id: ")
    bad = await cli("app", "update", app_id, "--android-fingerprint", "AA:BB", code=2)
    assert bad.stderr.startswith("error: app.android_sha256_fingerprints[0]: ")
    assert "--apple-team-id" in (await cli("app", "create", "--help")).stdout


async def test_link_deep_link_option(cli: Cli) -> None:
    partner = (await cli("partner", "create", "--name", "Net", "--json")).json()["partner_id"]
    web = (await cli("campaign", "create", "--name", "Web", "--partner", partner, "--json")).json()["campaign_id"]
    res = await cli(
        "link", "create", "--campaign", web, "--url", "https://acme.example/", "--deep-link", "/p/1", code=2
    )
    assert res.stderr.startswith("error: link.deep_link: needs an app")
    app_id = (
        await cli("app", "create", "--name", "Miner", "--platform", "android", "--bundle-id", "com.acme.m", "--json")
    ).json()["app_id"]
    link = (
        await cli(
            "link",
            "create",
            "--campaign",
            web,
            "--url",
            "https://acme.example/",
            "--app",
            app_id,
            "--deep-link",
            "acme://product/42?ref={sub1}",
            "--json",
        )
    ).json()
    assert link["deep_link"] == "acme://product/42?ref={sub1}"
    updated = (await cli("link", "update", link["link_id"], "--deep-link", "/product/7", "--json")).json()
    assert updated["deep_link"] == "/product/7"
    res = await cli("link", "update", link["link_id"], "--deep-link", "product/7", code=2)
    assert res.stderr.startswith("error: link.deep_link: ")
    cleared = (await cli("link", "update", link["link_id"], "--deep-link", "", "--json")).json()
    assert cleared.get("deep_link", "") == ""
