"""Console fixtures: every service on ephemeral ports and the real gateway
(serving /console) in front of them, with a console secret."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from clicktrail.links.v1 import links_pb2 as pb
from clicktrail.links.v1 import links_pb2_grpc

from libs.config import Settings
from tests.gateway.conftest import RunningGateway, start_gateway

CONSOLE_SECRET = "test-console-secret"
CHROMIUM = os.environ.get("CLICKTRAIL_TEST_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture
def console_settings(
    settings: Settings, links_server: Any, ingest_server: Any, attribution_server: Any, postbacks_server: Any,
    analytics_server: Any,
) -> Settings:
    return dataclasses.replace(
        settings, links_addr=links_server.addr, ingest_addr=ingest_server.addr,
        attribution_addr=attribution_server.addr, postbacks_addr=postbacks_server.addr,
        analytics_addr=analytics_server.addr, grpc_deadline_s=5.0, console_secret=CONSOLE_SECRET,
    )  # fmt: skip


@pytest.fixture
async def console_gateway(console_settings: Settings) -> AsyncIterator[RunningGateway]:
    gw = await start_gateway(console_settings)
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
