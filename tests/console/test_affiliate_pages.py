"""The affiliate pages of the console (offers, landers, domains, a campaign's flow,
a link's options and QR code) through the real gateway, against the real services."""

from __future__ import annotations

import re
from collections.abc import Callable

import grpc
import httpx
import pytest
from clicktrail.links.v1 import affiliate_pb2 as apb
from clicktrail.links.v1 import affiliate_pb2_grpc, links_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb

from tests.conftest import AccountInfo
from tests.console.conftest import Seeded
from tests.console.test_console_http import csrf_of, sign_in
from tests.gateway.conftest import RunningGateway

FIELD_ERROR_RE = re.compile(r'class="field-error" data-field="([^"]+)">([^<]+)<')
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def field_errors(html: str) -> dict[str, str]:
    return dict(FIELD_ERROR_RE.findall(html))


@pytest.fixture
def affiliate_stub(
    console_gateway: RunningGateway, account: AccountInfo, channels: Callable[..., grpc.aio.Channel]
) -> affiliate_pb2_grpc.AffiliateServiceStub:
    return affiliate_pb2_grpc.AffiliateServiceStub(channels(console_gateway.settings.links_addr, token=account.api_key))


async def _post(client: httpx.AsyncClient, page: str, action: str, form: dict[str, str]) -> httpx.Response:
    """Submits a form of ``page`` (its CSRF token) to ``action``."""
    shown = await client.get(page)
    assert shown.status_code == 200, shown.text[:2000]
    return await client.post(action, data={"csrf": csrf_of(shown.text), **form})


async def _campaign(links_stub: links_pb2_grpc.LinksServiceStub, seeded: Seeded) -> str:
    campaign = lpb.Campaign(name="Nutra EU", partner_id=seeded.partner_id, fallback_url="https://acme.example/fb")
    return (await links_stub.CreateCampaign(lpb.CreateCampaignRequest(campaign=campaign))).campaign.campaign_id


async def test_offers_landers_and_domains(
    console_gateway: RunningGateway, account: AccountInfo, seeded: Seeded
) -> None:
    async with console_gateway.client() as client:
        await sign_in(client, account.api_key)
        assert "No offers yet" in (await client.get("/console/offers")).text
        offer = {
            "name": "Keto DE", "partner_id": seeded.partner_id, "url": "https://net.example/aff?sub={click_id}",
            "payout_type": str(apb.PAYOUT_TYPE_FIXED), "payout_amount": "2.50", "payout_currency": "EUR",
            "countries": "de, at", "daily_cap": "100", "total_cap": "", "cap_action": str(apb.CAP_ACTION_NEXT_OFFER),
            "cap_url": "", "status": str(apb.OFFER_STATUS_ACTIVE),
        }  # fmt: skip
        # Bad input stays on the form, named by its field: what the console cannot read, what the service refuses.
        unreadable = await _post(client, "/console/offers/new", "/console/offers/new", {**offer, "daily_cap": "lots"})
        assert unreadable.status_code == 400 and "daily_cap" in field_errors(unreadable.text)
        no_scheme = await _post(client, "/console/offers/new", "/console/offers/new", {**offer, "url": "net.example/x"})
        assert no_scheme.status_code == 400 and "url" in field_errors(no_scheme.text)
        assert 'value="net.example/x"' in no_scheme.text  # what was typed stays
        below = await _post(client, "/console/offers/new", "/console/offers/new", {**offer, "total_cap": "-1"})
        assert below.status_code == 400 and "total_cap" in field_errors(below.text)

        created = await _post(client, "/console/offers/new", "/console/offers/new", offer)
        assert created.status_code == 303, created.text
        page = await client.get(created.headers["location"])
        assert "Offer created." in page.text and 'value="DE, AT"' in page.text
        offer_path = created.headers["location"].split("?")[0]
        saved = await _post(
            client, offer_path, offer_path, {**offer, "name": "Keto DACH", "status": str(apb.OFFER_STATUS_PAUSED)}
        )
        assert saved.status_code == 303, saved.text
        listed = await client.get("/console/offers")
        assert "Keto DACH" in listed.text and "paused" in listed.text and "EUR" in listed.text

        lander = {
            "name": "Quiz", "type": str(apb.LANDER_TYPE_PRELANDER), "macros": "headline=Win big\n",
            "url": "https://pages.example/q?next={lander_click_url}&h={headline}",
        }  # fmt: skip
        bad = await _post(client, "/console/landers/new", "/console/landers/new", {**lander, "macros": "a=1\n\ncolor"})
        assert bad.status_code == 400 and field_errors(bad.text)["macros"].startswith("line 3")
        made = await _post(client, "/console/landers/new", "/console/landers/new", lander)
        assert made.status_code == 303, made.text
        assert "headline=Win big" in (await client.get(made.headers["location"])).text
        assert "Quiz" in (await client.get("/console/landers")).text

        added = await _post(
            client, "/console/domains", "/console/domains", {"name": "Track.Example.com", "root_url": ""}
        )
        assert added.status_code == 303, added.text
        domains = await client.get("/console/domains")
        assert (
            "track.example.com" in domains.text
            and "Domain added." in (await client.get(added.headers["location"])).text
        )
        wrong = await _post(
            client, "/console/domains", "/console/domains", {"name": "no spaces.example", "root_url": ""}
        )
        assert wrong.status_code == 400 and "name" in field_errors(wrong.text)
        removed = await _post(
            client, "/console/domains/track.example.com/delete", "/console/domains/track.example.com/delete", {}
        )
        assert removed.status_code == 303
        assert 'data-domain="track.example.com"' not in (await client.get("/console/domains")).text

        # The offer goes through its confirm page.
        deleted = await _post(client, f"{offer_path}/delete", f"{offer_path}/delete", {})
        assert deleted.status_code == 303 and "Keto DACH" not in (await client.get("/console/offers")).text


