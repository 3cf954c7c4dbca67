"""The analytics service process: campaign reports over rollups it keeps
current, product metrics from the events, and the automation rules engine.
It reads the other services' schemas read-only and writes only ``analytics``."""

from __future__ import annotations

from pathlib import Path

import grpc

from libs import privacy
from libs.config import DEFAULT_ADDRS
from libs.grpc_server import ServiceContext, ServiceSpec
from services.analytics import metric_service, report_service, rule_service
from services.analytics import privacy as analytics_privacy
from services.analytics.rollup import Rollup, RollupRunner

HERE = Path(__file__).parent

# Every rollup the service keeps current, in the order a pass advances them.
ROLLUPS: list[Rollup] = [*report_service.ROLLUPS, *metric_service.ROLLUPS]


async def setup(server: grpc.aio.Server, ctx: ServiceContext) -> list[str]:
    runner = RollupRunner(ctx.pool, ROLLUPS, ctx.settings, report_service.DERIVED)
    ctx.spawn(runner.run(), "analytics-rollups")
    ctx.on_stop.append(runner.stop)
    names: list[str] = []
    for module in (report_service, metric_service, rule_service):
        names += module.register(server, ctx, runner)
    names += privacy.register(server, ctx, "analytics", analytics_privacy.erase)
    return names


SPEC = ServiceSpec(
    name="analytics",
    migrations=[("analytics", HERE / "migrations"), privacy.MIGRATIONS],
    setup=setup,
    default_addr=DEFAULT_ADDRS["analytics"],
)
