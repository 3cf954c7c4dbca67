"""The links service process: LinksService and AccountService on one gRPC
server, plus the daily partition upkeep for clicks and impressions."""

from __future__ import annotations

from pathlib import Path

import grpc
from clicktrail.links.v1 import affiliate_pb2, affiliate_pb2_grpc, links_pb2, links_pb2_grpc

from libs import geo, privacy
from libs.config import DEFAULT_ADDRS
from libs.grpc_server import ServiceContext, ServiceSpec
from libs.partitions import keep_partitions
from services.accounts import account_service as accounts
from services.links import privacy as links_privacy
from services.links import quality as links_quality
from services.links.service import LinksService

HERE = Path(__file__).parent
PARTITIONED = ("clicks", "impressions")


async def setup(server: grpc.aio.Server, ctx: ServiceContext) -> list[str]:
    geo.load()
    links_quality.load()
    await keep_partitions(ctx, "links", list(PARTITIONED))
    service = LinksService(ctx.pool, ctx.keys, ctx.settings)
    links_pb2_grpc.add_LinksServiceServicer_to_server(service, server)
    affiliate_pb2_grpc.add_AffiliateServiceServicer_to_server(service, server)
    return [
        links_pb2.DESCRIPTOR.services_by_name["LinksService"].full_name,
        affiliate_pb2.DESCRIPTOR.services_by_name["AffiliateService"].full_name,
        *accounts.register(server, ctx.pool, ctx.keys),
        *privacy.register(server, ctx, "links", links_privacy.erase),
    ]


SPEC = ServiceSpec(
    name="links",
    migrations=[
        ("accounts", HERE.parent / "accounts" / "migrations"),
        ("links", HERE / "migrations"),
        privacy.MIGRATIONS,
    ],
    setup=setup,
    default_addr=DEFAULT_ADDRS["links"],
)