async def test_a_campaigns_flow(
    console_gateway: RunningGateway, account: AccountInfo, seeded: Seeded,
    links_stub: links_pb2_grpc.LinksServiceStub, affiliate_stub: affiliate_pb2_grpc.AffiliateServiceStub,
) -> None:  # fmt: skip
    campaign_id = await _campaign(links_stub, seeded)
    offer = (await affiliate_stub.CreateOffer(apb.CreateOfferRequest(offer=apb.Offer(
        name="Keto", partner_id=seeded.partner_id, url="https://net.example/k",
    )))).offer  # fmt: skip
    other = (await affiliate_stub.CreateOffer(apb.CreateOfferRequest(offer=apb.Offer(
        name="Slim", partner_id=seeded.partner_id, url="https://net.example/s",
    )))).offer  # fmt: skip
    lander = (await affiliate_stub.CreateLander(apb.CreateLanderRequest(lander=apb.Lander(
        name="Quiz", url="https://pages.example/q?next={lander_click_url}",
    )))).lander  # fmt: skip
    flow = f"/console/campaigns/{campaign_id}/flow"
    rotate = str(apb.STREAM_ACTION_ROTATE)
    async with console_gateway.client() as client:
        await sign_in(client, account.api_key)
        assert f'href="{flow}"' in (await client.get(f"/console/campaigns/{campaign_id}")).text
        assert "No streams" in (await client.get(flow)).text

        us = {"name": "US", "action": rotate, "filters": "country=US,CA\n!verdict=invalid", "url": "",
              f"lw.{lander.lander_id}": "1", f"ow.{offer.offer_id}": "3", f"ow.{other.offer_id}": "1"}  # fmt: skip
        # Unreadable lines and refused values come back on their fields.
        typo = await _post(client, flow, flow, {**us, "filters": "country=US\n\ncountry"})
        assert typo.status_code == 400 and field_errors(typo.text)["filters"].startswith("line 3")
        zero = await _post(client, flow, flow, {**us, f"ow.{other.offer_id}": "0"})
        assert zero.status_code == 400 and other.offer_id in field_errors(zero.text)["offers"]
        never = await _post(client, flow, flow, {**us, "filters": "country=US\ncountry=DE"})
        assert never.status_code == 400 and "filters" in field_errors(never.text)

        assert (await _post(client, flow, flow, us)).status_code == 303
        bots = {"name": "Bots", "action": str(apb.STREAM_ACTION_SAFE_PAGE), "filters": "verdict=invalid",
                "url": "https://acme.example/about"}  # fmt: skip
        assert (await _post(client, flow, flow, bots)).status_code == 303
        rest = {"name": "Rest", "action": rotate, "filters": "", f"ow.{offer.offer_id}": "1"}
        assert (await _post(client, flow, flow, rest)).status_code == 303
        page = await client.get(flow)
        assert "Stream added to the flow." not in page.text  # (only right after the redirect)
        assert "country=US,CA" in page.text and "!verdict=invalid" in page.text
        assert "Keto 75%" in page.text and "Slim 25%" in page.text and "Quiz 100%" in page.text
        assert "default: everything else" in page.text

        streams = (await affiliate_stub.ListStreams(apb.ListStreamsRequest(campaign_id=campaign_id))).streams
        by_name = {s.name: s.stream_id for s in streams}
        # The bots' stream moves up, before the US one; the default stays last.
        moved = await _post(client, flow, f"{flow}/{by_name['Bots']}/move", {"direction": "up"})
        assert moved.status_code == 303
        order = [s.name for s in sorted(
            (await affiliate_stub.ListStreams(apb.ListStreamsRequest(campaign_id=campaign_id))).streams,
            key=lambda s: (s.is_default, s.position, s.stream_id),
        )]  # fmt: skip
        assert order == ["Bots", "US", "Rest"]
        page = await client.get(flow)
        assert page.text.index(f'data-stream-id="{by_name["Bots"]}"') < page.text.index(
            f'data-stream-id="{by_name["US"]}"'
        )

        # Edit: the form shows the stream as typed; saving replaces filters and rotation.
        edit = f"{flow}/{by_name['US']}"
        shown = await client.get(edit)
        assert "country=US,CA\n!verdict=invalid" in shown.text and f'name="ow.{offer.offer_id}" value="3"' in shown.text
        saved = await _post(
            client, edit, edit, {**us, "filters": "country=US", f"ow.{other.offer_id}": "", "paused": "1"}
        )
        assert saved.status_code == 303, saved.text
        got = (await affiliate_stub.GetStream(apb.GetStreamRequest(stream_id=by_name["US"]))).stream
        assert [f.field for f in got.filters] == ["country"] and [o.offer_id for o in got.offers] == [offer.offer_id]
        assert got.paused

        # A stream of another campaign is no page of this one.
        another = await _campaign(links_stub, seeded)
        assert (await client.get(f"/console/campaigns/{another}/flow/{by_name['US']}")).status_code == 404

        window = await _post(client, flow, f"/console/campaigns/{campaign_id}/visitor-window", {"visitor_window": "2h"})
        assert window.status_code == 303
        campaign = (await links_stub.GetCampaign(lpb.GetCampaignRequest(campaign_id=campaign_id))).campaign
        assert campaign.visitor_window.seconds == 7200 and 'value="2h"' in (await client.get(flow)).text
        forever = await _post(
            client, flow, f"/console/campaigns/{campaign_id}/visitor-window", {"visitor_window": "ever"}
        )
        assert forever.status_code == 400 and "visitor_window" in field_errors(forever.text)

        gone = await _post(client, f"{edit}/delete", f"{edit}/delete", {})
        assert gone.status_code == 303 and f'data-stream-id="{by_name["US"]}"' not in (await client.get(flow)).text


