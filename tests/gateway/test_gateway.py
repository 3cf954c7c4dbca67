"""The HTTP gateway end to end over real HTTP, in front of the real links service."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest
from clicktrail.links.v1 import links_pb2 as pb
from clicktrail.links.v1 import links_pb2_grpc
from prometheus_client import REGISTRY

from gateway.touch_routes import GIF
from libs.config import Settings
from libs.grpc_server import start_service
from services.links.server import SPEC as LINKS_SPEC
from tests.gateway.conftest import (
    MakeLink,
    RunningGateway,
    all_clicks,
    all_impressions,
    ipv6_loopback,
    start_gateway,
)


async def raw_request(url: str, request: bytes) -> tuple[int, bytes]:
    """Sends exact bytes (httpx would normalise them); returns status and head."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(request)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    finally:
        writer.close()
    return int(head.split(b" ", 2)[1]), head


# ----- clicks ------------------------------------------------------------------


async def test_click_redirects_with_click_id_and_is_recorded(
    client: httpx.AsyncClient, make_link: MakeLink, links_stub: links_pb2_grpc.LinksServiceStub
) -> None:
    t = await make_link("https://shop.example/land?cid={click_id}&s1={sub1}")
    r = await client.get(
        f"/c/{t.slug}?sub1=spring&sub2=b",
        headers={"user-agent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) Mobile", "referer": "https://pub.example/"},
    )
    assert r.status_code == 302
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-request-id"]
    loc = urlsplit(r.headers["location"])
    assert (loc.scheme, loc.netloc, loc.path) == ("https", "shop.example", "/land")
    q = parse_qs(loc.query)
    assert q["s1"] == ["spring"]
    click_id = q["cid"][0]
    clicks = await all_clicks(links_stub, t.link_id)
    assert [c.click_id for c in clicks] == [click_id]
    c = clicks[0]
    assert (c.sub1, c.sub2, c.ip, c.referrer) == ("spring", "b", "127.0.0.1", "https://pub.example/")
    assert c.campaign_id == t.campaign_id
    assert "Pixel 8" in c.user_agent


async def test_template_without_click_id_gets_it_appended(
    client: httpx.AsyncClient, make_link: MakeLink, links_stub: links_pb2_grpc.LinksServiceStub
) -> None:
    t = await make_link("https://shop.example/plain?x=1")
    r = await client.get(f"/c/{t.slug}")
    assert r.status_code == 302
    loc = urlsplit(r.headers["location"])
    assert (loc.netloc, loc.path) == ("shop.example", "/plain")
    q = parse_qs(loc.query)
    assert q["x"] == ["1"]
    clicks = await all_clicks(links_stub, t.link_id)
    assert q["click_id"] == [clicks[0].click_id]


async def test_unknown_and_malformed_slugs_are_404(client: httpx.AsyncClient) -> None:
    for path in ["/c/doesnotexist", "/c/a" + "b" * 64, "/c/bad%21slug", "/c/", "/c/a/b", "/c/%00", "/c/..%2F"]:
        r = await client.get(path)
        assert r.status_code == 404, path
        assert r.json() == {"error": "link not found"}


async def test_paused_campaign_goes_to_fallback_and_records_nothing(
    client: httpx.AsyncClient, make_link: MakeLink, links_stub: links_pb2_grpc.LinksServiceStub
) -> None:
    with_fb = await make_link(status=pb.CAMPAIGN_STATUS_PAUSED, fallback_url="https://fallback.example/offers")
    r = await client.get(f"/c/{with_fb.slug}?sub1=x")
    assert r.status_code == 302
    assert r.headers["location"] == "https://fallback.example/offers"
    assert await all_clicks(links_stub, with_fb.link_id) == []

    without = await make_link(status=pb.CAMPAIGN_STATUS_PAUSED)
    r = await client.get(f"/c/{without.slug}")
    assert r.status_code == 404

    archived = await make_link(status=pb.CAMPAIGN_STATUS_ARCHIVED, fallback_url="https://fallback.example/a")
    r = await client.get(f"/c/{archived.slug}")
    assert (r.status_code, r.headers["location"]) == (302, "https://fallback.example/a")


