"""Streams (a campaign's flow): CRUD, order and paging, the one default stream,
validation naming the field, and account isolation."""

import grpc
from clicktrail.links.v1 import affiliate_pb2 as apb
from clicktrail.links.v1 import links_pb2 as pb

from tests.services.links import test_offers as shared
from tests.services.links.test_offers import create_lander, create_offer, invalid, mask, refused

world, other_world = shared.world, shared.other_world  # the fixtures


def country(*codes, exclude=False):
    return apb.StreamFilter(field="country", exclude=exclude, values=list(codes))


async def create_stream(w, **kw):
    fields = {
        "campaign_id": w.campaign.campaign_id,
        "action": apb.STREAM_ACTION_URL,
        "url": "https://a.example/?c={click_id}",
    }
    fields.update(kw)
    return (await w.affiliate.CreateStream(apb.CreateStreamRequest(stream=apb.Stream(**fields)))).stream


async def test_rotate_stream_round_trip(world):
    lander = await create_lander(world)
    offer_a, offer_b = await create_offer(world, name="A"), await create_offer(world, name="B")
    stream = await create_stream(
        world,
        name="US mobile",
        action=apb.STREAM_ACTION_ROTATE,
        url="",
        filters=[country("us", "CA"), apb.StreamFilter(field="device_type", values=["Mobile"])],
        landers=[apb.WeightedLander(lander_id=lander.lander_id, weight=1)],
        offers=[
            apb.WeightedOffer(offer_id=offer_a.offer_id, weight=70),
            apb.WeightedOffer(offer_id=offer_b.offer_id, weight=30),
        ],
    )
    assert stream.stream_id.startswith("str_") and stream.position == 0 and not stream.is_default
    assert [list(f.values) for f in stream.filters] == [["US", "CA"], ["mobile"]]
    assert [(o.offer_id, o.weight) for o in stream.offers] == [(offer_a.offer_id, 70), (offer_b.offer_id, 30)]
    got = (await world.affiliate.GetStream(apb.GetStreamRequest(stream_id=stream.stream_id))).stream
    assert got == stream
    # A masked update replaces just the named fields; the rest is re-checked as a whole.
    updated = (
        await world.affiliate.UpdateStream(
            apb.UpdateStreamRequest(
                stream=apb.Stream(
                    stream_id=stream.stream_id,
                    offers=[apb.WeightedOffer(offer_id=offer_b.offer_id, weight=5)],
                    paused=True,
                ),
                update_mask=mask("offers", "paused"),
            )
        )
    ).stream
    assert [(o.offer_id, o.weight) for o in updated.offers] == [(offer_b.offer_id, 5)]
    assert updated.paused and list(updated.landers) == list(stream.landers) and updated.filters == stream.filters
    # Now offer A can go; B cannot while the stream rotates it.
    await world.affiliate.DeleteOffer(apb.DeleteOfferRequest(offer_id=offer_a.offer_id))
    await refused(
        world.affiliate.DeleteOffer,
        apb.DeleteOfferRequest(offer_id=offer_b.offer_id),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    await world.affiliate.DeleteStream(apb.DeleteStreamRequest(stream_id=stream.stream_id))
    await refused(
        world.affiliate.GetStream, apb.GetStreamRequest(stream_id=stream.stream_id), grpc.StatusCode.NOT_FOUND
    )
    await refused(
        world.affiliate.DeleteStream, apb.DeleteStreamRequest(stream_id=stream.stream_id), grpc.StatusCode.NOT_FOUND
    )


async def test_streams_list_by_position_and_page(world):
    first = await create_stream(world, filters=[country("US")])
    second = await create_stream(world, filters=[country("DE")])
    default = await create_stream(world, action=apb.STREAM_ACTION_FALLBACK, url="")
    assert (first.position, second.position, default.position) == (0, 1, 2) and default.is_default
    placed = await create_stream(world, filters=[country("FR")], position=1)
    # Move the first one to the end.
    await world.affiliate.UpdateStream(
        apb.UpdateStreamRequest(stream=apb.Stream(stream_id=first.stream_id, position=7), update_mask=mask("position"))
    )
    # The order the flow tries them: by position, the default stream last wherever it sits.
    # (placed took position 1 before second, which moved one down.)
    expected = [placed.stream_id, second.stream_id, first.stream_id, default.stream_id]
    seen, token = [], ""
    while True:
        page = await world.affiliate.ListStreams(
            apb.ListStreamsRequest(campaign_id=world.campaign.campaign_id, page_size=1, page_token=token)
        )
        seen += [s.stream_id for s in page.streams]
        token = page.next_page_token
        if not token:
            break
    assert seen == expected
    v = await invalid(world.affiliate.ListStreams, apb.ListStreamsRequest())
    assert set(v) == {"campaign_id"}
    # A page token is bound to its campaign.
    token = (
        await world.affiliate.ListStreams(apb.ListStreamsRequest(campaign_id=world.campaign.campaign_id, page_size=1))
    ).next_page_token
    other = (
        await world.links.CreateCampaign(
            pb.CreateCampaignRequest(campaign=pb.Campaign(name="Other", partner_id=world.partner.partner_id))
        )
    ).campaign
    v = await invalid(
        world.affiliate.ListStreams, apb.ListStreamsRequest(campaign_id=other.campaign_id, page_token=token)
    )
    assert set(v) == {"page_token"}


async def test_a_campaign_has_one_default_stream(world):
    default = await create_stream(world)
    details = await refused(
        world.affiliate.CreateStream,
        apb.CreateStreamRequest(
            stream=apb.Stream(campaign_id=world.campaign.campaign_id, action=apb.STREAM_ACTION_FALLBACK)
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert default.stream_id in details and "default" in details
    filtered = await create_stream(world, filters=[country("US")])
    # Dropping its filters would make a second default too.
    details = await refused(
        world.affiliate.UpdateStream,
        apb.UpdateStreamRequest(stream=apb.Stream(stream_id=filtered.stream_id), update_mask=mask("filters")),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert default.stream_id in details
    # The default stream may itself be updated, filters still none.
    renamed = (
        await world.affiliate.UpdateStream(
            apb.UpdateStreamRequest(stream=apb.Stream(stream_id=default.stream_id, name="Rest"))
        )
    ).stream
    assert renamed.name == "Rest" and renamed.is_default


async def test_stream_validation_names_each_field(world):
    lander = await create_lander(world)
    offer = await create_offer(world)
    cid = world.campaign.campaign_id
    cases = [
        (apb.Stream(campaign_id=cid), {"stream.action"}),
        (apb.Stream(campaign_id=cid, action=apb.STREAM_ACTION_ROTATE), {"stream.offers"}),
        (
            apb.Stream(
                campaign_id=cid, action=apb.STREAM_ACTION_ROTATE,
                landers=[apb.WeightedLander(lander_id=lander.lander_id, weight=0),
                         apb.WeightedLander(lander_id="lnd_nope", weight=1)],
                offers=[apb.WeightedOffer(offer_id=offer.offer_id, weight=-2),
                        apb.WeightedOffer(offer_id="off_nope", weight=1)],
            ),
            {"stream.landers[0].weight", "stream.landers[1].lander_id", "stream.offers[0].weight",
             "stream.offers[1].offer_id"},
        ),
        (
            apb.Stream(
                campaign_id=cid, action=apb.STREAM_ACTION_ROTATE,
                landers=[apb.WeightedLander(lander_id="lnd_nope", weight=1)],
                offers=[apb.WeightedOffer(offer_id="off_nope", weight=1),
                        apb.WeightedOffer(offer_id="off_nope", weight=2)],
            ),
            {"stream.landers[0].lander_id", "stream.offers[0].offer_id", "stream.offers[1].offer_id"},
        ),
        (apb.Stream(campaign_id=cid, action=apb.STREAM_ACTION_URL), {"stream.url"}),
        (apb.Stream(campaign_id=cid, action=apb.STREAM_ACTION_SAFE_PAGE, url="ftp://safe.example/"), {"stream.url"}),
        (
            apb.Stream(
                campaign_id=cid, action=apb.STREAM_ACTION_URL, url="https://a.example/",
                landers=[apb.WeightedLander(lander_id=lander.lander_id, weight=1)],
                offers=[apb.WeightedOffer(offer_id=offer.offer_id, weight=1)],
            ),
            {"stream.landers", "stream.offers"},
        ),
        (apb.Stream(campaign_id=cid, action=apb.STREAM_ACTION_FALLBACK, url="https://a.example/"), {"stream.url"}),
        (apb.Stream(campaign_id="cmp_nope", action=apb.STREAM_ACTION_FALLBACK), {"stream.campaign_id"}),
        (apb.Stream(action=apb.STREAM_ACTION_FALLBACK), {"stream.campaign_id"}),
        (
            apb.Stream(
                campaign_id=cid, action=apb.STREAM_ACTION_FALLBACK, position=-1,
                filters=[
                    apb.StreamFilter(field="planet", values=["mars"]),
                    apb.StreamFilter(field="visitor", values=[]),
                    apb.StreamFilter(field="device_type", values=["phone"]),
                    apb.StreamFilter(field="ip", values=["300.1.1.1"]),
                    apb.StreamFilter(field="schedule", values=["mon-fri 18:00-18:00"]),
                    apb.StreamFilter(field="verdict", values=["dirty"]),
                    apb.StreamFilter(field="visitor", values=["old"]),
                ],
            ),
            {
                "stream.position", "stream.filters[0].field", "stream.filters[1].values",
                "stream.filters[2].values[0]",
                "stream.filters[3].values[0]", "stream.filters[4].values[0]", "stream.filters[5].values[0]",
                "stream.filters[6].values[0]",
            },
        ),
        (
            apb.Stream(
                campaign_id=cid, action=apb.STREAM_ACTION_FALLBACK,
                filters=[country("US"), apb.StreamFilter(field="sub2", values=["x"]), country("DE")],
            ),
            {"stream.filters[2].values"},
        ),
        (
            apb.Stream(
                campaign_id=cid, action=apb.STREAM_ACTION_FALLBACK,
                filters=[apb.StreamFilter(field="verdict", exclude=True, values=["clean", "suspicious", "invalid"])],
            ),
            {"stream.filters[0].values"},
        ),
    ]  # fmt: skip
    for stream, fields in cases:
        v = await invalid(world.affiliate.CreateStream, apb.CreateStreamRequest(stream=stream))
        assert set(v) == fields, (stream, v)
    v = await invalid(
        world.affiliate.CreateStream,
        apb.CreateStreamRequest(
            stream=apb.Stream(
                campaign_id=cid, action=apb.STREAM_ACTION_FALLBACK, filters=[country("US"), country("DE")]
            )
        ),
    )
    assert "never match" in v["stream.filters[1].values"]
    # The update of a stream is checked the same way.
    stream = await create_stream(world, filters=[country("US")])
    v = await invalid(
        world.affiliate.UpdateStream,
        apb.UpdateStreamRequest(
            stream=apb.Stream(stream_id=stream.stream_id, filters=[country("US"), country("US", exclude=True)]),
            update_mask=mask("filters"),
        ),
    )
    assert set(v) == {"stream.filters[0].values"}
    v = await invalid(
        world.affiliate.UpdateStream,
        apb.UpdateStreamRequest(
            stream=apb.Stream(stream_id=stream.stream_id, campaign_id=cid), update_mask=mask("campaign_id")
        ),
    )
    assert set(v) == {"update_mask"}


async def test_another_account_cannot_see_or_change_the_streams(world, other_world):
    stream = await create_stream(world)
    await refused(
        other_world.affiliate.GetStream, apb.GetStreamRequest(stream_id=stream.stream_id), grpc.StatusCode.NOT_FOUND
    )
    await refused(
        other_world.affiliate.UpdateStream,
        apb.UpdateStreamRequest(stream=apb.Stream(stream_id=stream.stream_id, name="x")),
        grpc.StatusCode.NOT_FOUND,
    )
    await refused(
        other_world.affiliate.DeleteStream,
        apb.DeleteStreamRequest(stream_id=stream.stream_id),
        grpc.StatusCode.NOT_FOUND,
    )
    listed = await other_world.affiliate.ListStreams(apb.ListStreamsRequest(campaign_id=world.campaign.campaign_id))
    assert not listed.streams
    v = await invalid(
        other_world.affiliate.CreateStream,
        apb.CreateStreamRequest(
            stream=apb.Stream(campaign_id=world.campaign.campaign_id, action=apb.STREAM_ACTION_FALLBACK)
        ),
    )
    assert set(v) == {"stream.campaign_id"}
    lander = await create_lander(world)
    offer = await create_offer(other_world)
    v = await invalid(
        other_world.affiliate.CreateStream,
        apb.CreateStreamRequest(
            stream=apb.Stream(
                campaign_id=other_world.campaign.campaign_id, action=apb.STREAM_ACTION_ROTATE,
                landers=[apb.WeightedLander(lander_id=lander.lander_id, weight=1)],
                offers=[apb.WeightedOffer(offer_id=offer.offer_id, weight=1)],
            )
        ),
    )  # fmt: skip
    assert set(v) == {"stream.landers[0].lander_id"}
