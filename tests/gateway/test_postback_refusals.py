"""Every inbound postback is logged with its outcome, the ones the gateway refuses
itself included; a value too long to keep is refused naming it, never cut
(issue 19, item 15). Real gateway over HTTP, real attribution and links."""

from __future__ import annotations

import dataclasses

from clicktrail.attribution.v1 import attribution_pb2 as apb

from tests.gateway.conftest import start_gateway
from tests.gateway.test_postback import PHONE_UA, attribution, click
from tests.support.wait import wait_until

__all__ = ["attribution"]  # the fixture, shared with test_postback


async def _log(attribution, n: int) -> list[apb.InboundPostback]:
    """The account's inbound postback log once it holds ``n`` rows (the gateway's
    refusals are logged after it answered, so they may take a moment)."""

    async def logged() -> list[apb.InboundPostback]:
        log = list((await attribution.ListInboundPostbacks(apb.ListInboundPostbacksRequest())).postbacks)
        assert len(log) >= n, f"the log has {len(log)} rows, not {n}"
        return log

    return await wait_until(logged, f"{n} rows in the inbound postback log", every_s=0.025)


async def test_postbacks_the_gateway_refuses_are_in_the_log(gateway_settings, account, attribution):
    gw = await start_gateway(dataclasses.replace(gateway_settings, rate_limit_postbacks_per_ip=3.0))
    tok = account.postback_token
    try:
        async with gw.client() as c:
            r = await c.put(f"/postback?click_id=c-1&token={tok}")
            assert r.status_code == 405
            r = await c.post(f"/postback?click_id=c-2&token={tok}", content=b"{nope", headers={
                "content-type": "application/json"})  # fmt: skip
            assert r.status_code == 400 and r.json()["field"] == "body"
            r = await c.post("/postback?click_id=c-3", content=b"<xml/>", headers={
                "content-type": "text/xml", "x-postback-token": tok})  # fmt: skip
            assert r.status_code == 415
            statuses: list[int] = []
            while 429 not in statuses and len(statuses) < 100:  # past the burst, well within a second
                statuses.append((await c.get(f"/postback?click_id=c-4&token={tok}")).status_code)
            assert statuses[-1] == 429
            r = await c.put("/postback?click_id=c-5")  # no token: only the gateway's own log has it
    finally:
        await gw.stop()
    refused = [p for p in await _log(attribution, 3 + len(statuses)) if p.http_status != 404]
    got = {(p.params.get("click_id"), p.http_status, p.outcome, p.method) for p in refused}
    assert {("c-1", 405, "method_not_allowed", "PUT"), ("c-2", 400, "invalid", "POST"),
            ("c-3", 415, "unsupported_media_type", "POST"), ("c-4", 429, "rate_limited", "GET")} <= got  # fmt: skip
    bad_json = next(p for p in refused if p.params.get("click_id") == "c-2")
    assert bad_json.field == "body" and "JSON" in bad_json.error and "token" not in bad_json.params
    assert not any(p.params.get("click_id") == "c-5" for p in refused)


async def test_a_value_too_long_is_refused_naming_it_never_cut(client, make_link, account, attribution):
    t = await make_link()
    cid = await click(client, t.slug)
    tok = account.postback_token
    r = await client.get(f"/postback?click_id={cid}&sub3={'x' * 600}&token={tok}", headers={"user-agent": PHONE_UA})
    assert r.status_code == 400 and r.json()["field"] == "sub3" and "512" in r.json()["error"]
    r = await client.get(f"/postback?click_id={cid}&txid={'t' * 300}&token={tok}")
    assert r.status_code == 400 and r.json()["field"] == "txid" and "256" in r.json()["error"]
    r = await client.get(f"/postback?click_id={cid}&{'k' * 80}=1&token={tok}")
    assert r.status_code == 400 and r.json()["field"] == "params"
    assert not (await attribution.ListConversions(apb.ListConversionsRequest())).conversions
    log = await _log(attribution, 3)
    assert [(p.http_status, p.outcome, p.field) for p in log] == [
        (400, "invalid", "params"), (400, "invalid", "txid"), (400, "invalid", "sub3")
    ]  # fmt: skip
    # A value at the limit is kept whole.
    r = await client.get(f"/postback?click_id={cid}&sub3={'y' * 512}&txid={'t' * 256}&token={tok}")
    assert r.status_code == 200, r.text
    conv = (await attribution.ListConversions(apb.ListConversionsRequest())).conversions[0]
    assert conv.txid == "t" * 256
    assert (await _log(attribution, 4))[0].params["sub3"] == "y" * 512
