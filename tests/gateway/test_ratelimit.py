"""Rate limits on the public endpoints: per client address (IPv6 by /64), per
app / API key on /v1/events, per postback token on /postback; on by default."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import AsyncIterator

import orjson
import pytest
from clicktrail.links.v1 import links_pb2 as pb

from gateway.ratelimit import RateLimiter, address_key
from libs.config import Settings, load_settings
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


def test_memory_is_bounded_whatever_the_keys() -> None:
    limiter = RateLimiter(rate=1.0, burst=2.0, max_keys=3)
    for i in range(10):
        assert limiter.allow(f"k{i}", now=100.0)
    assert len(limiter) == 3  # the least recently used were dropped
    limiter.allow("k9", now=100.0)
    assert len(limiter) == 3 and not limiter.allow("k9", now=100.0)  # the live bucket kept its count
    limiter.allow("k10", now=200.0)  # the idle (full again) buckets are forgotten
    assert len(limiter) == 1


def test_ipv6_clients_are_bucketed_by_their_64() -> None:
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:ffff:ffff:ffff:ffff") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") == "2001:db8:1:3::/64"
    assert address_key("::ffff:198.51.100.7") == address_key("198.51.100.7") == "198.51.100.7"


@pytest.fixture
async def limited_gateway(gateway_settings: Settings) -> AsyncIterator[RunningGateway]:
    gw = await start_gateway(
        dataclasses.replace(
            gateway_settings,
            trusted_proxies=(ipaddress.ip_network("127.0.0.0/8"),),
            # One request per 20 s: nothing refills while a test runs, however slow the machine.
            rate_limit_touches_per_ip=0.05,
            rate_limit_postbacks_per_ip=0.05,
            rate_limit_postbacks_per_token=0.05,
            rate_limit_events_per_key=0.05,
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
        assert (await http.get(f"/c/{t.slug}", headers=heavy)).status_code == 302
        refused = await http.get(f"/c/{t.slug}", headers=heavy)
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert "at most 0.05 requests/s per IP" in refused.json()["error"]
        # Impressions share the touch budget of that IP; another IP is not affected.
        assert (await http.get(f"/i/{t.slug}", headers=heavy)).status_code == 429
        assert (await http.get(f"/c/{t.slug}", headers={"X-Forwarded-For": "203.0.113.8"})).status_code == 302
        # Endpoints without a limit are never refused.
        assert (await http.get("/healthz", headers=heavy)).status_code == 200
    clicks = await all_clicks(links_stub, t.link_id)
    assert sorted(c.ip for c in clicks) == ["203.0.113.7", "203.0.113.8"]


async def test_postbacks_have_their_own_limit(limited_gateway: RunningGateway, account) -> None:
    async with limited_gateway.client() as http:
        headers = {"X-Forwarded-For": "192.0.2.50"}
        url = f"/postback?click_id=nope&token={account.postback_token}"
        assert (await http.get(url, headers=headers)).status_code == 404  # answered: unknown click
        refused = await http.get(url, headers=headers)
        assert refused.status_code == 429 and "per IP" in refused.json()["error"]


async def test_one_ipv6_64_shares_one_bucket(limited_gateway: RunningGateway, make_link: MakeLink) -> None:
    t = await make_link()
    async with limited_gateway.client() as http:
        assert (await http.get(f"/c/{t.slug}", headers={"X-Forwarded-For": "2001:db8:1:2::1"})).status_code == 302
        # Another address of the same /64 shares its budget.
        assert (await http.get(f"/c/{t.slug}", headers={"X-Forwarded-For": "2001:db8:1:2::2"})).status_code == 429
        refused = await http.get(f"/i/{t.slug}", headers={"X-Forwarded-For": "2001:db8:1:2:ffff:1:2:3"})
        assert refused.status_code == 429
        assert (await http.get(f"/c/{t.slug}", headers={"X-Forwarded-For": "2001:db8:1:3::1"})).status_code == 302


async def test_postbacks_are_limited_per_token_too(limited_gateway: RunningGateway, account) -> None:
    async with limited_gateway.client() as http:
        # Forged secrets under the token's key id spend nothing of the real token's budget.
        key_id = account.postback_token.split("_")[1]
        for i in range(3):
            forged = await http.get(f"/postback?click_id=nope&token=ctp_{key_id}_forged",
                                    headers={"X-Forwarded-For": f"192.0.2.7{i}"})  # fmt: skip
            assert forged.status_code == 401
        url = f"/postback?click_id=nope&token={account.postback_token}"
        # The first use tells the gateway the token is good; from then on it is charged.
        assert (await http.get(url, headers={"X-Forwarded-For": "192.0.2.59"})).status_code == 404
        assert (await http.get(url, headers={"X-Forwarded-For": "192.0.2.60"})).status_code == 404
        # Another address, within its own limit: the token's budget is spent.
        refused = await http.get(url, headers={"X-Forwarded-For": "192.0.2.61"})
        assert refused.status_code == 429 and "per postback token" in refused.json()["error"]


async def test_events_are_limited_per_key(limited_gateway: RunningGateway, links_stub) -> None:
    keys = [
        (await links_stub.CreateApp(pb.CreateAppRequest(app=pb.App(name=n, platform=pb.PLATFORM_WEB)))).app_key
        for n in ("One", "Two")
    ]
    body = orjson.dumps({"events": []})
    async with limited_gateway.client() as http:

        async def send(key: str, ip: str) -> int:
            r = await http.post("/v1/events", content=body, headers={"X-Api-Key": key, "X-Forwarded-For": ip})
            return r.status_code

        assert [await send(keys[0], f"192.0.2.{i}") for i in range(2)] == [202, 429]  # per key, whatever the address
        assert await send(keys[1], "192.0.2.9") == 202  # another key has its own budget
        # Wrong keys are refused (401) before any per-key bucket is made for them.
        assert [await send(f"cta_{i:012x}_forged", "192.0.2.10") for i in range(5)] == [401] * 5
        assert len(limited_gateway.app._events_per_key) == 2


async def test_limits_are_on_by_default(gateway: RunningGateway) -> None:
    defaults = load_settings(env={})
    assert defaults.rate_limit_touches_per_ip == 50 and defaults.rate_limit_events_per_ip == 200
    assert defaults.rate_limit_postbacks_per_ip == 1000 and defaults.rate_limit_postbacks_per_token == 500
    assert defaults.rate_limit_events_per_key == 1000
    # One network's server sends for many tenants: its address must not cap them below their tokens.
    assert defaults.rate_limit_postbacks_per_ip > defaults.rate_limit_postbacks_per_token
    assert (defaults.gateway_body_timeout_s, defaults.gateway_events_concurrency) == (10, 256)
    app = gateway.app  # the suite's gateway runs with the defaults: every limit is on
    assert sorted(app._limiters) == ["/c/", "/i/", "/postback", "/v1/events"]
    assert app._events_per_key.enabled and app._postbacks_per_token.enabled
