"""POST /v1/events through the real gateway and the real ingest service."""

from __future__ import annotations

import datetime as dt
import gzip
import uuid
from typing import Any

import httpx
import orjson
import pytest
from clicktrail.ingest.v1 import ingest_pb2 as ipb
from clicktrail.links.v1 import links_pb2 as pb

from tests.gateway.conftest import RunningGateway, start_gateway


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
