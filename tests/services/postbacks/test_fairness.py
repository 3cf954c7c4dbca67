"""One tenant cannot starve the postback dispatcher: an account whose endpoint
hangs keeps at most postback_account_concurrency requests in flight while
another account's postbacks go out; templates per account are capped."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import AsyncIterator, Callable

import grpc
import pytest
from clicktrail.links.v1 import links_pb2_grpc
from clicktrail.postbacks.v1 import postbacks_pb2 as pb
from clicktrail.postbacks.v1 import postbacks_pb2_grpc

from libs.config import Settings
from libs.grpc_server import RunningService, start_service
from services.postbacks.server import SPEC as POSTBACKS_SPEC
from tests.conftest import AccountInfo
from tests.services.postbacks.dns import DnsServer
from tests.services.postbacks.sink import Sink
from tests.services.postbacks.support import enqueue_events, event, new_partner, new_template, wait_for

Stub = postbacks_pb2_grpc.PostbackServiceStub
ACCOUNT_CAP = 2
TEMPLATE_QUOTA = 3


@pytest.fixture
async def dns() -> AsyncIterator[DnsServer]:
    server = await DnsServer({"sink.clicktrail.test": "127.0.0.1"}).start()
    yield server
    server.close()


@pytest.fixture
async def small_dispatcher(
    settings: Settings, links_server: RunningService, dns: DnsServer
) -> AsyncIterator[RunningService]:
    """8 slots in all, 8 per host (so the host cap alone protects nobody), 2 per
    account; requests time out only after 30 s; names resolved by the loopback DNS server."""
    cfg = dataclasses.replace(
        settings, links_addr=links_server.addr, postback_allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),),
        postback_concurrency=8, postback_host_concurrency=8, postback_account_concurrency=ACCOUNT_CAP,
        postback_batch_size=8, postback_timeout_s=30.0, postback_poll_s=0.1,
        postback_templates_per_account=TEMPLATE_QUOTA, postback_dns_servers=dns.address,
    )  # fmt: skip
    svc = await start_service(POSTBACKS_SPEC, cfg, listen="127.0.0.1:0")
    yield svc
    await svc.stop(grace=0.5)


@pytest.mark.timeout(60)
async def test_an_account_with_a_hanging_endpoint_does_not_starve_another(
    settings: Settings, small_dispatcher: RunningService, links_server: RunningService,
    new_account: Callable[[str], object], channels: Callable[..., grpc.aio.Channel], dns: DnsServer,
) -> None:  # fmt: skip
    a, b = await new_account("Slow"), await new_account("Fine")  # type: ignore[misc]
    assert isinstance(a, AccountInfo) and isinstance(b, AccountInfo)
    stuck, fine = await Sink("127.0.0.2").start(), await Sink("127.0.0.1").start()
    stuck.mode = "hang"
    try:
        partners = {}
        named = f"http://sink.clicktrail.test:{fine.port}/b?e={{event_id}}"  # resolved by the loopback DNS server
        for acc, url in ((a, stuck.base + "/a?e={event_id}"), (b, named)):
            links = links_pb2_grpc.LinksServiceStub(channels(links_server.addr, token=acc.api_key))
            partners[acc.account_id] = await new_partner(links)
            await new_template(Stub(channels(small_dispatcher.addr, token=acc.api_key)), partners[acc.account_id], url)
        await enqueue_events(settings.database_url, [event(a.account_id, partners[a.account_id]) for _ in range(40)])
        await wait_for(lambda: stuck.total >= ACCOUNT_CAP)
        await enqueue_events(settings.database_url, [event(b.account_id, partners[b.account_id]) for _ in range(20)])
        # B's postbacks all arrive while A's endpoint still holds its requests (30 s timeout).
        await wait_for(lambda: len(fine.counts) == 20, timeout=15)
        assert stuck.total == ACCOUNT_CAP  # A never had more in flight than its cap
        assert dns.asked("sink.clicktrail.test") <= 2  # B's host name: one lookup for 20 postbacks
    finally:
        await stuck.close()
        await fine.close()


async def test_templates_per_account_are_capped_saying_the_limit(
    small_dispatcher: RunningService, account: AccountInfo, links_stub: links_pb2_grpc.LinksServiceStub,
    channels: Callable[..., grpc.aio.Channel],
) -> None:  # fmt: skip
    stub = Stub(channels(small_dispatcher.addr, token=account.api_key))
    partner = await new_partner(links_stub)
    made = [await new_template(stub, partner, f"https://partner.example.com/{i}?c={{click_id}}") for i in range(3)]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await new_template(stub, partner, "https://partner.example.com/4?c={click_id}")
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "at most 3" in (err.value.details() or "") and "has 3 postback templates" in (err.value.details() or "")
    # Deleting one makes room again.
    await stub.DeleteTemplate(pb.DeleteTemplateRequest(template_id=made[0].template_id))
    await new_template(stub, partner, "https://partner.example.com/5?c={click_id}")
    listed = await stub.ListTemplates(pb.ListTemplatesRequest(page_size=10))
    assert len(listed.templates) == 3
