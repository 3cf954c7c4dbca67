"""Gateway fixtures: the real gateway (uvicorn + httptools, as in production)
served in-process on ephemeral ports, in front of the real links service."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import uvicorn
from clicktrail.links.v1 import links_pb2 as pb
from clicktrail.links.v1 import links_pb2_grpc
from google.protobuf import field_mask_pb2

from gateway.__main__ import server_config
from gateway.app import Gateway
from libs.config import Settings
from tests.support.wait import WaitTimeout, wait_until


def _listen(family: socket.AddressFamily, host: str) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    sock.bind((host, 0))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def ipv6_loopback() -> bool:
    try:
        _listen(socket.AF_INET6, "::1").close()
        return True
    except OSError:
        return False


@dataclasses.dataclass
class RunningGateway:
    app: Gateway
    server: uvicorn.Server
    task: asyncio.Task[None]
    url: str
    url6: str  # "" when the host has no IPv6 loopback
    settings: Settings

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, follow_redirects=False, timeout=20, **kwargs)

    async def stop(self) -> None:
        if self.task.done():
            return
        self.server.should_exit = True
        await asyncio.wait_for(self.task, 20)


async def serve(server: uvicorn.Server, socks: list[socket.socket], what: str) -> asyncio.Task[None]:
    """Runs a uvicorn server on these sockets in this loop; returns once it has started."""
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]  # leave pytest's Ctrl-C alone
    task = asyncio.create_task(server.serve(sockets=socks))
    with contextlib.suppress(WaitTimeout):  # named below
        await wait_until(lambda: server.started or task.done(), f"{what} to start", every_s=0.01)
    if not server.started:
        if task.done():
            task.result()
        raise RuntimeError(f"{what} did not start")
    return task


async def start_gateway(settings: Settings, graceful_s: float = 5) -> RunningGateway:
    socks = [_listen(socket.AF_INET, "127.0.0.1")]
    url6 = ""
    if ipv6_loopback():
        socks.append(_listen(socket.AF_INET6, "::1"))
        url6 = f"http://[::1]:{socks[1].getsockname()[1]}"
    config = server_config(settings, loop="none", timeout_graceful_shutdown=graceful_s)
    server = uvicorn.Server(config)
    task = await serve(server, socks, "gateway")
    app = config.loaded_app
    while not isinstance(app, Gateway):  # unwrap uvicorn's middleware
        app = app.app
    url = f"http://127.0.0.1:{socks[0].getsockname()[1]}"
    return RunningGateway(app, server, task, url, url6, settings)


@pytest.fixture
def gateway_settings(settings: Settings, links_server: Any, ingest_server: Any, attribution_server: Any) -> Settings:
    return dataclasses.replace(
        settings, links_addr=links_server.addr, ingest_addr=ingest_server.addr,
        attribution_addr=attribution_server.addr, grpc_deadline_s=3.0,
    )  # fmt: skip


@pytest.fixture
async def gateway(gateway_settings: Settings) -> AsyncIterator[RunningGateway]:
    gw = await start_gateway(gateway_settings)
    yield gw
    await gw.stop()


@pytest.fixture
async def proxied_gateway(gateway_settings: Settings) -> AsyncIterator[RunningGateway]:
    """A gateway that believes X-Forwarded-For from loopback (a local proxy)."""
    trusted = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
    gw = await start_gateway(dataclasses.replace(gateway_settings, trusted_proxies=trusted))
    yield gw
    await gw.stop()


@pytest.fixture
async def client(gateway: RunningGateway) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway.client() as c:
        yield c


@dataclasses.dataclass
class Tracked:
    app_id: str
    partner_id: str
    campaign_id: str
    link_id: str
    slug: str


MakeLink = Callable[..., Awaitable[Tracked]]


@pytest.fixture
def make_link(links_stub: links_pb2_grpc.LinksServiceStub) -> MakeLink:
    """Creates app + partner + campaign (+ link) through the real links API."""

    async def make(
        url: str = "https://shop.example/land?cid={click_id}&s1={sub1}",
        *,
        status: pb.CampaignStatus = pb.CAMPAIGN_STATUS_ACTIVE,
        fallback_url: str = "",
    ) -> Tracked:
        app = (await links_stub.CreateApp(pb.CreateAppRequest(app=pb.App(
            name="Game", platform=pb.PLATFORM_ANDROID, bundle_id="com.example.game",
            store_url="https://play.google.com/store/apps/details?id=com.example.game",
        )))).app  # fmt: skip
        partner = (await links_stub.CreatePartner(pb.CreatePartnerRequest(partner=pb.Partner(name="Net")))).partner
        campaign = (await links_stub.CreateCampaign(pb.CreateCampaignRequest(campaign=pb.Campaign(
            name="Launch", partner_id=partner.partner_id, app_id=app.app_id,
            status=pb.CAMPAIGN_STATUS_ACTIVE, fallback_url=fallback_url,
        )))).campaign  # fmt: skip
        link = (await links_stub.CreateLink(pb.CreateLinkRequest(link=pb.Link(
            campaign_id=campaign.campaign_id, destination_url=url,
        )))).link  # fmt: skip
        if status != pb.CAMPAIGN_STATUS_ACTIVE:
            await links_stub.UpdateCampaign(pb.UpdateCampaignRequest(
                campaign=pb.Campaign(campaign_id=campaign.campaign_id, status=status),
                update_mask=field_mask_pb2.FieldMask(paths=["status"]),
            ))  # fmt: skip
        return Tracked(app.app_id, partner.partner_id, campaign.campaign_id, link.link_id, link.slug)

    return make


async def all_clicks(stub: links_pb2_grpc.LinksServiceStub, link_id: str) -> list[pb.Click]:
    out: list[pb.Click] = []
    token = ""
    while True:
        page = await stub.ListClicks(pb.ListClicksRequest(link_id=link_id, page_size=100, page_token=token))
        out.extend(page.clicks)
        token = page.next_page_token
        if not token:
            return out


async def all_impressions(stub: links_pb2_grpc.LinksServiceStub, link_id: str) -> list[pb.Impression]:
    out: list[pb.Impression] = []
    token = ""
    while True:
        page = await stub.ListImpressions(pb.ListImpressionsRequest(link_id=link_id, page_size=100, page_token=token))
        out.extend(page.impressions)
        token = page.next_page_token
        if not token:
            return out
