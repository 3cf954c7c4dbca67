"""Traffic quality over HTTP, through the real gateway and links service: what a
crawler, a person, a data-centre address and a prefetch are recorded as, and
what a campaign that sends invalid traffic elsewhere answers."""

from __future__ import annotations

import httpx
from clicktrail.links.v1 import links_pb2 as pb
from clicktrail.links.v1 import links_pb2_grpc
from clicktrail.type.v1 import quality_pb2
from google.protobuf import field_mask_pb2

from tests.gateway.conftest import MakeLink, RunningGateway, all_clicks, all_impressions

CLEAN = quality_pb2.VERDICT_CLEAN
SUSPICIOUS = quality_pb2.VERDICT_SUSPICIOUS
INVALID = quality_pb2.VERDICT_INVALID
CRAWLER = "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"
PHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)"
    " Version/17.1 Mobile/15E148 Safari/604.1"
)
HOME = "73.162.10.20"  # Comcast, a home connection
CLOUD = "34.102.136.180"  # Google Cloud


def headers(ip: str, ua: str = PHONE, **extra: str) -> dict[str, str]:
    # The proxied gateway believes X-Forwarded-For from loopback, as behind a load balancer.
    return {"x-forwarded-for": ip, "user-agent": ua, **extra}


async def set_action(stub: links_pb2_grpc.LinksServiceStub, campaign_id: str, action: int) -> None:
    await stub.UpdateCampaign(pb.UpdateCampaignRequest(
        campaign=pb.Campaign(campaign_id=campaign_id, invalid_traffic_action=action),  # type: ignore[arg-type]
        update_mask=field_mask_pb2.FieldMask(paths=["invalid_traffic_action"]),
    ))  # fmt: skip


async def by_ip(stub: links_pb2_grpc.LinksServiceStub, link_id: str) -> dict[str, pb.Click]:
    return {c.ip: c for c in await all_clicks(stub, link_id)}


async def test_crawler_and_person_over_http(
    proxied_gateway: RunningGateway, make_link: MakeLink, links_stub: links_pb2_grpc.LinksServiceStub
) -> None:
    t = await make_link()
    async with proxied_gateway.client() as client:
        bot = await client.get(f"/c/{t.slug}", headers=headers("73.162.10.21", CRAWLER))
        person = await client.get(f"/c/{t.slug}", headers=headers(HOME))
    # Both redirected (the default action), both recorded; only the person is clean.
    assert bot.status_code == person.status_code == 302
    clicks = await by_ip(links_stub, t.link_id)
    assert clicks["73.162.10.21"].verdict == INVALID and "bot_user_agent" in clicks["73.162.10.21"].reasons
    assert clicks[HOME].verdict == CLEAN and list(clicks[HOME].reasons) == []


async def test_data_centre_address_over_http(
    proxied_gateway: RunningGateway, make_link: MakeLink, links_stub: links_pb2_grpc.LinksServiceStub
) -> None:
    t = await make_link()
    async with proxied_gateway.client() as client:
        assert (await client.get(f"/c/{t.slug}", headers=headers(CLOUD))).status_code == 302
    clicks = await by_ip(links_stub, t.link_id)
    assert clicks[CLOUD].verdict == INVALID and "datacenter" in clicks[CLOUD].reasons


async def test_prefetch_headers(
    proxied_gateway: RunningGateway, make_link: MakeLink, links_stub: links_pb2_grpc.LinksServiceStub
) -> None:
    t = await make_link()
    async with proxied_gateway.client() as client:
        await client.get(f"/c/{t.slug}", headers=headers("73.162.10.31", **{"sec-purpose": "prefetch;prerender"}))
        await client.get(f"/c/{t.slug}", headers=headers("73.162.10.32", purpose="prefetch"))
        await client.get(f"/c/{t.slug}", headers=headers("73.162.10.33"))
        await client.get(f"/i/{t.slug}", headers=headers("73.162.10.34", **{"sec-purpose": "prefetch"}))
    clicks = await by_ip(links_stub, t.link_id)
    assert (clicks["73.162.10.31"].verdict, list(clicks["73.162.10.31"].reasons)) == (SUSPICIOUS, ["prefetch"])
    assert (clicks["73.162.10.32"].verdict, list(clicks["73.162.10.32"].reasons)) == (SUSPICIOUS, ["prefetch"])
    assert clicks["73.162.10.33"].verdict == CLEAN
    (imp,) = await all_impressions(links_stub, t.link_id)
    assert imp.verdict == SUSPICIOUS and list(imp.reasons) == ["prefetch"]


