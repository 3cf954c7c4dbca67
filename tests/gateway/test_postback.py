"""GET|POST /postback over real HTTP (gateway -> attribution -> links), and the
whole walk: a click through the gateway, an install event through /v1/events,
attributed by the attribution consumer, then the network's postback."""

import asyncio
import datetime as dt
import uuid
from urllib.parse import parse_qs, urlsplit

import asyncpg
import pytest
from clicktrail.attribution.v1 import attribution_pb2 as apb
from clicktrail.attribution.v1 import attribution_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc

from tests.services.attribution.engine_support import drained, outbound_events

GAID = "6d92078a-8246-4ba4-ae5b-76104861e7dc"


@pytest.fixture
def attribution(attribution_server, account, channels):
    return attribution_pb2_grpc.AttributionServiceStub(channels(attribution_server.addr, token=account.api_key))


# A person's phone: httpx's own User-Agent is an HTTP library, an invalid click that attribution passes over.
PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile"
    " Safari/537.36"
)


async def click(client, slug, query="sub1=s"):
    r = await client.get(f"/c/{slug}?{query}", headers={"user-agent": PHONE_UA})
    assert r.status_code == 302, r.text
    return parse_qs(urlsplit(r.headers["location"]).query)["cid"][0]


async def test_postback_lifecycle_over_http(client, make_link, account, attribution, settings):
    t = await make_link()
    cid = await click(client, t.slug, "sub1=banner&clickid=net-1")
    tok = account.postback_token
    r = await client.get(f"/postback?click_id={cid}&payout=7.50&status=lead&txid=T-1&goal=Deposit&token={tok}")
    assert r.status_code == 200, r.text
    first = r.json()
    assert (first["status"], first["created"], first["payout"], first["currency"], first["campaign_id"]) == (
        "pending", True, "7.5", "USD", t.campaign_id,
    )  # fmt: skip
    # The same txid updates it: a form POST with the header token, then JSON.
    r = await client.post("/postback", data={"clickid": cid, "status": "sale", "txid": "T-1"},
                          headers={"X-Postback-Token": account.postback_token})  # fmt: skip
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["previous_status"], r.json()["created"], r.json()["conversion_id"]) == (
        "approved", "pending", False, first["conversion_id"],
    )  # fmt: skip
    r = await client.post("/postback", json={"subid": cid, "status": "hold", "txid": "T-1"},
                          headers={"X-Postback-Token": account.postback_token})  # fmt: skip
    assert r.status_code == 409 and "cannot become pending" in r.json()["error"]
    r = await client.post(f"/postback?token={account.postback_token}",
                          json={"click_id": cid, "status": "trash", "txid": "T-1"})  # fmt: skip
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    # Resending the same status changes nothing.
    r = await client.get(f"/postback?click_id={cid}&status=cancelled&txid=T-1&token={account.postback_token}")
    assert r.status_code == 200 and r.json()["changed"] is False

    convs = (await attribution.ListConversions(apb.ListConversionsRequest(campaign_id=t.campaign_id))).conversions
    assert [(c.conversion_id, c.status, c.payout, c.txid, c.goal, c.click_id) for c in convs] == [
        (first["conversion_id"], apb.CONVERSION_STATUS_REJECTED, "7.5", "T-1", "Deposit", cid),
    ]  # fmt: skip
    log = (await attribution.ListInboundPostbacks(apb.ListInboundPostbacksRequest())).postbacks
    assert [p.http_status for p in log] == [200, 200, 409, 200, 200]
    assert [p.outcome for p in log] == ["unchanged", "updated", "refused", "updated", "created"]
    assert "token" not in log[-1].params and log[-1].params["payout"] == "7.50"
    kinds = [(o["kind"], o["status"]) for o in await outbound_events(settings, account.account_id)]
    assert kinds == [("conversion", "pending"), ("status_change", "approved"), ("status_change", "rejected")]
    out = (await outbound_events(settings, account.account_id))[0]
    assert (out["partner_click_id"], out["sub1"], out["payout"], out["campaign_name"]) == ("net-1", "banner", "7.5",
                                                                                           "Launch")  # fmt: skip


async def test_postback_is_documented(client):
    doc = (await client.get("/openapi.json")).json()
    assert {"get", "post"} <= set(doc["paths"]["/postback"])
    assert {"400", "401", "404", "409"} <= set(doc["paths"]["/postback"]["get"]["responses"])


async def test_no_txid_means_one_conversion_per_click_and_goal(client, make_link, account, attribution):
    t = await make_link()
    cid = await click(client, t.slug)
    tok = account.postback_token
    a = (await client.get(f"/postback?click_id={cid}&goal=reg&status=lead&token={tok}")).json()
    b = (await client.get(f"/postback?click_id={cid}&goal=REG&status=approved&token={tok}")).json()
    c = (await client.get(f"/postback?click_id={cid}&goal=dep&payout=10&currency=EUR&token={tok}")).json()
    assert a["conversion_id"] == b["conversion_id"] != c["conversion_id"]
    assert (b["status"], c["status"], c["currency"]) == ("approved", "approved", "EUR")


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ("payout=7,50", 400, "payout"),
        ("payout=-1", 400, "payout"),
        ("payout=1e309", 400, "payout"),
        ("payout=NaN", 400, "payout"),
        ("status=maybe", 400, "status"),
        ("currency=euro", 400, "currency"),
    ],
)
async def test_bad_input_names_the_field(client, make_link, account, attribution, query, status, field):
    t = await make_link()
    cid = await click(client, t.slug)
    r = await client.get(f"/postback?click_id={cid}&{query}&token={account.postback_token}")
    assert (r.status_code, r.json().get("field")) == (status, field), r.text
    assert (await attribution.ListConversions(apb.ListConversionsRequest())).conversions == []
    [logged] = (await attribution.ListInboundPostbacks(apb.ListInboundPostbacksRequest())).postbacks
    assert (logged.http_status, logged.field, logged.outcome) == (400, field, "invalid")


