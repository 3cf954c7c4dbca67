"""QR codes of links: GET /qr/{slug}.svg|png on the real gateway (public,
cacheable for a minute), AffiliateService.GetLinkQrCode with an account key, and
/internal/domain-allowed (the reverse proxy's on-demand TLS check). Images are
checked as a scanner would: decoded back to the link's click URL."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import grpc
import httpx
import pytest
from clicktrail.links.v1 import affiliate_pb2 as apb
from clicktrail.links.v1 import affiliate_pb2_grpc, links_pb2_grpc
from clicktrail.links.v1 import links_pb2 as pb

from tests.conftest import GATEWAY_TOKEN, AccountInfo
from tests.gateway.conftest import MakeLink
from tests.gateway.test_touch_options import affiliate_stub, set_link
from tests.libs.test_qr import decode, parse_svg, png_chunks

__all__ = ["affiliate_stub"]  # the fixture, shared with test_touch_options


async def click_url(links: links_pb2_grpc.LinksServiceStub, link_id: str) -> str:
    return (await links.GetLink(pb.GetLinkRequest(link_id=link_id))).link.click_url


async def test_svg_and_png_of_a_link(
    client: httpx.AsyncClient, make_link: MakeLink, links_stub: links_pb2_grpc.LinksServiceStub
) -> None:
    t = await make_link()
    url = await click_url(links_stub, t.link_id)
    r = await client.get(f"/qr/{t.slug}.svg")
    assert r.status_code == 200
    assert (r.headers["content-type"], r.headers["cache-control"]) == ("image/svg+xml", "public, max-age=60")
    svg = parse_svg(r.content)
    assert svg.findtext("{http://www.w3.org/2000/svg}title") == url
    assert int(svg.attrib["width"]) % 8 == 0  # the default scale
    r = await client.get(f"/qr/{t.slug}.png?scale=3")
    assert (r.status_code, r.headers["content-type"]) == (200, "image/png")
    kind, ihdr = png_chunks(r.content)[0]
    width, height = struct.unpack(">II", ihdr[:8])
    assert kind == b"IHDR" and width == height and width % 3 == 0
    assert decode(r.content) == [url]
    head = await client.head(f"/qr/{t.slug}.png?scale=3")
    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", str(len(r.content)))


async def test_a_link_on_a_custom_domain_encodes_that_domain(
    client: httpx.AsyncClient, make_link: MakeLink, links_stub: links_pb2_grpc.LinksServiceStub,
    affiliate_stub: affiliate_pb2_grpc.AffiliateServiceStub,
) -> None:  # fmt: skip
    await affiliate_stub.CreateDomain(apb.CreateDomainRequest(domain=apb.Domain(name="go.acme.example")))
    t = await make_link()
    await set_link(links_stub, t.link_id, domain="go.acme.example")
    link = (await links_stub.GetLink(pb.GetLinkRequest(link_id=t.link_id))).link
    assert link.click_url.endswith(f"://go.acme.example/c/{t.slug}")
    assert link.qr_url.endswith(f"://go.acme.example/qr/{t.slug}.svg")
    r = await client.get(f"/qr/{t.slug}.png")
    assert decode(r.content) == [link.click_url]


async def test_bad_requests(client: httpx.AsyncClient, make_link: MakeLink) -> None:
    t = await make_link()
    for path in ("/qr/no-such-slug.svg", f"/qr/{t.slug}.gif", f"/qr/{t.slug}", "/qr/a%20b.png"):
        r = await client.get(path)
        assert (r.status_code, r.json()) == (404, {"error": "link not found"}), path
    for scale in ("0", "41", "x", "-1", "2.5"):
        r = await client.get(f"/qr/{t.slug}.svg?scale={scale}")
        assert (r.status_code, r.json()["field"]) == (400, "scale"), scale
    assert (await client.post(f"/qr/{t.slug}.svg")).status_code == 405


async def test_get_link_qr_code_with_an_account_key(
    make_link: MakeLink, links_stub: links_pb2_grpc.LinksServiceStub,
    affiliate_stub: affiliate_pb2_grpc.AffiliateServiceStub, new_account: Any, links_server: Any,
    channels: Callable[..., grpc.aio.Channel],
) -> None:  # fmt: skip
    t = await make_link()
    url = await click_url(links_stub, t.link_id)
    reply = await affiliate_stub.GetLinkQrCode(apb.GetLinkQrCodeRequest(link_id=t.link_id, format=apb.QR_FORMAT_PNG))
    assert (reply.url, reply.content_type) == (url, "image/png")
    assert decode(reply.image) == [url]
    reply = await affiliate_stub.GetLinkQrCode(apb.GetLinkQrCodeRequest(link_id=t.link_id, scale=2))
    assert reply.content_type == "image/svg+xml" and int(parse_svg(reply.image).attrib["width"]) % 2 == 0
    cases: tuple[tuple[dict[str, Any], str], ...] = (
        ({"link_id": t.link_id, "scale": 41}, "scale"), ({"link_id": t.link_id, "format": 9}, "format"),
        ({}, "link_id"),
    )  # fmt: skip
    for fields, field in cases:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await affiliate_stub.GetLinkQrCode(apb.GetLinkQrCodeRequest(**fields))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and field in (err.value.details() or "")
    other: AccountInfo = await new_account("Other Co")
    other_stub = affiliate_pb2_grpc.AffiliateServiceStub(channels(links_server.addr, token=other.api_key))
    for request in (apb.GetLinkQrCodeRequest(link_id=t.link_id), apb.GetLinkQrCodeRequest(slug=t.slug)):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await other_stub.GetLinkQrCode(request)  # another account's link
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    gateway_stub = affiliate_pb2_grpc.AffiliateServiceStub(channels(links_server.addr, token=GATEWAY_TOKEN))
    assert (await gateway_stub.GetLinkQrCode(apb.GetLinkQrCodeRequest(slug=t.slug))).url == url
    with pytest.raises(grpc.aio.AioRpcError) as err:  # the gateway names slugs only, never a link id
        await gateway_stub.GetLinkQrCode(apb.GetLinkQrCodeRequest(link_id=t.link_id))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_domain_allowed_for_on_demand_tls(
    client: httpx.AsyncClient, affiliate_stub: affiliate_pb2_grpc.AffiliateServiceStub
) -> None:
    """Caddy's on_demand_tls `ask` (caddyserver.com/docs/caddyfile/options#on-demand-tls):
    GET <ask>?domain=<name>; a 2xx allows a certificate for the name, anything else refuses."""
    await affiliate_stub.CreateDomain(apb.CreateDomainRequest(domain=apb.Domain(name="track.acme.example")))
    r = await client.get("/internal/domain-allowed?domain=track.acme.example")
    assert r.status_code == 200
    assert (await client.get("/internal/domain-allowed?domain=TRACK.acme.example.")).status_code == 200
    r = await client.get("/internal/domain-allowed?domain=stranger.example")
    assert (r.status_code, r.json()["field"]) == (404, "domain")
    r = await client.get("/internal/domain-allowed")
    assert (r.status_code, r.json()["field"]) == (400, "domain")


async def test_a_custom_domain_serves_only_its_own_links_qr_codes(
    client: httpx.AsyncClient, make_link: MakeLink, links_stub: links_pb2_grpc.LinksServiceStub,
    affiliate_stub: affiliate_pb2_grpc.AffiliateServiceStub, new_account: Any, links_server: Any,
    channels: Callable[..., grpc.aio.Channel],
) -> None:  # fmt: skip
    """As for clicks: another account's domain never vouches for my link; the gateway's own
    host serves every link's code (the console shows them from there)."""
    await affiliate_stub.CreateDomain(apb.CreateDomainRequest(domain=apb.Domain(name="go.acme.example")))
    on_domain, plain = await make_link(), await make_link()
    await set_link(links_stub, on_domain.link_id, domain="go.acme.example")
    other: AccountInfo = await new_account("Other Co")
    theirs = affiliate_pb2_grpc.AffiliateServiceStub(channels(links_server.addr, token=other.api_key))
    await theirs.CreateDomain(apb.CreateDomainRequest(domain=apb.Domain(name="their.example.net")))
    cases = (
        ("go.acme.example", on_domain.slug, 200), ("go.acme.example", plain.slug, 404),
        ("their.example.net", on_domain.slug, 404), ("their.example.net", plain.slug, 404),
        ("", on_domain.slug, 200), ("", plain.slug, 200),
    )  # fmt: skip
    for host, slug, status in cases:
        r = await client.get(f"/qr/{slug}.svg", headers={"host": host} if host else {})
        assert r.status_code == status, (host, slug)


async def test_a_custom_domains_root_url_and_none(
    client: httpx.AsyncClient, affiliate_stub: affiliate_pb2_grpc.AffiliateServiceStub
) -> None:
    """GET / on a custom domain goes to its root_url; without one, and on the gateway's own
    host, it is the plain 404."""
    for name, root_url in (("home.acme.example", "https://acme.example/"), ("bare.acme.example", "")):
        await affiliate_stub.CreateDomain(apb.CreateDomainRequest(domain=apb.Domain(name=name, root_url=root_url)))
    r = await client.get("/", headers={"host": "home.acme.example"})
    assert (r.status_code, r.headers["location"]) == (302, "https://acme.example/")
    assert (await client.head("/", headers={"host": "home.acme.example"})).status_code == 302
    for headers in ({"host": "bare.acme.example"}, {"host": "stranger.example"}, {}):
        r = await client.get("/", headers=headers)
        assert (r.status_code, r.json()) == (404, {"error": "not found"}), headers
