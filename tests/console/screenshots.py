"""`make screenshots`: the whole suite in-process on a scratch database with
demo data, then a PNG of each console page in console/screenshots/."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import ipaddress
import random
import secrets
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from clicktrail.accounts.v1 import accounts_pb2, accounts_pb2_grpc
from clicktrail.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from clicktrail.postbacks.v1 import postbacks_pb2_grpc

from bench.common import scratch_database
from libs.config import load_settings
from libs.grpc_client import make_channel
from libs.grpc_server import start_service
from libs.logging import configure_logging
from libs.migrations import migrate
from services.analytics import server as analytics_server_module
from services.analytics.rollup import RollupRunner
from services.analytics.server import SPEC as ANALYTICS_SPEC
from services.attribution.server import SPEC as ATTRIBUTION_SPEC
from services.ingest.server import SPEC as INGEST_SPEC
from services.links.server import SPEC as LINKS_SPEC
from services.postbacks.server import SPEC as POSTBACKS_SPEC
from tests.console.browser import browser_page
from tests.console.seed import seed_world
from tests.gateway.conftest import start_gateway
from tests.services.postbacks.sink import Sink
from tests.services.postbacks.support import enqueue_events, event, new_template

OUT = Path(__file__).resolve().parents[2] / "console" / "screenshots"


async def _send_events(_links: Any, ingest_addr: str, key: str, app_id: str) -> None:
    """Three weeks of a small app: installs, screens, returns and purchases."""
    rng = random.Random(7)
    today = dt.datetime.now(dt.UTC).replace(hour=9, minute=0, second=0, microsecond=0)
    events: list[dict[str, Any]] = []

    def ev(kind: str, user: str, at: dt.datetime, **kw: Any) -> None:
        events.append({"uuid": str(uuid.uuid4()), "event": kind, "timestamp": at.isoformat(), "user_id": user,
                       "app_id": app_id, **kw})  # fmt: skip

    for n in range(120):
        user = f"user{n}"
        first = today - dt.timedelta(days=rng.randint(1, 21), minutes=rng.randint(0, 600))
        ev("install", user, first)
        ev("screen", user, first + dt.timedelta(minutes=1), screen="home")
        if rng.random() < 0.6:
            ev("screen", user, first + dt.timedelta(minutes=2), screen="shop")
        for d in range(1, 22):
            at = first + dt.timedelta(days=d)
            if at < today and rng.random() < 0.5 / d**0.5:
                ev("screen", user, at, screen="home")
                if rng.random() < 0.15:
                    props = {"bundle_id": "gems", "bundle_package_items": [["gem", "100"]],
                             "bundle_paid_id": "usd_4.99", "bundle_paid_amount": "4.99", "bundle_paid_currency": "USD",
                             "platform": "Google Play Store", "tx_ref": uuid.uuid4().hex}  # fmt: skip
                    ev("track", user, at + dt.timedelta(minutes=1), action="monetization_web2", action_properties=props)
    async with make_channel(ingest_addr, token=key, deadline_s=30) as ch:
        stub = ingest_pb2_grpc.IngestServiceStub(ch)
        for i in range(0, len(events), 500):
            body = orjson.dumps({"events": events[i : i + 500]})
            await stub.SendEventsJson(ingest_pb2.SendEventsJsonRequest(body=body))


async def main() -> None:
    configure_logging("screenshots", "warning")
    admin = secrets.token_urlsafe(16)
    async with scratch_database() as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            from tests.conftest import ALL_MIGRATIONS

            for schema, folder in ALL_MIGRATIONS:
                await migrate(conn, schema, Path(folder))
        finally:
            await conn.close()
        settings = load_settings(
            env={}, database_url=dsn, admin_token=admin, internal_token=secrets.token_urlsafe(16),
            db_pool_min=1, db_pool_max=4, log_level="warning", console_secret=secrets.token_urlsafe(32),
            analytics_rollup_interval_s=0.2, analytics_rollup_lag_s=0.2, postback_max_attempts=2,
            postback_allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),), postback_retry_base_s=0.05,
        )  # fmt: skip
        services = []
        links = await start_service(LINKS_SPEC, settings, listen="127.0.0.1:0")
        services.append(links)
        settings = dataclasses.replace(settings, links_addr=links.addr)
        for spec, field in ((INGEST_SPEC, "ingest_addr"), (ATTRIBUTION_SPEC, "attribution_addr"),
                            (POSTBACKS_SPEC, "postbacks_addr"), (ANALYTICS_SPEC, "analytics_addr")):  # fmt: skip
            svc = await start_service(spec, settings, listen="127.0.0.1:0")
            services.append(svc)
            addr: dict[str, Any] = {field: svc.addr}
            settings = dataclasses.replace(settings, **addr)
        sink: Sink | None = None
        gw = await start_gateway(settings)
        settings = dataclasses.replace(settings, public_url=gw.url)
        try:
            async with make_channel(links.addr, token=admin) as ch:
                acct = await accounts_pb2_grpc.AccountServiceStub(ch).CreateAccount(
                    accounts_pb2.CreateAccountRequest(name="Acme Games")
                )
            key = acct.api_key
            addrs = (settings.links_addr, settings.attribution_addr, settings.postbacks_addr, settings.analytics_addr)
            chans = [make_channel(a, token=key) for a in addrs]
            world = await seed_world(*chans)
            await _send_events(chans[0], settings.ingest_addr, key, world.app_id)
            analytics = services[-1]
            runner = RollupRunner(analytics.ctx.pool, analytics_server_module.ROLLUPS,
                                  dataclasses.replace(settings, analytics_rollup_lag_s=0.0))  # fmt: skip
            await runner.run_once()
            for ch in chans:
                await ch.close()
            click_ids = []
            async with httpx.AsyncClient(base_url=gw.url) as client:
                for n, slug in enumerate(world.slugs):
                    for i in range(12 // (n + 1)):
                        resp = await client.get(
                            f"/c/{slug}", headers={"user-agent": f"Mozilla/5.0 (Android 14) demo{i}"}
                        )
                        click_ids.append(resp.headers["location"].rsplit("cid=", 1)[1])
                # Two inbound S2S conversions (the inbound log) ...
                for n, click_id in enumerate(click_ids[:2]):
                    await client.get("/postback", params={"click_id": click_id, "payout": "7.50", "status": "sale",
                                                          "txid": f"T{n}", "token": acct.postback_token})  # fmt: skip
            # ... and outbound postbacks a partner refuses (404): dead letters to retry.
            sink = await Sink().start()
            sink.mode, sink.status = "status", 404
            async with make_channel(settings.postbacks_addr, token=key) as ch:
                sink_template = await new_template(postbacks_pb2_grpc.PostbackServiceStub(ch), world.partner_id,
                                                   sink.base + "/pb", name="Sink (refuses)")  # fmt: skip
            await enqueue_events(dsn, [event(acct.account.account_id, world.partner_id) for _ in range(3)])
            await asyncio.sleep(2.0)  # the rollup folds the clicks in
            pages = {
                "signin": "/console/signin",
                "campaigns": "/console/campaigns",
                "campaign": f"/console/campaigns/{world.campaign_ids[0]}",
                "campaign_new": "/console/campaigns/new",
                "partners": "/console/partners",
                "report": "/console/reports?group_by=campaign&group_by=country",
                "metrics": "/console/metrics?steps=screen:home,screen:shop,action:monetization_web2",
                "postback_templates": "/console/postbacks",
                "postback_template_new": f"/console/postbacks/new?partner_id={world.partner_id}",
                "postback_template": f"/console/postbacks/{sink_template.template_id}",
                "deliveries": "/console/postbacks/deliveries",
                "inbound": "/console/postbacks/inbound",
                "goals": "/console/goals",
                "goal_new": "/console/goals/new",
                "goal": f"/console/goals/{world.goal_id}",
                "goal_delete": f"/console/goals/{world.goal_id}/delete",
                "tariffs": "/console/tariffs",
                "rules": "/console/rules",
                "rule_new": "/console/rules/new",
                "rule": f"/console/rules/{world.rule_id}",
                "rule_runs": f"/console/rules/{world.rule_id}/runs",
            }
            OUT.mkdir(parents=True, exist_ok=True)
            async with browser_page() as page:
                await page.goto(f"{gw.url}/console/signin")
                await page.screenshot(path=str(OUT / "signin.png"), full_page=True)
                await page.fill("input[name=api_key]", key)
                await page.click("button[type=submit]")
                await page.wait_for_url("**/console/campaigns")
                for name, path in pages.items():
                    if name == "signin":
                        continue
                    await page.goto(f"{gw.url}{path}")
                    await page.wait_for_load_state("networkidle")
                    await page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
                    print(f"console/screenshots/{name}.png  {path}")
        finally:
            if sink is not None:
                await sink.close()
            await gw.stop()
            for svc in reversed(services):
                await svc.stop(grace=1.0)


if __name__ == "__main__":
    asyncio.run(main())
