"""Fan-out and dispatch end to end: outbound events on the hand-off queue, the
postbacks service (real gRPC server, real Postgres), a real local HTTP sink."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from collections.abc import AsyncIterator

import grpc
import pytest
from clicktrail.links.v1 import links_pb2_grpc
from clicktrail.postbacks.v1 import postbacks_pb2 as pb
from clicktrail.postbacks.v1 import postbacks_pb2_grpc

from libs.config import Settings
from services.postbacks.guard import Refused, refusal
from services.postbacks.http import HttpClient
from services.postbacks.resolver import Resolver
from tests.conftest import AccountInfo
from tests.services.postbacks.sink import Sink
from tests.services.postbacks.support import enqueue_events, event, new_partner, new_template, wait_for

Stub = postbacks_pb2_grpc.PostbackServiceStub


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    s = await Sink().start()
    yield s
    await s.close()


async def deliveries(stub: Stub, *statuses: pb.DeliveryStatus) -> list[pb.Delivery]:
    resp = await stub.ListDeliveries(pb.ListDeliveriesRequest(statuses=list(statuses), page_size=1000))
    return list(resp.deliveries)


async def one_delivery(stub: Stub, status: pb.DeliveryStatus) -> pb.Delivery:
    found: list[pb.Delivery] = []

    async def check() -> bool:
        found[:] = await deliveries(stub, status)
        return len(found) == 1

    await wait_for(check, timeout=15)
    return (await stub.GetDelivery(pb.GetDeliveryRequest(delivery_id=found[0].delivery_id))).delivery


async def test_install_is_delivered_once_with_macros_and_logged(
    postbacks_stub: Stub, links_stub: links_pb2_grpc.LinksServiceStub, account: AccountInfo, settings: Settings,
    sink: Sink,
) -> None:  # fmt: skip
    partner = await new_partner(links_stub)
    url = sink.base + "/pb?c={click_id}&e={event_id}&co={country}&n={campaign_name}"
    t = await new_template(postbacks_stub, partner, url)
    ev = event(account.account_id, partner, campaign_name="Spring & sale")
    await enqueue_events(settings.database_url, [ev, ev])  # the same event twice: one delivery
    d = await one_delivery(postbacks_stub, pb.DELIVERY_STATUS_DELIVERED)
    assert d.template_id == t.template_id and d.event_id == ev["event_id"] and d.partner_id == partner
    assert d.attempts == 1 and d.last_status_code == 200 and d.delivered_time.seconds > 0
    assert [(a.attempt, a.status_code, a.response_head) for a in d.attempt_log] == [(1, 200, "ok")]
    assert d.attempt_log[0].latency_ms > 0
    assert len(sink.hits) == 1
    assert sink.hits[0].query == {"c": "clk_1", "e": ev["event_id"], "co": "DE", "n": "Spring & sale"}
    assert "n=Spring%20%26%20sale" in sink.hits[0].target


async def test_triggers_and_sending_modes(
    postbacks_stub: Stub, links_stub: links_pb2_grpc.LinksServiceStub, account: AccountInfo, settings: Settings,
    sink: Sink,
) -> None:  # fmt: skip
    p, q = await new_partner(links_stub, "P"), await new_partner(links_stub, "Q")
    url = sink.base + "/{event_id}"
    tpl = {
        "p_install": await new_template(postbacks_stub, p, url),
        "q_install_all": await new_template(postbacks_stub, q, url, sending_mode=pb.SENDING_MODE_ALL),
        "p_goal": await new_template(postbacks_stub, p, url, trigger=pb.TRIGGER_GOAL, goal_id="gl_1"),
        "p_conv": await new_template(postbacks_stub, p, url, trigger=pb.TRIGGER_CONVERSION),
        "p_status": await new_template(postbacks_stub, p, url, trigger=pb.TRIGGER_STATUS_CHANGE),
        "p_other_app": await new_template(postbacks_stub, p, url, app_id="app_2"),
    }
    a = account.account_id
    events = [
        event(a, p, event_id="i_p"),  # p_install, q_install_all
        event(a, q, event_id="i_q"),  # q_install_all
        event(a, "", event_id="i_org", attributed=False),  # q_install_all
        event(a, p, event_id="c_g1", kind="conversion", goal_id="gl_1"),  # p_goal, p_conv
        event(a, p, event_id="c_g2", kind="conversion", goal_id="gl_2"),  # p_conv
        event(a, q, event_id="c_q", kind="conversion", goal_id="gl_1"),  # nothing
        event(a, p, event_id="s_p", kind="status_change", status="approved"),  # p_status
    ]
    await enqueue_events(settings.database_url, events)
    await wait_for(lambda: len(sink.hits) >= 8, timeout=15)
    got = {(d.event_id, d.template_id) for d in await deliveries(postbacks_stub)}
    ids = {k: v.template_id for k, v in tpl.items()}
    assert got == {
        ("i_p", ids["p_install"]), ("i_p", ids["q_install_all"]), ("i_q", ids["q_install_all"]),
        ("i_org", ids["q_install_all"]), ("c_g1", ids["p_goal"]), ("c_g1", ids["p_conv"]), ("c_g2", ids["p_conv"]),
        ("s_p", ids["p_status"]),
    }  # fmt: skip
    assert len(sink.hits) == 8


async def test_5xx_retried_until_success(
    postbacks_stub: Stub, links_stub: links_pb2_grpc.LinksServiceStub, account: AccountInfo, settings: Settings,
    sink: Sink,
) -> None:  # fmt: skip
    partner = await new_partner(links_stub)
    await new_template(postbacks_stub, partner, sink.base + "/pb")
    sink.mode, sink.status = "status", 503
    await enqueue_events(settings.database_url, [event(account.account_id, partner)])
    await wait_for(lambda: len(sink.hits) >= 2, timeout=10)
    sink.mode = "ok"
    d = await one_delivery(postbacks_stub, pb.DELIVERY_STATUS_DELIVERED)
    codes = [a.status_code for a in d.attempt_log]
    assert codes[-1] == 200 and set(codes[:-1]) == {503} and len(codes) >= 3
    assert d.attempt_log[0].response_head == "error 503"


async def test_4xx_fails_at_once_and_can_be_retried(
    postbacks_stub: Stub, links_stub: links_pb2_grpc.LinksServiceStub, account: AccountInfo, settings: Settings,
    sink: Sink,
) -> None:  # fmt: skip
    partner = await new_partner(links_stub)
    await new_template(postbacks_stub, partner, sink.base + "/pb")
    sink.mode, sink.status = "status", 404
    await enqueue_events(settings.database_url, [event(account.account_id, partner)])
    d = await one_delivery(postbacks_stub, pb.DELIVERY_STATUS_FAILED)
    assert d.attempts == 1 and d.last_status_code == 404 and d.last_error == "HTTP 404"
    assert len(sink.hits) == 1
    sink.mode = "ok"
    retried = (await postbacks_stub.RetryDelivery(pb.RetryDeliveryRequest(delivery_id=d.delivery_id))).delivery
    assert retried.status == pb.DELIVERY_STATUS_PENDING
    d = await one_delivery(postbacks_stub, pb.DELIVERY_STATUS_DELIVERED)
    assert [a.status_code for a in d.attempt_log] == [404, 200]


async def test_redirect_is_not_followed(
    postbacks_stub: Stub, links_stub: links_pb2_grpc.LinksServiceStub, account: AccountInfo, settings: Settings,
    sink: Sink,
) -> None:  # fmt: skip
    partner = await new_partner(links_stub)
    await new_template(postbacks_stub, partner, sink.base + "/pb")
    sink.mode, sink.status = "status", 302
    await enqueue_events(settings.database_url, [event(account.account_id, partner)])
    d = await one_delivery(postbacks_stub, pb.DELIVERY_STATUS_FAILED)
    assert d.last_status_code == 302 and "redirects are not followed" in d.attempt_log[0].error
    assert len(sink.hits) == 1


async def test_attempts_run_out_into_dead_letters_then_retry(
    postbacks_stub: Stub, links_stub: links_pb2_grpc.LinksServiceStub, account: AccountInfo, settings: Settings,
    sink: Sink,
) -> None:  # fmt: skip
    partner = await new_partner(links_stub)
    await new_template(postbacks_stub, partner, sink.base + "/pb")
    sink.mode = "close"  # connection dropped without an answer, every time
    await enqueue_events(settings.database_url, [event(account.account_id, partner)])
    d = await one_delivery(postbacks_stub, pb.DELIVERY_STATUS_DEAD)
    assert d.attempts == 5 and all(a.status_code == 0 and a.error for a in d.attempt_log)  # fixture: 5 attempts
    with pytest.raises(grpc.aio.AioRpcError):
        await postbacks_stub.RetryDelivery(pb.RetryDeliveryRequest(delivery_id="dlv_nope"))
    sink.mode = "ok"
    await postbacks_stub.RetryDelivery(pb.RetryDeliveryRequest(delivery_id=d.delivery_id))
    d = await one_delivery(postbacks_stub, pb.DELIVERY_STATUS_DELIVERED)
    assert d.attempts == 6 and d.attempt_log[-1].status_code == 200


async def test_429_honours_retry_after(
    postbacks_stub: Stub, links_stub: links_pb2_grpc.LinksServiceStub, account: AccountInfo, settings: Settings,
    sink: Sink,
) -> None:  # fmt: skip
    partner = await new_partner(links_stub)
    await new_template(postbacks_stub, partner, sink.base + "/pb")
    sink.mode, sink.status, sink.retry_after = "status", 429, "2"
    await enqueue_events(settings.database_url, [event(account.account_id, partner)])
    await wait_for(lambda: len(sink.hits) >= 1, timeout=10)
    sink.mode = "ok"
    d = await one_delivery(postbacks_stub, pb.DELIVERY_STATUS_DELIVERED)
    assert [a.status_code for a in d.attempt_log] == [429, 200]
    gap = d.attempt_log[1].time.ToDatetime() - d.attempt_log[0].time.ToDatetime()
    assert gap.total_seconds() >= 1.9  # the fixture's backoff alone is at most 0.2 s


async def test_post_body_headers_and_signature(
    postbacks_stub: Stub, links_stub: links_pb2_grpc.LinksServiceStub, account: AccountInfo, settings: Settings,
    sink: Sink,
) -> None:  # fmt: skip
    partner = await new_partner(links_stub)
    secret = "partner-secret-0123456789"
    await new_template(
        postbacks_stub, partner, sink.base + "/pb?k={api_key}", method=pb.HTTP_METHOD_POST,
        body_template='{"click": "{click_id}", "goal": "{goal}", "payout": "{payout}"}',
        headers={"Content-Type": "application/json", "X-Goal": "{goal}"}, settings={"api_key": "K"},
        signature_header="X-Signature", signing_secret=secret, trigger=pb.TRIGGER_CONVERSION,
    )  # fmt: skip
    ev = event(account.account_id, partner, kind="conversion", goal='say "hi"\r\nX-Evil: 1', payout="2.50")
    await enqueue_events(settings.database_url, [ev])
    await one_delivery(postbacks_stub, pb.DELIVERY_STATUS_DELIVERED)
    hit = sink.hits[0]
    assert hit.method == "POST" and hit.query == {"k": "K"}
    assert json.loads(hit.body) == {"click": "clk_1", "goal": 'say "hi"\r\nX-Evil: 1', "payout": "2.50"}
    assert hit.headers["x-goal"] == 'say "hi"X-Evil: 1' and "x-evil" not in hit.headers  # no header injection
    sig = dict(p.split("=", 1) for p in hit.headers["x-signature"].split(","))
    url = sink.base + "/pb?k=K"
    expected = hmac.new(secret.encode(), f"{sig['t']}.POST.{url}.".encode() + hit.body, hashlib.sha256).hexdigest()
    assert sig["v1"] == expected


async def test_test_template_sends_one_sample(
    postbacks_stub: Stub, links_stub: links_pb2_grpc.LinksServiceStub, sink: Sink
) -> None:
    partner = await new_partner(links_stub)
    t = await new_template(postbacks_stub, partner, sink.base + "/t?c={click_id}&s={sub1}")
    resp = await postbacks_stub.TestTemplate(pb.TestTemplateRequest(template_id=t.template_id, values={"sub1": "x y"}))
    assert resp.attempt.status_code == 200 and resp.url.endswith("s=x%20y") and len(sink.hits) == 1
    assert not (await deliveries(postbacks_stub))  # nothing stored


def test_ssrf_refusals() -> None:
    none: tuple[ipaddress.IPv4Network, ...] = ()
    for addr in ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "::1", "fd00:ec2::254",
                 "fe80::1", "::ffff:127.0.0.1", "100.64.0.1", "0.0.0.0", "224.0.0.1"]:  # fmt: skip
        assert refusal(ipaddress.ip_address(addr), none), addr
    assert "metadata" in (refusal(ipaddress.ip_address("169.254.169.254"), none) or "")
    assert refusal(ipaddress.ip_address("93.184.216.34"), none) is None
    allowed = (ipaddress.ip_network("127.0.0.0/8"),)
    assert refusal(ipaddress.ip_address("127.0.0.1"), allowed) is None
    assert refusal(ipaddress.ip_address("::ffff:127.0.0.1"), allowed) is None
    assert refusal(ipaddress.ip_address("10.0.0.1"), allowed)


async def test_client_refuses_before_connecting(sink: Sink) -> None:
    client = HttpClient(Resolver(()), connect_timeout_s=1, timeout_s=2)
    try:
        for url in [sink.base + "/x", f"http://localhost:{sink.port}/x", "http://169.254.169.254/latest/meta-data",
                    "ftp://example.com/x", "http://[::1]:80/"]:  # fmt: skip
            with pytest.raises(Refused):
                await client.request("GET", url)
        assert sink.connections == 0 and client.opened == 0
    finally:
        await client.close()
    allowed = HttpClient(Resolver((ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))))
    try:
        resp = await allowed.request("GET", f"http://localhost:{sink.port}/x")
        assert resp.status == 200
        for _ in range(5):  # pooled: one connection for all
            await allowed.request("GET", f"http://localhost:{sink.port}/x")
        assert allowed.opened == 1
    finally:
        await allowed.close()


async def test_refused_destination_fails_the_delivery(
    postbacks_stub: Stub, links_stub: links_pb2_grpc.LinksServiceStub, account: AccountInfo, settings: Settings,
) -> None:  # fmt: skip
    partner = await new_partner(links_stub)
    await new_template(postbacks_stub, partner, "http://10.0.0.1/pb?c={click_id}")
    await enqueue_events(settings.database_url, [event(account.account_id, partner)])
    d = await one_delivery(postbacks_stub, pb.DELIVERY_STATUS_FAILED)
    assert "10.0.0.1 is a private address" in d.last_error and d.attempts == 1
