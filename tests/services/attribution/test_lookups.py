"""The links client batches the touch look-ups made together into LookupTouches calls."""

import asyncio
import dataclasses
import datetime as dt

from clicktrail.links.v1 import links_pb2 as pb

from libs.ids import new_id
from services.attribution.lookups import CLICK, Links
from tests.services.links.conftest import ANDROID_UA, make_setup

GAID = "38400000-8cf0-11bd-b23e-10b96e40000d"


async def test_lookups_made_together_are_one_call(
    settings, links_server, gateway_links_stub, links_stub, account, new_account
):
    s = await make_setup(links_stub)
    inputs = [
        pb.TouchInput(slug=s.link.slug, raw_query=f"gaid={GAID}&sub1={i}".encode(), ip="1.2.3.4", user_agent=ANDROID_UA)
        for i in range(3)
    ]
    res = await gateway_links_stub.RecordClicks(pb.RecordClicksRequest(clicks=inputs))
    ids = [r.touch_id for r in res.results]
    links = Links(dataclasses.replace(settings, links_addr=links_server.addr))
    try:
        now = dt.datetime.now(dt.UTC)
        start, end = now - dt.timedelta(hours=1), now + dt.timedelta(minutes=1)
        found = await asyncio.gather(
            *(links.click(account.account_id, i) for i in [*ids, ids[0], new_id(), "malformed"]),
            links.touches(account.account_id, start, end, device_id=GAID),
            links.touches(account.account_id, start, end, ip="1.2.3.4", user_agent=ANDROID_UA, impressions=False),
            links.touches(account.account_id, start, end, device_id="other"),
        )
        assert links.calls == 1
        clicks, by_device, by_fp, none = found[:6], found[6], found[7], found[8]
        assert [c.touch_id if c else None for c in clicks] == [*ids, ids[0], None, None]
        assert all(c.kind == CLICK and c.subs[0] == str(i) for i, c in enumerate(clicks[:3]) if c)
        assert [t.touch_id for t in by_device] == [t.touch_id for t in by_fp]
        assert sorted(t.touch_id for t in by_device) == sorted(ids)
        assert [t.time for t in by_device] == sorted((t.time for t in by_device), reverse=True)  # newest first
        assert none == []
        # Another account's clicks are not found.
        other = await new_account("Other")
        assert await links.click(other.account_id, ids[0]) is None
        assert links.calls == 2
    finally:
        await links.close()
