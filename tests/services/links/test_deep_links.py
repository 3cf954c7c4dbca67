"""Deep links in the links service: the apps' Apple team id / App Store id /
Android signing fingerprints (validated, normalised, updatable), LookupApps by
App Store id (lane skan), a link's deep link (needs an app)."""

import grpc
from clicktrail.links.v1 import links_pb2 as pb
from clicktrail.links.v1 import links_pb2_grpc
from google.protobuf import field_mask_pb2

from tests.conftest import GATEWAY_TOKEN, INTERNAL_TOKEN
from tests.services.links.test_offers import invalid, refused

# A SHA-256 certificate fingerprint as `keytool -list -v` prints it (32 hex pairs), the form
# https://developer.android.com/training/app-links/verify-android-applinks shows in assetlinks.json.
PRINT = ":".join(f"{b:02X}" for b in range(0x10, 0x30))


def ios_app(**kw):
    fields = {"name": "Shop", "platform": pb.PLATFORM_IOS, "bundle_id": "com.acme.shop"}
    fields.update(kw)
    return pb.App(**fields)


async def test_app_identity_round_trip_normalised(links_stub):
    app = (
        await links_stub.CreateApp(
            pb.CreateAppRequest(
                app=ios_app(
                    apple_team_id="abcde12345",
                    apple_app_id=" 1234567890 ",
                    android_sha256_fingerprints=[PRINT.replace(":", "").lower(), PRINT],
                )
            )
        )
    ).app
    assert app.apple_team_id == "ABCDE12345"
    assert app.apple_app_id == "1234567890"
    assert list(app.android_sha256_fingerprints) == [PRINT]  # normalised, deduplicated
    got = (await links_stub.GetApp(pb.GetAppRequest(app_id=app.app_id))).app
    assert got == app
    updated = (
        await links_stub.UpdateApp(
            pb.UpdateAppRequest(
                app=pb.App(app_id=app.app_id, apple_app_id="987", android_sha256_fingerprints=[]),
                update_mask=field_mask_pb2.FieldMask(paths=["apple_app_id", "android_sha256_fingerprints"]),
            )
        )
    ).app
    assert (updated.apple_app_id, list(updated.android_sha256_fingerprints), updated.apple_team_id) == (
        "987",
        [],
        "ABCDE12345",
    )


async def test_bad_app_identity_names_the_fields(links_stub):
    v = await invalid(
        links_stub.CreateApp,
        pb.CreateAppRequest(
            app=ios_app(apple_team_id="ABC", apple_app_id="id12", android_sha256_fingerprints=[PRINT, "AA:BB"])
        ),
    )
    assert set(v) == {"app.apple_team_id", "app.apple_app_id", "app.android_sha256_fingerprints[1]"}
    assert "10-character" in v["app.apple_team_id"]


async def test_lookup_apps_by_app_store_id(links_server, channels, links_stub, new_account):
    mine = (await links_stub.CreateApp(pb.CreateAppRequest(app=ios_app(apple_app_id="555000111")))).app
    await links_stub.CreateApp(pb.CreateAppRequest(app=ios_app(name="Other", apple_app_id="999")))
    other = await new_account("Other Co")
    other_stub = links_pb2_grpc.LinksServiceStub(channels(links_server.addr, token=other.api_key))
    theirs = (await other_stub.CreateApp(pb.CreateAppRequest(app=ios_app(apple_app_id="555000111")))).app

    # An account key: its own apps only (ListApps filter too).
    own = await links_stub.LookupApps(pb.LookupAppsRequest(apple_app_id="555000111"))
    assert [m.app.app_id for m in own.matches] == [mine.app_id]
    listed = await links_stub.ListApps(pb.ListAppsRequest(apple_app_id="555000111"))
    assert [a.app_id for a in listed.apps] == [mine.app_id]

    # Service tokens: across accounts (ambiguous here), narrowed by account_id.
    for token in (INTERNAL_TOKEN, GATEWAY_TOKEN):
        stub = links_pb2_grpc.LinksServiceStub(channels(links_server.addr, token=token))
        every = await stub.LookupApps(pb.LookupAppsRequest(apple_app_id="555000111"))
        assert sorted((m.account_id == other.account_id, m.app.app_id) for m in every.matches) == [
            (False, mine.app_id),
            (True, theirs.app_id),
        ]
        one = await stub.LookupApps(pb.LookupAppsRequest(apple_app_id="555000111", account_id=other.account_id))
        assert [(m.account_id, m.app.app_id) for m in one.matches] == [(other.account_id, theirs.app_id)]
        none = await stub.LookupApps(pb.LookupAppsRequest(apple_app_id="123"))
        assert list(none.matches) == []
    await refused(links_stub.LookupApps, pb.LookupAppsRequest(apple_app_id="abc"), grpc.StatusCode.INVALID_ARGUMENT)


