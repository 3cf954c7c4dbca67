"""SKAdNetwork / AdAttributionKit postbacks through the real gateway (uvicorn) in
front of the real links and attribution services: Apple's developer copies on
/.well-known/... (Apple's published postbacks, verified with Apple's keys), the
network's forwarded copy on /skan/postback with the postback token, a replay and
the other copy answered "duplicate" with nothing stored twice, a forged postback
refused 400 "signature", bad input 400 naming the field, no matching app 404, a
custom tracking domain's developer copies going to its account.

Apple's formats and the test vectors' sources: tests/services/attribution/skan_vectors.py
(https://developer.apple.com/documentation/storekit/verifying-an-install-validation-postback,
https://developer.apple.com/documentation/adattributionkit/verifying-a-postback)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from clicktrail.attribution.v1 import skan_pb2 as spb
from clicktrail.attribution.v1 import skan_pb2_grpc
from clicktrail.links.v1 import affiliate_pb2 as apb
from clicktrail.links.v1 import affiliate_pb2_grpc, links_pb2_grpc
from clicktrail.links.v1 import links_pb2 as pb

from services.attribution import skan_verify
from tests.services.attribution.skan_vectors import V2_0, V3_0_WIN, V4_0_FINE, TestSigner, forged

SKAN = "/.well-known/skadnetwork/report-attribution/"
AAK = "/.well-known/appattribution/report-attribution/"
STORE_APP = "525463029"


async def make_app(links_server: Any, channels: Any, api_key: str, apple_app_id: str = STORE_APP) -> str:
    links = links_pb2_grpc.LinksServiceStub(channels(links_server.addr, token=api_key))
    app = pb.App(name="Game", platform=pb.PLATFORM_IOS, bundle_id="com.acme.game", apple_app_id=apple_app_id)
    return str((await links.CreateApp(pb.CreateAppRequest(app=app))).app.app_id)


async def stored(attribution_server: Any, channels: Any, api_key: str) -> list[spb.SkanPostback]:
    stub = skan_pb2_grpc.SkanServiceStub(channels(attribution_server.addr, token=api_key))
    return list((await stub.ListSkanPostbacks(spb.ListSkanPostbacksRequest(page_size=100))).postbacks)


async def test_developer_copy_replay_and_network_copy(gateway, links_server, attribution_server, channels, account):
    app_id = await make_app(links_server, channels, account.api_key)
    async with gateway.client() as c:
        r = await c.post(SKAN, content=orjson.dumps(V4_0_FINE), headers={"content-type": "application/json"})
        assert r.status_code == 200, r.text
        first = r.json()
        assert first["status"] == "stored" and first["transaction_id"] == V4_0_FINE["transaction-id"]
        assert (first["kind"], first["version"], first["installs"], first["campaign_id"]) == (
            "skadnetwork", "4.0", 1, "")  # fmt: skip
        # Apple retries until it gets a 200: the replay is a duplicate, the path without "/" too.
        r = await c.post(SKAN.rstrip("/"), content=orjson.dumps(V4_0_FINE))
        assert r.status_code == 200 and r.json()["status"] == "duplicate"
        assert r.json()["postback_id"] == first["postback_id"]
        # The network forwards its copy with the account's postback token: the same row.
        r = await c.post(f"/skan/postback?token={account.postback_token}", content=orjson.dumps(V4_0_FINE))
        assert r.status_code == 200 and r.json()["status"] == "duplicate"
        r = await c.post("/skan/postback", content=orjson.dumps(V3_0_WIN),
                         headers={"x-postback-token": account.postback_token})  # fmt: skip
        assert r.status_code == 200 and r.json()["status"] == "stored" and r.json()["version"] == "3.0"
    rows = await stored(attribution_server, channels, account.api_key)
    assert sorted(p.transaction_id for p in rows) == sorted([V4_0_FINE["transaction-id"], V3_0_WIN["transaction-id"]])
    by_tx = {p.transaction_id: p for p in rows}
    assert by_tx[V4_0_FINE["transaction-id"]].received_via == spb.SKAN_CHANNEL_DEVELOPER_COPY
    assert by_tx[V3_0_WIN["transaction-id"]].received_via == spb.SKAN_CHANNEL_NETWORK
    assert {p.app_id for p in rows} == {app_id}


async def test_refusals(gateway, links_server, attribution_server, channels, account):
    await make_app(links_server, channels, account.api_key)
    async with gateway.client() as c:
        # One signed field changed: Apple's signature fails.
        r = await c.post(SKAN, content=orjson.dumps(forged(V4_0_FINE, app_id=525463030)))
        assert r.status_code == 400 and r.json()["field"] == "signature", r.text
        r = await c.post(SKAN, content=b"{not json")
        assert (r.status_code, r.json()["field"]) == (400, "body")
        r = await c.post(SKAN, content=b"")
        assert (r.status_code, r.json()["field"]) == (400, "body")
        missing = {k: v for k, v in V4_0_FINE.items() if k != "source-identifier"}
        r = await c.post(SKAN, content=orjson.dumps(missing))
        assert (r.status_code, r.json()["field"]) == (400, "source-identifier")
        assert "required" in r.json()["error"]
        r = await c.get(SKAN)
        assert r.status_code == 405 and r.headers["allow"] == "POST"
        # The network copy needs the account's token.
        r = await c.post("/skan/postback", content=orjson.dumps(V4_0_FINE))
        assert r.status_code == 401
        r = await c.post("/skan/postback?token=ctp_nope_nope", content=orjson.dumps(V4_0_FINE))
        assert r.status_code == 401
        # No app has the App Store id of this (real, 2.0) postback.
        r = await c.post(SKAN, content=orjson.dumps(V2_0))
        assert r.status_code == 404 and "1176027022" in r.json()["error"]
    assert await stored(attribution_server, channels, account.api_key) == []


async def test_adattributionkit_copy(
    gateway, links_server, attribution_server, channels, account, monkeypatch: pytest.MonkeyPatch
):
    await make_app(links_server, channels, account.api_key)
    signer = TestSigner()  # stands in for Apple's production key (the gateway and services run in this process)
    monkeypatch.setitem(skan_verify.AAK_KEYS, skan_verify.AAK_PRODUCTION_KID, signer.public_b64)
    body = signer.aak(source_identifier="5239", postback_sequence_index=0)
    async with gateway.client() as c:
        r = await c.post(AAK, content=orjson.dumps(body))
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["kind"], r.json()["installs"]) == ("stored", "adattributionkit", 1)
        r = await c.post(AAK.rstrip("/"), content=orjson.dumps(body))
        assert r.json()["status"] == "duplicate"
        # A JWS whose payload was changed after signing.
        head, _payload, sig = body["jws-string"].split(".")
        other = signer.aak(source_identifier="1111")["jws-string"].split(".")[1]
        r = await c.post(AAK, content=orjson.dumps({**body, "jws-string": f"{head}.{other}.{sig}"}))
        assert (r.status_code, r.json()["field"]) == (400, "signature")
    rows = await stored(attribution_server, channels, account.api_key)
    assert [(p.kind, p.source_identifier, p.fine_value) for p in rows] == [(spb.SKAN_KIND_ADATTRIBUTIONKIT, "5239", 42)]


async def test_custom_domain_copies_go_to_its_account(
    gateway, links_server, attribution_server, channels, account, new_account
):
    await make_app(links_server, channels, account.api_key)
    other = await new_account("Other Co")
    await make_app(links_server, channels, other.api_key)
    affiliate = affiliate_pb2_grpc.AffiliateServiceStub(channels(links_server.addr, token=other.api_key))
    await affiliate.CreateDomain(apb.CreateDomainRequest(domain=apb.Domain(name="go.other.example")))
    async with gateway.client() as c:
        # Two accounts' apps have the App Store id: the tracker's own host cannot tell.
        r = await c.post(SKAN, content=orjson.dumps(V4_0_FINE))
        assert r.status_code == 404 and "custom tracking domain" in r.json()["error"]
        r = await c.post(SKAN, content=orjson.dumps(V4_0_FINE), headers={"host": "go.other.example"})
        assert r.status_code == 200 and r.json()["status"] == "stored", r.text
    assert [p.transaction_id for p in await stored(attribution_server, channels, other.api_key)] == [
        V4_0_FINE["transaction-id"]
    ]
    assert await stored(attribution_server, channels, account.api_key) == []


async def test_concurrent_postbacks_are_each_answered_on_their_own(
    gateway, links_server, attribution_server, channels, account
):
    """Postbacks that arrive together go to attribution in one BatchRecordSkanPostbacks call
    (gateway/skan_routes.py): a forged one, one with a bad token, one for an unknown app and
    a replay in the same moment each get their own answer, and the valid ones are stored once."""
    import asyncio

    await make_app(links_server, channels, account.api_key)
    token = f"/skan/postback?token={account.postback_token}"
    bad = "/skan/postback?token=ctp_x_y"
    posts = [
        (SKAN, V4_0_FINE), (token, V3_0_WIN), (SKAN, forged(V4_0_FINE, source_identifier="5240")), (bad, V3_0_WIN),
        (SKAN, V2_0), (SKAN, V4_0_FINE), (token, V4_0_FINE),
    ]  # fmt: skip
    async with gateway.client() as c:
        answers = await asyncio.gather(*(c.post(path, content=orjson.dumps(body)) for path, body in posts))
    got = [(r.status_code, r.json().get("status") or r.json().get("field", "")) for r in answers]
    assert got[2] == (400, "signature") and got[3][0] == 401 and got[4][0] == 404, got
    assert got[1] == (200, "stored"), got
    # V4_0_FINE three times at once: stored once, the other two duplicates of that row.
    fine = [got[0], got[5], got[6]]
    assert sorted(fine) == [(200, "duplicate"), (200, "duplicate"), (200, "stored")], got
    assert len({answers[i].json()["postback_id"] for i in (0, 5, 6)}) == 1
    rows = await stored(attribution_server, channels, account.api_key)
    assert sorted(p.transaction_id for p in rows) == sorted([V4_0_FINE["transaction-id"], V3_0_WIN["transaction-id"]])
