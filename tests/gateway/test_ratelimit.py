"""Per-IP rate limits on the public endpoints."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import AsyncIterator

import pytest

from gateway.ratelimit import RateLimiter
from libs.config import Settings
from tests.gateway.conftest import MakeLink, RunningGateway, all_clicks, start_gateway


def test_a_bucket_allows_its_burst_then_refills_at_its_rate() -> None:
    limiter = RateLimiter(rate=2.0, burst=4.0)
    assert [limiter.allow("198.51.100.1", now=100.0) for _ in range(5)] == [True] * 4 + [False]
    assert limiter.retry_after("198.51.100.1") == 1
    assert limiter.allow("198.51.100.2", now=100.0)  # another client has its own bucket
    assert limiter.allow("198.51.100.1", now=100.5)  # one token back after 1/rate seconds
    assert not limiter.allow("198.51.100.1", now=100.5)
    assert [limiter.allow("198.51.100.1", now=200.0) for _ in range(5)] == [True] * 4 + [False]  # full again
    assert RateLimiter(rate=0).allow("198.51.100.1")  # 0 = no limit


@pytest.fixture
async def limited_gateway(gateway_settings: Settings) -> AsyncIterator[RunningGateway]:
    gw = await start_gateway(
        dataclasses.replace(
            gateway_settings,
            trusted_proxies=(ipaddress.ip_network("127.0.0.0/8"),),
            rate_limit_touches_per_ip=3.0,  # bursts of 6
            rate_limit_postbacks_per_ip=1.0,  # bursts of 2
        )
    )
    yield gw
    await gw.stop()


async def test_clicks_over_the_limit_get_429_per_client_ip_and_are_not_recorded(
    limited_gateway: RunningGateway, make_link: MakeLink, links_stub
) -> None:
    t = await make_link()
    async with limited_gateway.client() as http:
        heavy = {"X-Forwarded-For": "203.0.113.7"}
        codes = [(await http.get(f"/c/{t.slug}", headers=heavy)).status_code for _ in range(6)]
        assert codes == [302] * 6
        refused = await http.get(f"/c/{t.slug}", headers=heavy)
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert "at most 3 requests/s per IP" in refused.json()["error"]
        # Impressions share the touch budget of that IP; another IP is not affected.
        assert (await http.get(f"/i/{t.slug}", headers=heavy)).status_code == 429
        assert (await http.get(f"/c/{t.slug}", headers={"X-Forwarded-For": "203.0.113.8"})).status_code == 302
        # Endpoints without a limit are never refused.
        assert (await http.get("/healthz", headers=heavy)).status_code == 200
    clicks = await all_clicks(links_stub, t.link_id)
    assert sorted(c.ip for c in clicks) == ["203.0.113.7"] * 6 + ["203.0.113.8"]


async def test_postbacks_have_their_own_limit(limited_gateway: RunningGateway, account) -> None:
    async with limited_gateway.client() as http:
        headers = {"X-Forwarded-For": "192.0.2.50"}
        first = [
            (await http.get(f"/postback?click_id=nope&token={account.postback_token}", headers=headers))
            for _ in range(2)
        ]
        assert [r.status_code for r in first] == [404, 404]  # answered: unknown click
        assert (
            await http.get(f"/postback?click_id=nope&token={account.postback_token}", headers=headers)
        ).status_code == 429
