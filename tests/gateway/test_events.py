"""POST /v1/events through the real gateway and the real ingest service."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import gzip
import hashlib
import ipaddress
import uuid
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from clicktrail.ingest.v1 import ingest_pb2 as ipb
from clicktrail.links.v1 import links_pb2 as pb

from gateway.event_routes import MAX_EVENTS_READS_PER_ADDRESS
from tests.gateway.conftest import RunningGateway, start_gateway
from tests.support.wait import wait_until


def event(**kw: Any) -> dict[str, Any]:
    base = {
        "uuid": str(uuid.uuid4()), "event": "track", "timestamp": dt.datetime.now(dt.UTC).isoformat(),
        "user_id": "u-1", "session_id": "s-1", "action": "purchase", "action_properties": {"sku": "gems"},
    }  # fmt: skip
    base.update(kw)
    return base


@pytest.fixture
async def app_key(links_stub) -> tuple[str, str]:
    resp = await links_stub.CreateApp(pb.CreateAppRequest(app=pb.App(name="Web", platform=pb.PLATFORM_WEB)))
    return resp.app.app_id, resp.app_key


async def post(client: httpx.AsyncClient, key: str, body: Any, **headers: str) -> httpx.Response:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return await client.post("/v1/events", content=raw, headers={"X-Api-Key": key, **headers})


async def test_batch_answered_per_event_and_stored(client, app_key, ingest_stub):
    app_id, key = app_key
    good, dup = event(), event()
    r = await post(client, key, {"events": [good, event(event="nope"), dup, dup]}, **{"User-Agent": "Game/1.0"})
    assert r.status_code == 202
    body = r.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 1, 1)
    assert [x["status"] for x in body["results"]] == ["accepted", "rejected", "accepted", "duplicate"]
    assert body["results"][1]["field"] == "event" and "one of" in body["results"][1]["reason"]
    again = (await post(client, key, {"events": [good]})).json()
    assert again["results"][0]["status"] == "duplicate"
    stored = (await ingest_stub.ListEvents(ipb.ListEventsRequest(app_id=app_id))).events
    assert sorted(e.uuid for e in stored) == sorted([good["uuid"], dup["uuid"]])
    assert all(e.ip == "127.0.0.1" and e.user_agent == "Game/1.0" for e in stored)


async def test_gzip_body(client, app_key):
    r = await post(
        client, app_key[1], gzip.compress(orjson.dumps({"events": [event()]})), **{"Content-Encoding": "gzip"}
    )
    assert r.status_code == 202 and r.json()["accepted"] == 1
    r = await post(client, app_key[1], b"not gzip", **{"Content-Encoding": "gzip"})
    assert r.status_code == 400 and "gzip" in r.json()["error"]
    r = await post(client, app_key[1], b"{}", **{"Content-Encoding": "br"})
    assert r.status_code == 415


async def test_bad_requests_get_clear_answers(client, app_key, links_stub):
    _, key = app_key
    r = await post(client, key, b"{not json")
    assert r.status_code == 400 and "JSON" in r.json()["error"]
    r = await post(client, key, {"events": "many"})
    assert r.status_code == 400 and r.json()["field"] == "events"
    r = await client.post("/v1/events", content=b'{"events": []}')
    assert r.status_code == 401 and "X-Api-Key" in r.json()["error"]
    r = await post(client, "cta_000000000000_forged", {"events": [event()]})
    assert r.status_code == 401
    r = await post(client, key, {"events": [event() for _ in range(10_000)]})
    assert r.status_code == 413 and "1000" in r.json()["error"]
    r = await post(client, key, b" " * (9 * 1024 * 1024))
    assert r.status_code == 413
    r = await client.get("/v1/events", headers={"X-Api-Key": key})
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    other = await links_stub.CreateApp(pb.CreateAppRequest(app=pb.App(name="Other", platform=pb.PLATFORM_WEB)))
    r = await post(client, key, {"events": [event(app_id=other.app.app_id), event()]})
    assert r.status_code == 202
    assert [x["status"] for x in r.json()["results"]] == ["rejected", "accepted"]
    assert r.json()["results"][0]["field"] == "app_id"


async def test_ingest_down_is_503_and_resending_is_safe(gateway_settings, app_key, ingest_server):
    gw: RunningGateway = await start_gateway(gateway_settings)
    try:
        async with gw.client() as c:
            e = event()
            await ingest_server.server.stop(0)
            r = await post(c, app_key[1], {"events": [e]})
            assert r.status_code == 503 and "resend" in r.json()["error"]
    finally:
        await gw.stop()


async def test_app_key_events_take_the_connections_ip_and_user_agent(proxied_gateway, app_key, account, ingest_stub):
    """An app key is public: what its events claim is kept apart (the gateway vouches to ingest
    for the client address it saw, here through a trusted proxy); the account API key is trusted."""
    app_id, key = app_key
    forged = event(ip="81.2.69.77", user_agent="Forged/1.0")
    s2s = event(ip="81.2.69.78", user_agent="Phone/1.0", app_id=app_id)
    async with proxied_gateway.client(headers={"X-Forwarded-For": "203.0.113.9"}) as http:
        r = await post(http, key, {"events": [forged]}, **{"User-Agent": "Game/2.0"})
        assert r.status_code == 202 and r.json()["accepted"] == 1
        r = await post(http, account.api_key, {"events": [s2s]}, **{"User-Agent": "backend/1.0"})
        assert r.status_code == 202 and r.json()["accepted"] == 1
    got = {e.uuid: e for e in (await ingest_stub.ListEvents(ipb.ListEventsRequest(app_id=app_id))).events}
    e = got[forged["uuid"]]
    claims = ("81.2.69.77", "Forged/1.0")
    assert (e.ip, e.user_agent, e.claimed_ip, e.claimed_user_agent) == ("203.0.113.9", "Game/2.0", *claims)
    e = got[s2s["uuid"]]
    assert (e.ip, e.user_agent, e.claimed_ip, e.claimed_user_agent) == ("81.2.69.78", "Phone/1.0", "", "")


async def _send_head(url: str, key: str, length: int, *extra: str, body: bytes = b"") -> tuple[Any, Any]:
    """Opens a connection and sends a /v1/events request's headers (and ``body``, which
    may be shorter than ``length``: the rest never comes)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    head = ["POST /v1/events HTTP/1.1", "Host: gw", f"Content-Length: {length}", *extra]
    if key:
        head.append(f"X-Api-Key: {key}")
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    await writer.drain()
    return reader, writer


