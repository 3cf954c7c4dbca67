"""Deep links through the real gateway: the association files by Host (a custom
tracking domain serves its own account's apps; the tracker's own host only with
CLICKTRAIL_ASSOCIATION_ACCOUNT), and the deferred deep link on first launch (by
the install referrer's click id on Android, by IP + User-Agent on iOS), handed out
once; wrong keys 401, bad bodies 400.

Formats checked against the public documentation:
- apple-app-site-association (JSON, no redirect, applinks.details[].appIDs "TEAMID.bundle" +
  components [{"/": pattern}]): https://developer.apple.com/documentation/xcode/supporting-associated-domains
  and https://developer.apple.com/documentation/bundleresources/applinks/details-swift.dictionary
- assetlinks.json ([{"relation": ["delegate_permission/common.handle_all_urls"], "target": {"namespace":
  "android_app", "package_name", "sha256_cert_fingerprints"}}]):
  https://developer.android.com/training/app-links/verify-android-applinks
"""

import dataclasses
from typing import Any
from urllib.parse import parse_qs, urlsplit

import grpc
import httpx
import pytest
from clicktrail.links.v1 import affiliate_pb2 as apb
from clicktrail.links.v1 import affiliate_pb2_grpc, links_pb2_grpc
from clicktrail.links.v1 import links_pb2 as pb
from google.protobuf import field_mask_pb2

from libs.grpc_server import start_service
from services.links.server import SPEC as LINKS_SPEC
from tests.gateway.conftest import start_gateway

IPHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)"
    " Version/17.1 Mobile/15E148 Safari/604.1"
)
ANDROID_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36"
)
PRINT = ":".join(f"{b:02X}" for b in range(0xA0, 0xC0))


@dataclasses.dataclass
class Shop:
    links: links_pb2_grpc.LinksServiceStub
    affiliate: affiliate_pb2_grpc.AffiliateServiceStub
    ios: pb.App
    ios_key: str
    android: pb.App
    android_key: str
    campaign_id: str


async def make_shop(links_server: Any, channels: Any, api_key: str, suffix: str = "") -> Shop:
    ch = channels(links_server.addr, token=api_key)
    links, affiliate = links_pb2_grpc.LinksServiceStub(ch), affiliate_pb2_grpc.AffiliateServiceStub(ch)
    ios = await links.CreateApp(pb.CreateAppRequest(app=pb.App(
        name="Shop iOS", platform=pb.PLATFORM_IOS, bundle_id=f"com.acme.shop{suffix}", apple_team_id="ABCDE12345",
        apple_app_id="1234567890",
    )))  # fmt: skip
    android = await links.CreateApp(pb.CreateAppRequest(app=pb.App(
        name="Shop Android", platform=pb.PLATFORM_ANDROID, bundle_id=f"com.acme.shop{suffix}",
        android_sha256_fingerprints=[PRINT],
    )))  # fmt: skip
    partner = (await links.CreatePartner(pb.CreatePartnerRequest(partner=pb.Partner(name="Net")))).partner
    campaign = (
        await links.CreateCampaign(
            pb.CreateCampaignRequest(
                campaign=pb.Campaign(name="Launch", partner_id=partner.partner_id, status=pb.CAMPAIGN_STATUS_ACTIVE)
            )
        )
    ).campaign
    return Shop(links, affiliate, ios.app, ios.app_key, android.app, android.app_key, campaign.campaign_id)


async def deep_link(shop: Shop, app: pb.App, deep: str) -> pb.Link:
    return (
        await shop.links.CreateLink(
            pb.CreateLinkRequest(
                link=pb.Link(
                    campaign_id=shop.campaign_id,
                    app_id=app.app_id,
                    deep_link=deep,
                    destination_url="https://store.example/app?c={click_id}",
                )
            )
        )
    ).link


