"""GET /v1/skan/schema through the real gateway, attribution and links: the SDK
gets its app's conversion-value schema with the app key; a wrong key is 401, an
app without a schema 404, another method 405; the ETag revalidates.

Value model: Apple's fine (0-63) / coarse (low, medium, high) values and
lockWindow, https://developer.apple.com/documentation/storekit/skadnetwork/updatepostbackconversionvalue(_:coarsevalue:lockwindow:completionhandler:);
windows 0-2 / 3-7 / 8-35 days (48 / 168 / 840 hours), https://help.airbridge.io/en/guides/skadnetwork-4
"""

from __future__ import annotations

import orjson
import pytest
from clicktrail.attribution.v1 import skan_schema_pb2 as pb
from clicktrail.attribution.v1 import skan_schema_pb2_grpc as pb_grpc
from clicktrail.links.v1 import links_pb2 as lpb

DOC = {
    "currency": "USD",
    "fine_values": [
        {"value": 20, "revenue_min": "10", "events": [{"name": "purchase", "count": 2}]},
        {"value": 0},
        {"value": 1, "value_to": 19, "revenue_min": "0.5", "revenue_max": "10", "events": ["purchase"]},
    ],
    "coarse_values": [
        {"postback": 1, "value": "low"},
        {"postback": 1, "value": "high", "revenue_min": "10"},
        {"postback": 3, "value": "medium", "events": [{"name": "level_10"}]},
    ],
    "lock_windows": [{"postback": 1, "lock_after_hours": 24}, {"postback": 2, "lock_on_event": "purchase"}],
}


async def ios_app(links_stub, name: str) -> lpb.CreateAppResponse:
    app = lpb.App(name=name, platform=lpb.PLATFORM_IOS, bundle_id=f"com.acme.{name.lower()}")
    return await links_stub.CreateApp(lpb.CreateAppRequest(app=app))


@pytest.fixture
def skan(attribution_server, account, channels):
    return pb_grpc.SkanSchemaServiceStub(channels(attribution_server.addr, token=account.api_key))


async def test_the_sdk_gets_its_apps_schema(client, links_stub, skan):
    app = await ios_app(links_stub, "Game")
    other = await ios_app(links_stub, "Other")
    set_ = await skan.UpdateSkanSchema(
        pb.UpdateSkanSchemaRequest(app_id=app.app.app_id, schema_json=orjson.dumps(DOC).decode())
    )
    await skan.UpdateSkanSchema(
        pb.UpdateSkanSchemaRequest(
            app_id=other.app.app_id, schema_json=orjson.dumps(DOC | {"currency": "EUR"}).decode()
        )
    )
    r = await client.get("/v1/skan/schema", headers={"X-Api-Key": app.app_key})
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "private, max-age=300"
    assert r.headers["etag"] == '"v1"'
    body = r.json()
    assert body["app_id"] == app.app.app_id and body["version"] == 1 and body["currency"] == "USD"
    assert body["update_time"] == set_.schema.create_time.ToJsonString()
    one, two, three = body["postbacks"]
    assert (one["postback"], one["window_start_hours"], one["window_end_hours"]) == (1, 0, 48)
    assert (one["lock_after_hours"], one["lock_on_event"]) == (24, None)
    assert (two["lock_after_hours"], two["lock_on_event"]) == (None, "purchase")
    assert (three["window_start_hours"], three["window_end_hours"], three["lock_after_hours"]) == (168, 840, None)
    # Fine values in value order, each with its conditions.
    assert one["fine_values"] == [
        {"value": 0, "value_to": 0, "events": []},
        {"value": 1, "value_to": 19, "revenue_min": "0.5", "revenue_max": "10",
         "events": [{"name": "purchase", "count": 1}]},
        {"value": 20, "value_to": 20, "revenue_min": "10", "events": [{"name": "purchase", "count": 2}]},
    ]  # fmt: skip
    # Coarse values in the order the SDK tries them (high first); only postback 1 has fine values.
    assert [c["value"] for c in one["coarse_values"]] == ["high", "low"]
    assert two["coarse_values"] == [] and "fine_values" not in two
    assert three["coarse_values"] == [{"value": "medium", "events": [{"name": "level_10", "count": 1}]}]

    # Revalidation: the same version is a 304 without a body.
    again = await client.get("/v1/skan/schema", headers={"X-Api-Key": app.app_key, "If-None-Match": '"v1"'})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == '"v1"'
    assert (
        await client.get("/v1/skan/schema", headers={"X-Api-Key": app.app_key, "If-None-Match": '"v0"'})
    ).status_code == 200
    head = await client.head("/v1/skan/schema", headers={"X-Api-Key": app.app_key})
    assert head.status_code == 200 and head.content == b""

    # The other app's key gets the other app's schema.
    theirs = (await client.get("/v1/skan/schema", headers={"X-Api-Key": other.app_key})).json()
    assert theirs["app_id"] == other.app.app_id and theirs["currency"] == "EUR"


async def test_keys_are_checked(client, links_stub, account):
    app = await ios_app(links_stub, "Game")
    for headers, why in [
        ({}, "missing X-Api-Key"),
        ({"X-Api-Key": "nonsense"}, "invalid app key"),
        ({"X-Api-Key": account.api_key}, "invalid app key"),  # an account key is not an app key
        ({"X-Api-Key": app.app_key[:-3] + "xyz"}, "invalid app key"),  # forged secret
        ({"X-Api-Key": "cta_" + "A" * 12 + "_" + "b" * 30}, "invalid app key"),  # unknown key id
    ]:
        r = await client.get("/v1/skan/schema", headers=headers)
        assert r.status_code == 401, (headers, r.status_code, r.text)
        assert why in r.json()["error"]


async def test_an_app_without_a_schema_is_404_with_the_reason(client, links_stub):
    app = await ios_app(links_stub, "Game")
    r = await client.get("/v1/skan/schema", headers={"X-Api-Key": app.app_key})
    assert r.status_code == 404
    assert "no SKAN conversion-value schema" in r.json()["error"] and app.app.app_id in r.json()["error"]
    assert "cache-control" not in r.headers or "max-age=300" not in r.headers["cache-control"]


async def test_other_methods_are_405(client, links_stub):
    app = await ios_app(links_stub, "Game")
    r = await client.post("/v1/skan/schema", headers={"X-Api-Key": app.app_key}, content=b"{}")
    assert r.status_code == 405 and "GET" in r.headers["allow"]