async def test_a_links_options_and_qr_code(
    console_gateway: RunningGateway, account: AccountInfo, seeded: Seeded,
    links_stub: links_pb2_grpc.LinksServiceStub, affiliate_stub: affiliate_pb2_grpc.AffiliateServiceStub,
) -> None:  # fmt: skip
    campaign_id = await _campaign(links_stub, seeded)
    await affiliate_stub.CreateDomain(apb.CreateDomainRequest(domain=apb.Domain(name="go.example.org")))
    campaign_page = f"/console/campaigns/{campaign_id}"
    async with console_gateway.client() as client:
        await sign_in(client, account.api_key)
        # The campaign page's link form takes the options.
        made = await _post(client, campaign_page, f"{campaign_page}/links", {
            "name": "Banner", "destination_url": "https://shop.example/?cid={click_id}", "domain": "go.example.org",
            "max_clicks": "1000", "redirect_status": "301", "expires": "",
        })  # fmt: skip
        assert made.status_code == 303, made.text
        link = (await links_stub.ListLinks(lpb.ListLinksRequest(campaign_id=campaign_id))).links[0]
        assert (link.domain, link.max_clicks, link.redirect_status) == ("go.example.org", 1000, 301)
        assert "go.example.org" in link.click_url
        refused = await _post(client, campaign_page, f"{campaign_page}/links", {
            "destination_url": "https://shop.example/", "max_clicks": "-5",
        })  # fmt: skip
        assert refused.status_code == 400 and "max_clicks" in field_errors(refused.text)

        page_path = f"/console/links/{link.link_id}"
        assert f'href="{page_path}"' in (await client.get(campaign_page)).text
        page = await client.get(page_path)
        assert page.status_code == 200 and 'src="data:image/svg+xml;base64,' in page.text
        assert link.click_url in page.text and 'value="1000"' in page.text
        png = await client.get(f"{page_path}/qr.png")
        assert png.status_code == 200 and png.headers["content-type"] == "image/png"
        assert png.content.startswith(PNG_SIGNATURE)
        svg = await client.get(f"{page_path}/qr.svg")
        assert svg.headers["content-type"].startswith("image/svg+xml") and b"<svg" in svg.content

        saved = await _post(client, page_path, page_path, {
            "domain": "", "expires": "2031-01-02T03:04", "max_clicks": "", "redirect_status": "307",
        })  # fmt: skip
        assert saved.status_code == 303, saved.text
        link = (await links_stub.GetLink(lpb.GetLinkRequest(link_id=link.link_id))).link
        assert (link.domain, link.max_clicks, link.redirect_status) == ("", 0, 307)
        assert link.expire_time.ToDatetime().year == 2031  # in the account's time zone (UTC here)
        shown = await client.get(page_path)
        assert 'value="2031-01-02T03:04"' in shown.text and "Link saved." not in shown.text
        bad = await _post(client, page_path, page_path, {"expires": "next week", "redirect_status": "0"})
        assert bad.status_code == 400 and "expires" in field_errors(bad.text)
        odd = await _post(client, page_path, page_path, {"redirect_status": "308"})
        assert odd.status_code == 400 and "redirect_status" in field_errors(odd.text)