async def test_association_files_by_host(gateway, links_server, channels, account, new_account, settings):
    shop = await make_shop(links_server, channels, account.api_key)
    await shop.affiliate.CreateDomain(apb.CreateDomainRequest(domain=apb.Domain(name="go.acme.example")))
    other = await new_account("Other Co")
    theirs = await make_shop(links_server, channels, other.api_key, ".other")
    await theirs.affiliate.CreateDomain(apb.CreateDomainRequest(domain=apb.Domain(name="their.example.net")))

    async with gateway.client() as c:
        r = await c.get("/.well-known/apple-app-site-association", headers={"host": "GO.acme.example"})
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        assert r.json() == {
            "applinks": {
                "details": [
                    {
                        "appIDs": ["ABCDE12345.com.acme.shop"],
                        "components": [{"/": "/c/*", "comment": "Clicktrail tracking links"}],
                    }
                ]
            }
        }
        r = await c.get("/.well-known/assetlinks.json", headers={"host": "go.acme.example"})
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        assert r.json() == [
            {
                "relation": ["delegate_permission/common.handle_all_urls"],
                "target": {
                    "namespace": "android_app",
                    "package_name": "com.acme.shop",
                    "sha256_cert_fingerprints": [PRINT],
                },
            }
        ]
        # The other account's domain: its own apps only.
        r = await c.get("/.well-known/apple-app-site-association", headers={"host": "their.example.net"})
        assert r.json()["applinks"]["details"][0]["appIDs"] == ["ABCDE12345.com.acme.shop.other"]
        # The tracker's own host without CLICKTRAIL_ASSOCIATION_ACCOUNT, and a stranger: 404, JSON.
        for host in ("127.0.0.1", "stranger.example"):
            for path in ("/.well-known/apple-app-site-association", "/.well-known/assetlinks.json"):
                r = await c.get(path, headers={"host": host})
                assert r.status_code == 404 and "error" in r.json(), (host, path)
        assert (await c.post("/.well-known/assetlinks.json", headers={"host": "go.acme.example"})).status_code == 405
        # An app without Apple identifiers does not appear; with none left the file is 404.
        await shop.links.UpdateApp(
            pb.UpdateAppRequest(
                app=pb.App(app_id=shop.ios.app_id, apple_team_id=""),
                update_mask=field_mask_pb2.FieldMask(paths=["apple_team_id"]),
            )
        )
    gateway.app._associations.invalidate()  # the gateway keeps the files CACHE_S
    async with gateway.client() as c:
        r = await c.get("/.well-known/apple-app-site-association", headers={"host": "go.acme.example"})
        assert r.status_code == 404, r.text

    # An operator setting makes the tracker's own hosts serve one account's apps.
    own = dataclasses.replace(settings, association_account=other.account_id)
    links2 = await start_service(LINKS_SPEC, own, listen="127.0.0.1:0")
    gw2 = await start_gateway(dataclasses.replace(own, links_addr=links2.addr, grpc_deadline_s=3.0))
    try:
        async with gw2.client() as c:
            r = await c.get("/.well-known/apple-app-site-association", headers={"host": "127.0.0.1:8080"})
            assert r.status_code == 200
            assert r.json()["applinks"]["details"][0]["appIDs"] == ["ABCDE12345.com.acme.shop.other"]
            r = await c.get("/.well-known/assetlinks.json", headers={"host": "go.acme.example"})
            assert r.json()[0]["target"]["package_name"] == "com.acme.shop"  # a custom domain stays its own
    finally:
        await gw2.stop()
        await links2.stop(grace=1.0)


def click_id_of(r: httpx.Response) -> str:
    assert r.status_code == 302, r.text
    return parse_qs(urlsplit(r.headers["location"]).query)["c"][0]


