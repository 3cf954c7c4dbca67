"""The console in a real headless browser (Debian's chromium via playwright):
sign in, create a campaign and a link, send a click through the gateway, see
it in the report and its chart."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import pytest
from clicktrail.attribution.v1 import config_pb2 as cpb
from google.protobuf import duration_pb2

from tests.conftest import AccountInfo, AttributionStubs
from tests.console.browser import INSTALL_HINT, browser_page, chromium_path
from tests.console.conftest import Seeded
from tests.gateway.conftest import RunningGateway


@pytest.fixture(autouse=True)
def need_chromium() -> None:
    if chromium_path() is None:
        pytest.fail(INSTALL_HINT, pytrace=False)


async def test_sign_in_create_campaign_and_link_click_shows_in_report(
    console_gateway: RunningGateway, account: AccountInfo, seeded: Seeded, attribution_stub: AttributionStubs
) -> None:
    base = console_gateway.url
    async with browser_page() as page:
        await page.goto(f"{base}/console/")
        assert page.url.endswith("/console/signin")
        await page.fill("input[name=api_key]", "ctk_wrong")
        await page.click("button[type=submit]")
        assert "That API key was not accepted" in await page.inner_text("#error")

        await page.fill("input[name=api_key]", account.api_key)
        await page.click("button[type=submit]")
        await page.wait_for_url("**/console/campaigns")
        assert "Acme Games" in await page.inner_text("header")

        await page.click("text=New campaign")
        await page.fill("input[name=name]", "Spring Launch")
        await page.select_option("select[name=partner_id]", seeded.partner_id)
        await page.select_option("select[name=app_id]", seeded.app_id)
        await page.select_option("select[name=status]", label="active")
        await page.click("#campaign-form button[type=submit]")
        await page.wait_for_url("**/console/campaigns/cmp_*")
        assert "Campaign created." in await page.inner_text(".notice")
        campaign_id = page.url.rsplit("/", 1)[1].split("?")[0]
        # Published: the frozen fields are read-only.
        assert await page.is_disabled("select[name=partner_id]")
        assert not await page.is_disabled("select[name=status]")

        await page.fill("#link-form input[name=name]", "Banner A")
        await page.fill("#link-form input[name=destination_url]", "https://shop.example/land?cid={click_id}")
        await page.click("#link-form button[type=submit]")
        await page.wait_for_selector("#links-table tr[data-link-id]")
        click_url = await page.inner_text("#links-table .click-url")
        impression_url = await page.inner_text("#links-table .impression-url")
        assert "/c/" in click_url and "/i/" in impression_url

        # A click through the real gateway (the link's public URL names the configured host).
        async with console_gateway.client() as client:
            resp = await client.get(urlsplit(click_url).path, headers={"user-agent": "Mozilla/5.0 (Linux; Android 14)"})
            assert resp.status_code == 302 and resp.headers["location"].startswith("https://shop.example/land?cid=")

        # A conversion-window change today: a breakpoint on the report's chart.
        await attribution_stub.settings.UpdateSettings(cpb.UpdateSettingsRequest(
            settings=cpb.AttributionSettings(conversion_window=duration_pb2.Duration(seconds=3 * 86400)),
            update_mask={"paths": ["conversion_window"]}))  # fmt: skip

        # The rollup folds the click in within a second or so: reload the report until it shows.
        clicks = ""
        deadline = asyncio.get_running_loop().time() + 60
        while asyncio.get_running_loop().time() < deadline:
            await page.goto(f"{base}/console/reports?group_by=campaign&f_campaign={campaign_id}")
            cells = await page.query_selector_all("#report-table tbody td.clicks")
            clicks = await cells[0].inner_text() if cells else ""
            if clicks == "1":
                break
            await asyncio.sleep(0.5)
        assert clicks == "1"
        assert await page.inner_text("#report-table tbody td:first-child") == "Spring Launch"
        # The chart drew the day's click.
        await page.wait_for_selector("#report-chart[data-ready='1']")
        points = await page.evaluate(
            "() => Chart.getChart('report-chart').data.datasets[0].data.reduce((a, b) => a + b, 0)"
        )
        assert points == 1
        assert "window 3d (conversion_window)" in await page.inner_text("#breakpoints")
        marks = await page.evaluate("() => Chart.getChart('report-chart').options.plugins.breakpointLines.marks")
        assert [m["label"] for m in marks] == ["window 3d (conversion_window)"]

        # The campaigns list shows today's click from one report call.
        await page.goto(f"{base}/console/campaigns")
        row = page.locator(f"tr[data-campaign-id='{campaign_id}']")
        assert await row.locator("td.clicks").inner_text() == "1"

        # CSV download of the same report.
        async with page.expect_download() as info:
            await page.goto(f"{base}/console/reports?group_by=campaign&f_campaign={campaign_id}")
            await page.click("#csv")
        download = await info.value
        text = open(await download.path()).read()  # noqa: ASYNC230
        header, first = text.splitlines()[:2]
        assert header.startswith("campaign,clicks,") and first.startswith(f"{campaign_id},1,")

        # A goal from its form: conditions in the CLI's --where syntax, one per line.
        await page.goto(f"{base}/console/goals/new")
        await page.fill("#goal-form input[name=name]", "Big purchase")
        await page.fill("#goal-form input[name=event]", "purchase")
        await page.fill("#goal-form textarea[name=conditions]", "action_properties.price > 10\nuser_id exists")
        await page.click("#goal-form button[type=submit]")
        await page.wait_for_url("**/console/goals?done=goal_created")
        assert "action_properties.price > 10" in await page.inner_text("#goals")

        await page.click("header button[type=submit]")
        await page.wait_for_url("**/console/signin**")
        await page.goto(f"{base}/console/campaigns")
        assert page.url.endswith("/console/signin")
