"""Name resolution of postback hosts against a real DNS server on loopback
(tests/services/postbacks/dns.py): asynchronous (aiodns), one query per name
however many deliveries wait for it, failures cached, timeouts bounded."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator

import pytest

from services.postbacks.guard import HttpError, Refused
from services.postbacks.http import HttpClient
from services.postbacks.resolver import Resolver
from tests.services.postbacks.dns import DnsServer
from tests.services.postbacks.sink import Sink

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)


@pytest.fixture
async def dns() -> AsyncIterator[DnsServer]:
    server = await DnsServer({"sink.clicktrail.test": "127.0.0.1", "inside.clicktrail.test": "10.1.2.3"},
                             silent={"blackhole.clicktrail.test"}).start()  # fmt: skip
    yield server
    server.close()


async def test_nonexistent_host_is_asked_once_and_its_failure_cached(dns: DnsServer) -> None:
    resolver = Resolver(LOOPBACK, nameservers=[dns.address], timeout_s=0.5, negative_ttl_s=60)
    try:
        name = "nx.clicktrail.test"
        # 50 deliveries at once, then 5 more later: one lookup (A + AAAA), all fail alike.
        first = await asyncio.gather(*(resolver.resolve(name, 80) for _ in range(50)), return_exceptions=True)
        asked = dns.asked(name)
        for _ in range(5):
            with pytest.raises(HttpError, match=r"cannot resolve nx\.clicktrail\.test"):
                await resolver.resolve(name, 443)
        assert all(isinstance(e, HttpError) for e in first), first
        assert 1 <= asked <= 2 and dns.asked(name) == asked  # A and AAAA, once
        assert resolver.stats.queries == 1 and resolver.stats.failures == 1
        # A server that never answers: the lookup times out (bounded), and that is cached too.
        with pytest.raises(HttpError, match="timeout"):
            await resolver.resolve("blackhole.clicktrail.test", 80)
        asked = dns.asked("blackhole.clicktrail.test")
        with pytest.raises(HttpError, match="timeout"):
            await resolver.resolve("blackhole.clicktrail.test", 80)
        assert asked > 0 and dns.asked("blackhole.clicktrail.test") == asked
        # A name resolving inside the network is refused, and that verdict cached.
        with pytest.raises(Refused, match=r"10\.1\.2\.3 is a private address"):
            await resolver.resolve("inside.clicktrail.test", 80)
        with pytest.raises(Refused):
            await resolver.resolve("inside.clicktrail.test", 80)
        assert dns.asked("inside.clicktrail.test") <= 2
    finally:
        await resolver.close()


async def test_request_by_name_goes_to_the_resolved_address(dns: DnsServer) -> None:
    sink = await Sink().start()
    client = HttpClient(Resolver(LOOPBACK, nameservers=[dns.address], timeout_s=1.0))
    try:
        for _ in range(3):
            resp = await client.request("GET", f"http://sink.clicktrail.test:{sink.port}/pb?e=1")
            assert resp.status == 200
        assert sink.total == 3 and sink.hits[0].headers["host"] == f"sink.clicktrail.test:{sink.port}"
        assert dns.asked("sink.clicktrail.test") <= 2 and client.opened == 1
    finally:
        await client.close()
        await sink.close()


async def test_numeric_host_is_sent_to_the_address_it_is() -> None:
    """2130706433 is 127.0.0.1 (inet_aton): checked and connected as that address, Host as written."""
    sink = await Sink().start()
    client = HttpClient(Resolver(LOOPBACK))
    try:
        resp = await client.request("GET", f"http://2130706433:{sink.port}/n?e=1")
        assert resp.status == 200 and sink.hits[0].headers["host"] == f"2130706433:{sink.port}"
        with pytest.raises(Refused, match=r"10\.0\.0\.1 is a private address"):
            await client.request("GET", "http://167772161/x")  # 10.0.0.1
    finally:
        await client.close()
        await sink.close()


def test_every_socket_the_client_opens_is_checked() -> None:
    """The second lock: a socket to an address the guard refuses is never made."""
    client = HttpClient(Resolver(()))
    with pytest.raises(OSError, match=r"destination refused: 127\.0\.0\.1 is a loopback address"):
        client._socket((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 80)))
    assert client.opened == 0