async def test_deferred_deep_link_android_by_click_id_once(gateway, links_server, channels, account):
    shop = await make_shop(links_server, channels, account.api_key)
    link = await deep_link(shop, shop.android, "acmeshop://product/42?ref={sub1}&cid={click_id}")
    async with gateway.client() as c:
        click_id = click_id_of(await c.get(f"/c/{link.slug}?sub1=spring sale", headers={"user-agent": ANDROID_UA}))
        # The Play install referrer carries the click id; the app's first launch asks.
        r = await c.post("/v1/deeplink", json={"click_id": click_id}, headers={"x-api-key": shop.android_key})
        assert r.status_code == 200, r.text
        assert r.json() == {
            "deep_link": f"acmeshop://product/42?ref=spring%20sale&cid={click_id}",
            "click_id": click_id,
            "link_id": link.link_id,
            "campaign_id": shop.campaign_id,
            "match": "click_id",
        }
        # Once per click.
        r = await c.post("/v1/deeplink", json={"click_id": click_id}, headers={"x-api-key": shop.android_key})
        assert (r.status_code, r.json()) == (404, {"error": "no deferred deep link"})
        # Another app of the account (the iOS one) gets nothing for the Android link's click.
        click2 = click_id_of(await c.get(f"/c/{link.slug}", headers={"user-agent": ANDROID_UA}))
        r = await c.post("/v1/deeplink", json={"click_id": click2}, headers={"x-api-key": shop.ios_key})
        assert r.status_code == 404
        # A click of a link without a deep link: nothing.
        plain = (
            await shop.links.CreateLink(
                pb.CreateLinkRequest(
                    link=pb.Link(
                        campaign_id=shop.campaign_id,
                        app_id=shop.android.app_id,
                        destination_url="https://store.example/app?c={click_id}",
                    )
                )
            )
        ).link
        click3 = click_id_of(await c.get(f"/c/{plain.slug}", headers={"user-agent": ANDROID_UA}))
        r = await c.post("/v1/deeplink", json={"click_id": click3}, headers={"x-api-key": shop.android_key})
        assert r.status_code == 404
        # The click is recorded as usual.
        got = await shop.links.GetClick(pb.GetClickRequest(click_id=click_id))
        assert got.click.link_id == link.link_id and got.click.sub1 == "spring sale"


async def test_deferred_deep_link_ios_by_fingerprint_once(proxied_gateway, links_server, channels, account):
    shop = await make_shop(links_server, channels, account.api_key)
    link = await deep_link(shop, shop.ios, "/product/7?c={click_id}")
    phone = {"user-agent": IPHONE_UA, "x-forwarded-for": "81.2.69.142"}
    async with proxied_gateway.client() as c:
        click_id = click_id_of(await c.get(f"/c/{link.slug}", headers=phone))
        # Another device (address or User-Agent) is no match.
        r = await c.post("/v1/deeplink", json={}, headers={**phone, "x-forwarded-for": "81.2.69.143",
                                                            "x-api-key": shop.ios_key})  # fmt: skip
        assert r.status_code == 404
        r = await c.post("/v1/deeplink", content=b"", headers={**phone, "user-agent": ANDROID_UA,
                                                                "x-api-key": shop.ios_key})  # fmt: skip
        assert r.status_code == 404
        r = await c.post("/v1/deeplink", json={}, headers={**phone, "x-api-key": shop.ios_key})
        assert r.status_code == 200, r.text
        assert r.json() == {
            "deep_link": f"/product/7?c={click_id}",
            "click_id": click_id,
            "link_id": link.link_id,
            "campaign_id": shop.campaign_id,
            "match": "fingerprint",
        }
        r = await c.post("/v1/deeplink", json={}, headers={**phone, "x-api-key": shop.ios_key})
        assert (r.status_code, r.json()) == (404, {"error": "no deferred deep link"})
        # ... and by its click id too: the same click was handed out.
        r = await c.post("/v1/deeplink", json={"click_id": click_id}, headers={**phone, "x-api-key": shop.ios_key})
        assert r.status_code == 404


