"""Helpers for the attribution engine tests: campaigns and touches through the
real links service, events through the real ingest service, and waiting for
the real attribution consumer."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
import uuid
from typing import Any

import asyncpg
import orjson
from clicktrail.attribution.v1 import attribution_pb2 as apb
from clicktrail.attribution.v1 import attribution_pb2_grpc, config_pb2_grpc
from clicktrail.attribution.v1 import config_pb2 as cpb
from clicktrail.ingest.v1 import ingest_pb2 as ipb
from clicktrail.links.v1 import links_pb2 as lpb

from libs import event_handoff
from libs.queue import enqueue

ANDROID_UA = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile"


@dataclasses.dataclass
class Campaign:
    app_id: str
    partner_id: str
    campaign_id: str
    link_id: str
    slug: str


async def make_app(links_stub: Any) -> str:
    app = await links_stub.CreateApp(
        lpb.CreateAppRequest(app=lpb.App(name="Game", platform=lpb.PLATFORM_ANDROID, bundle_id="com.acme.game"))
    )
    return str(app.app.app_id)


async def make_campaign(links_stub: Any, app_id: str, name: str = "Spring", target_goal_id: str = "") -> Campaign:
    partner_req = lpb.CreatePartnerRequest(partner=lpb.Partner(name=f"Net {name}"))
    partner = (await links_stub.CreatePartner(partner_req)).partner
    campaign_req = lpb.CreateCampaignRequest(
        campaign=lpb.Campaign(
            name=name, partner_id=partner.partner_id, app_id=app_id, status=lpb.CAMPAIGN_STATUS_ACTIVE,
            target_goal_id=target_goal_id,
        )
    )  # fmt: skip
    campaign = (await links_stub.CreateCampaign(campaign_req)).campaign
    link = (
        await links_stub.CreateLink(
            lpb.CreateLinkRequest(
                link=lpb.Link(campaign_id=campaign.campaign_id, destination_url="https://play.example/?c={click_id}")
            )
        )
    ).link
    return Campaign(app_id, partner.partner_id, campaign.campaign_id, link.link_id, link.slug)


async def touch(gateway_links_stub: Any, c: Campaign, *, kind: str = "click", query: str = "",
                ip: str = "81.2.69.142", ua: str = ANDROID_UA) -> str:  # fmt: skip
    """Records a click (or impression) the way the gateway does; returns its id."""
    inp = lpb.TouchInput(slug=c.slug, raw_query=query.encode(), ip=ip, user_agent=ua)
    if kind == "click":
        resp = await gateway_links_stub.RecordClicks(lpb.RecordClicksRequest(clicks=[inp]))
    else:
        resp = await gateway_links_stub.RecordImpressions(lpb.RecordImpressionsRequest(impressions=[inp]))
    result = resp.results[0]
    assert result.outcome == lpb.TOUCH_OUTCOME_RECORDED
    return str(result.touch_id)


def event(app_id: str, kind: str = "track", *, at: dt.datetime | None = None, **kw: Any) -> ipb.Event:
    device = kw.pop("device", {})
    props = kw.pop("props", None)
    ev = ipb.Event(
        uuid=kw.pop("uuid", str(uuid.uuid4())), event="EVENT_TYPE_" + kind.upper(),
        app_id=app_id, session_id="s-1", device=ipb.Device(platform=ipb.DEVICE_PLATFORM_ANDROID, **device),
        action_properties_json=orjson.dumps(props).decode() if props is not None else "", **kw,
    )  # fmt: skip
    ev.timestamp.FromDatetime(at or dt.datetime.now(dt.UTC))
    return ev


async def send(ingest_stub: Any, *events: ipb.Event) -> None:
    resp = await ingest_stub.SendEvents(ipb.SendEventsRequest(events=list(events)))
    assert resp.accepted == len(events), resp


def attribution(stubs: Any) -> attribution_pb2_grpc.AttributionServiceStub:
    return attribution_pb2_grpc.AttributionServiceStub(stubs.channel)


async def drained(settings: Any, within_s: float = 30.0) -> None:
    """Waits until the event hand-off queue is empty (every job attributed)."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        deadline = time.monotonic() + within_s
        while True:
            left = await conn.fetchval(
                "SELECT count(*) FROM queue.jobs WHERE queue = $1 AND NOT dead", event_handoff.EVENT_QUEUE
            )
            dead = await conn.fetch(
                "SELECT last_error FROM queue.jobs WHERE queue = $1 AND (dead OR attempts > 1)",
                event_handoff.EVENT_QUEUE,
            )
            assert not dead, [r["last_error"] for r in dead]
            if left == 0:
                return
            assert time.monotonic() < deadline, f"{left} hand-off jobs still waiting"
            await asyncio.sleep(0.05)
    finally:
        await conn.close()


async def checks_off(stubs: Any, *checks: str, campaign_id: str = "") -> None:
    """Turns install / conversion checks off for the account (or a campaign). A
    test that records a click and sends its install milliseconds later is what
    click injection looks like; tests of something else say so with this."""
    stub = config_pb2_grpc.AttributionQualityServiceStub(stubs.channel)
    settings = cpb.AttributionQualitySettings(campaign_id=campaign_id, checks=dict.fromkeys(checks, False))
    mask = {"paths": [f"checks.{c}" for c in checks]}
    await stub.UpdateAttributionQualitySettings(
        cpb.UpdateAttributionQualitySettingsRequest(settings=settings, update_mask=mask)
    )


async def installs(stubs: Any, **kw: Any) -> list[apb.Install]:
    return list((await attribution(stubs).ListInstalls(apb.ListInstallsRequest(page_size=100, **kw))).installs)


async def conversions(stubs: Any, **kw: Any) -> list[apb.Conversion]:
    return list((await attribution(stubs).ListConversions(apb.ListConversionsRequest(page_size=100, **kw))).conversions)


async def replay_all(settings: Any, account_id: str) -> int:
    """Hands every stored event of the account to attribution again (what a
    redelivered job does); returns how many."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        cols = ", ".join(event_handoff.COLUMNS)
        rows = await conn.fetch(f"SELECT {cols} FROM ingest.events WHERE account_id = $1", account_id)
        payload = event_handoff.encode([tuple(str(v) if isinstance(v, uuid.UUID) else v for v in r) for r in rows])
        async with conn.transaction():
            await enqueue(conn, event_handoff.EVENT_QUEUE, [payload], account_ids=[account_id])
        return len(rows)
    finally:
        await conn.close()


async def outbound_events(settings: Any, account_id: str) -> list[dict[str, Any]]:
    from libs import postback_handoff

    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = await conn.fetch(
            "SELECT payload FROM queue.jobs WHERE queue = $1 AND account_id = $2 ORDER BY job_id",
            postback_handoff.POSTBACK_QUEUE,
            account_id,
        )
        return [postback_handoff.fields(postback_handoff.decode(bytes(r["payload"]))) for r in rows]
    finally:
        await conn.close()
