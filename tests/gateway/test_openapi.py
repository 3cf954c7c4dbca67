"""/openapi.json is generated from the route table (gateway/routes.py): every
route the gateway serves is in it, every route in it is served, and real
answers match the documented models."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import orjson
from clicktrail.links.v1 import links_pb2 as pb

from gateway import schemas
from gateway.app import SERVED
from gateway.openapi import DOCUMENT, build
from gateway.routes import ROUTES

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_the_document_is_the_route_table() -> None:
    assert DOCUMENT == build()
    assert list(DOCUMENT["paths"]) == [r.path for r in ROUTES]
    for route in ROUTES:
        assert sorted(DOCUMENT["paths"][route.path]) == sorted(m.lower() for m in route.methods if m != "HEAD")
    # What gateway/app.py dispatches on (by prefix or exactly) is the table's, nothing more.
    assert sorted(SERVED) == sorted(r.prefix or r.path for r in ROUTES)
    schemas_ = DOCUMENT["components"]["schemas"]
    for ref in _refs(DOCUMENT["paths"]) + _refs(schemas_):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas_, ref
    orjson.dumps(DOCUMENT)  # serializable as it is served


def test_enums_come_from_the_protos() -> None:
    event = DOCUMENT["components"]["schemas"]["Event"]["properties"]["event"]
    assert event["enum"] == ["install", "identify", "track", "screen", "heartbeat"]
    platform = DOCUMENT["components"]["schemas"]["Device"]["properties"]["platform"]
    assert platform["enum"] == ["ios", "android", "web", "other"]
    status = DOCUMENT["components"]["schemas"]["PostbackReply"]["properties"]["status"]
    assert status["enum"] == ["pending", "approved", "rejected"]


def _concrete(path: str) -> str:
    return path.replace("{slug}", "no-such-slug")


async def test_every_documented_route_is_served_and_nothing_else(client: httpx.AsyncClient) -> None:
    unknown = {"error": "not found"}
    for route in ROUTES:
        url = _concrete(route.path)
        served = set(route.methods)
        for method in METHODS:
            r = await client.request(method, url)
            if method == "HEAD" and method in served:  # no body: answered as GET is
                assert r.status_code == (await client.get(url)).status_code, url
            elif method in served:
                assert r.status_code not in (404, 405) or r.json() != unknown, (method, url, r.status_code, r.text)
                documented = DOCUMENT["paths"][route.path][method.lower()]["responses"]
                assert str(r.status_code) in documented, (method, url, r.status_code)
            else:
                assert r.status_code == 405, (method, url, r.status_code)
                assert r.headers["allow"]
    for path in ("/", "/c", "/v1/events/x", "/postbacks", "/health", "/openapi.yaml", "/x/slug"):
        r = await client.get(path)
        assert (r.status_code, r.json()) == (404, unknown), path


async def test_answers_match_their_models(client: httpx.AsyncClient, links_stub: Any) -> None:
    schemas.Status.model_validate_json((await client.get("/healthz")).content)
    schemas.Readiness.model_validate_json((await client.get("/readyz")).content)
    schemas.Error.model_validate_json((await client.get("/c/no-such-slug")).content)
    app = await links_stub.CreateApp(pb.CreateAppRequest(app=pb.App(name="Web", platform=pb.PLATFORM_WEB)))
    event = {
        "uuid": str(uuid.uuid4()), "event": "track", "timestamp": dt.datetime.now(dt.UTC).isoformat(),
        "user_id": "u-1", "session_id": "s-1", "action": "purchase",
    }  # fmt: skip
    body = {"events": [event, {**event, "event": "nope"}]}
    schemas.EventsBody.model_validate(body | {"events": [event]})
    r = await client.post("/v1/events", content=orjson.dumps(body), headers={"X-Api-Key": app.app_key})
    assert r.status_code == 202
    reply = schemas.EventsReply.model_validate_json(r.content)
    assert [x.status for x in reply.results] == ["accepted", "rejected"]
