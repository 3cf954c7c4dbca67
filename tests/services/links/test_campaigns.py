"""Campaign life cycle, frozen fields, validation and pagination."""

import grpc
import pytest
from clicktrail.links.v1 import links_pb2 as pb
from clicktrail.type.v1 import money_pb2
from google.protobuf import field_mask_pb2

from tests.services.links.test_accounts_auth import field_violations


def mask(*paths):
    return field_mask_pb2.FieldMask(paths=list(paths))


async def set_status(stub, campaign_id, status):
    return (
        await stub.UpdateCampaign(
            pb.UpdateCampaignRequest(
                campaign=pb.Campaign(campaign_id=campaign_id, status=status), update_mask=mask("status")
            )
        )
    ).campaign


async def test_published_campaign_freezes_its_defining_fields(links_stub, setup):
    c = setup.campaign
    assert c.status == pb.CAMPAIGN_STATUS_DRAFT and c.type == pb.CAMPAIGN_TYPE_APP_INSTALL
    other = (await links_stub.CreatePartner(pb.CreatePartnerRequest(partner=pb.Partner(name="Other")))).partner
    # A draft can change anything.
    c2 = (
        await links_stub.UpdateCampaign(
            pb.UpdateCampaignRequest(
                campaign=pb.Campaign(campaign_id=c.campaign_id, partner_id=other.partner_id),
                update_mask=mask("partner_id"),
            )
        )
    ).campaign
    assert c2.partner_id == other.partner_id
    published = await set_status(links_stub, c.campaign_id, pb.CAMPAIGN_STATUS_ACTIVE)
    assert published.status == pb.CAMPAIGN_STATUS_ACTIVE and published.publish_time.seconds > 0
    for field, value in (
        ("partner_id", setup.partner.partner_id),
        ("app_id", ""),
        ("type", pb.CAMPAIGN_TYPE_WEB),
        ("target_goal_id", "goal_1"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await links_stub.UpdateCampaign(
                pb.UpdateCampaignRequest(
                    campaign=pb.Campaign(campaign_id=c.campaign_id, **{field: value}), update_mask=mask(field)
                )
            )
        assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "published" in e.value.details() and field in e.value.details()
    # Name, budget, fallback and status still change.
    renamed = (
        await links_stub.UpdateCampaign(
            pb.UpdateCampaignRequest(
                campaign=pb.Campaign(
                    campaign_id=c.campaign_id,
                    name="Summer",
                    fallback_url="https://acme.example/other",
                    budget=money_pb2.Money(amount="1500.50", currency_code="EUR"),
                ),
                update_mask=mask("name", "fallback_url", "budget"),
            )
        )
    ).campaign
    assert (renamed.name, renamed.budget.amount, renamed.budget.currency_code) == ("Summer", "1500.5", "EUR")
    paused = await set_status(links_stub, c.campaign_id, pb.CAMPAIGN_STATUS_PAUSED)
    assert paused.status == pb.CAMPAIGN_STATUS_PAUSED
    # Pausing does not unfreeze.
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await links_stub.UpdateCampaign(
            pb.UpdateCampaignRequest(
                campaign=pb.Campaign(campaign_id=c.campaign_id, partner_id=setup.partner.partner_id),
                update_mask=mask("partner_id"),
            )
        )
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await links_stub.DeleteCampaign(pb.DeleteCampaignRequest(campaign_id=c.campaign_id))
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "archive" in e.value.details()


async def test_status_transitions(links_stub, setup):
    cid = setup.campaign.campaign_id
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await set_status(links_stub, cid, pb.CAMPAIGN_STATUS_PAUSED)
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "draft" in e.value.details()
    await set_status(links_stub, cid, pb.CAMPAIGN_STATUS_ACTIVE)
    await set_status(links_stub, cid, pb.CAMPAIGN_STATUS_PAUSED)
    await set_status(links_stub, cid, pb.CAMPAIGN_STATUS_ACTIVE)
    await set_status(links_stub, cid, pb.CAMPAIGN_STATUS_ARCHIVED)
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await set_status(links_stub, cid, pb.CAMPAIGN_STATUS_ACTIVE)
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "final" in e.value.details()


async def test_draft_campaign_can_be_deleted_with_its_links(links_stub, setup):
    await links_stub.DeleteCampaign(pb.DeleteCampaignRequest(campaign_id=setup.campaign.campaign_id))
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await links_stub.GetLink(pb.GetLinkRequest(link_id=setup.link.link_id))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


async def test_validation_reports_every_field(links_stub):
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await links_stub.CreateCampaign(
            pb.CreateCampaignRequest(
                campaign=pb.Campaign(
                    name="", partner_id="prt_missing", app_id="app_missing", fallback_url="javascript:x"
                )
            )
        )
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(e.value)) == {
        "campaign.name",
        "campaign.partner_id",
        "campaign.app_id",
        "campaign.fallback_url",
    }
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await links_stub.CreateApp(pb.CreateAppRequest(app=pb.App(name="x", platform=pb.PLATFORM_IOS)))
    assert "app.bundle_id" in field_violations(e.value)
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await links_stub.CreateApp(pb.CreateAppRequest(app=pb.App(name="x")))
    assert "app.platform" in field_violations(e.value)


async def test_link_templates_are_checked(links_stub, setup):
    cid = setup.campaign.campaign_id
    for url, fragment in (
        ("https://a.test/{nope}", "unknown macros"),
        ("https://{sub1}.test/", "scheme or host"),
        ("//evil.test/", "http"),
        ("", "required"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await links_stub.CreateLink(pb.CreateLinkRequest(link=pb.Link(campaign_id=cid, destination_url=url)))
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert fragment in field_violations(e.value)["link.destination_url"]


async def test_budget_must_be_decimal_money(links_stub, setup):
    for amount, currency, field in (
        ("7,50", "USD", "campaign.budget.amount"),
        ("1e309", "USD", "campaign.budget.amount"),
        ("10", "dollars", "campaign.budget.currency_code"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await links_stub.UpdateCampaign(
                pb.UpdateCampaignRequest(
                    campaign=pb.Campaign(
                        campaign_id=setup.campaign.campaign_id,
                        budget=money_pb2.Money(amount=amount, currency_code=currency),
                    ),
                    update_mask=mask("budget"),
                )
            )
        assert field in field_violations(e.value)


async def test_update_mask_refuses_read_only_fields(links_stub, setup):
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await links_stub.UpdateLink(
            pb.UpdateLinkRequest(link=pb.Link(link_id=setup.link.link_id, slug="mine"), update_mask=mask("slug"))
        )
    assert "update_mask" in field_violations(e.value)


async def test_lists_paginate_and_filter(links_stub, setup):
    made = [setup.campaign.campaign_id]
    for i in range(6):
        c = await links_stub.CreateCampaign(
            pb.CreateCampaignRequest(
                campaign=pb.Campaign(
                    name=f"c{i}", partner_id=setup.partner.partner_id, status=pb.CAMPAIGN_STATUS_ACTIVE
                )
            )
        )
        made.append(c.campaign.campaign_id)
        assert c.campaign.type == pb.CAMPAIGN_TYPE_WEB
    seen, token, pages = [], "", 0
    while True:
        resp = await links_stub.ListCampaigns(pb.ListCampaignsRequest(page_size=3, page_token=token))
        seen += [c.campaign_id for c in resp.campaigns]
        pages += 1
        token = resp.next_page_token
        if not token:
            break
    assert seen == made and pages == 3
    active = await links_stub.ListCampaigns(pb.ListCampaignsRequest(status=pb.CAMPAIGN_STATUS_ACTIVE))
    assert len(active.campaigns) == 6
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await links_stub.ListCampaigns(pb.ListCampaignsRequest(page_token="garbage!"))
    assert "page_token" in field_violations(e.value)


async def test_partner_with_campaigns_cannot_be_deleted(links_stub, setup):
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await links_stub.DeletePartner(pb.DeletePartnerRequest(partner_id=setup.partner.partner_id))
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
