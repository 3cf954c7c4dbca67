"""A blacklisted sub-id's click goes to the campaign's fallback URL through the
real gateway (and is still recorded); a whitelisted one stays on its destination."""

import httpx
from clicktrail.links.v1 import links_pb2 as pb
from clicktrail.links.v1 import links_pb2_grpc

from tests.gateway.conftest import MakeLink, all_clicks


async def _add(stub: links_pb2_grpc.LinksServiceStub, campaign_id: str, list_: int, field: str, value: str) -> None:
    await stub.AddSubIdEntry(
        pb.AddSubIdEntryRequest(entry=pb.SubIdEntry(campaign_id=campaign_id, list=list_, sub_field=field, value=value))
    )


async def test_blacklisted_sub_id_goes_to_fallback_whitelisted_stays(
    client: httpx.AsyncClient, make_link: MakeLink, links_stub: links_pb2_grpc.LinksServiceStub
) -> None:
    t = await make_link(fallback_url="https://fallback.example/offers")
    await _add(links_stub, t.campaign_id, pb.SUB_ID_LIST_BLACKLIST, "sub1", "bad-pub")
    await _add(links_stub, t.campaign_id, pb.SUB_ID_LIST_BLACKLIST, "sub2", "bad-src")
    await _add(links_stub, t.campaign_id, pb.SUB_ID_LIST_WHITELIST, "sub3", "vip")

    r = await client.get(f"/c/{t.slug}?sub1=bad-pub")
    assert (r.status_code, r.headers["location"]) == (302, "https://fallback.example/offers")
    r = await client.get(f"/c/{t.slug}?source=bad-src")  # the alias of sub2
    assert (r.status_code, r.headers["location"]) == (302, "https://fallback.example/offers")
    r = await client.get(f"/c/{t.slug}?sub1=good-pub")
    assert r.status_code == 302 and r.headers["location"].startswith("https://shop.example/land?cid=")
    r = await client.get(f"/c/{t.slug}?sub1=bad-pub&sub3=vip")  # the whitelist keeps it safe
    assert r.status_code == 302 and r.headers["location"].startswith("https://shop.example/land?cid=")

    # Every click was recorded, the diverted ones too.
    clicks = await all_clicks(links_stub, t.link_id)
    assert sorted((c.sub1, c.sub2, c.sub3) for c in clicks) == sorted(
        [("bad-pub", "", ""), ("", "bad-src", ""), ("good-pub", "", ""), ("bad-pub", "", "vip")]
    )


async def test_blacklisted_sub_id_without_fallback_is_404(
    client: httpx.AsyncClient, make_link: MakeLink, links_stub: links_pb2_grpc.LinksServiceStub
) -> None:
    t = await make_link()
    await _add(links_stub, t.campaign_id, pb.SUB_ID_LIST_BLACKLIST, "sub1", "bad-pub")
    r = await client.get(f"/c/{t.slug}?sub1=bad-pub")
    assert r.status_code == 404 and r.json() == {"error": "link not found"}
    assert len(await all_clicks(links_stub, t.link_id)) == 1
