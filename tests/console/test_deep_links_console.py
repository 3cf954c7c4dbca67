"""The console's deep-link fields, through the real console behind the gateway: an
app's page edits its Apple team id, App Store id and Android fingerprints (errors
shown by field and line); a link's deep link on the campaign's new-link form and on
the link's options form (refused without an app, naming the field)."""

from __future__ import annotations

import re

import httpx
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc

from tests.conftest import AccountInfo
from tests.console.conftest import Seeded
from tests.console.test_console_http import csrf_of, sign_in
from tests.gateway.conftest import RunningGateway

FIELD_ERROR_RE = re.compile(r'class="field-error" data-field="([^"]+)">([^<]+)<')
PRINT = ":".join(f"{b:02X}" for b in range(0x20, 0x40))


async def _post(client: httpx.AsyncClient, page: str, form: dict[str, str], action: str = "") -> httpx.Response:
    shown = await client.get(page)
    assert shown.status_code == 200, shown.text[:2000]
    return await client.post(action or page, data={"csrf": csrf_of(shown.text), **form})


async def test_app_page_edits_the_deep_link_identities(
    console_gateway: RunningGateway, account: AccountInfo, seeded: Seeded,
    links_stub: links_pb2_grpc.LinksServiceStub,
) -> None:  # fmt: skip
    page = f"/console/apps/{seeded.app_id}"
    async with console_gateway.client() as client:
        await sign_in(client, account.api_key)
        assert f'href="{page}"' in (await client.get("/console/partners")).text
        bad = await _post(client, page, {
            "name": "Space Game", "apple_team_id": "ABC", "apple_app_id": "12x",
            "android_sha256_fingerprints": f"{PRINT}\n\nAA:BB",
        })  # fmt: skip
        assert bad.status_code == 400
        errors = dict(FIELD_ERROR_RE.findall(bad.text))
        assert set(errors) == {"apple_team_id", "apple_app_id", "android_sha256_fingerprints"}
        assert errors["android_sha256_fingerprints"].startswith("line 3: ")
        saved = await _post(client, page, {
            "name": "Space Game", "store_url": "", "apple_team_id": "abcde12345", "apple_app_id": "1234567890",
            "android_sha256_fingerprints": PRINT,
        })  # fmt: skip
        assert saved.status_code == 303, saved.text
        app = (await links_stub.GetApp(lpb.GetAppRequest(app_id=seeded.app_id))).app
        assert (app.apple_team_id, app.apple_app_id, list(app.android_sha256_fingerprints)) == (
            "ABCDE12345",
            "1234567890",
            [PRINT],
        )
        shown = (await client.get(page + "?done=app_saved")).text
        assert "ABCDE12345.com.example.space" in shown and "App saved." in shown


async def test_link_forms_take_a_deep_link(
    console_gateway: RunningGateway, account: AccountInfo, seeded: Seeded,
    links_stub: links_pb2_grpc.LinksServiceStub,
) -> None:  # fmt: skip
    web = lpb.Campaign(name="Web", partner_id=seeded.partner_id, fallback_url="https://acme.example/fb")
    web_id = (await links_stub.CreateCampaign(lpb.CreateCampaignRequest(campaign=web))).campaign.campaign_id
    game = lpb.Campaign(name="Game", partner_id=seeded.partner_id, app_id=seeded.app_id)
    game_id = (await links_stub.CreateCampaign(lpb.CreateCampaignRequest(campaign=game))).campaign.campaign_id
    async with console_gateway.client() as client:
        await sign_in(client, account.api_key)
        web_page = f"/console/campaigns/{web_id}"
        refused = await _post(
            client, web_page, {"destination_url": "https://shop.example/", "deep_link": "/p/1"}, f"{web_page}/links"
        )
        assert refused.status_code == 400
        assert "needs an app" in dict(FIELD_ERROR_RE.findall(refused.text))["deep_link"]
        game_page = f"/console/campaigns/{game_id}"
        made = await _post(
            client, game_page,
            {"destination_url": "https://shop.example/?c={click_id}", "deep_link": "spacegame://level/3?s={sub1}"},
            f"{game_page}/links",
        )  # fmt: skip
        assert made.status_code == 303, made.text
        link = (await links_stub.ListLinks(lpb.ListLinksRequest(campaign_id=game_id))).links[0]
        assert link.deep_link == "spacegame://level/3?s={sub1}"
        link_page = f"/console/links/{link.link_id}"
        shown = (await client.get(link_page)).text
        assert 'value="spacegame://level/3?s={sub1}"' in shown
        saved = await _post(client, link_page, {"redirect_status": "0", "deep_link": "/level/4"})
        assert saved.status_code == 303, saved.text
        assert (await links_stub.GetLink(lpb.GetLinkRequest(link_id=link.link_id))).link.deep_link == "/level/4"
        bad = await _post(client, link_page, {"redirect_status": "0", "deep_link": "level 4"})
        assert bad.status_code == 400 and "deep_link" in dict(FIELD_ERROR_RE.findall(bad.text))
