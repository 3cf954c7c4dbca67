"""The event fields partners need, through the whole pipeline: an SDK's install
and purchase go in through the gateway (POST /v1/events with the app key) with
the Firebase app instance id and the device's OS version and model; ingest
stores them, attribution hands them to postbacks on the outbound events, and
the catalog's Firebase and Google Ads partners (created from the catalog,
pointed at a local sink) get them where the partners' docs say:

* Firebase (https://developers.google.com/analytics/devguides/collection/protocol/ga4/sending-events):
  "For App streams (instrumented with the Firebase SDK), you use the
  firebase_app_id in the request URL and the app_instance_id in the JSON body".
* Google Ads (https://developers.google.com/app-conversion-tracking/api/request-response-specs;
  Google's gps_building_blocks ads_uac_hook lists os_version among the
  required fields).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from clicktrail.attribution.v1 import config_pb2 as cpb
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc
from clicktrail.postbacks.v1 import postbacks_pb2 as ppb
from clicktrail.postbacks.v1 import postbacks_pb2_grpc
from google.protobuf import field_mask_pb2

from libs.config import Settings
from tests.conftest import AttributionStubs
from tests.gateway.conftest import RunningGateway, start_gateway
from tests.services.postbacks.sink import Sink
from tests.services.postbacks.support import wait_for

GAID = "38400000-8cf0-11bd-b23e-10b96e40000d"
APP_INSTANCE = "5f3c2b1a0e9d8c7b6a5f4e3d2c1b0a99"


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    s = await Sink().start()
    yield s
    await s.close()


@pytest.fixture
async def gateway(
    settings: Settings, links_server: Any, ingest_server: Any, attribution_server: Any, postbacks_server: Any
) -> AsyncIterator[RunningGateway]:
    gw = await start_gateway(dataclasses.replace(
        settings, links_addr=links_server.addr, ingest_addr=ingest_server.addr,
        attribution_addr=attribution_server.addr, postbacks_addr=postbacks_server.addr, grpc_deadline_s=5.0,
    ))  # fmt: skip
    yield gw
    await gw.stop()


def sdk_event(kind: str, **kw: Any) -> dict[str, Any]:
    return {
        "uuid": str(uuid.uuid4()), "event": kind, "timestamp": dt.datetime.now(dt.UTC).isoformat(),
        "user_id": "player-1", "app_instance_id": APP_INSTANCE,
        "device": {"gaid": GAID, "platform": "android", "os_version": "14", "device_model": "Pixel 8"}, **kw,
    }  # fmt: skip


async def _to_sink(stub: postbacks_pb2_grpc.PostbackServiceStub, made: Any, sink: Sink) -> None:
    for t in made.templates:
        parts = urlsplit(t.url_template)
        await stub.UpdateTemplate(ppb.UpdateTemplateRequest(
            template=ppb.Template(template_id=t.template_id,
                                  url_template=sink.base + t.url_template[len(f"{parts.scheme}://{parts.netloc}") :]),
            update_mask=field_mask_pb2.FieldMask(paths=["url_template"]),
        ))  # fmt: skip


async def test_app_instance_id_and_device_reach_firebase_and_google_ads_from_sdk_events(
    gateway: RunningGateway, links_stub: links_pb2_grpc.LinksServiceStub,
    postbacks_stub: postbacks_pb2_grpc.PostbackServiceStub, attribution_stub: AttributionStubs, sink: Sink,
) -> None:  # fmt: skip
    made_app = await links_stub.CreateApp(lpb.CreateAppRequest(app=lpb.App(
        name="Space Game", platform=lpb.PLATFORM_ANDROID, bundle_id="com.example.space",
    )))  # fmt: skip
    app_id, key = made_app.app.app_id, made_app.app_key
    await attribution_stub.goals.CreateGoal(cpb.CreateGoalRequest(goal=cpb.Goal(
        name="purchase", kind=cpb.GOAL_KIND_PURCHASE, event="purchase", occurrence=cpb.OCCURRENCE_EVERY,
        value_path="action_properties.price", currency_path="action_properties.currency",
    )))  # fmt: skip
    firebase = await postbacks_stub.CreateCatalogPartner(ppb.CreateCatalogPartnerRequest(
        catalog_key="firebase", app_id=app_id,
        settings={"firebase_app_id": "1:1234567890:android:321abc456def7890", "api_secret": "ga-secret"},
    ))  # fmt: skip
    google = await postbacks_stub.CreateCatalogPartner(ppb.CreateCatalogPartnerRequest(
        catalog_key="google_ads", app_id=app_id,
        settings={"dev_token": "dev-1", "google_link_id": "ABCDEF0123456789ABCDEF0123456789",
                  "id_type": "advertisingid", "app_version": "2.3.0"},
    ))  # fmt: skip
    await _to_sink(postbacks_stub, firebase, sink)
    await _to_sink(postbacks_stub, google, sink)

    async with gateway.client() as client:
        bought = sdk_event("track", action="purchase", action_properties={"price": "4.99", "currency": "EUR"})
        # The install says the person limits ad tracking (Android's setting on); the purchase says
        # nothing, which counts as not limited (a device sending its GAID has not limited it).
        # The install's SDK sends the app's version too (it wins over the partner's
        # app_version setting); the purchase's does not (the setting stands in).
        installed = sdk_event("install", app_version="2.4.0", device={
            "gaid": GAID, "platform": "android", "os_version": "14", "device_model": "Pixel 8",
            "tracking_status": "denied",
        })  # fmt: skip
        for ev in (installed, bought):
            # One at a time: the purchase is matched to the install attribution has stored.
            resp = await client.post("/v1/events", json={"events": [ev]}, headers={"X-Api-Key": key})
            assert resp.status_code == 202 and resp.json()["accepted"] == 1, resp.text
            if ev["event"] == "install":
                await wait_for(lambda: any("first_open" in h.target for h in sink.hits), timeout=60)
    # Both partners' templates send for all sources: the organic install and its purchase go out.
    await wait_for(lambda: len(sink.hits) >= 3, timeout=60)
    by_path: dict[str, list[Any]] = {}
    for h in sink.hits:
        by_path.setdefault(urlsplit(h.target).path, []).append(h)
    (mp,) = by_path["/mp/collect"]
    assert json.loads(mp.body) == {"app_instance_id": APP_INSTANCE, "events": [{"name": "purchase", "params": {
        "value": 4.99, "currency": "EUR", "campaign_id": "", "transaction_id": ""}}]}  # fmt: skip
    google_hits = [dict(parse_qsl(urlsplit(h.target).query, keep_blank_values=True))
                   for h in by_path["/pagead/conversion/app/1.0"]]  # fmt: skip
    assert sorted(q["app_event_type"] for q in google_hits) == ["custom", "first_open"]
    for q in google_hits:
        assert (q["rdid"], q["id_type"], q["os_version"]) == (GAID, "advertisingid", "14")
    assert {q["app_event_type"]: q["app_version"] for q in google_hits} == {"first_open": "2.4.0", "custom": "2.3.0"}
    (purchase,) = [q for q in google_hits if q["app_event_type"] == "custom"]
    assert (purchase["app_event_name"], purchase["value"], purchase["currency_code"]) == ("purchase", "4.99", "EUR")
    assert {q["app_event_type"]: q["lat"] for q in google_hits} == {"first_open": "1", "custom": "0"}
