"""RecordOfferConversions and offer caps through the real links server: counts
per day (the account's time zone) and in all, idempotence, reversals, other
replicas, and the issue's promise under concurrency (item 4)."""

import asyncio
import datetime as dt
import itertools
import zoneinfo
from urllib.parse import urlsplit

import asyncpg
import grpc
import pytest
from clicktrail.accounts.v1 import accounts_pb2
from clicktrail.links.v1 import affiliate_pb2 as apb
from clicktrail.links.v1 import affiliate_pb2_grpc, links_pb2_grpc
from clicktrail.links.v1 import links_pb2 as pb
from google.protobuf.timestamp_pb2 import Timestamp

from services.links.caps import OfferCaps
from tests.conftest import INTERNAL_TOKEN
from tests.services.links.conftest import ANDROID_UA, make_setup
from tests.support.wait import wait_until

UTC = dt.UTC


@pytest.fixture
def affiliate_stub(links_server, account, channels):
    return affiliate_pb2_grpc.AffiliateServiceStub(channels(links_server.addr, token=account.api_key))


@pytest.fixture
def caps_stub(links_server, account, channels):
    """What attribution uses: the internal token acting for the account."""
    return affiliate_pb2_grpc.AffiliateServiceStub(
        channels(links_server.addr, token=INTERNAL_TOKEN, account_id=account.account_id)
    )


async def make_offer(links_stub, affiliate_stub, name="Offer", **fields) -> apb.Offer:
    partner = (await links_stub.CreatePartner(pb.CreatePartnerRequest(partner=pb.Partner(name=f"Net {name}")))).partner
    offer = apb.Offer(name=name, partner_id=partner.partner_id, url=f"https://{name.lower()}.example/go", **fields)
    return (await affiliate_stub.CreateOffer(apb.CreateOfferRequest(offer=offer))).offer


def conversion(offer_id: str, conversion_id: str, at: dt.datetime | None = None, rejected=False) -> apb.OfferConversion:
    ts = Timestamp()
    ts.FromDatetime(at or dt.datetime.now(UTC))
    return apb.OfferConversion(offer_id=offer_id, conversion_id=conversion_id, event_time=ts, rejected=rejected)


async def record(stub, *conversions: apb.OfferConversion) -> int:
    resp = await stub.RecordOfferConversions(apb.RecordOfferConversionsRequest(conversions=list(conversions)))
    return resp.counted


async def offer_counts(affiliate_stub, offer_id: str) -> tuple[int, int, bool]:
    o = (await affiliate_stub.GetOffer(apb.GetOfferRequest(offer_id=offer_id))).offer
    return o.conversions_today, o.conversions_total, o.capped


async def test_a_conversion_counts_once_and_a_reversal_takes_it_back(links_stub, affiliate_stub, caps_stub):
    offer = await make_offer(links_stub, affiliate_stub, daily_cap=2, total_cap=5)
    oid = offer.offer_id
    assert await record(caps_stub, conversion(oid, "conv-1"), conversion(oid, "conv-2")) == 2
    # attribution's retry of the same call counts nothing again
    assert await record(caps_stub, conversion(oid, "conv-1"), conversion(oid, "conv-2")) == 0
    assert await offer_counts(affiliate_stub, oid) == (2, 2, True)  # the daily cap is reached
    # a chargeback: the conversion stops counting
    assert await record(caps_stub, conversion(oid, "conv-1", rejected=True)) == 1
    assert await record(caps_stub, conversion(oid, "conv-1", rejected=True)) == 0
    assert await offer_counts(affiliate_stub, oid) == (1, 1, False)
    # one already rejected when first reported never counts
    assert await record(caps_stub, conversion(oid, "conv-3", rejected=True)) == 0
    assert await offer_counts(affiliate_stub, oid) == (1, 1, False)


async def test_the_same_conversion_twice_in_one_call_counts_once(links_stub, affiliate_stub, caps_stub):
    oid = (await make_offer(links_stub, affiliate_stub, total_cap=3)).offer_id
    assert await record(caps_stub, conversion(oid, "c"), conversion(oid, "c")) == 1
    assert await offer_counts(affiliate_stub, oid) == (1, 1, False)


async def test_an_offer_deleted_since_the_click_is_skipped(links_stub, affiliate_stub, caps_stub):
    """attribution retries a failed call: an unknown offer must not fail it forever."""
    oid = (await make_offer(links_stub, affiliate_stub, total_cap=3)).offer_id
    assert await record(caps_stub, conversion("off_gone", "c1"), conversion(oid, "c2")) == 1


async def test_concurrent_repeats_and_reversals_count_each_conversion_once(links_stub, affiliate_stub, caps_stub):
    """attribution's first calls and its queue's repeats overlap: the same
    conversions, in different orders, at once; then reversals at once."""
    oid = (await make_offer(links_stub, affiliate_stub, total_cap=100)).offer_id
    convs = [conversion(oid, f"conv-{i}") for i in range(10)]
    calls = [convs[i:] + convs[:i] for i in range(10)] + [list(reversed(convs))] * 5
    counted = await asyncio.gather(*(record(caps_stub, *c) for c in calls))
    assert sum(counted) == 10
    assert await offer_counts(affiliate_stub, oid) == (10, 10, False)
    reversals = [conversion(oid, f"conv-{i}", rejected=True) for i in range(4)]
    counted = await asyncio.gather(*(record(caps_stub, *reversals[i:], *reversals[:i]) for i in range(4)))
    assert sum(counted) == 4
    assert await offer_counts(affiliate_stub, oid) == (6, 6, False)