async def test_invalid_traffic_to_the_fallback_url(
    proxied_gateway: RunningGateway, make_link: MakeLink, links_stub: links_pb2_grpc.LinksServiceStub
) -> None:
    t = await make_link(fallback_url="https://acme.example/safe")
    await set_action(links_stub, t.campaign_id, pb.INVALID_TRAFFIC_ACTION_FALLBACK)
    async with proxied_gateway.client() as client:
        bot = await client.get(f"/c/{t.slug}", headers=headers("73.162.10.41", CRAWLER))
        person = await client.get(f"/c/{t.slug}", headers=headers("73.162.10.42"))
    assert (bot.status_code, bot.headers["location"]) == (302, "https://acme.example/safe")
    assert person.status_code == 302 and person.headers["location"].startswith("https://shop.example/land?cid=")
    clicks = await by_ip(links_stub, t.link_id)
    assert clicks["73.162.10.41"].verdict == INVALID  # recorded, never lost
    assert clicks["73.162.10.42"].verdict == CLEAN


async def test_invalid_traffic_blocked(
    proxied_gateway: RunningGateway, make_link: MakeLink, links_stub: links_pb2_grpc.LinksServiceStub
) -> None:
    t = await make_link()
    await set_action(links_stub, t.campaign_id, pb.INVALID_TRAFFIC_ACTION_BLOCK)
    async with proxied_gateway.client() as client:
        bot = await client.get(f"/c/{t.slug}", headers=headers("73.162.10.51", CRAWLER))
        person = await client.get(f"/c/{t.slug}", headers=headers("73.162.10.52"))
        pixel = await client.get(f"/i/{t.slug}", headers=headers("73.162.10.53", CRAWLER))
    assert bot.status_code == 200 and "location" not in bot.headers and bot.content == b""
    assert person.status_code == 302
    assert pixel.status_code == 200 and pixel.headers["content-type"] == "image/gif"
    clicks = await by_ip(links_stub, t.link_id)
    assert clicks["73.162.10.51"].verdict == INVALID and clicks["73.162.10.52"].verdict == CLEAN
    (imp,) = await all_impressions(links_stub, t.link_id)
    assert imp.verdict == INVALID


async def test_fallback_without_a_fallback_url_is_404_but_recorded(
    proxied_gateway: RunningGateway, make_link: MakeLink, links_stub: links_pb2_grpc.LinksServiceStub
) -> None:
    t = await make_link()
    await set_action(links_stub, t.campaign_id, pb.INVALID_TRAFFIC_ACTION_FALLBACK)
    async with proxied_gateway.client() as client:
        r = await client.get(f"/c/{t.slug}", headers=headers("73.162.10.61", CRAWLER))
    assert r.status_code == 404
    assert (await by_ip(links_stub, t.link_id))["73.162.10.61"].verdict == INVALID


async def test_default_client_is_recorded_with_its_verdict(
    client: httpx.AsyncClient, make_link: MakeLink, links_stub: links_pb2_grpc.LinksServiceStub
) -> None:
    """A click straight from loopback with httpx's own User-Agent: an HTTP library."""
    t = await make_link()
    assert (await client.get(f"/c/{t.slug}")).status_code == 302
    (c,) = await all_clicks(links_stub, t.link_id)
    assert c.verdict == INVALID and "http_library" in c.reasons