async def test_a_partners_postback_format(
    console_gateway: RunningGateway, account: AccountInfo, seeded: Seeded
) -> None:
    page = f"/console/postback-formats/{seeded.partner_id}"
    async with console_gateway.client() as client:
        await sign_in(client, account.api_key)
        listed = await client.get("/console/postback-formats")
        assert listed.status_code == 200 and "AdNet" in listed.text and "defaults" in listed.text
        presets = re.findall(r'<option value="([a-z0-9_-]+)"', (await client.get(page)).text)
        assert presets, "no presets to choose from"
        typo = await _post(
            client, page, page, {"preset_id": "", "aliases": "click_id=aff_sub\npayout", "status_words": ""}
        )
        assert typo.status_code == 400 and field_errors(typo.text)["aliases"].startswith("line 2")
        refused = await _post(client, page, page, {"preset_id": "", "aliases": "", "status_words": "ok=maybe"})
        assert refused.status_code == 400 and field_errors(refused.text)["status_words"].startswith("ok:")
        saved = await _post(client, page, page, {
            "preset_id": presets[0], "aliases": "click_id=aff_sub, sub1",
            "status_words": "Reversed=rejected\n1=approved",
        })  # fmt: skip
        assert saved.status_code == 303, saved.text
        shown = await client.get(saved.headers["location"])
        assert "Postback format saved." in shown.text and "click_id=aff_sub,sub1" in shown.text
        assert "1=approved\nreversed=rejected" in shown.text and f'value="{presets[0]}" selected' in shown.text
        assert "<code>reversed=rejected</code>" in (await client.get("/console/postback-formats")).text
        gone = await _post(client, f"{page}/delete", f"{page}/delete", {})
        assert gone.status_code == 303 and "defaults" in (await client.get(gone.headers["location"])).text
