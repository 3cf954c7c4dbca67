"""The traffic-quality pages: rates and top reasons from the rollups, the
flagged touches with their verdict badges, and an overrule that moves the
report and the cost (real services, the real gateway over HTTP)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

import grpc
import pytest

from tests.conftest import AccountInfo
from tests.console.seed import World, seed_world
from tests.console.test_console_http import csrf_of, sign_in
from tests.gateway.conftest import RunningGateway

PHONE = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)
# Google's ad-landing-page crawler, as Google documents it (developers.google.com/search/docs/crawling-indexing/
# google-special-case-crawlers: "AdsBot-Google (+http://www.google.com/adsbot.html)").
ADSBOT = "AdsBot-Google (+http://www.google.com/adsbot.html)"
ROW_RE = r'<tr data-key="{key}">(.*?)</tr>'


@pytest.fixture
async def world(
    console_gateway: RunningGateway, account: AccountInfo, channels: Callable[..., grpc.aio.Channel]
) -> World:
    s = console_gateway.settings
    return await seed_world(*(channels(a, token=account.api_key) for a in (
        s.links_addr, s.attribution_addr, s.postbacks_addr, s.analytics_addr)))  # fmt: skip


def _cells(html: str, key: str) -> list[str]:
    m = re.search(ROW_RE.format(key=re.escape(key)), html, re.S)
    assert m, html[-3000:]
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", m.group(1), re.S)]


async def test_quality_pages_show_rates_reasons_and_an_overrule_moves_report_and_cost(
    console_gateway: RunningGateway, account: AccountInfo, world: World
) -> None:
    campaign = world.campaign_ids[0]  # the seeded world pays 0.05 USD per click on it
    async with console_gateway.client() as client:
        await sign_in(client, account.api_key)
        assert (await client.get(f"/c/{world.slugs[0]}", headers={"user-agent": PHONE})).status_code == 302
        assert (await client.get(f"/c/{world.slugs[0]}", headers={"user-agent": ADSBOT})).status_code == 302

        page = None
        for _ in range(240):  # the rollup folds the clicks within a second or so
            page = await client.get("/console/quality?by=campaign")
            if f'data-key="{campaign}"' in page.text:
                break
            await asyncio.sleep(0.25)
        assert page is not None and page.status_code == 200, page.text[:2000] if page else ""
        # rate, clicks clean / suspicious / invalid, installs ..., top reasons
        cells = _cells(page.text, campaign)
        assert cells[1] == "50.0%" and cells[2:5] == ["1", "0", "1"], cells
        assert "bot_user_agent" in cells[9]
        assert "bot_user_agent" in page.text.split('id="top-reasons"')[1].split("</div>")[0]
        # By partner the table's totals carry the top reasons; by a sub-id a report by campaign does.
        for by in ("partner", "sub1"):
            other = await client.get(f"/console/quality?by={by}")
            assert other.status_code == 200 and "50.0%" in other.text, (by, other.text[-2000:])
            assert "bot_user_agent" in other.text.split('id="top-reasons"')[1].split("</div>")[0], by

        # The drill-down lists the crawler's click with its badge, not the person's.
        touches = await client.get(f"/console/quality/touches?kind=clicks&verdict=invalid&campaign={campaign}")
        assert touches.status_code == 200
        ids = re.findall(r'<tr data-id="([^"]+)">', touches.text)
        assert len(ids) == 1 and 'class="verdict verdict-invalid">invalid<' in touches.text
        assert "AdsBot-Google" in touches.text and "Pixel 8" not in touches.text

        # Cost before: one clean click at 0.05.
        report = await client.get(f"/console/reports?group_by=campaign&f_campaign={campaign}")
        assert '<td class="num">0.05 USD</td>' in report.text, report.text[-3000:]  # the cost cell

        # Overrule it (say the operator knows this "crawler" is their own QA): clean.
        resp = await client.post(f"/console/quality/clicks/{ids[0]}/overrule", data={
            "csrf": csrf_of(touches.text), "verdict": "clean", "note": "our QA robot",
            "back": f"?kind=clicks&verdict=invalid&campaign={campaign}",
        })  # fmt: skip
        assert resp.status_code == 303, resp.text
        after = await client.get(resp.headers["location"])
        assert "Verdict overruled" in after.text and ids[0] not in after.text
        clean = await client.get(f"/console/quality/touches?kind=clicks&verdict=clean&campaign={campaign}")
        assert ids[0] in clean.text and "operator" in clean.text

        # The report and the cost follow: two paid clicks.
        for _ in range(240):
            report = await client.get(f"/console/reports?group_by=campaign&f_campaign={campaign}")
            clicks = re.search(r'<td class="num clicks">(\d+)</td>', report.text)
            if clicks and clicks.group(1) == "2":
                break
            await asyncio.sleep(0.25)
        assert clicks and clicks.group(1) == "2", report.text[-3000:]
        assert '<td class="num">0.1 USD</td>' in report.text, report.text[-3000:]

        # Bad input is named, not ignored.
        bad = await client.post(f"/console/quality/clicks/{ids[0]}/overrule", data={
            "csrf": csrf_of(clean.text), "verdict": "", "note": "x",
        })  # fmt: skip
        assert bad.status_code == 400 and "verdict" in bad.text
