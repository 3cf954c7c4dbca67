"""The attribution service process: the configuration services (goals,
settings, tariffs, corrections) and the attribution engine."""

from __future__ import annotations

from pathlib import Path

import grpc

from libs import privacy, queue
from libs.config import DEFAULT_ADDRS
from libs.grpc_server import ServiceContext, ServiceSpec
from services.attribution import config_handlers
from services.attribution import handlers as engine_handlers
from services.attribution import privacy as attribution_privacy

HERE = Path(__file__).parent


async def setup(server: grpc.aio.Server, ctx: ServiceContext) -> list[str]:
    names: list[str] = []
    names += config_handlers.register(server, ctx)
    names += engine_handlers.register(server, ctx)
    names += privacy.register(server, ctx, "attribution", attribution_privacy.erase)
    return names


SPEC = ServiceSpec(
    name="attribution",
    migrations=[queue.MIGRATIONS, ("attribution", HERE / "migrations"), privacy.MIGRATIONS],
    setup=setup,
    default_addr=DEFAULT_ADDRS["attribution"],
)
