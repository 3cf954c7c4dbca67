"""Link options at click time: expiry and maximum clicks (then the fallback,
unrecorded), the redirect status, and custom domains (routing by Host)."""

from __future__ import annotations

import datetime as dt

from clicktrail.links.v1 import affiliate_pb2 as apb
from clicktrail.links.v1 import affiliate_pb2_grpc, links_pb2_grpc
from clicktrail.links.v1 import links_pb2 as pb
from google.protobuf import field_mask_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from tests.services.links.conftest import ANDROID_UA, make_setup

FALLBACK = "https://acme.example/fallback"


def touch(slug: str, host: str = "127.0.0.1", ip: str = "8.8.8.8") -> pb.TouchInput:
    return pb.TouchInput(slug=slug, ip=ip, user_agent=ANDROID_UA, host=host)


async def record(gateway, *inputs: pb.TouchInput) -> list[pb.TouchResult]:
    return list((await gateway.RecordClicks(pb.RecordClicksRequest(clicks=list(inputs)))).results)


async def link_clicks(links, link_id: str) -> int:
    return len((await links.ListClicks(pb.ListClicksRequest(link_id=link_id, page_size=100))).clicks)


async def test_an_expired_link_goes_to_the_fallback_unrecorded(gateway_links_stub, links_stub):
    s = await make_setup(links_stub)
    assert (await record(gateway_links_stub, touch(s.link.slug)))[0].outcome == pb.TOUCH_OUTCOME_RECORDED
    past = Timestamp()
    past.FromDatetime(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    await links_stub.UpdateLink(pb.UpdateLinkRequest(
        link=pb.Link(link_id=s.link.link_id, expire_time=past),
        update_mask=field_mask_pb2.FieldMask(paths=["expire_time"]),
    ))  # fmt: skip
    r = (await record(gateway_links_stub, touch(s.link.slug)))[0]
    assert (r.outcome, r.location, r.touch_id) == (pb.TOUCH_OUTCOME_FALLBACK, FALLBACK, "")
    assert await link_clicks(links_stub, s.link.link_id) == 1


async def test_max_clicks_lets_that_many_through_even_within_one_batch(gateway_links_stub, links_stub):
    s = await make_setup(links_stub, max_clicks=3)
    first = await record(gateway_links_stub, *(touch(s.link.slug, ip=f"8.8.8.{i}") for i in range(2)))
    assert [r.outcome for r in first] == [pb.TOUCH_OUTCOME_RECORDED] * 2
    batch = await record(gateway_links_stub, *(touch(s.link.slug, ip=f"9.9.9.{i}") for i in range(4)))
    assert [r.outcome for r in batch] == [pb.TOUCH_OUTCOME_RECORDED] + [pb.TOUCH_OUTCOME_FALLBACK] * 3
    assert {(r.location, r.touch_id) for r in batch[1:]} == {(FALLBACK, "")}
    assert (await record(gateway_links_stub, touch(s.link.slug)))[0].outcome == pb.TOUCH_OUTCOME_FALLBACK
    assert await link_clicks(links_stub, s.link.link_id) == 3


async def test_max_clicks_counts_the_clicks_recorded_before_the_limit_was_set(gateway_links_stub, links_stub):
    s = await make_setup(links_stub)
    await record(gateway_links_stub, *(touch(s.link.slug, ip=f"8.8.8.{i}") for i in range(3)))
    await links_stub.UpdateLink(pb.UpdateLinkRequest(
        link=pb.Link(link_id=s.link.link_id, max_clicks=4),
        update_mask=field_mask_pb2.FieldMask(paths=["max_clicks"]),
    ))  # fmt: skip
    batch = await record(gateway_links_stub, *(touch(s.link.slug, ip=f"9.9.9.{i}") for i in range(3)))
    assert [r.outcome for r in batch] == [pb.TOUCH_OUTCOME_RECORDED] + [pb.TOUCH_OUTCOME_FALLBACK] * 2
    assert await link_clicks(links_stub, s.link.link_id) == 4


async def test_redirect_status_is_answered(gateway_links_stub, links_stub):
    plain = await make_setup(links_stub)
    moved = await make_setup(links_stub, redirect_status=301)
    temporary = await make_setup(links_stub, redirect_status=307)
    results = await record(
        gateway_links_stub, touch(plain.link.slug), touch(moved.link.slug), touch(temporary.link.slug)
    )
    assert [r.redirect_status for r in results] == [0, 301, 307]
    assert all(r.outcome == pb.TOUCH_OUTCOME_RECORDED for r in results)


async def test_custom_domains_route_by_host(
    gateway_links_stub, links_stub, links_server, channels, account, new_account
):
    affiliate = affiliate_pb2_grpc.AffiliateServiceStub(channels(links_server.addr, token=account.api_key))
    await affiliate.CreateDomain(apb.CreateDomainRequest(domain=apb.Domain(name="trk.acme.example")))
    on_domain = await make_setup(links_stub, domain="trk.acme.example")
    plain = await make_setup(links_stub)
    other = await new_account("Other Co")
    other_links = links_pb2_grpc.LinksServiceStub(channels(links_server.addr, token=other.api_key))
    elsewhere = await make_setup(other_links)

    def outcomes(*pairs: tuple[str, str]) -> list[pb.TouchInput]:
        return [touch(slug, host) for slug, host in pairs]

    results = await record(gateway_links_stub, *outcomes(
        (on_domain.link.slug, "trk.acme.example"),  # its own domain
        (on_domain.link.slug, "127.0.0.1"),  # a link with a domain answers only on it
        (plain.link.slug, "trk.acme.example"),  # a custom domain serves only its own links
        (plain.link.slug, "127.0.0.1"),  # the tracker's own host (public_url's)
        (elsewhere.link.slug, "trk.acme.example"),  # another account's link on the domain
        (elsewhere.link.slug, "127.0.0.1"),
        (on_domain.link.slug, ""),
        (plain.link.slug, "unknown.example"),  # neither a custom domain nor the tracker's own host
        (plain.link.slug, ""),  # no Host (HTTP/1.0, a direct call): the tracker's own
    ))  # fmt: skip
    recorded, missing = pb.TOUCH_OUTCOME_RECORDED, pb.TOUCH_OUTCOME_NOT_FOUND
    assert [r.outcome for r in results] == [
        recorded, missing, missing, recorded, missing, recorded, missing, missing, recorded,
    ]  # fmt: skip
    assert results[0].location.startswith("https://play.example/")