async def test_clicks_leave_a_capped_offer_and_come_back_after_a_reversal(
    links_stub, affiliate_stub, caps_stub, gateway_links_stub
):
    setup = await make_setup(links_stub)
    o = apb.Offer(name="a", partner_id=setup.partner.partner_id, url="https://a.example/?c={click_id}", total_cap=1,
                  cap_action=apb.CAP_ACTION_FALLBACK)  # fmt: skip
    oid = (await affiliate_stub.CreateOffer(apb.CreateOfferRequest(offer=o))).offer.offer_id
    stream = apb.Stream(campaign_id=setup.campaign.campaign_id, action=apb.STREAM_ACTION_ROTATE,
                        offers=[apb.WeightedOffer(offer_id=oid, weight=1)])  # fmt: skip
    await affiliate_stub.CreateStream(apb.CreateStreamRequest(stream=stream))
    ips = itertools.count(1)

    async def click() -> pb.TouchResult:
        inp = pb.TouchInput(slug=setup.link.slug, ip=f"9.9.9.{next(ips)}", user_agent=ANDROID_UA, host="127.0.0.1")
        return (await gateway_links_stub.RecordClicks(pb.RecordClicksRequest(clicks=[inp]))).results[0]

    first = await click()
    assert first.location == f"https://a.example/?c={first.touch_id}"
    assert await record(caps_stub, conversion(oid, first.touch_id)) == 1
    capped = await click()  # at once: the cap was raised before RecordOfferConversions answered
    assert (capped.outcome, capped.location) == (pb.TOUCH_OUTCOME_FALLBACK, "https://acme.example/fallback")
    assert await record(caps_stub, conversion(oid, first.touch_id, rejected=True)) == 1

    async def back_to_a() -> bool:
        return (await click()).location.startswith("https://a.example/")

    await wait_until(back_to_a, "clicks to go to the offer again after the reversal (next caps refresh)")


async def test_bad_input_names_the_field(caps_stub):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await record(caps_stub, conversion("off_x", ""))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "conversions[0].conversion_id" in err.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await record(caps_stub, conversion("off_x", "ok"), conversion("", "c2"))
    assert "conversions[1].offer_id" in err.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await record(caps_stub, *[conversion("off_x", f"c{i}") for i in range(1001)])
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "conversions" in err.value.details()


async def test_only_services_record_conversions(affiliate_stub):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await record(affiliate_stub, conversion("off_x", "c1"))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_the_daily_cap_counts_days_in_the_accounts_time_zone(admin_stub, links_server, channels):
    """Kiritimati is UTC+14: its day starts at 10:00 UTC of the day before."""
    zone = zoneinfo.ZoneInfo("Pacific/Kiritimati")
    made = await admin_stub.CreateAccount(accounts_pb2.CreateAccountRequest(name="Far East", time_zone=zone.key))
    account_id = made.account.account_id
    links = links_pb2_grpc.LinksServiceStub(channels(links_server.addr, token=made.api_key))
    affiliate = affiliate_pb2_grpc.AffiliateServiceStub(channels(links_server.addr, token=made.api_key))
    caps = affiliate_pb2_grpc.AffiliateServiceStub(
        channels(links_server.addr, token=INTERNAL_TOKEN, account_id=account_id)
    )
    oid = (await make_offer(links, affiliate, daily_cap=1)).offer_id
    local_now = dt.datetime.now(zone)
    local_midnight = dt.datetime.combine(local_now.date(), dt.time(), tzinfo=zone)
    # a second before the account's midnight: yesterday there, whatever day it is in UTC
    assert await record(caps, conversion(oid, "late", local_midnight - dt.timedelta(seconds=1))) == 1
    assert await offer_counts(affiliate, oid) == (0, 1, False)
    assert await record(caps, conversion(oid, "early", local_midnight + dt.timedelta(seconds=1))) == 1
    assert await offer_counts(affiliate, oid) == (1, 2, True)


async def test_another_replica_sees_the_cap_within_its_refresh(
    settings, links_stub, affiliate_stub, caps_stub, account
):
    """A second links process (its own OfferCaps on the same database) learns of
    conversions recorded by this one from its refresh, without a click's SQL."""
    oid = (await make_offer(links_stub, affiliate_stub, total_cap=2)).offer_id
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        replica = OfferCaps(pool, refresh_s=0.2)
        await replica.ensure([account.account_id])
        assert not replica.capped(account.account_id, oid, dt.datetime.now(UTC))
        assert await record(caps_stub, conversion(oid, "a"), conversion(oid, "b")) == 2

        async def replica_capped() -> bool:
            now = dt.datetime.now(UTC)
            await replica.ensure([account.account_id], now)
            return replica.capped(account.account_id, oid, now)

        await wait_until(replica_capped, "the replica to see the total cap reached")
        # a reversal there frees the offer here too
        assert await record(caps_stub, conversion(oid, "a", rejected=True)) == 1
        await wait_until(lambda: _not(replica_capped()), "the replica to see the reversal")
    finally:
        await pool.close()


