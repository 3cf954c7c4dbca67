"""Console fixtures: every service on ephemeral ports, the real console server
(its own uvicorn, as ``python -m console`` runs it) and the real gateway
forwarding /console to it, with a console secret."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from clicktrail.links.v1 import links_pb2 as pb
from clicktrail.links.v1 import links_pb2_grpc

from console.__main__ import server_config
from libs.config import Settings
from tests.gateway.conftest import RunningGateway, _listen, serve, start_gateway

CONSOLE_SECRET = "test-console-secret"


@pytest.fixture
def console_settings(
    settings: Settings,
    links_server: Any,
    ingest_server: Any,
    attribution_server: Any,
    postbacks_server: Any,
    analytics_server: Any,
) -> Settings:
    return dataclasses.replace(
        settings, links_addr=links_server.addr, ingest_addr=ingest_server.addr,
        attribution_addr=attribution_server.addr, postbacks_addr=postbacks_server.addr,
        analytics_addr=analytics_server.addr, grpc_deadline_s=5.0, console_secret=CONSOLE_SECRET,
    )  # fmt: skip


@dataclasses.dataclass
class ConsoleGateway(RunningGateway):
    """The gateway and, behind it, the console server it forwards /console to."""

    console_server: uvicorn.Server | None = None
    console_task: asyncio.Task[None] | None = None

    async def stop(self) -> None:
        await super().stop()
        if self.console_server is not None and self.console_task is not None and not self.console_task.done():
            self.console_server.should_exit = True
            await asyncio.wait_for(self.console_task, 20)


async def start_console_gateway(settings: Settings) -> ConsoleGateway:
    """The console server on an ephemeral loopback port, then the gateway pointed at it."""
    sock = _listen(socket.AF_INET, "127.0.0.1")
    port = sock.getsockname()[1]
    settings = dataclasses.replace(settings, console_host="127.0.0.1", console_port=port)
    server = uvicorn.Server(server_config(settings, loop="none"))
    task = await serve(server, [sock], "console")
    try:
        gw = await start_gateway(settings)
    except BaseException:
        server.should_exit = True
        await task
        raise
    return ConsoleGateway(**{f.name: getattr(gw, f.name) for f in dataclasses.fields(gw)},
                          console_server=server, console_task=task)  # fmt: skip


@pytest.fixture
async def console_gateway(console_settings: Settings) -> AsyncIterator[RunningGateway]:
    gw = await start_console_gateway(console_settings)
    yield gw
    await gw.stop()


@dataclasses.dataclass
class Seeded:
    app_id: str
    partner_id: str


@pytest.fixture
async def seeded(links_stub: links_pb2_grpc.LinksServiceStub) -> Seeded:
    """An app and a partner in the test account (the console's campaign form picks them)."""
    app = (await links_stub.CreateApp(pb.CreateAppRequest(app=pb.App(
        name="Space Game", platform=pb.PLATFORM_ANDROID, bundle_id="com.example.space",
        store_url="https://play.google.com/store/apps/details?id=com.example.space",
    )))).app  # fmt: skip
    partner = (await links_stub.CreatePartner(pb.CreatePartnerRequest(partner=pb.Partner(name="AdNet")))).partner
    return Seeded(app.app_id, partner.partner_id)