async def test_request_parameters_never_choose_the_redirect(client: httpx.AsyncClient, make_link: MakeLink) -> None:
    t = await make_link("https://shop.example/land?cid={click_id}&s1={sub1}")
    evil = "https://evil.example/x"
    for query in [
        f"url={evil}",
        f"redirect={evil}",
        f"destination={evil}&next={evil}&location={evil}",
        "sub1=https%3A%2F%2Fevil.example%2F%0D%0ASet-Cookie%3A%20a%3D1",
        "sub1=%0d%0aLocation:%20https://evil.example",
    ]:
        r = await client.get(f"/c/{t.slug}?{query}")
        assert r.status_code == 302, query
        loc = r.headers["location"]
        assert loc.startswith("https://shop.example/land?cid="), loc
        assert "\r" not in loc and "\n" not in loc
        assert "set-cookie" not in r.headers
        assert urlsplit(loc).netloc == "shop.example"


async def test_oversized_query_is_414(client: httpx.AsyncClient, make_link: MakeLink, gateway: RunningGateway) -> None:
    t = await make_link()
    r = await client.get(f"/c/{t.slug}?sub1=" + "a" * (gateway.settings.max_query_bytes + 1))
    assert r.status_code == 414
    assert r.headers["content-type"].startswith("text/plain")
    assert b"too long" in r.content
    r = await client.get(f"/i/{t.slug}?sub1=" + "a" * (gateway.settings.max_query_bytes + 1))
    assert r.status_code == 414


async def test_over_long_values_are_refused_naming_them_never_cut(
    client: httpx.AsyncClient, make_link: MakeLink, links_stub: links_pb2_grpc.LinksServiceStub
) -> None:
    """Issue 19 item 15: a click whose value is past its limit is refused (400 naming the
    field and the limit); one just within is recorded whole."""
    t = await make_link()
    android = "Mozilla/5.0 (Linux; Android 14; Pixel 8) Mobile"
    ua = {"user-agent": android}
    for path in (f"/c/{t.slug}", f"/i/{t.slug}"):
        for query, field in [
            ("sub1=" + "a" * 257, "sub1"),
            ("clickid=" + "b" * 300, "clickid"),
            ("x" * 65 + "=1", "query"),
            ("&".join(f"p{i}=v" for i in range(65)), "query"),
        ]:
            r = await client.get(f"{path}?{query}", headers=ua)
            assert (r.status_code, r.json()["field"]) == (400, field), (path, query)
            assert "at most" in r.json()["error"]
        r = await client.get(path, headers={"user-agent": android + " x" * 600})
        assert (r.status_code, r.json()["field"]) == (400, "user-agent")
        r = await client.get(path, headers={**ua, "referer": "https://a.example/?" + "q" * 5000})
        assert (r.status_code, r.json()["field"]) == (400, "referer")
        r = await client.get(path, headers={**ua, "referer": "https://a.example/?" + "q" * 9000})
        assert (r.status_code, r.json()["field"]) == (400, "referer")
    # Just within every limit: recorded whole, 30 extra parameters included.
    extra = "&".join(f"p{i}=v{i}" for i in range(30))
    referrer = "https://r.example/" + "r" * 4000
    r = await client.get(f"/c/{t.slug}?sub1={'a' * 256}&{extra}", headers={**ua, "referer": referrer})
    assert r.status_code == 302
    [c] = await all_clicks(links_stub, t.link_id)  # the refused ones left nothing behind
    assert (len(c.sub1), len(c.params), c.referrer) == (256, 30, referrer)


