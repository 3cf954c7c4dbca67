"""Faults with real processes: every service killed with SIGKILL in turn while
clicks, events and inbound postbacks arrive through the gateway. Whatever the
gateway acknowledged (302, 202 accepted, 200) must end up stored, attributed and
its postbacks delivered, and nothing counted twice."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest
from clicktrail.attribution.v1 import config_pb2 as cpb
from clicktrail.attribution.v1 import config_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc
from clicktrail.postbacks.v1 import postbacks_pb2 as ppb
from clicktrail.postbacks.v1 import postbacks_pb2_grpc

from libs.grpc_client import make_channel
from libs.healthcheck import grpc_serving
from tests.e2e.processes import PrivatePostgres, Processes
from tests.services.postbacks.sink import Sink

pytestmark = pytest.mark.e2e

SERVICES = ("links", "ingest", "attribution", "postbacks")
LOAD_S = 22.0
# The load runs for its schedule and then on until it has done enough for the test to mean
# something (a busy machine serves fewer users a second), for at most this long in all.
LOAD_MAX_S = 90.0
KILLS = [(3.0, "links"), (7.5, "ingest"), (12.0, "attribution"), (16.5, "postbacks")]
DOWN_S = 1.5
USERS = 6
# Load from one address: the gateway's per-address limits (on by default) raised explicitly.
UNLIMITED = {f"CLICKTRAIL_RATE_LIMIT_{k}_PER_IP": "0" for k in ("TOUCHES", "EVENTS", "POSTBACKS")}


@dataclasses.dataclass
class Acked:
    clicks: set[str] = dataclasses.field(default_factory=set)
    installs: set[str] = dataclasses.field(default_factory=set)
    purchases: set[str] = dataclasses.field(default_factory=set)
    postbacks: set[str] = dataclasses.field(default_factory=set)  # txids answered 200
    refused: int = 0


async def _setup(procs: Processes, sink: Sink | None) -> tuple[str, str, str, str, str]:
    """Account, app, partner (with install + conversion postbacks to the sink, if
    any), a goal, a campaign and its link: (account_id, postback_token, app_key,
    slug, campaign_id)."""
    account_id, api_key, postback_token = await procs.new_account()
    app_id, app_key = await procs.new_app(api_key)
    async with (
        make_channel(procs.procs["links"].addr, token=api_key) as lch,
        make_channel(procs.procs["attribution"].addr, token=api_key) as ach,
    ):
        links = links_pb2_grpc.LinksServiceStub(lch)
        partner = (await links.CreatePartner(lpb.CreatePartnerRequest(partner=lpb.Partner(name="Net")))).partner
        await config_pb2_grpc.GoalServiceStub(ach).CreateGoal(
            cpb.CreateGoalRequest(goal=cpb.Goal(name="Purchase", kind=cpb.GOAL_KIND_PURCHASE, event="purchase"))
        )
        # Its users install the moment they click and buy the moment they install (a test's timing): what click
        # injection and a bot's purchase look like, so those two checks are off. And they all click from one
        # address with one browser, seconds apart: not duplicates or a flood here.
        await links.UpdateQualitySettings(
            lpb.UpdateQualitySettingsRequest(
                settings=lpb.QualitySettings(
                    checks={"duplicate": False, "flood_ip": False, "flood_ip_user_agent": False}
                )
            )
        )
        await config_pb2_grpc.AttributionQualityServiceStub(ach).UpdateAttributionQualitySettings(
            cpb.UpdateAttributionQualitySettingsRequest(
                settings=cpb.AttributionQualitySettings(
                    checks={"click_injection": False, "too_soon_after_install": False}
                )
            )
        )
        campaign = (
            await links.CreateCampaign(
                lpb.CreateCampaignRequest(
                    campaign=lpb.Campaign(
                        name="Faults", partner_id=partner.partner_id, app_id=app_id, status=lpb.CAMPAIGN_STATUS_ACTIVE
                    )
                )
            )
        ).campaign
        link = (
            await links.CreateLink(
                lpb.CreateLinkRequest(
                    link=lpb.Link(
                        campaign_id=campaign.campaign_id, destination_url="https://store.example/?click_id={click_id}"
                    )
                )
            )
        ).link
    if sink is None:
        return account_id, postback_token, app_key, link.slug, campaign.campaign_id
    async with make_channel(procs.procs["postbacks"].addr, token=api_key) as pch:
        templates = postbacks_pb2_grpc.PostbackServiceStub(pch)
        for trigger in (ppb.TRIGGER_INSTALL, ppb.TRIGGER_CONVERSION):
            await templates.CreateTemplate(
                ppb.CreateTemplateRequest(
                    template=ppb.Template(
                        partner_id=partner.partner_id, url_template=sink.base + "/pb?e={event_id}&c={click_id}",
                        trigger=trigger, sending_mode=ppb.SENDING_MODE_ATTRIBUTED,
                    )
                )
            )  # fmt: skip
    return account_id, postback_token, app_key, link.slug, campaign.campaign_id


# A person's browser (httpx's own User-Agent is an HTTP library's: invalid clicks, never credited).
BROWSER = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile"


def _enough_for_kills(acked: Acked) -> bool:
    return len(acked.clicks) > 50 and len(acked.installs) > 30 and len(acked.postbacks) > 30


def _enough_for_outage(acked: Acked) -> bool:
    return len(acked.clicks) > 30


async def _user(
    http: httpx.AsyncClient, slug: str, app_key: str, token: str, acked: Acked, until: float,
    enough: Callable[[Acked], bool], at_most: float,
) -> None:  # fmt: skip
    """One simulated user after another: click, install + purchase, the network's postback;
    until ``until`` and then until ``enough`` holds or ``at_most`` has come."""

    async def retry(send: object) -> httpx.Response | None:
        for _ in range(30):  # about as long as a restart; events and postbacks are idempotent
            with contextlib.suppress(httpx.HTTPError):
                resp = await send()  # type: ignore[operator]
                if resp.status_code < 500:
                    return resp
            acked.refused += 1
            await asyncio.sleep(0.2)
        return None

    while time.monotonic() < until or (not enough(acked) and time.monotonic() < at_most):
        gaid = str(uuid.uuid4())
        try:
            click = await http.get(f"/c/{slug}?gaid={gaid}&sub1=faults")
        except httpx.HTTPError:
            click = None
        if click is None or click.status_code != 302:
            acked.refused += 1
            await asyncio.sleep(0.1)
            continue
        click_id = parse_qs(urlsplit(click.headers["location"]).query)["click_id"][0]
        acked.clicks.add(click_id)
        now = dt.datetime.now(dt.UTC).isoformat()
        device = {"gaid": gaid, "platform": "android"}
        install = {
            "uuid": str(uuid.uuid4()),
            "event": "install",
            "click_id": click_id,
            "timestamp": now,
            "device": device,
        }
        purchase = {
            "uuid": str(uuid.uuid4()), "event": "track", "action": "purchase", "timestamp": now, "device": device,
        }  # fmt: skip
        body = {"events": [install, purchase]}
        resp = await retry(lambda b=body: http.post("/v1/events", json=b, headers={"X-Api-Key": app_key}))
        if resp is not None and resp.status_code == 202:
            statuses = {r["uuid"]: r["status"] for r in resp.json()["results"]}
            if statuses[install["uuid"]] in ("accepted", "duplicate"):
                acked.installs.add(install["uuid"])
            if statuses[purchase["uuid"]] in ("accepted", "duplicate"):
                acked.purchases.add(purchase["uuid"])
        txid = f"tx-{click_id}"
        url = f"/postback?click_id={click_id}&txid={txid}&payout=1.25&status=approved&token={token}"
        resp = await retry(lambda u=url: http.get(u))
        if resp is not None and resp.status_code == 200:
            acked.postbacks.add(txid)


async def _check_nothing_lost(dsn: str, account_id: str, campaign_id: str, acked: Acked, sink: Sink | None) -> None:
    """Every acknowledged request's work is done in the end (within the leases),
    once: clicks stored, events stored once, installs and conversions recorded
    once each, and (with a sink) every one of them delivered to the partner."""
    conn = await asyncpg.connect(dsn)
    try:
        expected = len(acked.installs) + len(acked.purchases) + len(acked.postbacks)
        deadline = time.monotonic() + 90
        while True:
            # Without a postbacks process, the outbound events just wait in their queue.
            queues = (
                ["attribution.events"]
                if sink is None
                else ["attribution.events", "postbacks.events", "postbacks.deliveries"]
            )
            pending = await conn.fetchval(
                "SELECT count(*) FROM queue.jobs WHERE NOT dead AND queue = ANY($1::text[])", queues
            )
            if sink is None:
                done = await conn.fetchval(
                    "SELECT count(*) FROM attribution.installs WHERE account_id = $1", account_id
                )
                target = len(acked.installs)
            else:
                done = await conn.fetchval(
                    "SELECT count(DISTINCT event_id) FROM postbacks.deliveries"
                    " WHERE account_id = $1 AND status = 'delivered'",
                    account_id,
                )
                target = expected
            if pending == 0 and done >= target:
                break
            if time.monotonic() > deadline:
                jobs = await conn.fetch(
                    "SELECT queue, dead, attempts, left(coalesce(last_error, ''), 200) AS error, count(*)"
                    " FROM queue.jobs GROUP BY 1, 2, 3, 4"
                )
                pytest.fail(f"not done after 90 s: {done}/{target}; queue: {[tuple(j) for j in jobs]}")
            await asyncio.sleep(0.5)
        assert await conn.fetchval("SELECT count(*) FROM queue.jobs WHERE dead") == 0

        clicks = {r["click_id"] for r in await conn.fetch("SELECT click_id FROM links.clicks")}
        assert acked.clicks <= clicks, f"{len(acked.clicks - clicks)} clicks answered 302 are missing"
        stored = await conn.fetch("SELECT event_uuid::text AS u, count(*) AS n FROM ingest.events GROUP BY 1")
        assert all(r["n"] == 1 for r in stored), "an event was stored twice"
        assert acked.installs | acked.purchases <= {r["u"] for r in stored}
        installs = await conn.fetch(
            "SELECT event_uuid::text AS u, campaign_id, match_type FROM attribution.installs WHERE account_id = $1",
            account_id,
        )
        assert {r["u"] for r in installs} == acked.installs and len(installs) == len(acked.installs)
        assert {(r["campaign_id"], r["match_type"]) for r in installs} == {(campaign_id, 1)}  # by click id
        goals = await conn.fetch(
            "SELECT event_uuid::text AS u FROM attribution.conversions WHERE account_id = $1 AND source = 1",
            account_id,
        )
        assert sorted(r["u"] for r in goals) == sorted(acked.purchases)
        networks = await conn.fetch(
            "SELECT txid FROM attribution.conversions WHERE account_id = $1 AND source = 2", account_id
        )
        assert sorted(r["txid"] for r in networks) == sorted(acked.postbacks)
        if sink is not None:
            # Every install and conversion reached the partner (at least once: a delivery
            # sent just before its dispatcher was killed may be sent again).
            events = {r["event_id"] for r in await conn.fetch("SELECT event_id FROM postbacks.deliveries")}
            assert len(events) == expected
            assert events <= set(sink.counts)
        twice = sum(1 for n in sink.counts.values() if n > 1) if sink is not None else 0
        print(
            f"acknowledged: {len(acked.clicks)} clicks, {len(acked.installs)} installs, "
            f"{len(acked.purchases)} purchases, {len(acked.postbacks)} postbacks; refused meanwhile: "
            f"{acked.refused}; postbacks sent twice: {twice}"
        )
    finally:
        await conn.close()


@pytest.mark.timeout(300)
async def test_kill_9_of_each_service_in_turn_loses_nothing_acknowledged(db_url: str, tmp_path: Path) -> None:
    sink = await Sink().start()
    procs = Processes(
        tmp_path, db_url,
        CLICKTRAIL_POSTBACK_ALLOWED_NETWORKS="127.0.0.0/8", CLICKTRAIL_POSTBACK_RETRY_BASE_S="0.2",
        CLICKTRAIL_POSTBACK_RETRY_CAP_S="1", CLICKTRAIL_POSTBACK_MAX_ATTEMPTS="200", CLICKTRAIL_POSTBACK_POLL_S="0.2",
        # A killed consumer's claimed work comes back after this (the default is minutes).
        CLICKTRAIL_POSTBACK_LEASE_S="3", CLICKTRAIL_ATTRIBUTION_LEASE_S="3", CLICKTRAIL_GRPC_DEADLINE_S="2",
        **UNLIMITED,
    )  # fmt: skip
    for name in SERVICES:
        procs.plan(name, f"services.{name}")
    procs.plan("gateway", "gateway", grpc=False)
    for name in SERVICES:
        procs.point(name, name)
    acked = Acked()
    try:
        for name in (*SERVICES, "gateway"):
            await procs.start(name)
        account_id, token, app_key, slug, campaign_id = await _setup(procs, sink)

        async def faults(start: float) -> None:
            for at, name in KILLS:
                await asyncio.sleep(max(0.0, start + at - time.monotonic()))
                await procs.kill9(name)
                await asyncio.sleep(DOWN_S)
                await procs.start(name)

        start = time.monotonic()
        async with httpx.AsyncClient(base_url=procs.url, timeout=10, headers={"User-Agent": BROWSER}) as http:
            await asyncio.gather(
                faults(start),
                *(
                    _user(http, slug, app_key, token, acked, start + LOAD_S, _enough_for_kills, start + LOAD_MAX_S)
                    for _ in range(USERS)
                ),
            )
        assert all(procs.procs[n].starts == 2 for n in SERVICES)
        assert acked.refused > 0, "no request met a killed service: the faults did not bite"
        assert _enough_for_kills(acked), acked

        await _check_nothing_lost(db_url, account_id, campaign_id, acked, sink)
    finally:
        await procs.stop()
        await sink.close()


@pytest.mark.timeout(300)
async def test_a_postgres_restart_under_load_is_reported_recovered_from_and_loses_nothing(tmp_path: Path) -> None:
    pg = await PrivatePostgres.create()
    procs = Processes(tmp_path, pg.dsn, CLICKTRAIL_ATTRIBUTION_LEASE_S="3", CLICKTRAIL_GRPC_DEADLINE_S="2", **UNLIMITED)
    names = ("links", "ingest", "attribution")
    for name in names:
        procs.plan(name, f"services.{name}")
    procs.plan("gateway", "gateway", grpc=False)
    for name in names:
        procs.point(name, name)
    acked = Acked()
    seen: dict[str, float] = {}
    try:
        for name in (*names, "gateway"):
            await procs.start(name)
        account_id, token, app_key, slug, campaign_id = await _setup(procs, None)

        async def outage(http: httpx.AsyncClient, start: float) -> None:
            await asyncio.sleep(4.0)
            await pg.stop()
            down = time.monotonic()
            # Not ready: the gateway's /readyz and each service's gRPC health say so.
            async with asyncio.timeout(20):
                while (await http.get("/readyz")).status_code != 503:  # noqa: ASYNC110 (other processes)
                    await asyncio.sleep(0.2)
                while any(await asyncio.gather(*(grpc_serving(procs.procs[n].addr) for n in names))):  # noqa: ASYNC110
                    await asyncio.sleep(0.2)
            seen["not_ready_s"] = time.monotonic() - down
            await asyncio.sleep(max(0.0, down + 4.0 - time.monotonic()))
            await pg.start()
            up = time.monotonic()
            # Recovered by themselves: nothing restarted them.
            async with asyncio.timeout(30):
                while (await http.get("/readyz")).status_code != 200:  # noqa: ASYNC110 (other processes)
                    await asyncio.sleep(0.2)
            seen["ready_again_s"] = time.monotonic() - up

        start = time.monotonic()
        async with httpx.AsyncClient(base_url=procs.url, timeout=10, headers={"User-Agent": BROWSER}) as http:
            await asyncio.gather(
                outage(http, start),
                *(
                    _user(http, slug, app_key, token, acked, start + 16.0, _enough_for_outage, start + LOAD_MAX_S)
                    for _ in range(USERS)
                ),
            )
        assert all(p.starts == 1 and p.running for p in procs.procs.values())
        assert acked.refused > 0, "no request met the outage"
        assert _enough_for_outage(acked), acked
        print(
            f"not ready {seen['not_ready_s']:.1f} s after the stop, ready {seen['ready_again_s']:.1f} s after the start"
        )
        await _check_nothing_lost(pg.dsn, account_id, campaign_id, acked, None)
    finally:
        await procs.stop()
        await pg.close()