async def _not(pending) -> bool:
    return not await pending


# ---- issue 21 item 4: under concurrency a cap is never exceeded by more than the clicks in flight ----

CAP = 5
WORKERS = 4
CONVERTERS = 3
BATCH = 5
AFTER_CAP_BATCHES = 12  # batches that must start (and answer) after the cap before the test ends


async def test_under_concurrency_the_cap_is_exceeded_only_by_clicks_in_flight(
    links_stub, affiliate_stub, caps_stub, gateway_links_stub
):
    """Click batches run concurrently with attribution's RecordOfferConversions
    for every click sent to A. A logical clock (a counter, not time) orders
    the events: each batch takes a number when it is sent, and the converter
    takes one when the call that reached A's cap has returned. No batch sent
    after that moment may go to A; A's clicks (all converted in the end) are
    then at most the ones sent before the cap was reached."""
    setup = await make_setup(links_stub)
    offers = {}
    for name, cap in (("a", CAP), ("b", 0)):
        o = apb.Offer(name=name, partner_id=setup.partner.partner_id, url=f"https://{name}.example/?c={{click_id}}",
                      total_cap=cap)  # fmt: skip
        offers[name] = (await affiliate_stub.CreateOffer(apb.CreateOfferRequest(offer=o))).offer.offer_id
    stream = apb.Stream(
        campaign_id=setup.campaign.campaign_id,
        action=apb.STREAM_ACTION_ROTATE,
        offers=[apb.WeightedOffer(offer_id=offers["a"], weight=3), apb.WeightedOffer(offer_id=offers["b"], weight=1)],
    )
    await affiliate_stub.CreateStream(apb.CreateStreamRequest(stream=stream))

    clock = itertools.count()
    batches: list[tuple[int, int, list[str]]] = []  # (clock when sent, when answered, its clicks' offer hosts)
    to_convert: asyncio.Queue[str] = asyncio.Queue()
    cap_reached_at: list[int] = []  # the clock when the capping call had returned
    after_cap = 0
    ips = itertools.count(1)

    async def clicker() -> None:
        nonlocal after_cap
        while after_cap < AFTER_CAP_BATCHES:
            inputs = []
            for _ in range(BATCH):
                n = next(ips)  # new visitors only: no returning-visitor choice
                inputs.append(pb.TouchInput(slug=setup.link.slug, ip=f"9.{n // 62500}.{n // 250 % 250}.{n % 250 + 1}",
                                            user_agent=ANDROID_UA, host="127.0.0.1"))  # fmt: skip
            sent = next(clock)
            resp = await gateway_links_stub.RecordClicks(pb.RecordClicksRequest(clicks=inputs))
            hosts = [urlsplit(r.location).hostname or "" for r in resp.results]
            batches.append((sent, next(clock), hosts))
            for r, host in zip(resp.results, hosts, strict=True):
                if host == "a.example":
                    to_convert.put_nowait(r.touch_id)
            if cap_reached_at and sent > cap_reached_at[0]:
                after_cap += 1

    counted = 0

    async def converter() -> None:  # attribution: several postbacks at once
        nonlocal counted
        while True:
            click_id = await to_convert.get()
            counted += await record(caps_stub, conversion(offers["a"], click_id))
            if counted >= CAP and not cap_reached_at:
                cap_reached_at.append(next(clock))
            to_convert.task_done()

    converting = [asyncio.create_task(converter()) for _ in range(CONVERTERS)]
    try:
        await asyncio.wait_for(asyncio.gather(*(clicker() for _ in range(WORKERS))), timeout=120)
        await asyncio.wait_for(to_convert.join(), timeout=60)  # every click sent to A converts in the end
    finally:
        for task in converting:
            task.cancel()
    (cap_at,) = cap_reached_at
    sent_after = [hosts for sent, _, hosts in batches if sent > cap_at]
    assert len(sent_after) >= AFTER_CAP_BATCHES
    assert all(host == "b.example" for hosts in sent_after for host in hosts), "a click sent after the cap went to A"
    to_a = sum(hosts.count("a.example") for _, _, hosts in batches)
    sent_before = sum(hosts.count("a.example") for sent, _, hosts in batches if sent < cap_at)
    in_flight = sum(hosts.count("a.example") for sent, done, hosts in batches if sent < cap_at < done)
    assert CAP <= to_a == sent_before
    a = (await affiliate_stub.GetOffer(apb.GetOfferRequest(offer_id=offers["a"]))).offer
    assert (a.conversions_total, a.capped) == (to_a, True)
    print(
        f"cap {CAP}: {to_a} clicks and conversions on A, all sent before the cap was reached "
        f"({in_flight} of them in flight then); {len(sent_after)} batches after it, none to A"
    )