async def test_non_utf8_query_bytes(
    gateway: RunningGateway, make_link: MakeLink, links_stub: links_pb2_grpc.LinksServiceStub
) -> None:
    t = await make_link("https://shop.example/land?cid={click_id}&s1={sub1}")
    # Percent-encoded invalid UTF-8: recorded, decoded leniently.
    request = f"GET /c/{t.slug}?sub1=%FF%FEok&sub2=%C3%28 HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: \xff\xfe\r\n\r\n"
    status, head = await raw_request(gateway.url, request.encode("latin-1"))
    assert status == 302, head
    assert b"\r\nlocation: https://shop.example/land?cid=" in head
    # Raw bytes >= 0x80 in the request line: whatever the HTTP parser decides, never a 500.
    status, head = await raw_request(
        gateway.url, b"GET /c/" + t.slug.encode() + b"?sub1=\xff\xfe\x80 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    )
    assert status in (302, 400), head
    clicks = await all_clicks(links_stub, t.link_id)
    assert len(clicks) == (2 if status == 302 else 1)
    assert all(c.click_id for c in clicks)


async def test_missing_user_agent_and_referer(
    gateway: RunningGateway, make_link: MakeLink, links_stub: links_pb2_grpc.LinksServiceStub
) -> None:
    t = await make_link()
    status, head = await raw_request(gateway.url, f"GET /c/{t.slug} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    assert status == 302, head
    (c,) = await all_clicks(links_stub, t.link_id)
    assert (c.user_agent, c.referrer, c.ip) == ("", "", "127.0.0.1")


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback on this host")
async def test_ipv6_client_recorded(
    gateway: RunningGateway, make_link: MakeLink, links_stub: links_pb2_grpc.LinksServiceStub
) -> None:
    t = await make_link()
    async with httpx.AsyncClient(base_url=gateway.url6) as c6:
        r = await c6.get(f"/c/{t.slug}")
    assert r.status_code == 302
    (c,) = await all_clicks(links_stub, t.link_id)
    assert c.ip == "::1"


async def test_forwarded_for_believed_only_from_trusted_proxies(
    proxied_gateway: RunningGateway,
    gateway: RunningGateway,
    make_link: MakeLink,
    links_stub: links_pb2_grpc.LinksServiceStub,
) -> None:
    t = await make_link()
    async with proxied_gateway.client() as c:
        # client, then a proxy we trust (loopback) appended its hop
        r = await c.get(f"/c/{t.slug}?sub1=proxied", headers={"x-forwarded-for": "2001:db8::7, 127.0.0.5"})
        assert r.status_code == 302
        # a spoofed leftmost entry is ignored: the rightmost untrusted hop wins
        r = await c.get(f"/c/{t.slug}?sub1=spoofed", headers={"x-forwarded-for": "6.6.6.6, 203.0.113.9"})
        assert r.status_code == 302
        r = await c.get(f"/c/{t.slug}?sub1=garbage", headers={"x-forwarded-for": "not-an-ip"})
        assert r.status_code == 302
    async with gateway.client() as c:  # no trusted proxies: the header is ignored
        r = await c.get(f"/c/{t.slug}?sub1=direct", headers={"x-forwarded-for": "198.51.100.1"})
        assert r.status_code == 302
    ips = {c.sub1: c.ip for c in await all_clicks(links_stub, t.link_id)}
    assert ips == {"proxied": "2001:db8::7", "spoofed": "203.0.113.9", "garbage": "127.0.0.1", "direct": "127.0.0.1"}


async def test_head_is_answered_like_get(client: httpx.AsyncClient, make_link: MakeLink) -> None:
    t = await make_link()
    r = await client.head(f"/c/{t.slug}")
    assert r.status_code == 302
    assert r.headers["location"].startswith("https://shop.example/land?cid=")
    assert r.content == b""
    r = await client.head(f"/i/{t.slug}")
    assert (r.status_code, r.headers["content-type"], r.content) == (200, "image/gif", b"")
    r = await client.head("/healthz")
    assert r.status_code == 200


async def test_wrong_method_is_405_and_unknown_path_404(client: httpx.AsyncClient, make_link: MakeLink) -> None:
    t = await make_link()
    cases = [("PUT", f"/c/{t.slug}"), ("PUT", f"/i/{t.slug}"), ("DELETE", "/healthz"), ("POST", "/readyz")]
    for method, path in cases:
        r = await client.request(method, path)
        assert r.status_code == 405, (method, path)
        # POST /c is a beacon (sendBeacon, parallel tracking): recorded like a GET.
        assert r.headers["allow"] == ("GET, HEAD, POST" if path.startswith("/c/") else "GET, HEAD")
    r = await client.get("/nowhere")
    assert r.status_code == 404
    assert r.json() == {"error": "not found"}


async def test_request_id_echoed_or_generated(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz", headers={"x-request-id": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = await client.get("/healthz", headers={"x-request-id": "bad id with spaces"})
    assert r.headers["x-request-id"] != "bad id with spaces"
    assert len(r.headers["x-request-id"]) == 32


# ----- impressions ---------------------------------------------------------------


async def test_impression_answers_gif_and_is_recorded(
    client: httpx.AsyncClient, make_link: MakeLink, links_stub: links_pb2_grpc.LinksServiceStub
) -> None:
    t = await make_link()
    r = await client.get(f"/i/{t.slug}?sub1=banner", headers={"user-agent": "Mozilla/5.0 (iPhone)"})
    assert r.status_code == 200
    assert r.content == GIF
    assert r.content.startswith(b"GIF89a") and len(r.content) == 43
    assert r.headers["content-type"] == "image/gif"
    assert r.headers["cache-control"] == "no-store, no-cache, must-revalidate"
    assert r.headers["pragma"] == "no-cache"
    assert r.headers["expires"] == "0"
    (imp,) = await all_impressions(links_stub, t.link_id)
    assert (imp.sub1, imp.ip) == ("banner", "127.0.0.1")
    assert await all_clicks(links_stub, t.link_id) == []
    r = await client.get("/i/unknownslug")
    assert r.status_code == 404
    r = await client.get("/i/bad.slug")
    assert r.status_code == 404


# ----- probes and documents --------------------------------------------------------


async def test_healthz_readyz_metrics_openapi(client: httpx.AsyncClient, make_link: MakeLink) -> None:
    r = await client.get("/healthz")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})
    r = await client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "checks": {"links": "ok", "ingest": "ok", "attribution": "ok"}}

    t = await make_link()
    assert (await client.get(f"/c/{t.slug}")).status_code == 302
    assert (await client.get("/c/nosuchslug")).status_code == 404
    r = await client.get("/metrics")
    assert r.status_code == 200
    text = r.text
    assert 'clicktrail_gateway_requests_total{method="GET",route="click",status="302"}' in text
    assert 'clicktrail_gateway_requests_total{method="GET",route="click",status="404"}' in text
    assert "clicktrail_gateway_request_seconds_bucket{" in text
    assert 'clicktrail_gateway_batch_size_count{kind="click"}' in text

    r = await client.get("/openapi.json")
    assert r.status_code == 200
    doc = orjson.loads(r.content)
    assert doc["openapi"].startswith("3.1")
    assert {"/c/{slug}", "/i/{slug}", "/v1/events", "/healthz", "/readyz", "/metrics"} <= set(doc["paths"])
    assert "302" in doc["paths"]["/c/{slug}"]["get"]["responses"]


