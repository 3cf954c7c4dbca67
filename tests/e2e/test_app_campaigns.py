"""Issue 22 ("App campaigns like an MMP") end to end against the suite as `make
run` starts it: set up with the `clicktrail` CLI, driven over HTTP the way
phones, Apple and ad networks drive it, checked the way an operator checks
(the CLI's lists and the campaign report).

- deferred deep links: an Android first launch matched by the Play referrer's
  click id, an iOS one by fingerprint; each handed out once; the association
  files on a custom tracking domain; a deep link without an app refused;
- re-engagement: a retargeting click takes a purchase away from the campaign
  that brought the install, and the report counts the re-engagement;
- SKAdNetwork / AdAttributionKit: Apple's published postbacks verified and
  stored once (a replay and the network's copy are duplicates), forged ones
  refused with the reason, the report's SKAN installs;
- Apple Ads: an install credited through its AdServices token (a local stand-in
  of Apple's attribution API), the tokens Apple does not credit, the click id
  that outranks it, nothing stored twice; the report by Apple campaign."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import pytest_asyncio

from tests.e2e.conftest import Suite, start_suite, still_running, stop_shared
from tests.e2e.test_pipeline import _setup_account, eventually

# One suite for the module's tests (each on an account of its own), in the module's event loop.
pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

ANDROID_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile "
    "Safari/537.36"
)
IPHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
    "Mobile/15E148 Safari/604.1"
)
# The app's own User-Agent on first launch is not the browser's; the deferred deep link's fingerprint is the
# connection's address + User-Agent, so an SDK sends the browser's (WKWebView's) User-Agent string, as here.
TEAM_ID = "9JA89QQLNQ"
# A SHA-256 signing certificate fingerprint in Digital Asset Links' form (32 bytes, colon-separated hex):
# https://developer.android.com/training/app-links/verify-android-applinks
FINGERPRINT = ":".join(f"{b:02X}" for b in bytes(range(0x10, 0x30)))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_suite(
    module_db_url: str, tmp_path_factory: pytest.TempPathFactory, apple: AppleAttributionApi
) -> AsyncIterator[Suite]:
    """The suite the module's tests share: quick rollups; Apple's attribution API is the
    local stand-in (asked again 0.2 s after a 404); AdAttributionKit postbacks signed with
    Apple's development keys accepted (Apple's published AdAttributionKit example is one)."""
    running = await start_suite(
        tmp_path_factory.mktemp("app_campaigns"), module_db_url,
        CLICKTRAIL_ANALYTICS_ROLLUP_INTERVAL_S="0.3", CLICKTRAIL_ANALYTICS_ROLLUP_LAG_S="0.5",
        CLICKTRAIL_APPLE_ADS_URL=apple.url, CLICKTRAIL_APPLE_ADS_RETRY_S="0.2",
        CLICKTRAIL_SKAN_DEVELOPMENT_KEYS="1",
    )  # fmt: skip
    yield running
    await stop_shared(running)


@pytest.fixture
def suite(shared_suite: Suite) -> Suite:
    return still_running(shared_suite)


class Operator:
    """`clicktrail ... --json` with one account's key."""

    def __init__(self, suite: Suite, env: dict[str, str]) -> None:
        self.suite, self.env = suite, env

    async def __call__(self, *args: object) -> Any:
        return (await self.suite.cli(*args, "--json", env=self.env)).json()

    async def fails(self, *args: object) -> str:
        """Runs a command that must be refused; answers what it printed."""
        res = await self.suite.cli(*args, env=self.env, code=None)
        assert res.code != 0, f"clicktrail {args} succeeded:\n{res.stdout}"
        return res.stdout + res.stderr


async def operator(suite: Suite, name: str) -> tuple[Operator, dict[str, Any]]:
    env, account = await _setup_account(suite, name)
    return Operator(suite, env), account


