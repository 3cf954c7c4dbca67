"""The attribution service process: the configuration services (goals,
settings, tariffs, corrections, traffic quality) and the attribution engine."""

from __future__ import annotations

import gc
from pathlib import Path

import grpc

from libs import privacy, queue
from libs.config import DEFAULT_ADDRS
from libs.grpc_server import ServiceContext, ServiceSpec
from services.attribution import config_handlers, quality_handlers
from services.attribution import handlers as engine_handlers
from services.attribution import privacy as attribution_privacy

HERE = Path(__file__).parent


# The engine allocates a few hundred thousand short-lived objects per batch beside
# long-lived caches (clicks, campaigns): at the default thresholds (700, 10, 10)
# the cyclic collector ran often enough to take ~15% of the process (py-spy
# --native). Collect the young generation every 50,000 net allocations instead.
GC_THRESHOLDS = (50_000, 20, 20)


async def setup(server: grpc.aio.Server, ctx: ServiceContext) -> list[str]:
    gc.set_threshold(*GC_THRESHOLDS)
    names: list[str] = []
    names += config_handlers.register(server, ctx)
    names += quality_handlers.register(server, ctx)
    names += engine_handlers.register(server, ctx)
    names += privacy.register(server, ctx, "attribution", attribution_privacy.erase)
    return names


SPEC = ServiceSpec(
    name="attribution",
    migrations=[queue.MIGRATIONS, ("attribution", HERE / "migrations"), privacy.MIGRATIONS],
    setup=setup,
    default_addr=DEFAULT_ADDRS["attribution"],
)
