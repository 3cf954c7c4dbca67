"""`clicktrail apple-ads show|set|map|unmap|mappings|lookups` against real links
and attribution servers."""

from __future__ import annotations

from typing import Any

import pytest
from clicktrail.links.v1 import links_pb2 as lpb

from libs.grpc_server import RunningService
from tests.cli.conftest import Cli


@pytest.fixture
def acli(cli: Cli, cli_env: pytest.MonkeyPatch, attribution_server: RunningService) -> Cli:
    cli_env.setenv("CLICKTRAIL_ATTRIBUTION_ADDR", attribution_server.addr)
    return cli


async def _campaign(links_stub: Any, partner_id: str, name: str) -> str:
    app = await links_stub.CreateApp(
        lpb.CreateAppRequest(app=lpb.App(name=name, platform=lpb.PLATFORM_IOS, bundle_id="com.acme." + name.lower()))
    )
    campaign = lpb.Campaign(name=name, partner_id=partner_id, app_id=app.app.app_id, status=lpb.CAMPAIGN_STATUS_ACTIVE)
    req = lpb.CreateCampaignRequest(campaign=campaign)
    return str((await links_stub.CreateCampaign(req)).campaign.campaign_id)


async def test_settings_and_mappings(acli: Cli, links_stub: Any) -> None:
    apple = (await links_stub.CreatePartner(lpb.CreatePartnerRequest(partner=lpb.Partner(name="Apple Ads")))).partner
    other = (await links_stub.CreatePartner(lpb.CreatePartnerRequest(partner=lpb.Partner(name="Network")))).partner
    brand = await _campaign(links_stub, apple.partner_id, "Brand")
    rest = await _campaign(links_stub, apple.partner_id, "Rest")
    foreign = await _campaign(links_stub, other.partner_id, "Foreign")

    shown = (await acli("apple-ads", "show", "--json")).json()
    assert shown["enabled"] is False and shown["partner_id"] == ""
    assert "not sent to Apple" in (await acli("apple-ads", "show")).stdout

    nothing = await acli("apple-ads", "set", code=2)
    assert "nothing to change" in nothing.stderr
    bad = await acli("apple-ads", "set", "--partner", "prt_nope", "--default-campaign", "cmp_nope", code=2)
    assert "settings.partner_id" in bad.stderr and "prt_nope" in bad.stderr
    assert "settings.default_campaign_id" in bad.stderr

    got = await acli("apple-ads", "set", "--enable", "--partner", apple.partner_id, "--default-campaign", rest,
                     "--json")  # fmt: skip
    assert got.json()["enabled"] is True and got.json()["default_campaign_id"] == rest
    # Only the flags given change.
    got = (await acli("apple-ads", "set", "--disable", "--json")).json()
    assert (got["enabled"], got["partner_id"], got["default_campaign_id"]) == (False, apple.partner_id, rest)

    mapped = (await acli("apple-ads", "map", "542370539", "--campaign", brand, "--json")).json()
    assert (mapped["apple_campaign_id"], mapped["campaign_id"]) == ("542370539", brand)
    again = await acli("apple-ads", "map", "542370539", "--campaign", rest, code=1)
    assert "mapped already" in again.stderr
    wrong = await acli("apple-ads", "map", "7", "--campaign", foreign, code=2)
    assert "mapping.campaign_id" in wrong.stderr and "not the Apple Ads partner" in wrong.stderr
    assert "greater than or equal to 1" in (await acli("apple-ads", "map", "0", "--campaign", brand, code=2)).stderr
    await acli("apple-ads", "map", "11", "--campaign", rest)

    listed = (await acli("apple-ads", "mappings", "--json")).json()["mappings"]
    assert [(m["apple_campaign_id"], m["campaign_id"]) for m in listed] == [("11", rest), ("542370539", brand)]
    table = (await acli("apple-ads", "mappings")).stdout
    assert "542370539" in table and brand in table

    assert "deleted the mapping of Apple campaign 11" in (await acli("apple-ads", "unmap", "11")).stdout
    gone = await acli("apple-ads", "unmap", "11", code=1)
    assert "no mapping for Apple campaign 11" in gone.stderr
    assert len((await acli("apple-ads", "mappings", "--json")).json()["mappings"]) == 1

    empty = await acli("apple-ads", "lookups")
    assert "no install token resolved yet" in empty.stderr
    assert (await acli("apple-ads", "lookups", "--outcome", "invalid_token", "--json")).json()["lookups"] == []
    assert "invalid_token" in (await acli("apple-ads", "lookups", "--outcome", "bogus", code=2)).stderr