async def test_deep_link_refusals(gateway, links_server, channels, account, new_account):
    shop = await make_shop(links_server, channels, account.api_key)
    link = await deep_link(shop, shop.android, "acmeshop://p/1")
    other = await make_shop(links_server, channels, (await new_account("Other")).api_key, ".o")
    async with gateway.client() as c:
        click_id = click_id_of_any(await c.get(f"/c/{link.slug}", headers={"user-agent": ANDROID_UA}))
        body = {"click_id": click_id}
        for headers in ({}, {"x-api-key": "cta_nokey_" + "x" * 30}, {"x-api-key": account.api_key}):
            r = await c.post("/v1/deeplink", json=body, headers=headers)
            assert r.status_code == 401 and r.json()["error"], headers
        # Another account's app key: not its click; naming another app than the key's: 401.
        r = await c.post("/v1/deeplink", json=body, headers={"x-api-key": other.android_key})
        assert r.status_code == 404
        r = await c.post(
            "/v1/deeplink",
            json={**body, "app_id": shop.android.app_id},
            headers={"x-api-key": other.android_key},
        )
        assert r.status_code == 401
        for bad, field in ((b"[1]", "body"), (b"{", "body"), (b'{"click_id": 5}', "click_id"),
                           (b'{"click_id": "not-an-id"}', "click_id")):  # fmt: skip
            r = await c.post("/v1/deeplink", content=bad, headers={"x-api-key": shop.android_key})
            assert (r.status_code, r.json().get("field")) == (400, field), bad
        assert (await c.get("/v1/deeplink", headers={"x-api-key": shop.android_key})).status_code == 405
        # Nothing was handed out by the refusals: the right key still gets it.
        r = await c.post("/v1/deeplink", json=body, headers={"x-api-key": shop.android_key})
        assert r.status_code == 200 and r.json()["deep_link"] == "acmeshop://p/1"


def click_id_of_any(r: httpx.Response) -> str:
    assert r.status_code == 302, r.text
    return parse_qs(urlsplit(r.headers["location"]).query)["c"][0]


async def test_fingerprint_window_and_vouching(proxied_gateway, links_server, channels, account, settings):
    shop = await make_shop(links_server, channels, account.api_key)
    link = await deep_link(shop, shop.ios, "/w/{click_id}")
    phone = {"user-agent": IPHONE_UA, "x-forwarded-for": "81.2.69.150"}
    async with proxied_gateway.client() as c:
        click_id = click_id_of(await c.get(f"/c/{link.slug}", headers=phone))
    # Straight to links with the app key (no gateway vouching): the address and User-Agent the
    # request names are not believed (the peer's are used), so it cannot claim another device's click.
    direct = links_pb2_grpc.LinksServiceStub(channels(links_server.addr, token=shop.ios_key))
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await direct.ClaimDeferredDeepLink(
            pb.ClaimDeferredDeepLinkRequest(client_ip="81.2.69.150", client_user_agent=IPHONE_UA)
        )
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    # A links process whose window is 0 s: the fingerprint is too old; the click id still works.
    closed = dataclasses.replace(settings, deferred_deep_link_window_s=0.0)
    links2 = await start_service(LINKS_SPEC, closed, listen="127.0.0.1:0")
    trusted = proxied_gateway.settings.trusted_proxies
    gw2 = await start_gateway(
        dataclasses.replace(closed, links_addr=links2.addr, grpc_deadline_s=3.0, trusted_proxies=trusted)
    )
    try:
        async with gw2.client() as c:
            r = await c.post("/v1/deeplink", json={}, headers={**phone, "x-api-key": shop.ios_key})
            assert r.status_code == 404
            r = await c.post("/v1/deeplink", json={"click_id": click_id}, headers={**phone, "x-api-key": shop.ios_key})
            assert (r.status_code, r.json()["match"]) == (200, "click_id")
    finally:
        await gw2.stop()
        await links2.stop(grace=1.0)


async def test_deeplink_counts_against_the_events_rate_limit(gateway_settings, links_server, channels, account):
    shop = await make_shop(links_server, channels, account.api_key)
    gw = await start_gateway(dataclasses.replace(gateway_settings, rate_limit_events_per_ip=1.0))
    try:
        async with gw.client() as c:
            codes = [
                (await c.post("/v1/deeplink", json={}, headers={"x-api-key": shop.ios_key})).status_code
                for _ in range(4)
            ]
    finally:
        await gw.stop()
    assert codes[0] == 404 and 429 in codes, codes  # a burst of 2 s at 1/s, then refused