def location_query(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


# --------------------------------------------------------------------------- deferred deep links


async def test_deferred_deep_links_on_android_by_click_id_and_on_ios_by_fingerprint_once(suite: Suite) -> None:
    op, account = await operator(suite, "Shoply")
    partner = await op("partner", "create", "--name", "Meta Ads")
    android = await op(
        "app", "create", "--name", "Shoply", "--platform", "android", "--bundle-id", "com.shoply.app",
        "--android-fingerprint", FINGERPRINT,
    )  # fmt: skip
    ios = await op(
        "app", "create", "--name", "Shoply iOS", "--platform", "ios", "--bundle-id", "com.shoply.ios",
        "--apple-team-id", TEAM_ID, "--apple-app-id", "1473846512",
    )  # fmt: skip
    links = {}
    for app, store in ((android, "https://play.google.com/store/apps/details?id=com.shoply.app&referrer=cid%3D{click_id}"),
                       (ios, "https://apps.apple.com/app/id1473846512?ct={click_id}")):  # fmt: skip
        camp = await op("campaign", "create", "--name", f"Spring {app['name']}", "--app", app["app_id"],
                        "--partner", partner["partner_id"])  # fmt: skip
        await op("campaign", "publish", camp["campaign_id"])
        links[app["app_id"]] = await op(
            "link", "create", "--campaign", camp["campaign_id"], "--url", store,
            "--deep-link", "shoply://product/42?promo={sub1}",
        )  # fmt: skip
    deeplink = f"{suite.gateway_url}/v1/deeplink"

    # Android: the click, then the first launch sends the click id the Play install referrer carried.
    async with httpx.AsyncClient(
        timeout=10, headers={"User-Agent": ANDROID_UA, "X-Forwarded-For": "73.162.40.1"}
    ) as phone:
        click = await phone.get(links[android["app_id"]]["click_url"], params={"sub1": "spring25"})
        referrer = parse_qs(location_query(click)["referrer"])
        click_id = referrer["cid"][0]
        first = await phone.post(deeplink, json={"click_id": click_id}, headers={"X-Api-Key": android["app_key"]})
        assert first.status_code == 200, first.text
        got = first.json()
        assert (got["deep_link"], got["click_id"], got["match"]) == (
            "shoply://product/42?promo=spring25",
            click_id,
            "click_id",
        ), got
        assert got["link_id"] == links[android["app_id"]]["link_id"]
        # Handed out once: the same launch again (a retry, a reinstall) gets nothing.
        again = await phone.post(deeplink, json={"click_id": click_id}, headers={"X-Api-Key": android["app_key"]})
        assert (again.status_code, again.json()) == (404, {"error": "no deferred deep link"}), again.text
        # Another app's key does not reach this click's deep link.
        other = await phone.post(deeplink, json={"click_id": click_id}, headers={"X-Api-Key": ios["app_key"]})
        assert other.status_code == 404, other.text

    # iOS: no referrer; the first launch is matched by the connection's address and User-Agent.
    async with httpx.AsyncClient(
        timeout=10, headers={"User-Agent": IPHONE_UA, "X-Forwarded-For": "73.162.41.7"}
    ) as phone:
        click = await phone.get(links[ios["app_id"]]["click_url"], params={"sub1": "ios25"})
        ios_click = location_query(click)["ct"]
        # Someone else's phone (another address) launching the app is not this click.
        stranger = await phone.post(deeplink, json={}, headers={"X-Api-Key": ios["app_key"],
                                                                "X-Forwarded-For": "73.162.99.9"})  # fmt: skip
        assert stranger.status_code == 404, stranger.text
        first = await phone.post(deeplink, json={}, headers={"X-Api-Key": ios["app_key"]})
        assert first.status_code == 200, first.text
        got = first.json()
        assert (got["deep_link"], got["click_id"], got["match"]) == (
            "shoply://product/42?promo=ios25",
            ios_click,
            "fingerprint",
        ), got
        again = await phone.post(deeplink, content=b"", headers={"X-Api-Key": ios["app_key"]})
        assert again.status_code == 404, again.text

        # Bad input, each refused with what to fix.
        no_key = await phone.post(deeplink, json={})
        assert no_key.status_code == 401 and "X-Api-Key" in no_key.json()["error"], no_key.text
        account_key = await phone.post(deeplink, json={}, headers={"X-Api-Key": account["api_key"]})
        assert account_key.status_code == 401 and "app key" in account_key.json()["error"], account_key.text
        bad = await phone.post(deeplink, json={"click_id": 42}, headers={"X-Api-Key": ios["app_key"]})
        assert bad.status_code == 400 and "click_id" in bad.text, bad.text

    # A deep link needs an app to open: a link of a campaign without one is refused, naming the field.
    web = await op("campaign", "create", "--name", "Web promo", "--partner", partner["partner_id"])
    refused = await op.fails(
        "link", "create", "--campaign", web["campaign_id"], "--url", "https://shoply.example/",
        "--deep-link", "shoply://product/42",
    )  # fmt: skip
    assert "link.deep_link" in refused, refused
    assert not (await op("link", "list", "--campaign", web["campaign_id"]))["links"]


async def test_association_files_on_a_custom_tracking_domain(suite: Suite) -> None:
    op, _account = await operator(suite, "Shoply")
    await op("app", "create", "--name", "Shoply", "--platform", "android", "--bundle-id", "com.shoply.app",
             "--android-fingerprint", FINGERPRINT)  # fmt: skip
    await op("app", "create", "--name", "Shoply iOS", "--platform", "ios", "--bundle-id", "com.shoply.ios",
             "--apple-team-id", TEAM_ID)  # fmt: skip
    await op("domain", "add", "go.shoply.example")
    async with httpx.AsyncClient(timeout=10, headers={"Host": "go.shoply.example"}) as http:
        # Apple: https://developer.apple.com/documentation/xcode/supporting-associated-domains (JSON, no redirect).
        aasa = await http.get(f"{suite.gateway_url}/.well-known/apple-app-site-association")
        assert aasa.status_code == 200 and aasa.headers["content-type"].startswith("application/json"), aasa.text
        [details] = aasa.json()["applinks"]["details"]
        assert details["appIDs"] == [f"{TEAM_ID}.com.shoply.ios"]
        assert {"/": "/c/*"}.items() <= details["components"][0].items()
        # Google: https://developer.android.com/training/app-links/verify-android-applinks
        assets = await http.get(f"{suite.gateway_url}/.well-known/assetlinks.json")
        assert assets.status_code == 200, assets.text
        assert assets.json() == [{
            "relation": ["delegate_permission/common.handle_all_urls"],
            "target": {"namespace": "android_app", "package_name": "com.shoply.app",
                       "sha256_cert_fingerprints": [FINGERPRINT]},
        }]  # fmt: skip
    # A host nobody registered serves no app's association.
    async with httpx.AsyncClient(timeout=10, headers={"Host": "unknown.example"}) as http:
        assert (await http.get(f"{suite.gateway_url}/.well-known/apple-app-site-association")).status_code == 404


# --------------------------------------------------------------------------- re-engagement


async def test_a_reengagement_takes_a_purchase_away_from_the_install_campaign(suite: Suite) -> None:
    op, _account = await operator(suite, "Space Miner")
    app = await op("app", "create", "--name", "Space Miner", "--platform", "android", "--bundle-id", "com.acme.miner")
    ua_net = await op("partner", "create", "--name", "Unity Ads")
    rt_net = await op("partner", "create", "--name", "Retarget Co")
    purchase = await op(
        "goal", "create", "--name", "Purchase", "--event", "purchase", "--kind", "purchase", "--occurrence", "every",
        "--value-path", "action_properties.price", "--currency-path", "action_properties.currency",
    )  # fmt: skip
    # This user installs the moment they click and buys at once (a test's timing): what click injection and a
    # bot's purchase look like, so those two checks are off.
    await op("settings", "quality", "set", "--check", "click_injection=off", "--check", "too_soon_after_install=off")
    install_campaign = await op("campaign", "create", "--name", "UA", "--app", app["app_id"],
                                "--partner", ua_net["partner_id"], "--goal", purchase["goal_id"])  # fmt: skip
    retargeting = await op("campaign", "create", "--name", "Win back", "--type", "retargeting", "--app", app["app_id"],
                           "--partner", rt_net["partner_id"], "--goal", purchase["goal_id"])  # fmt: skip
    ua_cid, rt_cid = install_campaign["campaign_id"], retargeting["campaign_id"]
    for cid in (ua_cid, rt_cid):
        await op("campaign", "publish", cid)
    ua_link = await op("link", "create", "--campaign", ua_cid, "--url", "https://play.example/store?cid={click_id}")
    rt_link = await op("link", "create", "--campaign", rt_cid, "--url", "https://shop.example/open?cid={click_id}")

    gaid = str(uuid.uuid4())
    device = {"gaid": gaid, "platform": "android"}

    def purchase_event(price: str) -> dict[str, Any]:
        return {"uuid": str(uuid.uuid4()), "event": "track", "action": "purchase", "timestamp": now(),
                "device": device, "action_properties": {"price": price, "currency": "USD"}}  # fmt: skip

    async def conversions(cid: str) -> list[dict[str, Any]]:
        return list((await op("conversion", "list", "--campaign", cid))["conversions"])

    async with httpx.AsyncClient(timeout=10, headers={"User-Agent": ANDROID_UA}) as phone:

        async def send(*events: dict[str, Any], answer: str = "accepted") -> None:
            r = await phone.post(f"{suite.gateway_url}/v1/events", json={"events": list(events)},
                                 headers={"X-Api-Key": app["app_key"]})  # fmt: skip
            assert r.status_code == 202 and r.json()[answer] == len(events), r.text

        ua_click = location_query(await phone.get(ua_link["click_url"], headers={"X-Forwarded-For": "73.162.50.1"}))
        await send({"uuid": str(uuid.uuid4()), "event": "install", "click_id": ua_click["cid"], "timestamp": now(),
                    "device": device})  # fmt: skip

        async def installed() -> None:
            [install] = (await op("install", "list", "--campaign", ua_cid))["installs"]
            assert (install["click_id"], install["match_type"]) == (ua_click["cid"], "click_id"), install

        await eventually(installed)
        # Before any retargeting: the purchase is the install campaign's.
        await send(purchase_event("5.00"))

        async def first_sale() -> None:
            assert [Decimal(c["payout"]) for c in await conversions(ua_cid)] == [Decimal(5)]

        await eventually(first_sale)

        # A week on, the user taps a retargeting ad (another place, another address): the app opens through it
        # and the SDK reports the open with the link's click id.
        rt_click = location_query(await phone.get(rt_link["click_url"], headers={"X-Forwarded-For": "73.162.51.2"}))
        reengage = {"uuid": str(uuid.uuid4()), "event": "track", "action": "deeplink_open", "timestamp": now(),
                    "device": device, "action_properties": {"click_id": rt_click["cid"]}}  # fmt: skip
        await send(reengage)

        async def reengaged() -> list[dict[str, Any]]:
            rows = (await op("install", "reattributions"))["reattributions"]
            assert len(rows) == 1, rows
            return list(rows)

        [row] = await eventually(reengaged)
        assert (row["kind"], row["campaign_id"], row["click_id"]) == ("re_engagement", rt_cid, rt_click["cid"]), row
        # The next purchase goes to the retargeting campaign, not to the one that brought the install.
        await send(purchase_event("20.00"))
        # The open resent (an SDK retry: the same event) and reported again (a new event, the same click): still
        # one re-engagement.
        await send(dict(reengage), answer="duplicates")
        await send({**reengage, "uuid": str(uuid.uuid4()), "timestamp": now()})

    async def moved() -> None:
        taken = await conversions(rt_cid)
        assert [Decimal(c["payout"]) for c in taken] == [Decimal(20)], taken
        assert [Decimal(c["payout"]) for c in await conversions(ua_cid)] == [Decimal(5)]

    await eventually(moved)
    assert len((await op("install", "reattributions"))["reattributions"]) == 1

    today = dt.datetime.now(dt.UTC).date().isoformat()

    async def reported() -> None:
        report = await op("report", "campaigns", "--from", today, "--group-by", "campaign")
        rows = {r["dimensions"]["campaign"]: r for r in report["rows"]}
        ua, rt = rows[ua_cid], rows[rt_cid]
        assert (int(ua.get("installs", 0)), int(ua.get("conversions", 0)), int(ua.get("re_engagements", 0))) == (
            1, 1, 0,
        ), ua  # fmt: skip
        assert (int(rt.get("installs", 0)), int(rt.get("conversions", 0)), int(rt.get("re_engagements", 0))) == (
            0, 1, 1,
        ), rt  # fmt: skip

    await eventually(reported)


# --------------------------------------------------------------------------- SKAdNetwork / AdAttributionKit

# Apple's example SKAdNetwork 2.1 postback from "Verifying an install-validation postback"
# (https://developer.apple.com/documentation/storekit/verifying-an-install-validation-postback; the same
# example, checked against Apple's P-256 key, in https://gist.github.com/jen6/8fa65a25622d2272a862100ab9157bec):
# it verifies with Apple's published key, so it is what Apple would post.
SKAN_21: dict[str, Any] = {
    "version": "2.1", "ad-network-id": "com.example", "campaign-id": 42,
    "transaction-id": "6aafb7a5-0170-41b5-bbe4-fe71dedf1e28", "app-id": 525463029,
    "attribution-signature": "MEUCID6rbq3qt4GvFaAaynh5/LAcvn1d8CQTRhrZhLIxLKntAiEAo7IrvoMw6u2qDg6Tr5vIsEHXjlLkPlCOL0o"
    "jJcEh3Qw=",
    "redownload": True, "source-app-id": 1234567891, "conversion-value": 20,
}  # fmt: skip
SKAN_APP_ID = "525463029"
# Apple's example AdAttributionKit postback ("Identifying the parameters in a postback",
# https://developer.apple.com/documentation/adattributionkit/identifying-the-parameters-in-a-postback):
# signed with Apple's development key apple-development-identifier/1 (accepted only where the operator allows
# development keys), advertised item 10738027756, ad network development.adattributionkit, source id 1234.
AAK_EXAMPLE: dict[str, Any] = {
    "jws-string": "eyJraWQiOiJhcHBsZS1kZXZlbG9wbWVudC1pZGVudGlmaWVyXC8xIiwiYWxnIjoiRVMyNTYifQ.eyJwb3N0YmFjay1pZGVu"
    "dGlmaWVyIjoiODU1NDZFQjctRkQzOS00NEJDLTg5OTAtQzk4QTRBQzM2QTQ5IiwicHVibGlzaGVyLWl0ZW0taWRlbnRpZmllciI6MCwibWFy"
    "a2V0cGxhY2UtaWRlbnRpZmllciI6ImNvbS5hcHBsZS5BcHBTdG9yZSIsImltcHJlc3Npb24tdHlwZSI6ImFwcC1pbXByZXNzaW9uIiwiYWQt"
    "bmV0d29yay1pZGVudGlmaWVyIjoiZGV2ZWxvcG1lbnQuYWRhdHRyaWJ1dGlvbmtpdCIsImRpZC13aW4iOnRydWUsInBvc3RiYWNrLXNlcXVl"
    "bmNlLWluZGV4IjowLCJjb252ZXJzaW9uLXR5cGUiOiJyZS1lbmdhZ2VtZW50Iiwic291cmNlLWlkZW50aWZpZXIiOiIxMjM0IiwiYWR2ZXJ0"
    "aXNlZC1pdGVtLWlkZW50aWZpZXIiOjEwNzM4MDI3NzU2fQ.bAdNwKd6OfHK9tofvjjua4X_JPcFTxXPQSspD9gZkinw97pY7R1aI-LSjl-oxZZ"
    "F3_K2H5JK5TSEBee4_1U4oQ",
    "conversion-value": 24, "ad-interaction-type": "click", "country-code": "US",
}  # fmt: skip
AAK_APP_ID = "10738027756"
SKAN_COPY = "/.well-known/skadnetwork/report-attribution/"
AAK_COPY = "/.well-known/appattribution/report-attribution/"


async def test_skan_postbacks_verified_stored_once_forged_refused_and_reported(suite: Suite) -> None:
    op, account = await operator(suite, "Puzzle Co")
    app = await op("app", "create", "--name", "Puzzle", "--platform", "ios", "--bundle-id", "com.puzzle.ios",
                   "--apple-app-id", SKAN_APP_ID)  # fmt: skip
    network = await op("partner", "create", "--name", "Example Network")
    campaign = await op("campaign", "create", "--name", "SKAN iOS", "--app", app["app_id"],
                        "--partner", network["partner_id"])  # fmt: skip
    cid = campaign["campaign_id"]
    await op("skan", "map", "--ad-network", "com.example", "--source", "42", "--campaign", cid)
    # The AdAttributionKit example's app (advertised item 10738027756), its network and source identifier.
    aak_app = await op("app", "create", "--name", "Puzzle 2", "--platform", "ios", "--bundle-id", "com.puzzle.two",
                       "--apple-app-id", AAK_APP_ID)  # fmt: skip
    aak_campaign = await op("campaign", "create", "--name", "AAK iOS", "--app", aak_app["app_id"],
                            "--partner", network["partner_id"])  # fmt: skip
    aak_cid = aak_campaign["campaign_id"]
    await op("skan", "map", "--ad-network", "development.adattributionkit", "--source", "1234", "--campaign", aak_cid)

    async def stored() -> list[dict[str, Any]]:
        return list((await op("skan", "postbacks"))["postbacks"])

    async with httpx.AsyncClient(timeout=10, base_url=suite.gateway_url) as apple:
        # A forged copy: the campaign changed after Apple signed it. Refused, the reason named, nothing stored.
        forged = await apple.post(SKAN_COPY, json={**SKAN_21, "campaign-id": 43})
        assert forged.status_code == 400, forged.text
        assert forged.json()["field"] == "signature", forged.text
        assert await stored() == []
        # Apple's developer copy: verified and stored once.
        first = await apple.post(SKAN_COPY, json=SKAN_21)
        assert (first.status_code, first.json()["status"]) == (200, "stored"), first.text
        # Apple retries until it sees a 200: a replay is a duplicate; so is the network's forwarded copy.
        replay = await apple.post(SKAN_COPY, json=SKAN_21)
        assert (replay.status_code, replay.json()["status"]) == (200, "duplicate"), replay.text
        network_copy = await apple.post("/skan/postback", json=SKAN_21, params={"token": account["postback_token"]})
        assert (network_copy.status_code, network_copy.json()["status"]) == (200, "duplicate"), network_copy.text
        # A network's copy without the account's token is refused.
        no_token = await apple.post("/skan/postback", json=SKAN_21)
        assert no_token.status_code == 401, no_token.text
        # A postback missing a signed field is refused naming it.
        missing = await apple.post(SKAN_COPY, json={k: v for k, v in SKAN_21.items() if k != "transaction-id"})
        assert missing.status_code == 400 and missing.json()["field"] == "transaction-id", missing.text
        # AdAttributionKit: Apple's JWS verified, stored once; its payload changed is refused.
        aak = await apple.post(AAK_COPY, json=AAK_EXAMPLE)
        assert (aak.status_code, aak.json()["status"]) == (200, "stored"), aak.text
        aak_again = await apple.post(AAK_COPY, json=AAK_EXAMPLE)
        assert (aak_again.status_code, aak_again.json()["status"]) == (200, "duplicate"), aak_again.text
        header, payload, signature = AAK_EXAMPLE["jws-string"].split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims["source-identifier"] = "9999"  # another campaign's, after Apple signed it
        tampered = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        forged_aak = await apple.post(AAK_COPY, json={**AAK_EXAMPLE, "jws-string": f"{header}.{tampered}.{signature}"})
        assert forged_aak.status_code == 400 and forged_aak.json()["field"] == "signature", forged_aak.text

    rows = {r["transaction_id"]: r for r in await stored()}
    assert len(rows) == 2, rows
    row = rows[SKAN_21["transaction-id"]]
    assert (row["campaign_id"], row["app_id"], row["version"]) == (cid, app["app_id"], "2.1"), row
    aak_row = rows["85546EB7-FD39-44BC-8990-C98A4AC36A49"]
    assert (aak_row["campaign_id"], aak_row["app_id"], aak_row["kind"]) == (
        aak_cid, aak_app["app_id"], "adattributionkit",
    ), aak_row  # fmt: skip
    assert (int(row.get("installs", 0)), int(row.get("fine_value", -1))) == (1, 20), row

    today = dt.datetime.now(dt.UTC).date().isoformat()

    async def reported() -> None:
        report = await op("report", "campaigns", "--from", today, "--group-by", "campaign")
        [r] = [r for r in report["rows"] if r["dimensions"]["campaign"] == cid]
        assert int(r.get("skan_installs", 0)) == 1, r

    await eventually(reported)


# --------------------------------------------------------------------------- Apple Ads (AdServices)


class AppleAttributionApi:
    """A local stand-in of Apple's attribution API (POST the token as text/plain), answering per token the
    shapes Apple documents for AAAttribution.attributionToken()
    (https://developer.apple.com/documentation/adservices/aaattribution/attributiontoken()): 200 with the
    attribution payload, 404 while the token is not known yet / not found (Apple: retry), 400 for a token
    that is not valid. Records every token asked."""

    def __init__(self, answers: dict[str, tuple[int, dict[str, Any] | None]]) -> None:
        self.answers = answers
        self.asked: list[str] = []
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/api/v1/"

    async def start(self) -> AppleAttributionApi:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in head[1:] if ":" in h)}
                token = (await reader.readexactly(int(headers.get("content-length") or 0))).decode().strip()
                self.asked.append(token)
                status, payload = self.answers.get(token, (404, None))
                body = json.dumps(payload).encode() if payload is not None else b""
                writer.write(f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
                             "\r\n\r\n".encode() + body)  # fmt: skip
                await writer.drain()
        writer.close()


