"""Offers: CRUD round trips, update masks, pagination, validation naming the
field, account isolation and the delete precondition (a stream rotating it).
The AffiliateService fixtures here are shared by the landers, streams and
domains tests."""

import dataclasses

import grpc
import pytest
from clicktrail.links.v1 import affiliate_pb2 as apb
from clicktrail.links.v1 import affiliate_pb2_grpc, links_pb2_grpc
from clicktrail.links.v1 import links_pb2 as pb
from clicktrail.type.v1 import money_pb2
from google.protobuf import field_mask_pb2

from tests.services.links.test_accounts_auth import field_violations


def mask(*paths):
    return field_mask_pb2.FieldMask(paths=list(paths))


@dataclasses.dataclass
class World:
    """One account's stubs and the partner and campaign its offers and streams use."""

    links: links_pb2_grpc.LinksServiceStub
    affiliate: affiliate_pb2_grpc.AffiliateServiceStub
    partner: pb.Partner
    campaign: pb.Campaign


async def make_world(links_server, channels, account):
    channel = channels(links_server.addr, token=account.api_key)
    links = links_pb2_grpc.LinksServiceStub(channel)
    partner = (await links.CreatePartner(pb.CreatePartnerRequest(partner=pb.Partner(name="OfferNet")))).partner
    campaign = (
        await links.CreateCampaign(
            pb.CreateCampaignRequest(
                campaign=pb.Campaign(
                    name="Affiliate", partner_id=partner.partner_id, fallback_url="https://acme.example/fallback"
                )
            )
        )
    ).campaign
    return World(links, affiliate_pb2_grpc.AffiliateServiceStub(channel), partner, campaign)


@pytest.fixture
async def world(links_server, channels, account):
    return await make_world(links_server, channels, account)


@pytest.fixture
async def other_world(links_server, channels, new_account):
    """A second account (isolation tests)."""
    return await make_world(links_server, channels, await new_account("Other Co"))


async def create_offer(world, **kw):
    fields = {"name": "Dating US", "partner_id": world.partner.partner_id, "url": "https://net.example/o?c={click_id}"}
    fields.update(kw)
    return (await world.affiliate.CreateOffer(apb.CreateOfferRequest(offer=apb.Offer(**fields)))).offer


async def create_lander(world, **kw):
    fields = {"name": "Quiz", "url": "https://lp.example/quiz?next={lander_click_url}"}
    fields.update(kw)
    return (await world.affiliate.CreateLander(apb.CreateLanderRequest(lander=apb.Lander(**fields)))).lander


async def invalid(call, request):
    """The field violations of a call that must fail with INVALID_ARGUMENT."""
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await call(request)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, e.value.details()
    return field_violations(e.value)


async def refused(call, request, code):
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await call(request)
    assert e.value.code() == code, e.value.details()
    return e.value.details()


async def test_offer_round_trip_with_defaults_and_update_mask(world):
    offer = await create_offer(
        world, payout_type=apb.PAYOUT_TYPE_FIXED, payout=money_pb2.Money(amount="2.50", currency_code="usd"),
        countries=["us", "CA", "us"], daily_cap=10,
    )  # fmt: skip
    assert offer.offer_id.startswith("off_")
    assert (offer.payout.amount, offer.payout.currency_code) == ("2.5", "USD")
    assert list(offer.countries) == ["US", "CA"]
    assert offer.cap_action == apb.CAP_ACTION_NEXT_OFFER and offer.status == apb.OFFER_STATUS_ACTIVE
    assert (offer.conversions_today, offer.conversions_total, offer.capped) == (0, 0, False)
    got = (await world.affiliate.GetOffer(apb.GetOfferRequest(offer_id=offer.offer_id))).offer
    assert got == offer
    updated = (
        await world.affiliate.UpdateOffer(
            apb.UpdateOfferRequest(
                offer=apb.Offer(offer_id=offer.offer_id, status=apb.OFFER_STATUS_PAUSED, countries=[]),
                update_mask=mask("status", "countries"),
            )
        )
    ).offer
    assert updated.status == apb.OFFER_STATUS_PAUSED and list(updated.countries) == []
    assert updated.payout == offer.payout and updated.daily_cap == 10 and updated.name == offer.name
    # An empty mask changes the fields set.
    renamed = (
        await world.affiliate.UpdateOffer(apb.UpdateOfferRequest(offer=apb.Offer(offer_id=offer.offer_id, name="X")))
    ).offer
    assert renamed.name == "X" and renamed.status == apb.OFFER_STATUS_PAUSED


