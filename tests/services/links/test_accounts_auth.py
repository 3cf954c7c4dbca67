"""Accounts, keys, and tenant isolation across every LinksService RPC."""

import time

import grpc
import pytest
from clicktrail.accounts.v1 import accounts_pb2 as apb
from clicktrail.accounts.v1 import accounts_pb2_grpc
from clicktrail.links.v1 import links_pb2 as pb
from clicktrail.links.v1 import links_pb2_grpc
from google.protobuf import field_mask_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tests.services.links.conftest import make_setup


def field_violations(err: grpc.aio.AioRpcError) -> dict[str, str]:
    status = rpc_status.from_call(err)
    out = {}
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            out.update({v.field: v.description for v in bad.field_violations})
    return out


async def test_create_account_needs_the_admin_token(links_server, channels, account):
    anon = accounts_pb2_grpc.AccountServiceStub(channels(links_server.addr))
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await anon.CreateAccount(apb.CreateAccountRequest(name="x"))
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
    as_account = accounts_pb2_grpc.AccountServiceStub(channels(links_server.addr, token=account.api_key))
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await as_account.CreateAccount(apb.CreateAccountRequest(name="x"))
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
    wrong = accounts_pb2_grpc.AccountServiceStub(channels(links_server.addr, token="ctk_abcdef012345_nope"))
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await wrong.GetAccount(apb.GetAccountRequest())
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_account_validation_names_the_fields(admin_stub):
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await admin_stub.CreateAccount(apb.CreateAccountRequest(name=" ", currency_code="US$", time_zone="Mars/Base"))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(e.value)) == {"name", "currency_code", "time_zone"}


async def test_secrets_are_stored_hashed(account, links_server):
    rows = await links_server.ctx.pool.fetch("SELECT secret_hash FROM accounts.credentials")
    assert len(rows) == 2
    for r in rows:
        assert account.api_key.encode() not in bytes(r["secret_hash"])
        assert len(r["secret_hash"]) == 32


async def test_rotating_the_api_key_stops_the_old_one(links_server, channels, account):
    old = accounts_pb2_grpc.AccountServiceStub(channels(links_server.addr, token=account.api_key))
    me = (await old.GetAccount(apb.GetAccountRequest())).account
    assert me.account_id == account.account_id and me.currency_code == "USD" and me.time_zone == "UTC"
    new_key = (await old.RotateApiKey(apb.RotateApiKeyRequest())).api_key
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await old.GetAccount(apb.GetAccountRequest())
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
    new = accounts_pb2_grpc.AccountServiceStub(channels(links_server.addr, token=new_key))
    assert (await new.GetAccount(apb.GetAccountRequest())).account.account_id == account.account_id


async def test_admin_can_list_accounts_with_pagination(admin_stub, new_account):
    made = {(await new_account(f"a{i}")).account_id for i in range(5)}
    seen, token = set(), ""
    while True:
        resp = await admin_stub.ListAccounts(apb.ListAccountsRequest(page_size=2, page_token=token))
        assert len(resp.accounts) <= 2
        seen |= {a.account_id for a in resp.accounts}
        token = resp.next_page_token
        if not token:
            break
    assert made <= seen


async def test_app_key_can_only_send_events(links_stub, links_server, channels):
    resp = await links_stub.CreateApp(pb.CreateAppRequest(app=pb.App(name="Web", platform=pb.PLATFORM_WEB)))
    assert resp.app_key.startswith("cta_")
    as_app = links_pb2_grpc.LinksServiceStub(channels(links_server.addr, token=resp.app_key))
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await as_app.ListApps(pb.ListAppsRequest())
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "app key" in e.value.details()


