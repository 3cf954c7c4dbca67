"""The console's attribution settings page, through the real console behind the
gateway: the six windows (retargeting's re-engagement and reinstall windows
among them) in a form (unreadable text and out-of-range windows refused by
field, a change recorded as a dated breakpoint in the history, no breakpoint
when nothing changed), the re-engagements list and the nav entry."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import httpx
from clicktrail.attribution.v1 import config_pb2 as cpb
from clicktrail.attribution.v1 import config_pb2_grpc

from tests.conftest import AccountInfo
from tests.console.test_console_http import csrf_of, sign_in
from tests.gateway.conftest import RunningGateway
from tests.services.attribution.engine_support import drained, event, send
from tests.services.attribution.test_reengagement import GAID, opened, setup, touch

FIELD_ERROR_RE = re.compile(r'class="field-error" data-field="([^"]+)">([^<]+)<')
PAGE = "/console/attribution-settings"
DEFAULTS = {
    "click_lookback": "7d", "view_lookback": "1d", "fingerprint_window": "1d", "conversion_window": "30d",
    "re_engagement_window": "30d", "reinstall_window": "90d",
}  # fmt: skip


async def _post(client: httpx.AsyncClient, form: dict[str, str]) -> httpx.Response:
    shown = await client.get(PAGE)
    assert shown.status_code == 200, shown.text[:2000]
    return await client.post(PAGE, data={"csrf": csrf_of(shown.text), **form})


async def test_attribution_settings_page(
    console_gateway: RunningGateway, account: AccountInfo, attribution_server: Any, attribution_stub: Any,
    channels: Any, ingest_server: Any, ingest_stub: Any, links_stub: Any, gateway_links_stub: Any, settings: Any,
) -> None:  # fmt: skip
    stub = config_pb2_grpc.AttributionSettingsServiceStub(channels(attribution_server.addr, token=account.api_key))
    async with console_gateway.client() as client:
        await sign_in(client, account.api_key)
        first = await client.get(PAGE)
        assert first.status_code == 200
        assert f'href="{PAGE}"' in first.text  # the nav entry
        for name, value in DEFAULTS.items():
            assert f'name="{name}" value="{value}"' in first.text
        assert "No breakpoints" in first.text and "No re-engagement or re-attribution yet" in first.text

        # Unreadable text: refused by field, what was typed is kept, nothing recorded.
        bad = await _post(client, {**DEFAULTS, "re_engagement_window": "soon"})
        assert bad.status_code == 400
        assert "is not a duration like 7d" in dict(FIELD_ERROR_RE.findall(bad.text))["re_engagement_window"]
        assert 'name="re_engagement_window" value="soon"' in bad.text
        # Out of range: the service's reason, by field.
        out = await _post(client, {**DEFAULTS, "reinstall_window": "2h"})
        assert out.status_code == 400
        assert dict(FIELD_ERROR_RE.findall(out.text))["reinstall_window"] == "must be from 1d to 730d; got 2h"
        assert not (await stub.ListSettingsHistory(cpb.ListSettingsHistoryRequest())).breakpoints

        same = await _post(client, DEFAULTS)
        assert same.status_code == 303 and same.headers["location"].endswith("done=unchanged")
        saved = await _post(client, {**DEFAULTS, "re_engagement_window": "7d", "reinstall_window": "180d"})
        assert saved.status_code == 303 and saved.headers["location"].endswith("done=saved")
        now = (await stub.GetSettings(cpb.GetSettingsRequest())).settings
        assert now.re_engagement_window.ToTimedelta() == dt.timedelta(days=7)
        assert now.reinstall_window.ToTimedelta() == dt.timedelta(days=180)
        shown = await client.get(PAGE + "?done=saved")
        assert "Settings saved" in shown.text and 'name="reinstall_window" value="180d"' in shown.text
        assert "re_engagement_window, reinstall_window" in shown.text  # the history row

        # A re-engagement shows in the list.
        app_id, ua, rt = await setup(attribution_stub, links_stub)
        await send(ingest_stub, event(app_id, "install", click_id=await touch(gateway_links_stub, ua),
                                      device={"gaid": GAID}))  # fmt: skip
        await drained(settings)
        rt_click = await touch(gateway_links_stub, rt)
        await send(ingest_stub, opened(app_id, rt_click))
        await drained(settings)
        listed = await client.get(PAGE)
        assert "re-engagement" in listed.text and rt_click in listed.text and rt.campaign_id in listed.text
