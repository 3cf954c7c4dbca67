"""Landers: CRUD with their own macros, validation naming the field, account
isolation and the delete precondition (a stream rotating it)."""

import grpc
from clicktrail.links.v1 import affiliate_pb2 as apb

from tests.services.links import test_offers as shared
from tests.services.links.test_offers import create_lander, create_offer, invalid, mask, refused

world, other_world = shared.world, shared.other_world  # the fixtures


async def test_lander_round_trip_with_its_macros(world):
    lander = await create_lander(
        world,
        url="https://lp.example/{angle}?cta={lander_click_url}&c={country}",
        type=apb.LANDER_TYPE_PRELANDER,
        macros={"angle": "review", "theme_2": "dark"},
    )
    assert lander.lander_id.startswith("lnd_") and lander.type == apb.LANDER_TYPE_PRELANDER
    assert dict(lander.macros) == {"angle": "review", "theme_2": "dark"}
    assert (await world.affiliate.GetLander(apb.GetLanderRequest(lander_id=lander.lander_id))).lander == lander
    # Replacing the macros replaces the whole map; the URL must still know its macros.
    v = await invalid(
        world.affiliate.UpdateLander,
        apb.UpdateLanderRequest(
            lander=apb.Lander(lander_id=lander.lander_id, macros={"other": "x"}), update_mask=mask("macros")
        ),
    )
    assert set(v) == {"lander.url"} and "{angle}" in v["lander.url"]
    updated = (
        await world.affiliate.UpdateLander(
            apb.UpdateLanderRequest(
                lander=apb.Lander(lander_id=lander.lander_id, url="https://lp.example/b", macros={}),
                update_mask=mask("url", "macros"),
            )
        )
    ).lander
    assert updated.url == "https://lp.example/b" and dict(updated.macros) == {}
    assert updated.type == apb.LANDER_TYPE_PRELANDER and updated.name == lander.name
    await world.affiliate.DeleteLander(apb.DeleteLanderRequest(lander_id=lander.lander_id))
    await refused(
        world.affiliate.GetLander, apb.GetLanderRequest(lander_id=lander.lander_id), grpc.StatusCode.NOT_FOUND
    )


async def test_lander_validation_names_each_field(world):
    v = await invalid(
        world.affiliate.CreateLander,
        apb.CreateLanderRequest(
            lander=apb.Lander(
                name="",
                url="lp.example/page",
                type=9,
                macros={"sub1": "x", "bad name": "y", "lander_click_url": "z", "ok": "v" * 2000},
            )
        ),
    )
    assert set(v) == {
        "lander.name",
        "lander.url",
        "lander.type",
        "lander.macros['sub1']",
        "lander.macros['bad name']",
        "lander.macros['lander_click_url']",
        "lander.macros['ok']",
    }
    assert "click macro" in v["lander.macros['sub1']"] and "http" in v["lander.url"]
    v = await invalid(
        world.affiliate.CreateLander,
        apb.CreateLanderRequest(lander=apb.Lander(name="x", url="https://lp.example/?a={unknown}")),
    )
    assert set(v) == {"lander.url"} and "{unknown}" in v["lander.url"]


async def test_list_landers_pages(world):
    made = [await create_lander(world, name=f"L{i}") for i in range(3)]
    first = await world.affiliate.ListLanders(apb.ListLandersRequest(page_size=2))
    assert len(first.landers) == 2 and first.next_page_token
    rest = await world.affiliate.ListLanders(apb.ListLandersRequest(page_size=2, page_token=first.next_page_token))
    assert [x.lander_id for x in [*first.landers, *rest.landers]] == sorted(x.lander_id for x in made)
    assert not rest.next_page_token


async def test_a_lander_a_stream_rotates_cannot_be_deleted(world):
    lander = await create_lander(world)
    offer = await create_offer(world)
    stream = (
        await world.affiliate.CreateStream(
            apb.CreateStreamRequest(
                stream=apb.Stream(
                    campaign_id=world.campaign.campaign_id,
                    action=apb.STREAM_ACTION_ROTATE,
                    landers=[apb.WeightedLander(lander_id=lander.lander_id, weight=1)],
                    offers=[apb.WeightedOffer(offer_id=offer.offer_id, weight=1)],
                )
            )
        )
    ).stream
    delete = apb.DeleteLanderRequest(lander_id=lander.lander_id)
    details = await refused(world.affiliate.DeleteLander, delete, grpc.StatusCode.FAILED_PRECONDITION)
    assert stream.stream_id in details
    await world.affiliate.UpdateStream(
        apb.UpdateStreamRequest(stream=apb.Stream(stream_id=stream.stream_id), update_mask=mask("landers"))
    )
    await world.affiliate.DeleteLander(delete)


async def test_another_account_cannot_see_or_change_the_lander(world, other_world):
    lander = await create_lander(world)
    for call, request in (
        (other_world.affiliate.GetLander, apb.GetLanderRequest(lander_id=lander.lander_id)),
        (
            other_world.affiliate.UpdateLander,
            apb.UpdateLanderRequest(lander=apb.Lander(lander_id=lander.lander_id, name="x")),
        ),
        (other_world.affiliate.DeleteLander, apb.DeleteLanderRequest(lander_id=lander.lander_id)),
    ):
        await refused(call, request, grpc.StatusCode.NOT_FOUND)
    assert not (await other_world.affiliate.ListLanders(apb.ListLandersRequest())).landers
