"""TouchBatcher and the gateway's small helpers, against a scripted LinksService
(a real grpc.aio server that records how it was called)."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from clicktrail.links.v1 import links_pb2 as pb
from clicktrail.links.v1 import links_pb2_grpc

from gateway.app import Gateway
from gateway.batcher import BatchError, TouchBatcher
from gateway.responses import decode_header as _decode_header
from gateway.responses import header_safe
from libs.clients import LinksClient
from libs.config import load_settings
from tests.support.wait import wait_until


class Scripted(links_pb2_grpc.LinksServiceServicer):
    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.delay = 0.02

    async def RecordClicks(self, request: pb.RecordClicksRequest, context: Any) -> pb.RecordClicksResponse:
        slugs = [c.slug for c in request.clicks]
        self.calls.append(slugs)
        await asyncio.sleep(self.delay)
        if "bad" in slugs:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "clicks[?].slug: bad")
        return pb.RecordClicksResponse(results=[
            pb.TouchResult(outcome=pb.TOUCH_OUTCOME_RECORDED, location=f"https://x.example/{s}", touch_id=s)
            for s in slugs
        ])  # fmt: skip


@pytest.fixture
async def scripted() -> AsyncIterator[tuple[Scripted, str]]:
    servicer = Scripted()
    server = grpc.aio.server()
    links_pb2_grpc.add_LinksServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield servicer, f"127.0.0.1:{port}"
    await server.stop(0)


def batcher(addr: str, **kwargs: Any) -> tuple[TouchBatcher, LinksClient]:
    pool = LinksClient(addr, token="t", deadline_s=2.0, channels=2)
    b = TouchBatcher(
        pool, kind="click", method="/clicktrail.links.v1.LinksService/RecordClicks",
        request_cls=pb.RecordClicksRequest, response_cls=pb.RecordClicksResponse, field="clicks",
        **{"max_items": 256, "delay_s": 0.005, "timeout_s": 2.0, "max_inflight": 1, **kwargs},
    )  # fmt: skip
    return b, pool


def touch(slug: str) -> tuple[str, bytes, str, str, str]:
    return (slug, b"", "127.0.0.1", "", "")


async def test_concurrent_touches_share_calls_and_keep_order(scripted: tuple[Scripted, str]) -> None:
    servicer, addr = scripted
    b, pool = batcher(addr)
    try:
        results = await asyncio.gather(*(b.submit(touch(f"s{i}")) for i in range(300)))
        assert [r.touch_id for r in results] == [f"s{i}" for i in range(300)]
        assert sum(len(c) for c in servicer.calls) == 300
        assert len(servicer.calls) <= 3  # 256 max per call
        assert max(len(c) for c in servicer.calls) <= 256
    finally:
        await pool.close()


async def test_idle_touch_is_sent_at_once_and_later_ones_coalesce(scripted: tuple[Scripted, str]) -> None:
    servicer, addr = scripted
    b, pool = batcher(addr, delay_s=1.0)
    try:
        first = b.submit(touch("a"))
        await wait_until(lambda: servicer.calls, '"a" in flight (at links)', every_s=0.001)
        rest = [b.submit(touch(f"b{i}")) for i in range(10)]
        await asyncio.gather(first, *rest)
        # "a" went alone; the others waited for it (not for the 1 s timer) and went together.
        assert servicer.calls == [["a"], [f"b{i}" for i in range(10)]]
    finally:
        await pool.close()


async def test_invalid_batch_is_retried_one_by_one(scripted: tuple[Scripted, str]) -> None:
    _, addr = scripted
    b, pool = batcher(addr)
    try:
        futs = [b.submit(touch(s)) for s in ["ok1", "bad", "ok2"]]
        done = await asyncio.gather(*futs, return_exceptions=True)
        assert [getattr(d, "touch_id", None) for d in done] == ["ok1", None, "ok2"]
        assert isinstance(done[1], BatchError) and done[1].code == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        await pool.close()


async def test_drain_waits_for_running_calls_then_refuses(scripted: tuple[Scripted, str]) -> None:
    servicer, addr = scripted
    servicer.delay = 0.2
    b, pool = batcher(addr)
    try:
        futs = [b.submit(touch(f"s{i}")) for i in range(5)]
        await asyncio.sleep(0)
        await b.drain(5.0)
        assert all(f.done() and not f.exception() for f in futs)
        with pytest.raises(BatchError):
            await b.submit(touch("late"))
    finally:
        await pool.close()


async def test_unreachable_links_fails_fast() -> None:
    b, pool = batcher("127.0.0.1:1")
    try:
        with pytest.raises(BatchError) as err:
            await b.submit(touch("x"))
        assert err.value.code == grpc.StatusCode.UNAVAILABLE
    finally:
        await pool.close()


def test_header_safe_encodes_everything_but_visible_ascii() -> None:
    assert header_safe("https://a.example/p?x=1&y=%20") == b"https://a.example/p?x=1&y=%20"
    assert header_safe("https://a.example/\r\nSet-Cookie: a=1") == b"https://a.example/%0D%0ASet-Cookie:%20a=1"
    assert header_safe("https://a.example/é\x00\x7f") == b"https://a.example/%C3%A9%00%7F"


def test_decode_header_never_fails() -> None:
    assert _decode_header(b"") == ""
    assert _decode_header("Mozilla/5.0 é".encode()) == "Mozilla/5.0 é"
    assert _decode_header(b"\xff\xfeX") == "\xff\xfeX"  # latin-1 fallback
    assert _decode_header(b"a\x00b") == "ab"
    assert len(_decode_header(b"x" * 100_000)) == 8192  # a bound only: touches refuse past it (test_gateway)


def test_client_ip() -> None:
    gw = Gateway(load_settings(env={}, trusted_proxies=(ipaddress.ip_network("10.0.0.0/8"),)))
    plain = Gateway(load_settings(env={}))

    def scope(host: str) -> dict[str, Any]:
        return {"client": (host, 1234)}

    assert plain.client_ip(scope("203.0.113.1"), b"1.2.3.4") == "203.0.113.1"
    assert plain.client_ip(scope("::ffff:192.0.2.1"), b"") == "192.0.2.1"
    assert plain.client_ip({"client": None}, b"") == ""
    assert gw.client_ip(scope("10.1.1.1"), b"198.51.100.7") == "198.51.100.7"
    assert gw.client_ip(scope("10.1.1.1"), b"6.6.6.6, 198.51.100.7, 10.2.2.2") == "198.51.100.7"
    assert gw.client_ip(scope("10.1.1.1"), b"10.3.3.3, 10.2.2.2") == "10.3.3.3"
    assert gw.client_ip(scope("10.1.1.1"), b"[2001:db8::1]") == "2001:db8::1"
    assert gw.client_ip(scope("10.1.1.1"), b"junk") == "10.1.1.1"
    assert gw.client_ip(scope("203.0.113.1"), b"198.51.100.7") == "203.0.113.1"  # untrusted peer