async def test_postback_payout_takes_a_currency_alone(world):
    offer = await create_offer(world, payout=money_pb2.Money(currency_code="EUR"))
    assert offer.payout_type == apb.PAYOUT_TYPE_POSTBACK
    assert (offer.payout.amount, offer.payout.currency_code) == ("", "EUR")


async def test_offer_validation_names_each_field(world):
    bad = apb.Offer(
        name="", partner_id="prt_missing", url="net.example/o", payout_type=apb.PAYOUT_TYPE_FIXED,
        payout=money_pb2.Money(amount="12,5", currency_code="USD"), countries=["US", "XX"],
        daily_cap=-1, total_cap=-5, cap_action=apb.CAP_ACTION_REDIRECT,
    )  # fmt: skip
    v = await invalid(world.affiliate.CreateOffer, apb.CreateOfferRequest(offer=bad))
    assert set(v) == {
        "offer.name", "offer.partner_id", "offer.url", "offer.payout.amount", "offer.countries[1]",
        "offer.daily_cap", "offer.total_cap", "offer.cap_url",
    }  # fmt: skip
    assert "http" in v["offer.url"] and "not found" in v["offer.partner_id"]
    v = await invalid(
        world.affiliate.CreateOffer,
        apb.CreateOfferRequest(
            offer=apb.Offer(
                name="A", partner_id=world.partner.partner_id, url="ftp://net.example/o",
                payout_type=apb.PAYOUT_TYPE_FIXED, payout=money_pb2.Money(amount="-1", currency_code="ZZZ"),
                cap_url="javascript:alert(1)",
            )
        ),
    )  # fmt: skip
    assert set(v) == {"offer.url", "offer.payout.amount", "offer.payout.currency_code", "offer.cap_url"}
    v = await invalid(
        world.affiliate.CreateOffer,
        apb.CreateOfferRequest(
            offer=apb.Offer(
                name="A",
                partner_id=world.partner.partner_id,
                url="https://n.example/?x={nope}",
                payout_type=apb.PAYOUT_TYPE_FIXED,
            )
        ),
    )
    assert set(v) == {"offer.url", "offer.payout.amount"} and "{nope}" in v["offer.url"]


async def test_update_checks_the_merged_offer(world):
    offer = await create_offer(world)
    # REDIRECT needs a cap URL, whether it arrives in this update or was stored before.
    v = await invalid(
        world.affiliate.UpdateOffer,
        apb.UpdateOfferRequest(
            offer=apb.Offer(offer_id=offer.offer_id, cap_action=apb.CAP_ACTION_REDIRECT), update_mask=mask("cap_action")
        ),
    )
    assert set(v) == {"offer.cap_url"}
    v = await invalid(
        world.affiliate.UpdateOffer,
        apb.UpdateOfferRequest(offer=apb.Offer(offer_id=offer.offer_id, daily_cap=-3), update_mask=mask("daily_cap")),
    )
    assert set(v) == {"offer.daily_cap"}
    v = await invalid(
        world.affiliate.UpdateOffer,
        apb.UpdateOfferRequest(offer=apb.Offer(offer_id=offer.offer_id), update_mask=mask("conversions_total")),
    )
    assert set(v) == {"update_mask"}
    details = await refused(
        world.affiliate.UpdateOffer,
        apb.UpdateOfferRequest(offer=apb.Offer(offer_id="off_nope", name="x")),
        grpc.StatusCode.NOT_FOUND,
    )
    assert "off_nope" in details


