"""A stream's position on create: unset goes after the campaign's last stream; a
set one (0 included) is taken as given, before a stream already there, so 0
puts the new stream first (Stream.position is `optional`: 0 is a value)."""

from clicktrail.links.v1 import affiliate_pb2 as apb

from tests.services.links import test_lander_clicks, test_offers
from tests.services.links.test_lander_clicks import click
from tests.services.links.test_streams import country, create_stream

world, lander_world = test_offers.world, test_lander_clicks.world  # the fixtures


async def listed(w) -> list[tuple[str, int]]:
    got = await w.affiliate.ListStreams(apb.ListStreamsRequest(campaign_id=w.campaign.campaign_id))
    return [(s.name, s.position) for s in got.streams]


async def test_position_zero_on_create_puts_the_stream_first(world):
    await create_stream(world, name="US", filters=[country("US")])
    await create_stream(world, name="Rest", action=apb.STREAM_ACTION_FALLBACK, url="")  # the default
    await create_stream(world, name="DE", filters=[country("DE")])
    assert await listed(world) == [("US", 0), ("DE", 2), ("Rest", 1)]
    first = await create_stream(world, name="FR", filters=[country("FR")], position=0)
    assert first.position == 0 and first.HasField("position")
    assert await listed(world) == [("FR", 0), ("US", 1), ("DE", 3), ("Rest", 2)]
    # Unset: after the last; a free position is taken as it is, moving nobody.
    await create_stream(world, name="IT", filters=[country("IT")])
    await create_stream(world, name="ES", filters=[country("ES")], position=10)
    assert await listed(world) == [("FR", 0), ("US", 1), ("DE", 3), ("IT", 4), ("ES", 10), ("Rest", 2)]


async def test_a_click_tries_the_stream_created_at_position_zero_first(lander_world):
    w = lander_world
    not_invalid = [apb.StreamFilter(field="verdict", exclude=True, values=["invalid"])]  # a clean click holds it
    for name in ("older", "newer"):
        s = apb.Stream(campaign_id=w.campaign_id, name=name, filters=not_invalid, action=apb.STREAM_ACTION_URL,
                       url=f"https://{name}.example/", position=0 if name == "newer" else None)  # fmt: skip
        await w.affiliate.CreateStream(apb.CreateStreamRequest(stream=s))
    assert (await click(w)).location == "https://newer.example/"
