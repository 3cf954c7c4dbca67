"""Every console page renders the account's data (httpx, real services)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

import grpc
import pytest
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc
from clicktrail.postbacks.v1 import postbacks_pb2_grpc

from libs.config import Settings
from tests.conftest import AccountInfo
from tests.console.seed import World, seed_world
from tests.console.test_console_http import csrf_of, sign_in
from tests.gateway.conftest import RunningGateway
from tests.services.postbacks.sink import Sink
from tests.services.postbacks.support import enqueue_events, event, new_partner, new_template, wait_for


@pytest.fixture
async def world(
    console_gateway: RunningGateway, account: AccountInfo, channels: Callable[..., grpc.aio.Channel]
) -> World:
    s = console_gateway.settings
    return await seed_world(*(channels(a, token=account.api_key) for a in (
        s.links_addr, s.attribution_addr, s.postbacks_addr, s.analytics_addr)))  # fmt: skip


async def test_every_page_shows_the_accounts_data(
    console_gateway: RunningGateway, account: AccountInfo, world: World
) -> None:
    async with console_gateway.client() as client:
        await sign_in(client, account.api_key)
        for _ in range(3):  # a click per seeded link
            for slug in world.slugs:
                assert (await client.get(f"/c/{slug}")).status_code == 302
        # The rollup folds the clicks in within a second or so.
        for _ in range(240):  # up to a minute on a loaded machine
            if ">Spring Launch</a>" in (await client.get("/console/reports?group_by=campaign")).text:
                break
            await asyncio.sleep(0.25)
        expected = {
            "/console/campaigns": ["Spring Launch", "Retarget Q2", "Draft idea"],
            f"/console/campaigns/{world.campaign_ids[0]}": ["Spring Launch banner", "/c/", "/i/", "frozen"],
            f"/console/campaigns/{world.campaign_ids[2]}": ["Draft idea banner"],
            "/console/partners": ["AdNet", "SocialAds", "Space Game"],
            "/console/reports?group_by=campaign&group_by=country": ["report-chart", ">Spring Launch</a>"],
            "/console/metrics": ["active-chart", "Space Game"],
            "/console/postbacks": ["AdNet installs", "adnet.example"],
            "/console/postbacks/deliveries?status=4&status=5": ["No deliveries match", 'value="4" checked'],
            "/console/postbacks/inbound": ["Inbound postbacks"],
            "/console/goals": ["purchase", world.goal_id],
            "/console/tariffs": [world.campaign_ids[0], "0.05"],
            "/console/rules": ["Stop losers", "Run history"],
            f"/console/rules/{world.rule_id}/runs": ["manual", "succeeded"],
        }
        for path, texts in expected.items():
            resp = await client.get(path)
            assert resp.status_code == 200, (path, resp.text[:2000])
            for text in texts:
                assert text in resp.text, (path, text)
        # Run a rule now (dry run): one more manual run in its history.
        runs = await client.get(f"/console/rules/{world.rule_id}/runs")
        before = runs.text.count("<td>manual</td>")
        form = {"csrf": csrf_of(runs.text), "dry_run": "1"}
        ran = await client.post(f"/console/rules/{world.rule_id}/runs", data=form)
        assert ran.status_code == 303
        after_run = await client.get(ran.headers["location"])
        assert after_run.text.count("<td>manual</td>") == before + 1 and "Rule run recorded" in after_run.text
        # The draft's frozen fields stay editable; the published one's are read-only.
        draft = await client.get(f"/console/campaigns/{world.campaign_ids[2]}")
        assert "frozen" not in draft.text
        # A published campaign's frozen field cannot change through the form either: it is sent unchanged.
        page = await client.get(f"/console/campaigns/{world.campaign_ids[0]}")
        resp = await client.post(f"/console/campaigns/{world.campaign_ids[0]}", data={
            "csrf": csrf_of(page.text), "name": "Spring Launch 2", "status": "3", "type": "2",
            "partner_id": world.partner_id, "app_id": world.app_id, "target_goal_id": world.goal_id,
        })  # fmt: skip
        assert resp.status_code == 303, resp.text
        after = await client.get(f"/console/campaigns/{world.campaign_ids[0]}")
        assert "Spring Launch 2" in after.text and 'value="3" selected' in after.text
        assert 'value="1" selected>app_install' in after.text


async def test_report_errors_name_the_field(console_gateway: RunningGateway, account: AccountInfo) -> None:
    async with console_gateway.client() as client:
        await sign_in(client, account.api_key)
        resp = await client.get("/console/reports?from=2026-02-30&to=2026-03-01")
        assert resp.status_code == 400
        assert 'data-field="start_date"' in resp.text


async def test_a_dead_letter_is_retried_from_the_delivery_log(
    console_gateway: RunningGateway, account: AccountInfo, links_stub: links_pb2_grpc.LinksServiceStub,
    postbacks_stub: postbacks_pb2_grpc.PostbackServiceStub, settings: Settings,
) -> None:  # fmt: skip
    sink = await Sink().start()
    try:
        partner = await new_partner(links_stub)
        await new_template(postbacks_stub, partner, sink.base + "/pb")
        sink.mode, sink.status = "status", 404  # a 4xx fails at once: a dead letter
        await enqueue_events(settings.database_url, [event(account.account_id, partner)])
        async with console_gateway.client() as client:
            await sign_in(client, account.api_key)
            page = None
            for _ in range(300):
                page = await client.get("/console/postbacks/deliveries?status=4&status=5")
                if "data-delivery-id" in page.text:
                    break
                await asyncio.sleep(0.1)
            assert page is not None and "HTTP 404" in page.text
            action = re.search(r'action="(/console/postbacks/deliveries/[^"]+/retry)"', page.text)
            assert action, page.text
            # Delivered ones have no Retry button.
            assert "delivered" not in page.text.split("<tbody>")[1]
            sink.mode = "ok"
            resp = await client.post(action.group(1), data={"csrf": csrf_of(page.text)})
            assert resp.status_code == 303
            assert "Delivery queued for another attempt." in (await client.get(resp.headers["location"])).text
            await wait_for(lambda: len(sink.hits) >= 2, timeout=30)
            for _ in range(300):
                delivered = await client.get("/console/postbacks/deliveries?status=3")
                if "data-delivery-id" in delivered.text:
                    break
                await asyncio.sleep(0.1)
            assert "data-delivery-id" in delivered.text and "Retry</button>" not in delivered.text
    finally:
        await sink.close()


async def test_long_lists_are_paged(
    console_gateway: RunningGateway, account: AccountInfo, links_stub: links_pb2_grpc.LinksServiceStub
) -> None:
    partner = await new_partner(links_stub)
    for n in range(30):  # more than a page (25)
        await links_stub.CreateCampaign(lpb.CreateCampaignRequest(campaign=lpb.Campaign(
            name=f"Camp {n:02d}", partner_id=partner, type=lpb.CAMPAIGN_TYPE_WEB)))  # fmt: skip
    async with console_gateway.client() as client:
        await sign_in(client, account.api_key)
        first = await client.get("/console/campaigns")
        names = set(re.findall(r">(Camp \d\d)</a>", first.text))
        assert len(names) == 25 and "First page" not in first.text
        token = re.search(r'class="next" href="\?page_token=([^"]+)"', first.text)
        assert token, first.text
        second = await client.get(f"/console/campaigns?page_token={token.group(1)}")
        more = set(re.findall(r">(Camp \d\d)</a>", second.text))
        assert len(more) == 5 and not names & more and "First page" in second.text
        assert 'class="next"' not in second.text


async def test_a_tariff_is_created_from_its_form_and_bad_input_is_named(
    console_gateway: RunningGateway, account: AccountInfo, links_stub: links_pb2_grpc.LinksServiceStub
) -> None:
    partner = await new_partner(links_stub)
    campaign = (await links_stub.CreateCampaign(lpb.CreateCampaignRequest(campaign=lpb.Campaign(
        name="Priced", partner_id=partner, type=lpb.CAMPAIGN_TYPE_WEB)))).campaign  # fmt: skip
    async with console_gateway.client() as client:
        await sign_in(client, account.api_key)
        page = await client.get("/console/tariffs")
        assert "No tariffs yet" in page.text
        bad = await client.post("/console/tariffs", data={
            "csrf": csrf_of(page.text), "campaign_id": campaign.campaign_id, "model": "5", "percent": "150",
        })  # fmt: skip
        assert bad.status_code == 400
        errors = dict(re.findall(r'class="field-error" data-field="([^"]+)">([^<]+)<', bad.text))
        assert "percent" in errors, bad.text
        ok = await client.post("/console/tariffs", data={
            "csrf": csrf_of(page.text), "campaign_id": campaign.campaign_id, "model": "1", "amount": "0.07",
            "currency": "USD",
        })  # fmt: skip
        assert ok.status_code == 303, ok.text
        listed = await client.get(ok.headers["location"])
        assert "Tariff created." in listed.text and ">Priced</a>" in listed.text and "0.07 USD" in listed.text
