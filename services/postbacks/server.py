"""The postbacks service process: PostbackService, the fan-out of outbound
events into deliveries, and the dispatcher that sends them."""

from __future__ import annotations

from pathlib import Path

import grpc
from clicktrail.postbacks.v1 import postbacks_pb2, postbacks_pb2_grpc

from libs import privacy, queue
from libs.config import DEFAULT_ADDRS
from libs.grpc_server import ServiceContext, ServiceSpec
from services.postbacks import catalog_partners
from services.postbacks import privacy as postbacks_privacy
from services.postbacks.dispatcher import Dispatcher
from services.postbacks.fanout import fanout_consumer
from services.postbacks.service import PostbackService

HERE = Path(__file__).parent


async def setup(server: grpc.aio.Server, ctx: ServiceContext) -> list[str]:
    dispatcher = Dispatcher(ctx.pool, ctx.settings)
    fanout = fanout_consumer(ctx.pool, ctx.settings)
    links = catalog_partners.links_client(ctx.settings)
    ctx.spawn(fanout.run(), "postbacks-fanout")
    ctx.spawn(dispatcher.consumer.run(), "postbacks-dispatch")
    ctx.spawn(catalog_partners.sweeper(ctx.pool, links), "postbacks-catalog-sweeper")
    ctx.on_stop.append(fanout.stop)
    ctx.on_stop.append(dispatcher.consumer.stop)
    ctx.on_stop.append(dispatcher.close)
    ctx.on_stop.append(links.close)
    postbacks_pb2_grpc.add_PostbackServiceServicer_to_server(
        PostbackService(ctx.pool, ctx.settings, dispatcher.client, links), server
    )
    return [
        postbacks_pb2.DESCRIPTOR.services_by_name["PostbackService"].full_name,
        *privacy.register(server, ctx, "postbacks", postbacks_privacy.erase),
    ]


SPEC = ServiceSpec(
    name="postbacks",
    migrations=[queue.MIGRATIONS, ("postbacks", HERE / "migrations"), privacy.MIGRATIONS],
    setup=setup,
    default_addr=DEFAULT_ADDRS["postbacks"],
)
