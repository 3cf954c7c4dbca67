"""The click benchmark's flow campaign (issue 21): 10 streams x 5 filters.

The first nine streams each have four filters a bench click passes and a fifth
it fails, so every click evaluates all 45 of their filters before the tenth
(the default: no filters) wins and rotates over two landers and three offers.
That is the dear case of a flow: nothing short-circuits early.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from clicktrail.links.v1 import affiliate_pb2 as apb
from clicktrail.links.v1 import affiliate_pb2_grpc

# Filters every bench click passes (wrk: 73.x addresses, no Accept-Language,
# sub1=bench, no referrer, any time of the week).
PASSING: list[tuple[str, bool, list[str]]] = [
    ("country", True, ["KP", "IR", "SY"]),
    ("ip", True, ["10.0.0.0/8", "192.168.0.0/16", "2001:db8::/32"]),
    ("sub1", False, ["bench", "other"]),
    ("param.zone", False, [""]),
    ("language", True, ["ja", "ko"]),
    ("referrer", True, ["spam.example"]),
    ("schedule", False, ["mon-sun 00:00-24:00"]),
    ("sub5", False, [""]),
]
# The fifth filter of stream i, which no bench click passes.
FAILING: list[tuple[str, bool, list[str]]] = [
    ("os", False, ["PlayStation"]),
    ("browser", False, ["Lynx"]),
    ("sub3", False, ["never"]),
    ("param.src", False, ["push"]),
    ("country", False, ["AQ"]),
    ("ip", False, ["198.51.100.0/24"]),
    ("referrer", False, ["partner.example"]),
    ("sub9", False, ["vip"]),
    ("device_type", False, ["tablet"]),
]
LANDER_URL = "https://lp{n}.example/?cid={{click_id}}&next={{lander_click_url}}"
OFFER_URL = "https://offer{n}.example/go?cid={{click_id}}&s1={{sub1}}"


def _filters(i: int) -> list[apb.StreamFilter]:
    passing = [PASSING[(i + k) % len(PASSING)] for k in range(4)]
    return [apb.StreamFilter(field=f, exclude=e, values=v) for f, e, v in (*passing, FAILING[i])]


async def setup_flow(channel: Any, campaign_id: str, partner_id: str) -> dict[str, Any]:
    """Landers, offers and the 10 streams of ``campaign_id``; answers their ids."""
    stub = affiliate_pb2_grpc.AffiliateServiceStub(channel)
    landers = [
        (await stub.CreateLander(apb.CreateLanderRequest(lander=apb.Lander(
            name=f"Bench LP {n}", url=LANDER_URL.format(n=n),
        )))).lander.lander_id
        for n in (1, 2)
    ]  # fmt: skip
    offers = [
        (await stub.CreateOffer(apb.CreateOfferRequest(offer=apb.Offer(
            name=f"Bench offer {n}", partner_id=partner_id, url=OFFER_URL.format(n=n),
        )))).offer.offer_id
        for n in (1, 2, 3)
    ]  # fmt: skip
    streams = []
    for i in range(9):
        stream = apb.Stream(
            campaign_id=campaign_id, name=f"filtered {i}", position=i, filters=_filters(i),
            action=apb.STREAM_ACTION_URL, url=f"https://stream{i}.example/?cid={{click_id}}",
        )  # fmt: skip
        streams.append((await stub.CreateStream(apb.CreateStreamRequest(stream=stream))).stream.stream_id)
    default = apb.Stream(
        campaign_id=campaign_id, name="default", position=9, action=apb.STREAM_ACTION_ROTATE,
        landers=[apb.WeightedLander(lander_id=x, weight=1) for x in landers],
        offers=[apb.WeightedOffer(offer_id=x, weight=w) for x, w in zip(offers, (5, 3, 2), strict=True)],
    )  # fmt: skip
    streams.append((await stub.CreateStream(apb.CreateStreamRequest(stream=default))).stream.stream_id)
    return {"landers": landers, "offers": offers, "streams": streams}


async def flow_rows(dsn: str, link_id: str) -> dict[str, int]:
    """The flow link's click rows by stream position: 'default' (the tenth
    stream, with a lander and an offer), 'other' (anything else)."""
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            "SELECT count(*) FILTER (WHERE s.position = 9 AND c.lander_id IS NOT NULL AND c.offer_id IS NOT NULL)"
            " AS default_ok, count(*) AS n FROM links.clicks c"
            " LEFT JOIN links.streams s ON s.account_id = c.account_id AND s.stream_id = c.stream_id"
            " WHERE c.link_id = $1",
            link_id,
        )
    finally:
        await conn.close()
    return {"default": row["default_ok"], "other": row["n"] - row["default_ok"]}
