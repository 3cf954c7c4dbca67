"""/lp/click over HTTP through the real gateway and links: a click sent to a
lander continues to its offer (same click id), recorded as the click's lander
click; the click comes from click_id / cid, or from the ctc cookie the click set."""

from __future__ import annotations

import asyncio
import dataclasses
from urllib.parse import parse_qs, urlsplit

import httpx
from clicktrail.links.v1 import affiliate_pb2_grpc, links_pb2_grpc
from clicktrail.links.v1 import links_pb2 as pb

from libs.config import Settings
from libs.grpc_server import start_service
from libs.ids import new_id
from services.links.server import SPEC as LINKS_SPEC
from tests.gateway.conftest import MakeLink, RunningGateway, start_gateway
from tests.gateway.test_touch_options import affiliate_stub, make_flow, set_cookies

__all__ = ["affiliate_stub"]  # the fixture, shared with test_touch_options


def lander_click_url(location: str) -> str:
    """The {lander_click_url} the lander got, as a path on the gateway."""
    (go,) = parse_qs(urlsplit(location).query)["go"]
    parts = urlsplit(go)
    assert parts.path == "/lp/click"
    return f"{parts.path}?{parts.query}"


async def test_lander_click_continues_to_the_offer_with_the_same_click(
    client: httpx.AsyncClient, make_link: MakeLink, affiliate_stub: affiliate_pb2_grpc.AffiliateServiceStub,
    links_stub: links_pb2_grpc.LinksServiceStub,
) -> None:  # fmt: skip
    flow = await make_flow(make_link, affiliate_stub, landers=1, offers=1)
    r = await client.get(f"/c/{flow.t.slug}")
    assert urlsplit(r.headers["location"]).netloc == "lp0.example"
    path = lander_click_url(r.headers["location"])
    click_id = parse_qs(urlsplit(path).query)["click_id"][0]
    for _ in range(2):  # a second click-through goes on as well (the first one counts)
        r = await client.get(path)
        assert r.status_code == 302
        assert r.headers["location"] == f"https://offer0.example/?c={click_id}"
        assert r.headers["cache-control"] == "no-store"
    click = (await links_stub.GetClick(pb.GetClickRequest(click_id=click_id))).click
    assert click.HasField("lander_click_time") and click.offer_id == flow.offers[0]


async def test_cid_alias_head_and_the_ctc_cookie(
    client: httpx.AsyncClient, make_link: MakeLink, affiliate_stub: affiliate_pb2_grpc.AffiliateServiceStub
) -> None:
    flow = await make_flow(make_link, affiliate_stub, landers=1, offers=1)
    first = await client.get(f"/c/{flow.t.slug}")
    click_id = parse_qs(urlsplit(lander_click_url(first.headers["location"])).query)["click_id"][0]
    r = await client.head(f"/lp/click?cid={click_id}")
    assert (r.status_code, r.headers["location"]) == (302, f"https://offer0.example/?c={click_id}")
    # A lander whose button points at a bare /lp/click: the click cookie says which click.
    second = await client.get(f"/c/{flow.t.slug}")
    ctc = set_cookies(second)["ctc"].split(";")[0]
    r = await client.get("/lp/click", headers={"cookie": f"_ga=1; {ctc}"})
    assert r.status_code == 302
    assert r.headers["location"] == f"https://offer0.example/?c={ctc.split('=', 1)[1]}"


async def test_what_is_missing_or_unknown_is_said(
    client: httpx.AsyncClient, make_link: MakeLink, links_stub: links_pb2_grpc.LinksServiceStub
) -> None:
    r = await client.get("/lp/click")
    assert r.status_code == 400 and r.json()["field"] == "click_id"
    assert (await client.get("/lp/click?click_id=&cid=")).status_code == 400
    for click_id in (new_id(), "not-an-id"):
        r = await client.get(f"/lp/click?click_id={click_id}")
        assert (r.status_code, r.json()) == (404, {"error": "click not found"})
    t = await make_link()  # a plain link: its click went to no lander
    r = await client.get(f"/c/{t.slug}")
    plain_click = parse_qs(urlsplit(r.headers["location"]).query)["cid"][0]
    r = await client.get(f"/lp/click?click_id={plain_click}")
    assert (r.status_code, r.json()) == (404, {"error": "click not found"})
    r = await client.post(f"/lp/click?click_id={plain_click}")
    assert r.status_code == 405


async def test_concurrent_click_throughs_each_get_their_offer(
    gateway: RunningGateway, make_link: MakeLink, affiliate_stub: affiliate_pb2_grpc.AffiliateServiceStub
) -> None:
    """Concurrent requests share RecordLanderClicks calls (the click batcher's
    coalescing); each still gets its own click's answer."""
    flow = await make_flow(make_link, affiliate_stub, landers=1, offers=2)
    async with gateway.client() as client:
        firsts = await asyncio.gather(*(client.get(f"/c/{flow.t.slug}") for _ in range(20)))
        paths = [lander_click_url(r.headers["location"]) for r in firsts]
        answers = await asyncio.gather(*(client.get(p) for p in paths))
    for path, r in zip(paths, answers, strict=True):
        click_id = parse_qs(urlsplit(path).query)["click_id"][0]
        assert r.status_code == 302
        assert urlsplit(r.headers["location"]).netloc in ("offer0.example", "offer1.example")
        assert r.headers["location"].endswith(f"/?c={click_id}")


async def test_links_down_gives_503(gateway_settings: Settings, make_link: MakeLink) -> None:
    """A links replica the test owns, stopped: the click-through, a QR code and the
    domain check answer 503 (nothing recorded; retry), never hang."""
    own = await start_service(LINKS_SPEC, gateway_settings, listen="127.0.0.1:0")
    gw = await start_gateway(dataclasses.replace(gateway_settings, links_addr=own.addr))
    try:
        t = await make_link()
        await own.stop(grace=0.5)
        async with gw.client() as c:
            paths = (f"/lp/click?click_id={new_id()}", f"/qr/{t.slug}.svg", "/internal/domain-allowed?domain=a.example")
            for path in paths:
                r = await c.get(path)
                assert r.status_code == 503 and "unavailable" in r.json()["error"], path
    finally:
        await gw.stop()