ASA_CAMPAIGN, ASA_ORG, ASA_AD_GROUP, ASA_KEYWORD, ASA_AD = 542370539, 40669820, 542317095, 87675432, 542317136
# Tokens as AAAttribution.attributionToken() makes them: long base64 strings.
TOKEN_ASA = "f" + "A" * 150 + "=="
TOKEN_ORGANIC = "g" + "B" * 150 + "=="
TOKEN_UNKNOWN = "h" + "C" * 150 + "=="
TOKEN_CLICKED = "i" + "D" * 150 + "=="
ASA_PAYLOAD = {
    "attribution": True, "orgId": ASA_ORG, "campaignId": ASA_CAMPAIGN, "conversionType": "Download",
    "clickDate": "2026-12-06T10:31Z", "adGroupId": ASA_AD_GROUP, "countryOrRegion": "US", "keywordId": ASA_KEYWORD,
    "adId": ASA_AD,
}  # fmt: skip


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def apple() -> AsyncIterator[AppleAttributionApi]:
    api = await AppleAttributionApi({
        TOKEN_ASA: (200, ASA_PAYLOAD),
        TOKEN_CLICKED: (200, ASA_PAYLOAD),
        TOKEN_ORGANIC: (200, {"attribution": False}),
        TOKEN_UNKNOWN: (404, None),
    }).start()  # fmt: skip
    yield api
    await api.close()