async def test_list_offers_pages_and_filters(world):
    other_partner = (
        await world.links.CreatePartner(pb.CreatePartnerRequest(partner=pb.Partner(name="Second")))
    ).partner
    made = [await create_offer(world, name=f"O{i}") for i in range(5)]
    paused = await create_offer(world, name="P", partner_id=other_partner.partner_id, status=apb.OFFER_STATUS_PAUSED)
    seen, token = [], ""
    while True:
        page = await world.affiliate.ListOffers(apb.ListOffersRequest(page_size=2, page_token=token))
        assert len(page.offers) <= 2
        seen += [o.offer_id for o in page.offers]
        token = page.next_page_token
        if not token:
            break
    assert seen == sorted(o.offer_id for o in [*made, paused])
    by_partner = await world.affiliate.ListOffers(apb.ListOffersRequest(partner_id=other_partner.partner_id))
    assert [o.offer_id for o in by_partner.offers] == [paused.offer_id]
    active = await world.affiliate.ListOffers(apb.ListOffersRequest(status=apb.OFFER_STATUS_ACTIVE))
    assert {o.offer_id for o in active.offers} == {o.offer_id for o in made}


async def test_another_account_cannot_see_or_use_the_offer(world, other_world):
    offer = await create_offer(world)
    for call, request in (
        (other_world.affiliate.GetOffer, apb.GetOfferRequest(offer_id=offer.offer_id)),
        (other_world.affiliate.UpdateOffer, apb.UpdateOfferRequest(offer=apb.Offer(offer_id=offer.offer_id, name="x"))),
        (other_world.affiliate.DeleteOffer, apb.DeleteOfferRequest(offer_id=offer.offer_id)),
    ):
        await refused(call, request, grpc.StatusCode.NOT_FOUND)
    assert not (await other_world.affiliate.ListOffers(apb.ListOffersRequest())).offers
    # Nor rotate it in its own streams, nor run an offer through A's partner.
    v = await invalid(
        other_world.affiliate.CreateStream,
        apb.CreateStreamRequest(
            stream=apb.Stream(
                campaign_id=other_world.campaign.campaign_id, action=apb.STREAM_ACTION_ROTATE,
                offers=[apb.WeightedOffer(offer_id=offer.offer_id, weight=1)],
            )
        ),
    )  # fmt: skip
    assert "not found" in v["stream.offers[0].offer_id"]
    v = await invalid(
        other_world.affiliate.CreateOffer,
        apb.CreateOfferRequest(
            offer=apb.Offer(name="x", partner_id=world.partner.partner_id, url="https://a.example/")
        ),
    )
    assert set(v) == {"offer.partner_id"}
    assert (await world.affiliate.GetOffer(apb.GetOfferRequest(offer_id=offer.offer_id))).offer.name == offer.name


async def test_an_offer_a_stream_rotates_cannot_be_deleted(world):
    offer = await create_offer(world)
    stream = (
        await world.affiliate.CreateStream(
            apb.CreateStreamRequest(
                stream=apb.Stream(
                    campaign_id=world.campaign.campaign_id, action=apb.STREAM_ACTION_ROTATE,
                    offers=[apb.WeightedOffer(offer_id=offer.offer_id, weight=3)],
                )
            )
        )
    ).stream  # fmt: skip
    delete = apb.DeleteOfferRequest(offer_id=offer.offer_id)
    details = await refused(world.affiliate.DeleteOffer, delete, grpc.StatusCode.FAILED_PRECONDITION)
    assert stream.stream_id in details
    await world.affiliate.DeleteStream(apb.DeleteStreamRequest(stream_id=stream.stream_id))
    await world.affiliate.DeleteOffer(apb.DeleteOfferRequest(offer_id=offer.offer_id))
    await refused(world.affiliate.GetOffer, apb.GetOfferRequest(offer_id=offer.offer_id), grpc.StatusCode.NOT_FOUND)