async def test_tokens_unknown_and_foreign_clicks(client, make_link, account, new_account, links_server, channels,
                                                 attribution):  # fmt: skip
    t = await make_link()
    cid = await click(client, t.slug)
    r = await client.get(f"/postback?payout=1&token={account.postback_token}")
    assert (r.status_code, r.json()["field"]) == (400, "click_id")
    assert (await client.get(f"/postback?click_id={cid}")).status_code == 401
    assert (await client.get(f"/postback?click_id={cid}&token=ctp_nope_nope")).status_code == 401
    assert (await client.get(f"/postback?click_id={cid}&token={account.api_key}")).status_code == 401
    r = await client.get(f"/postback?click_id=01jzzzzzzzzzzzzzzzzzzzzzzz&token={account.postback_token}")
    assert r.status_code == 404
    assert (await client.put(f"/postback?click_id={cid}&token={account.postback_token}")).status_code == 405
    # Another account's click with this account's token: 404, and nothing is recorded anywhere.
    rival = await new_account("Rival")
    rival_links = links_pb2_grpc.LinksServiceStub(channels(links_server.addr, token=rival.api_key))
    app = (await rival_links.CreateApp(lpb.CreateAppRequest(app=lpb.App(name="R", platform=lpb.PLATFORM_WEB)))).app
    partner = (await rival_links.CreatePartner(lpb.CreatePartnerRequest(partner=lpb.Partner(name="N")))).partner
    camp = (await rival_links.CreateCampaign(lpb.CreateCampaignRequest(campaign=lpb.Campaign(
        name="R", partner_id=partner.partner_id, app_id=app.app_id, status=lpb.CAMPAIGN_STATUS_ACTIVE,
    )))).campaign  # fmt: skip
    link = (await rival_links.CreateLink(lpb.CreateLinkRequest(link=lpb.Link(
        campaign_id=camp.campaign_id, destination_url="https://r.example/?c={click_id}")))).link  # fmt: skip
    r = await client.get(f"/c/{link.slug}")
    rival_click = parse_qs(urlsplit(r.headers["location"]).query)["c"][0]
    r = await client.get(f"/postback?click_id={rival_click}&payout=5&token={account.postback_token}")
    assert r.status_code == 404 and rival_click in r.json()["error"] and "Rival" not in r.text
    assert (await client.get(f"/postback?click_id={rival_click}&token={rival.postback_token}")).status_code == 200
    assert (await attribution.ListConversions(apb.ListConversionsRequest())).conversions == []


async def test_one_txid_at_the_same_moment_is_one_conversion(client, make_link, account, attribution):
    t = await make_link()
    cid = await click(client, t.slug)
    url = f"/postback?click_id={cid}&txid=same&payout=3&status=approved&token={account.postback_token}"
    results = await asyncio.gather(*(client.get(url) for _ in range(20)))
    assert {r.status_code for r in results} == {200}
    assert len({r.json()["conversion_id"] for r in results}) == 1
    assert sum(r.json()["created"] for r in results) == 1
    assert len((await attribution.ListConversions(apb.ListConversionsRequest())).conversions) == 1


async def test_click_install_event_attributed_then_listed(client, make_link, links_stub, account, attribution,
                                                         settings):  # fmt: skip
    """The walk: click via the gateway -> install event via /v1/events carrying the
    click id -> the attribution consumer attributes it -> it is listed."""
    t = await make_link()
    cid = await click(client, t.slug, "sub1=launch")
    app_key = (await links_stub.RotateAppKey(lpb.RotateAppKeyRequest(app_id=t.app_id))).app_key
    install = {
        "uuid": str(uuid.uuid4()), "event": "install", "click_id": cid,
        "timestamp": dt.datetime.now(dt.UTC).isoformat(), "device": {"gaid": GAID, "platform": "android"},
    }  # fmt: skip
    r = await client.post("/v1/events", json={"events": [install]}, headers={"X-Api-Key": app_key})
    assert r.status_code == 202 and r.json()["accepted"] == 1, r.text
    await drained(settings)
    [inst] = (await attribution.ListInstalls(apb.ListInstallsRequest(campaign_id=t.campaign_id))).installs
    assert (inst.click_id, inst.match_type, inst.app_id, inst.event_uuid) == (
        cid, apb.MATCH_TYPE_CLICK_ID, t.app_id, install["uuid"],
    )  # fmt: skip
    # The network then reports the sale for that click.
    r = await client.get(f"/postback?click_id={cid}&payout=2.5&token={account.postback_token}")
    assert r.status_code == 200 and r.json()["status"] == "approved"
    conn = await asyncpg.connect(settings.database_url)
    try:
        lag = await conn.fetchval("SELECT max(create_time - receive_time) FROM attribution.installs")
    finally:
        await conn.close()
    assert lag.total_seconds() < 5


async def test_a_json_payout_keeps_its_digits(client, make_link, account, attribution):
    """Issue 19 item 15: a JSON number is read exactly (a float would answer 12345678901234568)."""
    t = await make_link()
    cid = await click(client, t.slug)
    r = await client.post(f"/postback?token={account.postback_token}",
                          content=b'{"click_id": "%s", "payout": 12345678901234567.5, "txid": "J-1"}' % cid.encode(),
                          headers={"content-type": "application/json"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["payout"] == "12345678901234567.5"