async def test_links_down_gives_503_not_hang(
    gateway_settings: Settings,
    make_link: MakeLink,
) -> None:
    """A links replica the test owns: readiness and clicks follow it."""
    own = await start_service(LINKS_SPEC, gateway_settings, listen="127.0.0.1:0")
    own_running = True
    gw = await start_gateway(dataclasses.replace(gateway_settings, links_addr=own.addr))
    try:
        t = await make_link()
        async with gw.client() as c:
            assert (await c.get("/readyz")).status_code == 200
            assert (await c.get(f"/c/{t.slug}")).status_code == 302

            await own.set_serving(False)
            r = await c.get("/readyz")
            assert r.status_code == 503
            assert r.json()["checks"]["links"] == "down: NOT_SERVING"

            await own.stop(grace=0.5)
            own_running = False
            r = await c.get("/readyz")
            assert r.status_code == 503
            assert r.json()["checks"]["links"].startswith("down: ")
            r = await c.get(f"/c/{t.slug}")
            assert r.status_code == 503
            assert r.headers["content-type"].startswith("text/plain")
            assert b"unavailable" in r.content
            assert (await c.get(f"/i/{t.slug}")).status_code == 503
            assert (await c.get("/healthz")).status_code == 200
    finally:
        await gw.stop()
        if own_running:
            await own.stop(grace=0.5)


