"""The links service process: LinksService and AccountService on one gRPC
server, plus the daily partition upkeep for clicks and impressions."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
from clicktrail.links.v1 import links_pb2, links_pb2_grpc

from libs import geo
from libs.config import DEFAULT_ADDRS
from libs.grpc_server import ServiceContext, ServiceSpec
from libs.logging import get_logger
from libs.partitions import ensure_daily_partitions
from services.accounts import handlers as accounts
from services.links.handlers import LinksService

log = get_logger("links")
HERE = Path(__file__).parent
PARTITIONED = ("clicks", "impressions")


async def maintain_partitions(ctx: ServiceContext, every_s: float = 3600.0) -> None:
    while True:
        await asyncio.sleep(every_s)
        try:
            async with ctx.pool.acquire() as conn:
                for table in PARTITIONED:
                    created = await ensure_daily_partitions(
                        conn, "links", table, days_ahead=ctx.settings.partition_days_ahead
                    )
                    if created:
                        log.info("partitions_created", table=table, partitions=created)
        except Exception as exc:  # retried next hour; days_ahead leaves ample slack
            log.error("partition_upkeep_failed", error=str(exc))


async def setup(server: grpc.aio.Server, ctx: ServiceContext) -> list[str]:
    geo.load()
    async with ctx.pool.acquire() as conn:
        for table in PARTITIONED:
            await ensure_daily_partitions(conn, "links", table, days_ahead=ctx.settings.partition_days_ahead)
    ctx.spawn(maintain_partitions(ctx), "partitions")
    links_pb2_grpc.add_LinksServiceServicer_to_server(LinksService(ctx.pool, ctx.keys, ctx.settings), server)
    return [
        links_pb2.DESCRIPTOR.services_by_name["LinksService"].full_name,
        *accounts.register(server, ctx.pool, ctx.keys),
    ]


SPEC = ServiceSpec(
    name="links",
    migrations=[("accounts", HERE.parent / "accounts" / "migrations"), ("links", HERE / "migrations")],
    setup=setup,
    default_addr=DEFAULT_ADDRS["links"],
)
