"""Review of issue 21 (gateway): defects found in review, over HTTP through the
real gateway and links. A test marked xfail(strict=True) documents a defect
still present (it starts failing as XPASS once fixed: then drop the mark)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest
from clicktrail.links.v1 import affiliate_pb2 as apb
from clicktrail.links.v1 import affiliate_pb2_grpc, links_pb2_grpc
from clicktrail.links.v1 import links_pb2 as pb
from google.protobuf import field_mask_pb2

from tests.conftest import AccountInfo
from tests.gateway.conftest import MakeLink, RunningGateway


@pytest.fixture
def affiliate_stub(
    links_server: Any, account: AccountInfo, channels: Callable[..., grpc.aio.Channel]
) -> affiliate_pb2_grpc.AffiliateServiceStub:
    return affiliate_pb2_grpc.AffiliateServiceStub(channels(links_server.addr, token=account.api_key))


async def test_a_custom_domains_root_goes_to_its_root_url(
    gateway: RunningGateway, affiliate_stub: affiliate_pb2_grpc.AffiliateServiceStub
) -> None:
    domain = "go.acme.example"
    await affiliate_stub.CreateDomain(
        apb.CreateDomainRequest(domain=apb.Domain(name=domain, root_url="https://acme.example/home"))
    )
    async with gateway.client() as client:
        r = await client.get("/", headers={"host": domain})
        assert (r.status_code, r.headers.get("location")) == (302, "https://acme.example/home")


async def test_a_custom_domain_serves_no_qr_code_of_another_accounts_link(
    gateway: RunningGateway, make_link: MakeLink, new_account: Any, links_server: Any,
    channels: Callable[..., grpc.aio.Channel], links_stub: links_pb2_grpc.LinksServiceStub,
) -> None:  # fmt: skip
    """review1 #7 (fixed in ed82aa1): /qr/{slug} ignored Host, so another account's
    custom domain served (and vouched for) a QR code of my link."""
    mine = await make_link()
    other = await new_account("Other Co")
    theirs = affiliate_pb2_grpc.AffiliateServiceStub(channels(links_server.addr, token=other.api_key))
    await theirs.CreateDomain(apb.CreateDomainRequest(domain=apb.Domain(name="their.example.net")))
    async with gateway.client() as client:
        on_theirs = {"host": "their.example.net"}
        assert (await client.get(f"/c/{mine.slug}", headers=on_theirs)).status_code == 404
        assert (await client.get(f"/qr/{mine.slug}.svg")).status_code == 200  # on the gateway's own host
        assert (await client.get(f"/qr/{mine.slug}.svg", headers=on_theirs)).status_code == 404


async def test_lp_click_without_a_lander_click_is_a_404_not_a_redirect(
    gateway: RunningGateway, make_link: MakeLink, links_stub: links_pb2_grpc.LinksServiceStub
) -> None:
    """Passes: a plain link's click (no flow, no lander) has no click-through, and an
    unknown or malformed click id never redirects (no open redirect through /lp/click)."""
    t = await make_link()
    await links_stub.UpdateLink(pb.UpdateLinkRequest(
        link=pb.Link(link_id=t.link_id, name="plain"), update_mask=field_mask_pb2.FieldMask(paths=["name"]),
    ))  # fmt: skip
    async with gateway.client() as client:
        r = await client.get(f"/c/{t.slug}")
        assert r.status_code == 302
        click_id = r.headers["location"].rsplit("cid=", 1)[1].split("&", 1)[0]
        for query in (f"click_id={click_id}", "click_id=01j00000000000000000000000", "cid=https://evil.example/"):
            r = await client.get(f"/lp/click?{query}")
            assert r.status_code == 404 and "location" not in r.headers, query
