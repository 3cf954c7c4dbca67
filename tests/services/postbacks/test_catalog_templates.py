"""Every integrated-partner template, end to end against a real local sink.

For each template of services/postbacks/catalog.json: the partner is created
from the catalog (CreateCatalogPartner) with the entry's documented example
settings, the template's URL is pointed at a local HTTP sink (same path and
query, as an operator's proxy would; loopback is allowed in the test's
postbacks service), one install or conversion goes through the attribution ->
postbacks hand-off (the queue attribution writes to), and the request the sink
got is compared with what the partner's documentation says: method, path,
every parameter and its value (no more, no fewer), the JSON body, headers.

The expectations below are written out by hand from each partner's page, not
derived from the catalog, so a template that drifts from its documentation
fails here. Where the documentation was read (the part quoted supports the
URL and the parameters):

* AdColony -- AdColony CPA API spec (Japanese translation of AdColony's
  Integration Guide, public on GitHub): "GET https://cpa.adcolony.com/on_user_action",
  required "api_key", "product_id" (iTunes app id or Google Play bundle id),
  "raw_advertising_id" (IDFA), "google_ad_id"; Branch's AdColony postback table:
  custom_event "https://pie.adcolony.com/api/v1/{event_name}?api_key=...&product_id=...
  &raw_advertising_id={idfa}&google_ad_id={aaid}&click_id={clickid}".
* AppLovin -- Branch's AppLovin postback table: "INSTALL | http://rt.applovin.com/pix?
  event=install&sub_event={sub_event}&package_name={package_name}&sdk_key={sdk_key}
  &platform={platform}&idfa={IDFA}&did={DID}&isclaimable={isclaimable}&dnt={dnt}";
  https://support.applovin.com/hc/en-us/articles/228233268: "App opens -> landing,
  Revenue events -> checkout, All other events -> postinstall", "Events attributed
  to every partner".
* Google Ads -- https://developers.google.com/app-conversion-tracking/api/request-response-specs
  (and Google's gps_building_blocks ads_uac_hook: "_APP_CONVERSION_TRACKING_PATH =
  'pagead/conversion/app/1.0'", "_REQUIRED_FIELDS = ('dev_token', 'link_id',
  'app_event_type', 'rdid', 'id_type', 'lat', 'app_version', 'os_version',
  'sdk_version', 'timestamp')", "IdType ... 'advertisingid' / 'idfa'", method POST).
* Firebase -- https://developers.google.com/analytics/devguides/collection/protocol/ga4/sending-events:
  "For App streams (instrumented with the Firebase SDK), you use the firebase_app_id
  in the request URL and the app_instance_id in the JSON body"; "API secret URL
  parameter: Required".
* Meta -- https://developers.facebook.com/documentation/ads-commerce/conversions-api/app-events:
  "action_source must contain the value app for app events"; .../parameters/app-data:
  "advertiser_tracking_enabled ... Required for app events ... 0 for disabled or 1
  for enabled", "extinfo ... all values are required and must be in the order
  indexed below. If a value is missing, fill with an empty string", "version must
  be a2 for Android", "4 ... Required OS version", "5 ... device model name".
* Unity -- https://docs.unity.com/acquire/en-us/manual/send-attribution-links:
  "https://postback.unityads.unity3d.com/games/[GAME_ID]/install?advertisingTrackingId=
  [YOUR_MACRO_FOR_GOOGLE_AD_ID]&gamerId=[GAMER_ID]&attributed=[ATTRIBUTED]";
  https://docs.unity.com/acquire/en-us/manual/APP-s2s-example-server-queries:
  "https://ads-secondary-conversion.unityads.unity3d.com/v1/events?aid=...&tracking_enabled=1
  &campaign_id=...&game_id=500009999&platform=android&store_id=com.example.store&event=session
  &ts=...&install_ts=...&was_conversion_attributed=1&gamer_id=..." (tracking_enabled from
  the device's tracking status, install_ts the conversion's install's time).
* Apple Ads, adjoe, ironSource, Tapjoy -- no public documentation of the
  endpoint was found (each entry's `source` says what was read); they keep
  `verify: true` and are tested as they stand: what they send is what the
  operator is told to check.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from clicktrail.postbacks.v1 import postbacks_pb2 as pb
from clicktrail.postbacks.v1 import postbacks_pb2_grpc
from google.protobuf import field_mask_pb2

from services.postbacks import catalog, render
from tests.conftest import AccountInfo
from tests.services.postbacks.sink import Sink
from tests.services.postbacks.support import enqueue_events, wait_for

NOW = object()  # the delivery's unix time ({timestamp})
GAID = "38400000-8cf0-11bd-b23e-10b96e40000d"
APP_INSTANCE = "0123456789abcdef0123456789abcdef"
JSON = {"content-type": "application/json"}

# One Android device's install / purchase, every field a template reads known. The person
# limits ad tracking (Android's setting on: device.tracking_status "denied"), so the
# partners' flags say so: Google lat=1, AppLovin dnt=1, Meta advertiser_tracking_enabled 0.
# The SDK sent the app's version: it wins over Google Ads' app_version setting (1.0.0).
EVENT: dict[str, Any] = {
    "app_id": "app_e2e", "campaign_id": "cmp_e2e", "campaign_name": "Spring", "link_id": "lnk_e2e",
    "click_id": "01clk", "partner_click_id": "pclk-42", "sub1": "unity-cmp-7", "sub2": "src-app-3",
    "idfa": "", "gaid": GAID, "country": "DE", "os": "Android", "ip": "203.0.113.7",
    "install_time": "2026-03-01T10:00:00Z", "event_time": "2026-03-01T10:05:00Z", "verdict": "clean",
    "attributed": True, "app_instance_id": APP_INSTANCE, "os_version": "14", "device_model": "Pixel 8",
    "att_status": "denied", "app_version": "2.3.1",
}  # fmt: skip
# EVENT's event_time in unix seconds ({event_timestamp}).
EVENT_UNIX = int(dt.datetime(2026, 3, 1, 10, 5, tzinfo=dt.UTC).timestamp())
INSTALL = {"kind": "install", "event": "install"}
PURCHASE = {"kind": "conversion", "event": "purchase", "goal_id": "gol_1", "goal": "purchase", "status": "approved",
            "payout": "4.99", "revenue": "4.99", "currency": "EUR", "txid": "tx-77"}  # fmt: skip

# (entry key, template name) -> the request the partner expects: method, path, query, JSON body, headers.
EXPECTED: dict[tuple[str, str], dict[str, Any]] = {
    ("adcolony", "Install"): {
        "method": "GET", "path": "/on_user_action",
        "query": {"api_key": "adc-api-key-1", "product_id": "com.example.game", "raw_advertising_id": "",
                  "google_ad_id": GAID, "click_id": "pclk-42"},
    },
    ("adcolony", "In-app event"): {
        "method": "GET", "path": "/api/v1/purchase",
        "query": {"api_key": "adc-api-key-1", "product_id": "com.example.game", "raw_advertising_id": "",
                  "google_ad_id": GAID, "click_id": "pclk-42"},
    },
    ("adjoe", "Install"): {
        "method": "GET", "path": "/v1/conversion/justtrack",
        "query": {"token": "adjoe-token-1", "click_id": "01clk", "event": "install", "gaid": GAID, "idfa": "",
                  "timestamp": NOW},
    },
    ("adjoe", "Goal"): {
        "method": "GET", "path": "/v1/conversion/justtrack",
        "query": {"token": "adjoe-token-1", "click_id": "01clk", "event": "purchase", "gaid": GAID, "idfa": "",
                  "payout": "4.99", "currency": "EUR", "timestamp": NOW},
    },
    ("apple_search_ads", "Install (own receiver)"): {
        "method": "POST", "path": "/apple-search-ads/install", "query": {"token": "rcv-token-123"}, "headers": JSON,
        "body": {"event": "install", "campaign_id": "cmp_e2e", "country": "DE", "idfa": "", "timestamp": NOW},
    },
    ("applovin", "Install"): {
        "method": "GET", "path": "/pix",
        "query": {"event": "install", "package_name": "com.example.game", "sdk_key": "applovin-sdk-key-1",
                  "platform": "android", "idfa": GAID, "did": "pclk-42", "isclaimable": "1", "dnt": "1"},
    },
    ("applovin", "In-app event"): {
        "method": "GET", "path": "/pix",
        "query": {"event": "postinstall", "sub_event": "purchase", "package_name": "com.example.game",
                  "sdk_key": "applovin-sdk-key-1", "platform": "android", "idfa": GAID, "did": "pclk-42",
                  "isclaimable": "1", "revenue": "4.99", "currency_code": "EUR", "dnt": "1"},
    },
    ("firebase", "Conversion"): {
        "method": "POST", "path": "/mp/collect", "headers": JSON,
        "query": {"firebase_app_id": "1:1234567890:android:321abc456def7890", "api_secret": "ga-api-secret-1"},
        # value is a number: Firebase's own API types it so ("value: undefined | number", "when a value is set,
        # the accompanying currency parameter should also be defined":
        # https://rnfirebase.io/reference/analytics/generateleadeventparameters); a string is not summed as revenue
        "body": {"app_instance_id": APP_INSTANCE, "events": [{"name": "purchase", "params": {
            "value": 4.99, "currency": "EUR", "campaign_id": "cmp_e2e", "transaction_id": "tx-77"}}]},
    },
    ("google_ads", "First open"): {
        "method": "POST", "path": "/pagead/conversion/app/1.0",
        "query": {"dev_token": "google-dev-token-1", "link_id": "0123456789ABCDEF0123456789ABCDEF",
                  "app_event_type": "first_open", "rdid": GAID, "id_type": "advertisingid", "lat": "1",
                  "app_version": "2.3.1", "os_version": "14", "sdk_version": "clicktrail-1", "timestamp": NOW},
    },
    ("google_ads", "In-app conversion"): {
        "method": "POST", "path": "/pagead/conversion/app/1.0",
        "query": {"dev_token": "google-dev-token-1", "link_id": "0123456789ABCDEF0123456789ABCDEF",
                  "app_event_type": "custom", "app_event_name": "purchase", "rdid": GAID, "id_type": "advertisingid",
                  "lat": "1", "app_version": "2.3.1", "os_version": "14", "sdk_version": "clicktrail-1",
                  "timestamp": NOW, "value": "4.99", "currency_code": "EUR"},
    },
    ("ironsource", "Install"): {
        "method": "GET", "path": "/postback",
        "query": {"advertiser_id": "1234567", "clickid": "01clk", "partner_click_id": "pclk-42", "idfa": "",
                  "aid": GAID, "event_name": "install", "ts": NOW},
    },
    ("ironsource", "In-app event"): {
        "method": "GET", "path": "/postback",
        "query": {"advertiser_id": "1234567", "clickid": "01clk", "partner_click_id": "pclk-42", "idfa": "",
                  "aid": GAID, "event_name": "purchase", "revenue": "4.99", "currency": "EUR", "ts": NOW},
    },
    ("meta", "App event"): {
        "method": "POST", "path": "/v19.0/123456789012345/events", "query": {"access_token": "EAAB-meta-token"},
        "headers": JSON,
        "body": {"data": [{
            # Meta: "event_time ... A Unix timestamp in seconds indicating when the actual event
            # occurred. The specified time may be earlier than the time you send the event"
            # (https://developers.facebook.com/docs/marketing-api/conversions-api/parameters/server-event/):
            # the conversion's own time, not the delivery's.
            "event_name": "purchase", "event_time": EVENT_UNIX, "action_source": "app", "event_id": "<event_id>",
            "user_data": {"madid": GAID, "client_ip_address": "203.0.113.7"},
            # custom_data.value is a number: Meta's own SDK ("_value: number", "@param {Number} value ... Eg: 123.45",
            # https://app.unpkg.com/facebook-nodejs-business-sdk@23.0.1/files/src/objects/serverside/custom-data.js)
            "custom_data": {"value": 4.99, "currency": "EUR"},
            "app_data": {"advertiser_tracking_enabled": 0, "application_tracking_enabled": 1,
                         "extinfo": ["a2", "com.example.game", "2.3.1", "2.3.1", "14", "Pixel 8", *[""] * 10]},
        }]},
    },
    ("tapjoy", "Install (all sources)"): {
        "method": "GET", "path": "/connect",
        "query": {"app_id": "tapjoy-app-id-1", "click_key": "pclk-42", "advertising_id": GAID,
                  "ip_address": "203.0.113.7", "attributed": "1", "ts": NOW},
    },
    ("tapjoy", "Engagement"): {
        "method": "GET", "path": "/engagement",
        "query": {"app_id": "tapjoy-app-id-1", "engagement_id": "tapjoy-engagement-1", "click_key": "pclk-42",
                  "advertising_id": GAID, "event_name": "purchase", "ts": NOW},
    },
    ("unity", "Install"): {
        "method": "GET", "path": "/games/500009999/install",
        "query": {"advertisingTrackingId": GAID, "gamerId": "pclk-42", "attributed": "1"},
    },
    ("unity", "Post-install event"): {
        "method": "GET", "path": "/v1/events",
        "query": {"game_id": "500009999", "platform": "android", "store_id": "com.example.store",
                  "campaign_id": "unity-cmp-7", "gamer_id": "pclk-42", "ifa": "", "aid": GAID,
                  # "ts={unix time in seconds or milliseconds} When the event happened" (Unity's
                  # https://docs.unity3d.com/Packages/com.unity.ads@3.3/manual/AdvertisingCampaignsPostInstallEvents.html)
                  "tracking_enabled": "0", "event": "purchase", "ts": str(EVENT_UNIX),
                  # The example server query's install_ts: the install's time (EVENT's install_time).
                  "install_ts": str(EVENT_UNIX - 300), "was_conversion_attributed": "1"},
    },
}  # fmt: skip

TEMPLATES = [(e["key"], t["name"]) for e in catalog.entries() for t in e["templates"]]


def test_every_catalog_template_has_its_documented_request() -> None:
    """A template added to the catalog without its expected request here fails."""
    assert sorted(TEMPLATES) == sorted(EXPECTED)


def test_every_entry_cites_what_was_read_and_verify_only_where_nothing_was_found() -> None:
    for e in catalog.entries():
        assert "https://" in e["source"] or "http://" in e["source"], e["key"]
        if e["verify"]:  # the notes say no documentation was found, and what to do
            assert "no public" in e["notes"].lower() or "documents no" in e["notes"].lower(), e["key"]
    assert {e["key"] for e in catalog.entries() if e["verify"]} == {"apple_search_ads", "adjoe", "ironsource", "tapjoy"}


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    s = await Sink().start()
    yield s
    await s.close()


def _now_in(value: Any, t0: int, t1: int) -> bool:
    return t0 <= int(value) <= t1


def _fill(expected: Any, t0: int, t1: int, got: Any, event_id: str) -> Any:
    """The expected JSON with NOW checked against the got value (replaced by it) and <event_id> filled."""
    if expected is NOW:
        assert _now_in(got, t0, t1), got
        return got
    if expected == "<event_id>":
        return event_id
    if isinstance(expected, dict) and isinstance(got, dict):
        return {k: _fill(v, t0, t1, got.get(k), event_id) for k, v in expected.items()}
    if isinstance(expected, list) and isinstance(got, list) and len(expected) == len(got):
        return [_fill(v, t0, t1, g, event_id) for v, g in zip(expected, got, strict=True)]
    return expected


def _settings(key: str) -> dict[str, str]:
    e = catalog.entry(key)
    assert e is not None
    return {s["name"]: s["example"] for s in e["settings"] if s.get("required")}


@pytest.mark.parametrize(("key", "name"), TEMPLATES, ids=[f"{k}:{n}" for k, n in TEMPLATES])
async def test_catalog_template_sends_the_documented_request(
    key: str, name: str, postbacks_stub: postbacks_pb2_grpc.PostbackServiceStub, account: AccountInfo,
    settings: Any, sink: Sink,
) -> None:  # fmt: skip
    made = await postbacks_stub.CreateCatalogPartner(
        pb.CreateCatalogPartnerRequest(catalog_key=key, settings=_settings(key), app_id="app_e2e")
    )
    template = next(t for t in made.templates if t.name == name)
    parts = urlsplit(template.url_template)
    local = sink.base + template.url_template[len(f"{parts.scheme}://{parts.netloc}") :]
    await postbacks_stub.UpdateTemplate(pb.UpdateTemplateRequest(
        template=pb.Template(template_id=template.template_id, url_template=local),
        update_mask=field_mask_pb2.FieldMask(paths=["url_template"]),
    ))  # fmt: skip
    kind = INSTALL if template.trigger == pb.TRIGGER_INSTALL else PURCHASE
    event_id = uuid.uuid4().hex
    t0 = int(time.time())
    await enqueue_events(settings.database_url, [{
        **EVENT, **kind, "event_id": event_id, "account_id": account.account_id, "partner_id": made.partner_id,
    }])  # fmt: skip
    await wait_for(lambda: len(sink.hits) >= 1, timeout=10)
    t1 = int(time.time()) + 1
    assert len(sink.hits) == 1, [h.target for h in sink.hits]  # this template only, once
    hit = sink.hits[0]
    want = EXPECTED[(key, name)]
    assert hit.method == want["method"]
    target = urlsplit(hit.target)
    assert unquote(target.path) == want["path"]
    query = dict(parse_qsl(target.query, keep_blank_values=True))
    assert len(query) == len(parse_qsl(target.query, keep_blank_values=True)), "a parameter sent twice"
    assert query == _fill(want["query"], t0, t1, query, event_id)
    for header, value in want.get("headers", {}).items():
        assert hit.headers.get(header) == value, (header, hit.headers)
    if "body" in want:
        body = json.loads(hit.body)
        assert body == _fill(want["body"], t0, t1, body, event_id)
    else:
        assert hit.body == b""

    # The delivery log shows it delivered (the sink answered 200), once.
    async def delivered() -> bool:
        found = (await postbacks_stub.ListDeliveries(pb.ListDeliveriesRequest())).deliveries
        assert [d.template_id for d in found] == [template.template_id]
        return found[0].status == pb.DELIVERY_STATUS_DELIVERED

    await wait_for(delivered, timeout=10)


def test_event_timestamp_is_the_events_own_time_else_the_deliverys() -> None:
    """{event_timestamp}: the outbound event's event_time (RFC 3339, as attribution
    writes it) in unix seconds; without a readable one, the delivery's time."""
    sent_at = 1_800_000_000.7
    for event_time, want in (
        ("2026-03-01T10:05:00Z", EVENT_UNIX),
        ("2026-03-01T10:05:00.654321Z", EVENT_UNIX),
        ("2026-03-01T11:05:00+01:00", EVENT_UNIX),
        ("", 1_800_000_000),
        ("yesterday", 1_800_000_000),
        ("2026-03-01T10:05:00", 1_800_000_000),  # no zone: not guessed
    ):
        assert render.macro_values({"event_time": event_time}, {}, sent_at)["event_timestamp"] == str(want), event_time


def test_revenue_number_is_a_bare_json_number_else_zero() -> None:
    """{revenue_number}: the revenue written unquoted into a JSON body (GA4's and Meta's
    value are numbers); an event without a revenue gives 0, so the body stays JSON."""
    for revenue, want in (("4.99", 4.99), ("12", 12), ("0", 0), ("", 0), ("1e3", 0), ("4.99 EUR", 0)):
        body = render._expand_json('{"value": {revenue_number}}', render.macro_values({"revenue": revenue}, {}, 0))
        assert json.loads(body) == {"value": want}, revenue