async def _answer(reader: Any) -> tuple[int, bytes]:
    """The status and the whole response, read until the gateway closes the connection
    (the bound only turns a hang into a failure)."""
    data = await asyncio.wait_for(reader.read(), 5)
    return int(data.split(b" ", 2)[1]), data


async def test_the_key_is_checked_before_the_body_is_read(gateway, app_key):
    """A missing, malformed or wrong key is refused with 401 while the body is still unsent;
    with Expect: 100-continue the body is never even asked for."""
    for key, extra in (("", ()), ("junk", ()), ("cta_000000000000_forged", ()),
                       ("cta_000000000000_forged", ("Expect: 100-continue",))):  # fmt: skip
        reader, writer = await _send_head(gateway.url, key, 1_000_000, *extra)
        status_line = await asyncio.wait_for(reader.readline(), 5)  # the bound turns a hang into a failure
        writer.close()
        assert status_line.startswith(b"HTTP/1.1 401"), status_line
    # The forged key was asked of ingest once, then refused from the gateway's short negative cache.
    assert list(gateway.app._events_refused) == [hashlib.sha256(b"cta_000000000000_forged").digest()]
    # A good key with Expect: 100-continue is asked for its body.
    body = orjson.dumps({"events": [event()]})
    reader, writer = await _send_head(gateway.url, app_key[1], len(body), "Expect: 100-continue")
    assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"HTTP/1.1 100")
    writer.write(body)
    await reader.readline()
    assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"HTTP/1.1 202")
    writer.close()