# ----- link deep links -----------------------------------------------------------------


async def _campaign(stub, app_id=""):
    partner = (await stub.CreatePartner(pb.CreatePartnerRequest(partner=pb.Partner(name="AdNet")))).partner
    return (
        await stub.CreateCampaign(
            pb.CreateCampaignRequest(
                campaign=pb.Campaign(
                    name="Spring", app_id=app_id, partner_id=partner.partner_id, fallback_url="https://acme.example/f"
                )
            )
        )
    ).campaign


async def test_deep_link_needs_an_app_and_a_valid_form(links_stub):
    web = await _campaign(links_stub)
    dest = "https://acme.example/p"
    v = await invalid(
        links_stub.CreateLink,
        pb.CreateLinkRequest(link=pb.Link(campaign_id=web.campaign_id, destination_url=dest, deep_link="/p/1")),
    )
    assert set(v) == {"link.deep_link"} and "needs an app" in v["link.deep_link"]
    app = (await links_stub.CreateApp(pb.CreateAppRequest(app=ios_app()))).app
    # With an app, so that only the deep link's form can be wrong (review of issue 22: without one,
    # "needs an app" named the field whatever the form). "//host/..." is a network-path reference
    # (RFC 3986 4.2: another host), not an in-app path; script/data/file schemes are no app's link.
    bads = ("product/42", "myapp://p/{nope}", "myapp://p 42", "//evil.example/p", "javascript:alert(1)",
            "JavaScript://%0aalert(1)", "data:text/html,x", "file:///etc/passwd", "vbscript:x")  # fmt: skip
    for bad in bads:
        v = await invalid(
            links_stub.CreateLink,
            pb.CreateLinkRequest(
                link=pb.Link(campaign_id=web.campaign_id, app_id=app.app_id, destination_url=dest, deep_link=bad)
            ),
        )
        assert set(v) == {"link.deep_link"} and "needs an app" not in v["link.deep_link"], (bad, v)
    # The link's own app will do; then the deep link stays with it.
    link = (
        await links_stub.CreateLink(
            pb.CreateLinkRequest(
                link=pb.Link(
                    campaign_id=web.campaign_id, app_id=app.app_id, destination_url=dest, deep_link="shop://p/{sub1}"
                )
            )
        )
    ).link
    assert link.deep_link == "shop://p/{sub1}"
    # Taking the app away from a link with a deep link (no campaign app) is refused, nothing changed.
    v = await invalid(
        links_stub.UpdateLink,
        pb.UpdateLinkRequest(
            link=pb.Link(link_id=link.link_id, app_id=""), update_mask=field_mask_pb2.FieldMask(paths=["app_id"])
        ),
    )
    assert set(v) == {"link.app_id"}
    assert (await links_stub.GetLink(pb.GetLinkRequest(link_id=link.link_id))).link.app_id == app.app_id
    # Through the campaign's app.
    camp = await _campaign(links_stub, app.app_id)
    plain = (
        await links_stub.CreateLink(
            pb.CreateLinkRequest(link=pb.Link(campaign_id=camp.campaign_id, destination_url=dest))
        )
    ).link
    updated = (
        await links_stub.UpdateLink(
            pb.UpdateLinkRequest(
                link=pb.Link(link_id=plain.link_id, deep_link="/product/42?c={click_id}"),
                update_mask=field_mask_pb2.FieldMask(paths=["deep_link"]),
            )
        )
    ).link
    assert updated.deep_link == "/product/42?c={click_id}"