@pytest.mark.parametrize(
    ("service", "method", "path", "body"),
    [
        ("links", "GET", "/c/someslug", None),
        ("links", "GET", "/i/someslug", None),
        ("ingest", "POST", "/v1/events", {"events": []}),
        ("attribution", "GET", "/postback?click_id=x&token=ctp_x", None),
    ],
)
async def test_a_silent_service_gets_a_clear_503_within_the_deadline(
    gateway_settings: Settings, service: str, method: str, path: str, body: Any
) -> None:
    """A peer that accepts TCP but never speaks (a hung replica): the gateway
    answers 503 with what to do when the call's deadline passes, never hangs.
    Clicks fail cleanly (nothing recorded, the user may click again) rather than
    redirect without a click row, which would lose the attribution."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    addr = f"127.0.0.1:{sock.getsockname()[1]}"
    gw = await start_gateway(dataclasses.replace(gateway_settings, **{f"{service}_addr": addr}, grpc_deadline_s=0.5))
    try:
        async with gw.client(headers={"X-Api-Key": "cta_000000000000_x"}) as c:
            loop = asyncio.get_running_loop()
            started = loop.time()
            r = await c.request(method, path, json=body)
            assert r.status_code == 503
            assert loop.time() - started < 3
            assert b"unavailable" in r.content
            assert (await c.get("/readyz")).status_code == 503
    finally:
        await gw.stop()
        sock.close()


# ----- load ------------------------------------------------------------------------


async def test_200_concurrent_clicks_all_answered_and_recorded(
    gateway_settings: Settings, make_link: MakeLink, links_stub: links_pb2_grpc.LinksServiceStub
) -> None:
    t = await make_link("https://shop.example/land?cid={click_id}&n={sub2}")
    batches_before = REGISTRY.get_sample_value("clicktrail_gateway_batch_size_count", {"kind": "click"}) or 0
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    # A load test from one address: past the default per-address limit (a burst of 100).
    gateway = await start_gateway(dataclasses.replace(gateway_settings, rate_limit_touches_per_ip=0))
    try:
        async with gateway.client(limits=limits) as c:

            async def one(n: int) -> Any:
                return await c.get(f"/c/{t.slug}?sub1=flood&sub2={n}")

            responses = await asyncio.gather(*(one(n) for n in range(200)))
    finally:
        await gateway.stop()
    assert [r.status_code for r in responses] == [302] * 200
    answered = {parse_qs(urlsplit(r.headers["location"]).query)["cid"][0] for r in responses}
    assert len(answered) == 200
    clicks = await all_clicks(links_stub, t.link_id)
    assert len(clicks) == 200
    assert {c.click_id for c in clicks} == answered
    assert sorted(int(c.sub2) for c in clicks) == list(range(200))
    batches = (
        REGISTRY.get_sample_value("clicktrail_gateway_batch_size_count", {"kind": "click"}) or 0
    ) - batches_before
    assert batches < 200  # concurrent clicks shared RecordClicks calls


async def test_graceful_shutdown_answers_in_flight_clicks(
    gateway_settings: Settings, make_link: MakeLink, links_stub: links_pb2_grpc.LinksServiceStub
) -> None:
    """Stopping under load: every click that got its 302 has its row, none gets a 5xx."""
    t = await make_link("https://shop.example/land?cid={click_id}")
    # (uvicorn may keep a connection accepted during its shutdown open until this timeout)
    gw = await start_gateway(gateway_settings, graceful_s=2)
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with gw.client(limits=limits) as c:
        assert (await c.get("/healthz")).status_code == 200  # the client is warm
        tasks = [asyncio.create_task(c.get(f"/c/{t.slug}?sub2={n}")) for n in range(100)]
        clicks = gw.app.clicks
        assert clicks is not None
        for _ in range(1000):  # stop while batches are in flight
            if clicks.inflight:
                break
            await asyncio.sleep(0.001)
        await gw.stop()
        done = await asyncio.gather(*tasks, return_exceptions=True)
    answered = [r for r in done if isinstance(r, httpx.Response)]
    assert answered, "nothing was answered before the stop"
    assert {r.status_code for r in answered} <= {302}
    ids = {parse_qs(urlsplit(r.headers["location"]).query)["cid"][0] for r in answered}
    stored = {c.click_id for c in await all_clicks(links_stub, t.link_id)}
    assert ids <= stored
    assert gw.app.clicks is not None and gw.app.clicks.inflight == 0


def test_the_gateway_will_not_start_without_its_token() -> None:
    """Without CLICKTRAIL_GATEWAY_TOKEN links refuses every click while /readyz says ready:
    the gateway refuses to start, naming the variable."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "CLICKTRAIL_GATEWAY_TOKEN"}
    done = subprocess.run([sys.executable, "-m", "gateway"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "CLICKTRAIL_GATEWAY_TOKEN is not set" in done.stderr


def test_server_config_takes_host_and_port_overrides(settings: Settings) -> None:
    """The bench's bare 302 server and the tests override where uvicorn listens."""
    from gateway.__main__ import server_config

    config = server_config(settings, host="127.0.0.9", port=1234, loop="none")
    assert (config.host, config.port, config.loop, config.backlog) == ("127.0.0.9", 1234, "none", 4096)
