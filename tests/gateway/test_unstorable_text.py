"""Text Postgres cannot store (U+0000; a lone UTF-16 surrogate) at the public entry
points, over real HTTP (libs/text.py): passthrough values are cleaned and the
postback or click still recorded; structured fields are refused naming the field;
one bad item never costs the rest of a batch or a group commit."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from urllib.parse import parse_qs, urlsplit

import orjson
from clicktrail.attribution.v1 import attribution_pb2 as apb
from clicktrail.ingest.v1 import ingest_pb2 as ipb
from clicktrail.links.v1 import links_pb2 as lpb

from tests.gateway.conftest import all_clicks
from tests.gateway.test_postback import attribution, click  # noqa: F401  (the attribution fixture)


async def test_a_nul_in_one_postback_of_a_group_costs_no_other(client, make_link, account, attribution):  # noqa: F811
    t = await make_link()
    cids = [await click(client, t.slug) for _ in range(6)]
    tok = account.postback_token
    urls = [f"/postback?click_id={c}&payout=1&txid=T{i}&token={tok}" for i, c in enumerate(cids)]
    urls[2] += "&aff=x%00y&k%00ey=1"  # passthrough parameters: cleaned, the postback is recorded
    replies = await asyncio.gather(*(client.get(u) for u in urls))
    assert [(r.status_code, r.json()["created"]) for r in replies] == [(200, True)] * 6, [r.text for r in replies]
    # A NUL in a structured field is refused naming it, and logged like any refusal.
    r = await client.get(f"/postback?click_id={cids[3]}%00&token={tok}")
    assert (r.status_code, r.json()["field"]) == (400, "click_id"), r.text
    r = await client.get(f"/postback?click_id={cids[3]}&txid=a%00b&token={tok}")
    assert (r.status_code, r.json()["field"]) == (400, "txid"), r.text
    # A token no header can carry (gRPC metadata refuses it): 401, not a 500.
    r = await client.get(f"/postback?click_id={cids[3]}&token={tok}%00")
    assert r.status_code == 401, r.text
    # A JSON body: a NUL in a key, a lone surrogate in a value (orjson alone refuses the whole body).
    body = b'{"click_id": "%s", "txid": "J1", "sub\\u0000x": "1", "note": "a\\ud800b"}' % cids[4].encode()
    r = await client.post("/postback", content=body,
                          headers={"X-Postback-Token": tok, "content-type": "application/json"})  # fmt: skip
    assert (r.status_code, r.json()["created"]) == (200, True), r.text
    # Refusals that echo a bad key: a lone surrogate key holding an object (JSON), a NUL key
    # with a value past its limit: 400 naming the (cleaned) key and logged, never a 500 / 503.
    body = b'{"click_id": "%s", "a\\ud800": {"x": 1}}' % cids[5].encode()
    r = await client.post("/postback", content=body,
                          headers={"X-Postback-Token": tok, "content-type": "application/json"})  # fmt: skip
    assert (r.status_code, r.json()["field"]) == (400, "a\ufffd"), r.text
    r = await client.get(f"/postback?click_id={cids[5]}&txid=L&k%00ey={'a' * 600}&token={tok}")
    assert (r.status_code, r.json()["field"]) == (400, "key"), r.text

    convs = (await attribution.ListConversions(apb.ListConversionsRequest(campaign_id=t.campaign_id))).conversions
    assert sorted(c.txid for c in convs) == ["J1", "T0", "T1", "T2", "T3", "T4", "T5"]
    log = (await attribution.ListInboundPostbacks(apb.ListInboundPostbacksRequest())).postbacks
    assert sorted((p.http_status, p.outcome, p.field) for p in log) == [
        (200, "created", "")] * 7 + [(400, "invalid", "a\ufffd"), (400, "invalid", "click_id"),
                                      (400, "invalid", "key"), (400, "invalid", "txid")]  # fmt: skip
    by_txid = {p.txid: p for p in log}
    assert (by_txid["T2"].params["aff"], by_txid["T2"].params["key"]) == ("xy", "1")
    assert (by_txid["J1"].params["subx"], by_txid["J1"].params["note"]) == ("1", "a\ufffdb")


async def test_an_event_with_unstorable_text_is_refused_alone(client, links_stub, ingest_stub):
    app = await links_stub.CreateApp(lpb.CreateAppRequest(app=lpb.App(name="Web", platform=lpb.PLATFORM_WEB)))
    now = dt.datetime.now(dt.UTC).isoformat()

    def track(props: str) -> bytes:
        return b'{"uuid": "%s", "event": "track", "timestamp": "%s", "action": "buy", "action_properties": %s}' % (
            str(uuid.uuid4()).encode(), now.encode(), props.encode(),
        )  # fmt: skip

    events = [
        track('{"sku": "gems"}'),
        track('{"note": "a\\u0000b"}'),
        track('{"items": [{"name": "x\\ud800"}]}'),  # orjson alone refuses the whole body for this
        track('{"a\\u0000": 1}'),
        b'{"uuid": "%s", "event": "identify", "timestamp": "%s", "user_id": "u\\u0000"}'
        % (str(uuid.uuid4()).encode(), now.encode()),
        track('{"k\\ud800": {"b": {"c": {"d": {"e": {"f": {"g": {"h": 1}}}}}}}}'),  # too deep, a bad key on the path
        track('{"sku": "coins"}'),
    ]
    r = await client.post("/v1/events", content=b'{"events": [' + b", ".join(events) + b"]}",
                          headers={"X-Api-Key": app.app_key})  # fmt: skip
    assert r.status_code == 202, r.text
    body = r.json()
    assert (body["accepted"], body["rejected"]) == (2, 5)
    assert [(x["status"], x.get("field", "")) for x in body["results"]] == [
        ("accepted", ""), ("rejected", "action_properties.note"), ("rejected", "action_properties.items[0].name"),
        ("rejected", "action_properties"), ("rejected", "user_id"),
        ("rejected", "action_properties.k\ufffd.b.c.d.e.f"), ("accepted", ""),
    ]  # fmt: skip
    assert "NUL" in body["results"][1]["reason"] and "surrogate" in body["results"][2]["reason"]
    stored = (await ingest_stub.ListEvents(ipb.ListEventsRequest(app_id=app.app.app_id))).events
    assert sorted(orjson.loads(e.action_properties_json)["sku"] for e in stored) == ["coins", "gems"]


async def test_a_click_with_a_nul_in_a_sub_id_redirects_and_is_stored_without_it(client, make_link, links_stub):
    t = await make_link("https://shop.example/land?cid={click_id}&s1={sub1}")
    r = await client.get(f"/c/{t.slug}?sub1=a%00b&sub2=%ED%A0%80&x%00y=1%00")
    assert r.status_code == 302, r.text
    assert parse_qs(urlsplit(r.headers["location"]).query)["s1"] == ["ab"]
    [c] = await all_clicks(links_stub, t.link_id)
    assert (c.sub1, c.sub2, dict(c.params)) == ("ab", "\ufffd\ufffd\ufffd", {"xy": "1"})
