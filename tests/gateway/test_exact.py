"""Nothing accepted is silently altered or dropped (issue 19, items 8 and 15):
through the real gateway over HTTP into the real ingest service and Postgres."""

from __future__ import annotations

import uuid

import asyncpg
import orjson
from clicktrail.ingest.v1 import ingest_pb2 as ipb

from tests.gateway.test_events import app_key, event, post

__all__ = ["app_key"]  # the fixture, shared with test_events

WEI = "123456789012345678901234567890"


def _nested(levels: int) -> bytes:
    """``{"a": {"a": ... 1 ...}}``, ``levels`` objects deep, as raw JSON."""
    return b'{"a":' * (levels - 1) + b'{"a":1' + b"}" * levels


async def test_deep_or_unreadable_events_cost_only_themselves(client, app_key, ingest_stub):
    """40 and 300 levels: refused naming the path and the limit; 3,000 levels (past any JSON reader's
    own limit) and invalid UTF-8 in one event: refused alone; the rest of the batch is stored."""
    app_id, key = app_key
    good, deep, deep300, deeper, broken, last = (event() for _ in range(6))
    parts = []
    for e, props in ((good, None), (deep, _nested(40)), (deep300, _nested(300)), (deeper, _nested(3000)),
                     (broken, b'{"sku": "g\xffms"}'), (last, None)):  # fmt: skip
        raw = orjson.dumps(e)
        if props is not None:
            raw = raw.replace(b'{"sku":"gems"}', props)
        parts.append(raw)
    r = await post(client, key, b'{"events": [' + b",".join(parts) + b"]}")
    assert r.status_code == 202, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["accepted", *["rejected"] * 4, "accepted"]
    for x in results[1:3]:
        assert x["field"] == "action_properties" + ".a" * 6 and "at most 6" in x["reason"]
    assert results[3]["field"] == "event" and "nests 3001 levels" in results[3]["reason"]
    assert results[3]["uuid"] == deeper["uuid"] and "at most 6" in results[3]["reason"]
    assert results[4]["field"] == "event" and "not valid JSON" in results[4]["reason"]
    stored = (await ingest_stub.ListEvents(ipb.ListEventsRequest(app_id=app_id))).events
    assert sorted(e.uuid for e in stored) == sorted([good["uuid"], last["uuid"]])
    # A body whose structure is broken is still refused as a whole, naming the body.
    r = await post(client, key, b'{"events": [' + parts[0] + b', {"a": [}]}')
    assert r.status_code == 400 and r.json()["field"] == "body"


async def test_numbers_are_stored_exactly_and_codes_normalised(client, app_key, ingest_stub, db_url):
    """A wei amount (30 digits), 0.1 and 1.10 in properties come back digit for digit; a
    currency typed in lower case is accepted and kept upper case."""
    app_id, key = app_key
    web3 = event(action="monetization_web3", action_properties={
        "bundle_id": "b", "bundle_package_items": [["gem", 5]], "bundle_paid_id": "p", "bundle_paid_amount": 0,
        "bundle_paid_currency": "ETH", "platform": "ethereum", "tx_ref": "0xabc", "fee": 0, "ratio": 0,
    })  # fmt: skip
    web2 = event(action="monetization_web2", action_properties={
        "bundle_id": "b", "bundle_package_items": [["gem", 0]], "bundle_paid_id": "p", "bundle_paid_amount": 0,
        "bundle_paid_currency": "usd", "platform": "ios", "tx_ref": "t-1",
    })  # fmt: skip
    raw = orjson.dumps({"events": [web3, web2]})
    # The numbers as a client writes them (orjson would write floats already rounded).
    raw = raw.replace(b'"bundle_paid_amount":0,"bundle_paid_currency":"ETH"',
                      b'"bundle_paid_amount":' + WEI.encode() + b',"bundle_paid_currency":"ETH"')  # fmt: skip
    raw = raw.replace(b'"fee":0,"ratio":0', b'"fee":0.1,"ratio":1.10')
    raw = raw.replace(b'[["gem",0]]', b'[["gem",12345678901234567.25]]')
    r = await post(client, key, raw)
    assert r.status_code == 202 and r.json()["accepted"] == 2, r.text
    got = {e.uuid: e for e in (await ingest_stub.ListEvents(ipb.ListEventsRequest(app_id=app_id))).events}
    props3 = got[web3["uuid"]].action_properties_json
    assert f'"bundle_paid_amount": {WEI}' in props3 and '"fee": 0.1' in props3 and '"ratio": 1.10' in props3
    props2 = got[web2["uuid"]].action_properties_json
    assert '"bundle_paid_currency": "USD"' in props2 and "12345678901234567.25" in props2
    conn = await asyncpg.connect(db_url)
    try:
        amount = await conn.fetchval(
            "SELECT (properties->>'bundle_paid_amount')::numeric FROM ingest.events WHERE event_uuid = $1",
            uuid.UUID(web3["uuid"]),
        )
    finally:
        await conn.close()
    assert str(amount) == WEI
