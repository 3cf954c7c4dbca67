"""The ingest service process: IngestService plus the daily partition upkeep
for events."""

from __future__ import annotations

from pathlib import Path

import grpc
from clicktrail.ingest.v1 import ingest_pb2, ingest_pb2_grpc

from libs import privacy, queue
from libs.config import DEFAULT_ADDRS
from libs.grpc_server import ServiceContext, ServiceSpec
from libs.partitions import keep_partitions
from services.ingest import privacy as ingest_privacy
from services.ingest.event_service import IngestService
from services.ingest.store import EventStore

HERE = Path(__file__).parent


async def setup(server: grpc.aio.Server, ctx: ServiceContext) -> list[str]:
    await keep_partitions(ctx, "ingest", ["events"])
    ingest_pb2_grpc.add_IngestServiceServicer_to_server(IngestService(ctx.pool, ctx.keys, EventStore(ctx.pool)), server)
    return [
        ingest_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name,
        *privacy.register(server, ctx, "ingest", ingest_privacy.erase),
    ]


SPEC = ServiceSpec(
    name="ingest",
    migrations=[queue.MIGRATIONS, ("ingest", HERE / "migrations"), privacy.MIGRATIONS],
    setup=setup,
    default_addr=DEFAULT_ADDRS["ingest"],
)
