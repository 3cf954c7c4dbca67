"""The console's Apple Ads page, through the real console behind the gateway:
the settings form (a refused campaign shows its field error and keeps the
choice), the mappings (add, refused by field, listed, removed after a
confirmation) and the nav entry."""

from __future__ import annotations

import re
from typing import Any

import httpx
from clicktrail.attribution.v1 import apple_ads_pb2 as pb
from clicktrail.attribution.v1 import apple_ads_pb2_grpc as pb_grpc
from clicktrail.links.v1 import links_pb2 as lpb

from tests.conftest import AccountInfo
from tests.console.conftest import Seeded
from tests.console.test_console_http import csrf_of, sign_in
from tests.gateway.conftest import RunningGateway

# A field's error beside its input (macros.field_error) or under the form (macros.other_errors).
FIELD_ERROR_RE = re.compile(r'class="field-error" data-field="([^"]+)">(?:<code>[^<]+</code>: )?([^<]+)<')
PAGE = "/console/apple-ads"


async def _post(client: httpx.AsyncClient, action: str, form: dict[str, str]) -> httpx.Response:
    shown = await client.get(PAGE)
    assert shown.status_code == 200, shown.text[:2000]
    return await client.post(action, data={"csrf": csrf_of(shown.text), **form})


async def _campaign(links_stub: Any, app_id: str, partner_id: str, name: str) -> str:
    campaign = lpb.Campaign(name=name, partner_id=partner_id, app_id=app_id, status=lpb.CAMPAIGN_STATUS_ACTIVE)
    return str((await links_stub.CreateCampaign(lpb.CreateCampaignRequest(campaign=campaign))).campaign.campaign_id)


async def test_apple_ads_page(
    console_gateway: RunningGateway, account: AccountInfo, seeded: Seeded, links_stub: Any, attribution_server: Any,
    channels: Any,
) -> None:  # fmt: skip
    apple = (await links_stub.CreatePartner(lpb.CreatePartnerRequest(partner=lpb.Partner(name="Apple Ads")))).partner
    brand = await _campaign(links_stub, seeded.app_id, apple.partner_id, "ASA Brand")
    foreign = await _campaign(links_stub, seeded.app_id, seeded.partner_id, "AdNet Spring")
    stub = pb_grpc.AppleAdsServiceStub(channels(attribution_server.addr, token=account.api_key))
    async with console_gateway.client() as client:
        await sign_in(client, account.api_key)
        first = await client.get(PAGE)
        assert first.status_code == 200
        assert 'href="/console/apple-ads"' in first.text and "Apple Ads" in first.text  # the nav entry
        assert "No mappings yet" in first.text and "No install token resolved yet" in first.text

        # Another partner's campaign as the default of the Apple Ads partner: refused, by field.
        refused = await _post(client, f"{PAGE}/settings", {
            "enabled": "on", "partner_id": apple.partner_id, "default_campaign_id": foreign,
        })  # fmt: skip
        assert refused.status_code == 400
        errors = dict(FIELD_ERROR_RE.findall(refused.text))
        assert "not the Apple Ads partner" in errors["default_campaign_id"]
        assert f'<option value="{foreign}" selected>' in refused.text  # the choice is kept
        assert not (await stub.GetAppleAdsSettings(pb.GetAppleAdsSettingsRequest())).settings.enabled

        saved = await _post(client, f"{PAGE}/settings", {
            "enabled": "on", "partner_id": apple.partner_id, "default_campaign_id": brand,
        })  # fmt: skip
        assert saved.status_code == 303 and saved.headers["location"].endswith("?done=settings_saved")
        got = (await stub.GetAppleAdsSettings(pb.GetAppleAdsSettingsRequest())).settings
        assert (got.enabled, got.partner_id, got.default_campaign_id) == (True, apple.partner_id, brand)
        shown = await client.get(saved.headers["location"])
        assert "Apple Ads settings saved." in shown.text and 'name="enabled" checked' in shown.text

        bad = await _post(client, f"{PAGE}/mappings", {"apple_campaign_id": "abc", "campaign_id": brand})
        assert bad.status_code == 400
        assert "apple_campaign_id" in dict(FIELD_ERROR_RE.findall(bad.text))
        added = await _post(client, f"{PAGE}/mappings", {"apple_campaign_id": "542370539", "campaign_id": brand})
        assert added.status_code == 303
        listed = await client.get(added.headers["location"])
        assert 'data-apple-campaign="542370539"' in listed.text and "ASA Brand" in listed.text
        twice = await _post(client, f"{PAGE}/mappings", {"apple_campaign_id": "542370539", "campaign_id": brand})
        assert twice.status_code == 409 and "mapped already" in twice.text

        confirm = await client.get(f"{PAGE}/mappings/542370539/delete")
        assert confirm.status_code == 200 and "Apple campaign 542370539" in confirm.text
        deleted = await client.post(f"{PAGE}/mappings/542370539/delete", data={"csrf": csrf_of(confirm.text)})
        assert deleted.status_code == 303
        assert list((await stub.ListAppleAdsMappings(pb.ListAppleAdsMappingsRequest())).mappings) == []
        assert (await client.get(f"{PAGE}/mappings/not-a-number/delete")).status_code == 404