async def test_record_clicks_is_for_services_only(links_stub, setup):
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await links_stub.RecordClicks(pb.RecordClicksRequest(clicks=[pb.TouchInput(slug=setup.link.slug)]))
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_another_account_sees_and_changes_nothing(
    links_server, channels, account, links_stub, new_account, gateway_links_stub
):
    a = await make_setup(links_stub)
    rec = await gateway_links_stub.RecordClicks(
        pb.RecordClicksRequest(
            clicks=[
                pb.TouchInput(
                    slug=a.link.slug,
                    raw_query=b"idfa=6D92078A-8246-4BA4-AE5B-76104861E7DC",
                    ip="1.2.3.4",
                    user_agent="UA",
                )
            ]
        )
    )
    click_id = rec.results[0].touch_id
    other = await new_account("Mallory")
    m = links_pb2_grpc.LinksServiceStub(channels(links_server.addr, token=other.api_key))
    not_found = [
        m.GetApp(pb.GetAppRequest(app_id=a.app.app_id)),
        m.UpdateApp(pb.UpdateAppRequest(app=pb.App(app_id=a.app.app_id, name="pwned"))),
        m.DeleteApp(pb.DeleteAppRequest(app_id=a.app.app_id)),
        m.RotateAppKey(pb.RotateAppKeyRequest(app_id=a.app.app_id)),
        m.GetPartner(pb.GetPartnerRequest(partner_id=a.partner.partner_id)),
        m.UpdatePartner(pb.UpdatePartnerRequest(partner=pb.Partner(partner_id=a.partner.partner_id, name="pwned"))),
        m.DeletePartner(pb.DeletePartnerRequest(partner_id=a.partner.partner_id)),
        m.GetCampaign(pb.GetCampaignRequest(campaign_id=a.campaign.campaign_id)),
        m.UpdateCampaign(
            pb.UpdateCampaignRequest(campaign=pb.Campaign(campaign_id=a.campaign.campaign_id, name="pwned"))
        ),
        m.DeleteCampaign(pb.DeleteCampaignRequest(campaign_id=a.campaign.campaign_id)),
        m.GetLink(pb.GetLinkRequest(link_id=a.link.link_id)),
        m.UpdateLink(pb.UpdateLinkRequest(link=pb.Link(link_id=a.link.link_id, name="pwned"))),
        m.DeleteLink(pb.DeleteLinkRequest(link_id=a.link.link_id)),
        m.GetClick(pb.GetClickRequest(click_id=click_id)),
    ]
    for call in not_found:
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await call
        assert e.value.code() == grpc.StatusCode.NOT_FOUND, e.value.details()
    # Using the victim's partner or app in the attacker's own objects fails too.
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await m.CreateCampaign(
            pb.CreateCampaignRequest(campaign=pb.Campaign(name="x", partner_id=a.partner.partner_id))
        )
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await m.CreateLink(
            pb.CreateLinkRequest(link=pb.Link(campaign_id=a.campaign.campaign_id, destination_url="https://x.test/"))
        )
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert not (await m.ListApps(pb.ListAppsRequest())).apps
    assert not (await m.ListPartners(pb.ListPartnersRequest())).partners
    assert not (await m.ListCampaigns(pb.ListCampaignsRequest())).campaigns
    assert not (await m.ListLinks(pb.ListLinksRequest())).links
    assert not (await m.ListClicks(pb.ListClicksRequest())).clicks
    assert not (await m.ListClicks(pb.ListClicksRequest(campaign_id=a.campaign.campaign_id))).clicks
    assert not (await m.ListImpressions(pb.ListImpressionsRequest())).impressions
    start, end = Timestamp(seconds=int(time.time()) - 3600), Timestamp(seconds=int(time.time()) + 3600)
    found = await m.FindTouches(
        pb.FindTouchesRequest(device_id="6d92078a-8246-4ba4-ae5b-76104861e7dc", start_time=start, end_time=end)
    )
    assert not found.clicks
    mine = await links_stub.FindTouches(
        pb.FindTouchesRequest(device_id="6d92078a-8246-4ba4-ae5b-76104861e7dc", start_time=start, end_time=end)
    )
    assert [c.click_id for c in mine.clicks] == [click_id]
    # Nothing of the victim's changed.
    assert (await links_stub.GetApp(pb.GetAppRequest(app_id=a.app.app_id))).app.name == "Game"
    assert (
        await links_stub.GetCampaign(pb.GetCampaignRequest(campaign_id=a.campaign.campaign_id))
    ).campaign.name == "Spring"
    assert (await links_stub.GetLink(pb.GetLinkRequest(link_id=a.link.link_id))).link.name == ""
    # Naming the victim's account in account RPCs finds nothing and rotates nothing.
    acc = accounts_pb2_grpc.AccountServiceStub(channels(links_server.addr, token=other.api_key))
    for call in (
        acc.GetAccount(apb.GetAccountRequest(account_id=account.account_id)),
        acc.RotateApiKey(apb.RotateApiKeyRequest(account_id=account.account_id)),
        acc.RotatePostbackToken(apb.RotatePostbackTokenRequest(account_id=account.account_id)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await call
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert (await links_stub.ListApps(pb.ListAppsRequest())).apps  # the victim's key still works


# ---- the service credentials are not master keys (issue 19 item 4) ------------------------


def _denied_naming_the_method(err: grpc.aio.AioRpcError, method: str) -> None:
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED, (method, err.code(), err.details())
    assert method in err.details(), err.details()


async def test_the_gateway_token_only_records_touches(links_server, channels, account, links_stub, setup):
    """The internet-facing gateway's token cannot mint secrets, read or change anything,
    even naming an account in x-account-id; it can record a click."""
    from tests.conftest import GATEWAY_TOKEN

    ch = channels(links_server.addr, token=GATEWAY_TOKEN, account_id=account.account_id)
    links, accounts = links_pb2_grpc.LinksServiceStub(ch), accounts_pb2_grpc.AccountServiceStub(ch)
    calls = {
        "AccountService/CreateAccount": accounts.CreateAccount(apb.CreateAccountRequest(name="x")),
        "AccountService/RotateApiKey": accounts.RotateApiKey(apb.RotateApiKeyRequest(account_id=account.account_id)),
        "AccountService/RotatePostbackToken": accounts.RotatePostbackToken(apb.RotatePostbackTokenRequest()),
        "AccountService/GetAccount": accounts.GetAccount(apb.GetAccountRequest()),
        "LinksService/CreateApp": links.CreateApp(pb.CreateAppRequest(app=pb.App(name="x"))),
        "LinksService/RotateAppKey": links.RotateAppKey(pb.RotateAppKeyRequest(app_id=setup.app.app_id)),
        "LinksService/GetCampaign": links.GetCampaign(pb.GetCampaignRequest(campaign_id=setup.campaign.campaign_id)),
        "LinksService/LookupTouches": links.LookupTouches(pb.LookupTouchesRequest()),
    }
    for method, call in calls.items():
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await call
        _denied_naming_the_method(e.value, method)
    # The account's secrets still work: nothing was rotated.
    assert (await links_stub.GetApp(pb.GetAppRequest(app_id=setup.app.app_id))).app.app_id == setup.app.app_id
    rec = await links.RecordClicks(pb.RecordClicksRequest(clicks=[pb.TouchInput(slug=setup.link.slug, ip="1.2.3.4")]))
    assert rec.results[0].outcome == pb.TOUCH_OUTCOME_RECORDED


async def test_the_internal_token_cannot_mint_secrets(links_server, channels, account, links_stub, setup):
    """Acting for an account, the internal token gets its look-ups, but none of the
    calls that create or rotate a secret, nor recording touches (the gateway's)."""
    from tests.conftest import INTERNAL_TOKEN

    ch = channels(links_server.addr, token=INTERNAL_TOKEN, account_id=account.account_id)
    links, accounts = links_pb2_grpc.LinksServiceStub(ch), accounts_pb2_grpc.AccountServiceStub(ch)
    calls = {
        "AccountService/CreateAccount": accounts.CreateAccount(apb.CreateAccountRequest(name="x")),
        "AccountService/ListAccounts": accounts.ListAccounts(apb.ListAccountsRequest()),
        "AccountService/RotateApiKey": accounts.RotateApiKey(apb.RotateApiKeyRequest(account_id=account.account_id)),
        "AccountService/RotatePostbackToken": accounts.RotatePostbackToken(apb.RotatePostbackTokenRequest()),
        "LinksService/CreateApp": links.CreateApp(pb.CreateAppRequest(app=pb.App(name="x"))),
        "LinksService/RotateAppKey": links.RotateAppKey(pb.RotateAppKeyRequest(app_id=setup.app.app_id)),
        "LinksService/DeleteApp": links.DeleteApp(pb.DeleteAppRequest(app_id=setup.app.app_id)),
        "LinksService/RecordClicks": links.RecordClicks(pb.RecordClicksRequest()),
    }
    for method, call in calls.items():
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await call
        _denied_naming_the_method(e.value, method)
    # What services do ask of links still works, for the account named.
    got = await links.GetCampaign(pb.GetCampaignRequest(campaign_id=setup.campaign.campaign_id))
    assert got.campaign.campaign_id == setup.campaign.campaign_id
    assert (await accounts.GetAccount(apb.GetAccountRequest())).account.account_id == account.account_id
    # The account's key was not rotated: it still answers.
    assert (await links_stub.GetApp(pb.GetAppRequest(app_id=setup.app.app_id))).app.app_id == setup.app.app_id
    # Campaigns: only what the automation rules change (status, budget); never where traffic goes.
    cid = setup.campaign.campaign_id
    hijack = pb.Campaign(campaign_id=cid, fallback_url="https://evil.example/x", status=pb.CAMPAIGN_STATUS_ACTIVE)
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await links.UpdateCampaign(pb.UpdateCampaignRequest(
            campaign=hijack, update_mask=field_mask_pb2.FieldMask(paths=["fallback_url", "status"])))  # fmt: skip
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED and "only budget, status" in e.value.details()
    paused = await links.UpdateCampaign(pb.UpdateCampaignRequest(
        campaign=hijack, update_mask=field_mask_pb2.FieldMask(paths=["status"])))  # fmt: skip
    assert paused.campaign.status == pb.CAMPAIGN_STATUS_ACTIVE
    assert paused.campaign.fallback_url == setup.campaign.fallback_url
