"""The attribution service process: the configuration services (goals,
settings, tariffs, corrections, traffic quality, postback formats) and the
attribution engine."""

from __future__ import annotations

from pathlib import Path

import grpc
from clicktrail.attribution.v1 import config_pb2, config_pb2_grpc

from libs import privacy, queue
from libs.config import DEFAULT_ADDRS
from libs.grpc_server import ServiceContext, ServiceSpec
from services.attribution import (
    attribution_service,
    postback_format_service,
    quality_service,
    reengagement_service,
    skan,
    skan_schema_service,
)
from services.attribution import privacy as attribution_privacy
from services.attribution.apple_ads import start as start_apple_ads
from services.attribution.apple_ads_service import register as register_apple_ads
from services.attribution.campaigns import Campaigns
from services.attribution.goal_service import GoalService
from services.attribution.postback_formats import FormatStore
from services.attribution.settings_service import SettingsService
from services.attribution.tariff_service import CorrectionService, TariffService

HERE = Path(__file__).parent



def register_config(server: grpc.aio.Server, ctx: ServiceContext, formats: FormatStore) -> list[str]:
    """The configuration services: goals, settings, tariffs, corrections, traffic quality, postback formats."""
    links = Campaigns(ctx.settings)
    ctx.on_stop.append(links.close)
    config_pb2_grpc.add_GoalServiceServicer_to_server(GoalService(ctx.pool, links), server)
    config_pb2_grpc.add_AttributionSettingsServiceServicer_to_server(SettingsService(ctx.pool), server)
    config_pb2_grpc.add_TariffServiceServicer_to_server(TariffService(ctx.pool, links), server)
    config_pb2_grpc.add_CorrectionServiceServicer_to_server(CorrectionService(ctx.pool, links), server)
    services = config_pb2.DESCRIPTOR.services_by_name
    names = [
        services[n].full_name
        for n in ("GoalService", "AttributionSettingsService", "TariffService", "CorrectionService")
    ]
    names += postback_format_service.register(server, ctx.pool, links, formats)
    names += register_apple_ads(server, ctx, links)
    names += reengagement_service.register(server, ctx.pool)
    names += skan_schema_service.register(server, ctx.pool, ctx.keys)
    names += skan.register(server, ctx, links)
    return names + quality_service.register(server, ctx, links)


async def setup(server: grpc.aio.Server, ctx: ServiceContext) -> list[str]:
    names: list[str] = []
    # One store of the partners' postback formats: a change through the API reads the next postback.
    formats = FormatStore(ctx.pool)
    names += register_config(server, ctx, formats)
    names += attribution_service.register(server, ctx, formats=formats)
    start_apple_ads(ctx)  # resolves install tokens with Apple's attribution API
    names += privacy.register(server, ctx, "attribution", attribution_privacy.erase)
    return names


SPEC = ServiceSpec(
    name="attribution",
    migrations=[queue.MIGRATIONS, ("attribution", HERE / "migrations"), privacy.MIGRATIONS],
    setup=setup,
    default_addr=DEFAULT_ADDRS["attribution"],
)