async def test_an_apple_ads_install_and_the_tokens_apple_does_not_credit(
    suite: Suite, apple: AppleAttributionApi
) -> None:
    op, _account = await operator(suite, "Puzzle Co")
    app = await op("app", "create", "--name", "Puzzle", "--platform", "ios", "--bundle-id", "com.puzzle.ios")
    asa = await op("partner", "create", "--name", "Apple Ads")
    net = await op("partner", "create", "--name", "Example Network")
    brand = await op("campaign", "create", "--name", "ASA Brand", "--app", app["app_id"],
                     "--partner", asa["partner_id"])  # fmt: skip
    other = await op("campaign", "create", "--name", "Network iOS", "--app", app["app_id"],
                     "--partner", net["partner_id"])  # fmt: skip
    for c in (brand, other):
        await op("campaign", "publish", c["campaign_id"])
    await op("settings", "quality", "set", "--check", "click_injection=off")
    await op("apple-ads", "set", "--enable", "--partner", asa["partner_id"])
    await op("apple-ads", "map", str(ASA_CAMPAIGN), "--campaign", brand["campaign_id"])
    link = await op("link", "create", "--campaign", other["campaign_id"], "--url",
                    "https://apps.apple.com/app/id1?ct={click_id}")  # fmt: skip

    def install(token: str, **extra: Any) -> dict[str, Any]:
        return {"uuid": str(uuid.uuid4()), "event": "install", "timestamp": now(), "adservices_token": token,
                "device": {"idfv": str(uuid.uuid4()).upper(), "platform": "ios"}, **extra}  # fmt: skip

    async with httpx.AsyncClient(timeout=10, headers={"User-Agent": IPHONE_UA}) as phone:
        click = location_query(await phone.get(link["click_url"], headers={"X-Forwarded-For": "73.162.60.1"}))
        events = [
            install(TOKEN_ASA),  # an Apple Ads install: credited to the mapped campaign
            install(TOKEN_ORGANIC),  # Apple says attribution false: it stays organic
            install(TOKEN_UNKNOWN),  # Apple never knows the token (404 on every retry): refused, stays organic
            install(TOKEN_CLICKED, click_id=click["ct"]),  # an exact click id outranks Apple Ads
        ]
        for attempt in range(2):  # the SDK's batch resent (a retry after a timeout): nothing twice
            sent = await phone.post(f"{suite.gateway_url}/v1/events", json={"events": events},
                                    headers={"X-Api-Key": app["app_key"]})  # fmt: skip
            assert sent.status_code == 202, sent.text
            assert sent.json()["accepted" if attempt == 0 else "duplicates"] == 4, sent.text

    async def resolved() -> dict[str, dict[str, Any]]:
        lookups = (await op("apple-ads", "lookups"))["lookups"]
        # The click-id install is never looked up: an exact click id outranks whatever Apple would say.
        assert len(lookups) == 3, lookups
        return {lk["install_id"]: lk for lk in lookups}

    lookups = await eventually(resolved)
    installs = {i["install_id"]: i for i in (await op("install", "list", "--app", app["app_id"]))["installs"]}
    assert len(installs) == 4, installs
    outcome = {lookups[i]["outcome"] if i in lookups else "clicked": installs[i] for i in installs}
    # Credited: the mapped campaign, Apple's ids on the lookup.
    credited = lookups[outcome["credited"]["install_id"]]
    assert outcome["credited"]["campaign_id"] == brand["campaign_id"], outcome["credited"]
    assert outcome["credited"]["match_type"] == "apple_ads", outcome["credited"]
    assert (int(outcome["credited"]["apple_ads_campaign_id"]), int(outcome["credited"]["apple_ads_keyword_id"])) == (
        ASA_CAMPAIGN, ASA_KEYWORD,
    ), outcome["credited"]  # fmt: skip
    assert (int(credited["org_id"]), int(credited["apple_campaign_id"]), int(credited["keyword_id"])) == (
        ASA_ORG, ASA_CAMPAIGN, ASA_KEYWORD,
    ), credited  # fmt: skip
    assert outcome["not_attributed"]["match_type"] == "organic"
    unknown = lookups[outcome["not_found"]["install_id"]]
    assert outcome["not_found"]["match_type"] == "organic" and unknown["reason"], unknown
    # The click-id install keeps its click.
    clicked = outcome["clicked"]
    assert (clicked["match_type"], clicked["campaign_id"], clicked["click_id"]) == (
        "click_id", other["campaign_id"], click["ct"],
    ), clicked  # fmt: skip
    # Each token asked once until answered (the unknown one: Apple's retries), none again after the resend;
    # the click-id install's token never.
    assert (apple.asked.count(TOKEN_ASA), apple.asked.count(TOKEN_ORGANIC), apple.asked.count(TOKEN_CLICKED)) == (
        1, 1, 0,
    ), apple.asked  # fmt: skip
    assert 2 <= apple.asked.count(TOKEN_UNKNOWN) <= 4, apple.asked

    today = dt.datetime.now(dt.UTC).date().isoformat()

    async def reported() -> None:
        report = await op("report", "campaigns", "--from", today, "--group-by", "apple_ads_campaign")
        rows = {r["dimensions"].get("apple_ads_campaign", ""): r for r in report["rows"]}
        assert int(rows[str(ASA_CAMPAIGN)].get("installs", 0)) == 1, rows

    await eventually(reported)