@pytest.fixture
async def strict_gateway(gateway_settings):
    gw = await start_gateway(dataclasses.replace(
        gateway_settings, gateway_body_timeout_s=0.3, gateway_events_concurrency=2,
        gateway_events_concurrency_per_key=1,
    ))  # fmt: skip
    yield gw
    await gw.stop()


async def test_a_body_that_does_not_arrive_in_time_is_408(strict_gateway, app_key):
    reader, writer = await _send_head(strict_gateway.url, app_key[1], 1000, body=b'{"events": [')
    status, data = await _answer(reader)
    writer.close()
    assert status == 408 and b"did not arrive within 0.3 s" in data and b"connection: close" in data.lower()


async def test_event_batches_in_flight_are_capped_per_key_and_in_all(
    strict_gateway, links_stub, app_key, account, db_url
):
    gw = strict_gateway
    other = (await links_stub.CreateApp(pb.CreateAppRequest(app=pb.App(name="Two", platform=pb.PLATFORM_WEB)))).app_key

    async def in_flight(n: int) -> None:
        await wait_until(lambda: gw.app._events_inflight == n, f"{n} event batches in flight", every_s=0.01)

    # Ingest's writes wait behind a lock: the batches forwarded stay in flight.
    conn = await asyncpg.connect(db_url)
    tx = conn.transaction()
    await tx.start()
    await conn.execute("LOCK TABLE ingest.events IN ACCESS EXCLUSIVE MODE")
    try:
        async with gw.client() as http:
            first = asyncio.create_task(post(http, app_key[1], {"events": [event()]}))
            await in_flight(1)
            r = await post(http, app_key[1], {"events": [event()]})  # this key's one slot is taken
            assert r.status_code == 503 and r.headers["retry-after"] == "1" and "in flight" in r.json()["error"]
            second = asyncio.create_task(post(http, other, {"events": [event()]}))
            await in_flight(2)
            r = await post(http, account.api_key, {"events": [event(app_id=app_key[0])]})  # all (2) slots taken
            assert r.status_code == 503
            await tx.rollback()  # the writes go through, the slots free
            assert [(await t).status_code for t in (first, second)] == [202, 202]
            await in_flight(0)
            r = await post(http, account.api_key, {"events": [event(app_id=app_key[0])]})
            assert r.status_code == 202
    finally:
        await conn.close()


async def test_stalled_uploads_hold_no_one_elses_slots(gateway_settings, app_key, account):
    """A client that stalls its uploads (app keys are public) holds only its own address's
    reading slots: another address's batch is still taken (the in-flight caps count only
    batches being forwarded; before, 2 stalled uploads here made every other batch 503)."""
    gw = await start_gateway(dataclasses.replace(
        gateway_settings, gateway_body_timeout_s=30, gateway_events_concurrency=2,
        trusted_proxies=(ipaddress.ip_network("127.0.0.0/8"),),
    ))  # fmt: skip
    writers = []
    try:
        body = orjson.dumps({"events": [event()]})
        for _ in range(MAX_EVENTS_READS_PER_ADDRESS):
            _, w = await _send_head(gw.url, app_key[1], len(body), "X-Forwarded-For: 203.0.113.7", body=body[:5])
            writers.append(w)
        await wait_until(
            lambda: gw.app._events_reading.get("203.0.113.7") == MAX_EVENTS_READS_PER_ADDRESS,
            "the stalled uploads being read",
            every_s=0.01,
        )
        async with gw.client() as http:
            r = await post(http, app_key[1], {"events": [event()]}, **{"X-Forwarded-For": "203.0.113.7"})
            assert r.status_code == 503 and "from one address" in r.json()["error"]
            r = await post(http, app_key[1], {"events": [event()]}, **{"X-Forwarded-For": "198.51.100.9"})
            assert r.status_code == 202, r.text
    finally:
        for w in writers:
            w.close()
        await gw.stop()
