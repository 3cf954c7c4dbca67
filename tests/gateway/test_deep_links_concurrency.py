"""Deferred deep links under concurrency (review of issue 22): an SDK that retries
its first-launch call, or asks on two threads, sends several claims at once. The
deep link is handed out once per click all the same: exactly one 200, every other
answer 404 "no deferred deep link" -- by click id (Android) and by fingerprint
(iOS) at the same time for the same click."""

from __future__ import annotations

import asyncio

from tests.gateway.test_deep_links import IPHONE_UA, click_id_of, deep_link, make_shop

CLAIMS = 12


async def test_simultaneous_claims_of_one_click_hand_the_deep_link_out_once(
    proxied_gateway, links_server, channels, account
):
    shop = await make_shop(links_server, channels, account.api_key)
    link = await deep_link(shop, shop.ios, "/product/9?c={click_id}")
    phone = {"user-agent": IPHONE_UA, "x-forwarded-for": "81.2.69.150", "x-api-key": shop.ios_key}
    async with proxied_gateway.client() as c:
        click_id = click_id_of(await c.get(f"/c/{link.slug}", headers=phone))
        bodies = [{"click_id": click_id} if i % 2 else {} for i in range(CLAIMS)]
        answers = await asyncio.gather(*(c.post("/v1/deeplink", json=b, headers=phone) for b in bodies))
    codes = sorted(r.status_code for r in answers)
    assert codes == [200] + [404] * (CLAIMS - 1), [(r.status_code, r.text) for r in answers]
    won = next(r for r in answers if r.status_code == 200).json()
    assert (won["click_id"], won["deep_link"]) == (click_id, f"/product/9?c={click_id}")
    assert all(r.json() == {"error": "no deferred deep link"} for r in answers if r.status_code == 404)
