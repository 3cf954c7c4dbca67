"""TariffService and CorrectionService: campaigns checked in the links
service over gRPC, validation, replace, listing, tenant isolation."""

from __future__ import annotations

import datetime as dt

import grpc
import pytest
from clicktrail.attribution.v1 import config_pb2 as pb
from clicktrail.attribution.v1 import config_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc as lpb_grpc
from clicktrail.type.v1.money_pb2 import Money

from .test_goals import violations


async def make_campaign(links_stub, target_goal_id: str = "", name: str = "Spring") -> lpb.Campaign:
    partner = (await links_stub.CreatePartner(lpb.CreatePartnerRequest(partner=lpb.Partner(name="AdNet")))).partner
    return (
        await links_stub.CreateCampaign(
            lpb.CreateCampaignRequest(
                campaign=lpb.Campaign(
                    name=name, type=lpb.CAMPAIGN_TYPE_WEB, partner_id=partner.partner_id, target_goal_id=target_goal_id
                )
            )
        )
    ).campaign


async def create_tariff(stubs, replace: bool = False, **kw) -> pb.Tariff:
    return (await stubs.tariffs.CreateTariff(pb.CreateTariffRequest(tariff=pb.Tariff(**kw), replace=replace))).tariff


async def test_tariffs(attribution_stub, links_stub):
    goal = (
        await attribution_stub.goals.CreateGoal(pb.CreateGoalRequest(goal=pb.Goal(name="Deposit", event="deposit")))
    ).goal
    c1 = await make_campaign(links_stub, target_goal_id=goal.goal_id)
    c2 = await make_campaign(links_stub, name="Summer")
    today = dt.datetime.now(dt.UTC).date()

    cpc = await create_tariff(
        attribution_stub, campaign_id=c1.campaign_id, model=pb.TARIFF_MODEL_CPC,
        amount=Money(amount="0.250", currency_code="USD"), effective_date="2026-01-01",
    )  # fmt: skip
    assert cpc.tariff_id.startswith("trf_") and cpc.amount.amount == "0.25" and cpc.effective_date == "2026-01-01"
    # CPA defaults to the campaign's target goal; the date defaults to today.
    cpa = await create_tariff(
        attribution_stub, campaign_id=c1.campaign_id, model=pb.TARIFF_MODEL_CPA,
        amount=Money(amount="3", currency_code="eur"),
    )  # fmt: skip
    assert cpa.goal_id == goal.goal_id and cpa.effective_date == today.isoformat()
    assert cpa.amount.currency_code == "EUR"  # typed in lower case, kept as the ISO code
    rev = await create_tariff(
        attribution_stub, campaign_id=c2.campaign_id, model=pb.TARIFF_MODEL_REVSHARE, percent="12.5",
        effective_date="2026-02-01",
    )  # fmt: skip
    assert rev.percent == "12.5" and not rev.HasField("amount")

    # One tariff per campaign and day: ALREADY_EXISTS, unless replace.
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await create_tariff(
            attribution_stub, campaign_id=c1.campaign_id, model=pb.TARIFF_MODEL_CPI,
            amount=Money(amount="1", currency_code="USD"), effective_date="2026-01-01",
        )  # fmt: skip
    assert e.value.code() == grpc.StatusCode.ALREADY_EXISTS
    cpi = await create_tariff(
        attribution_stub, replace=True, campaign_id=c1.campaign_id, model=pb.TARIFF_MODEL_CPI,
        amount=Money(amount="1", currency_code="USD"), effective_date="2026-01-01",
    )  # fmt: skip
    assert cpi.tariff_id == cpc.tariff_id and cpi.model == pb.TARIFF_MODEL_CPI

    all_ = (await attribution_stub.tariffs.ListTariffs(pb.ListTariffsRequest())).tariffs
    assert len(all_) == 3
    only_c1 = (await attribution_stub.tariffs.ListTariffs(pb.ListTariffsRequest(campaign_id=c1.campaign_id))).tariffs
    assert [t.effective_date for t in only_c1] == ["2026-01-01", today.isoformat()]
    page = await attribution_stub.tariffs.ListTariffs(pb.ListTariffsRequest(page_size=2))
    rest = await attribution_stub.tariffs.ListTariffs(pb.ListTariffsRequest(page_token=page.next_page_token))
    assert [t.tariff_id for t in [*page.tariffs, *rest.tariffs]] == [t.tariff_id for t in all_]

    # A goal a campaign targets cannot be deleted (checked in the links service) ...
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await attribution_stub.goals.DeleteGoal(pb.DeleteGoalRequest(goal_id=goal.goal_id))
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION and c1.campaign_id in e.value.details()
    req = lpb.UpdateCampaignRequest(campaign=lpb.Campaign(campaign_id=c1.campaign_id, target_goal_id=""))
    req.update_mask.paths.append("target_goal_id")
    await links_stub.UpdateCampaign(req)
    # ... nor one a tariff pays for.
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await attribution_stub.goals.DeleteGoal(pb.DeleteGoalRequest(goal_id=goal.goal_id))
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "tariff" in e.value.details()

    await attribution_stub.tariffs.DeleteTariff(pb.DeleteTariffRequest(tariff_id=cpa.tariff_id))
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await attribution_stub.tariffs.DeleteTariff(pb.DeleteTariffRequest(tariff_id=cpa.tariff_id))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    await attribution_stub.goals.DeleteGoal(pb.DeleteGoalRequest(goal_id=goal.goal_id))


async def test_tariff_validation(attribution_stub, links_stub):
    c = await make_campaign(links_stub)  # no target goal
    cases = [
        (dict(campaign_id="cmp_nope", model=pb.TARIFF_MODEL_CPC, amount=Money(amount="1", currency_code="USD")),
         {"tariff.campaign_id"}),
        (dict(campaign_id=c.campaign_id), {"tariff.model"}),
        (dict(campaign_id=c.campaign_id, model=pb.TARIFF_MODEL_CPC), {"tariff.amount"}),
        (dict(campaign_id=c.campaign_id, model=pb.TARIFF_MODEL_CPC, amount=Money(amount="7,50", currency_code="USD")),
         {"tariff.amount.amount"}),
        (dict(campaign_id=c.campaign_id, model=pb.TARIFF_MODEL_CPC, amount=Money(amount="-1", currency_code="USD")),
         {"tariff.amount.amount"}),
        (dict(campaign_id=c.campaign_id, model=pb.TARIFF_MODEL_CPC, amount=Money(amount="1e309", currency_code="usd")),
         {"tariff.amount.amount"}),
        (dict(campaign_id=c.campaign_id, model=pb.TARIFF_MODEL_CPM, amount=Money(amount="2", currency_code="dollar")),
         {"tariff.amount.currency_code"}),
        (dict(campaign_id=c.campaign_id, model=pb.TARIFF_MODEL_REVSHARE, percent="150"), {"tariff.percent"}),
        (dict(campaign_id=c.campaign_id, model=pb.TARIFF_MODEL_REVSHARE, percent="0"), {"tariff.percent"}),
        (dict(campaign_id=c.campaign_id, model=pb.TARIFF_MODEL_CPC, percent="5",
              amount=Money(amount="1", currency_code="USD")), {"tariff.percent"}),
        (dict(campaign_id=c.campaign_id, model=pb.TARIFF_MODEL_CPA, amount=Money(amount="1", currency_code="USD")),
         {"tariff.goal_id"}),
        (dict(campaign_id=c.campaign_id, model=pb.TARIFF_MODEL_CPA, goal_id="goal_nope",
              amount=Money(amount="1", currency_code="USD")), {"tariff.goal_id"}),
        (dict(campaign_id=c.campaign_id, model=pb.TARIFF_MODEL_CPC, goal_id="goal_x",
              amount=Money(amount="1", currency_code="USD")), {"tariff.goal_id"}),
        (dict(campaign_id=c.campaign_id, model=pb.TARIFF_MODEL_CPC, amount=Money(amount="1", currency_code="USD"),
              effective_date="2026-02-30"), {"tariff.effective_date"}),
        (dict(campaign_id=c.campaign_id, model=pb.TARIFF_MODEL_CPC, amount=Money(amount="1", currency_code="USD"),
              effective_date="1999-12-31"), {"tariff.effective_date"}),
    ]  # fmt: skip
    for kw, fields in cases:
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await create_tariff(attribution_stub, **kw)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, kw
        assert set(violations(e.value)) == fields, kw
    assert not (await attribution_stub.tariffs.ListTariffs(pb.ListTariffsRequest())).tariffs


async def test_corrections(attribution_stub, links_stub):
    c = await make_campaign(links_stub)
    fine = (
        await attribution_stub.corrections.CreateCorrection(
            pb.CreateCorrectionRequest(
                correction=pb.Correction(
                    campaign_id=c.campaign_id, amount=Money(amount="300.00", currency_code="USD"),
                    start_date="2026-03-01", end_date="2026-03-31", note="March flat fee",
                )
            )
        )
    ).correction  # fmt: skip
    assert fine.correction_id.startswith("cor_") and fine.amount.amount == "300" and fine.end_date == "2026-03-31"
    bonus = (
        await attribution_stub.corrections.CreateCorrection(
            pb.CreateCorrectionRequest(
                correction=pb.Correction(
                    campaign_id=c.campaign_id, amount=Money(amount="-50", currency_code="USD"),
                    start_date="2026-02-10", end_date="2026-02-10",
                )
            )
        )
    ).correction  # fmt: skip
    listed = (
        await attribution_stub.corrections.ListCorrections(pb.ListCorrectionsRequest(campaign_id=c.campaign_id))
    ).corrections
    assert [x.correction_id for x in listed] == [bonus.correction_id, fine.correction_id]
    page = await attribution_stub.corrections.ListCorrections(pb.ListCorrectionsRequest(page_size=1))
    rest = await attribution_stub.corrections.ListCorrections(
        pb.ListCorrectionsRequest(page_token=page.next_page_token)
    )
    assert [x.correction_id for x in [*page.corrections, *rest.corrections]] == [x.correction_id for x in listed]

    bad = [
        (dict(campaign_id=c.campaign_id, amount=Money(amount="0", currency_code="USD"), start_date="2026-01-01",
              end_date="2026-01-02"), {"correction.amount.amount"}),
        (dict(campaign_id=c.campaign_id, amount=Money(amount="5", currency_code="USD"), start_date="2026-01-05",
              end_date="2026-01-02"), {"correction.end_date"}),
        (dict(campaign_id=c.campaign_id, amount=Money(amount="5", currency_code="USD"), start_date="2025-01-01",
              end_date="2026-06-01"), {"correction.end_date"}),
        (dict(campaign_id="cmp_nope", amount=Money(amount="5", currency_code="USD")),
         {"correction.campaign_id", "correction.start_date", "correction.end_date"}),
        (dict(campaign_id=c.campaign_id, start_date="2026-01-01", end_date="2026-01-01"), {"correction.amount"}),
    ]  # fmt: skip
    for kw, fields in bad:
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await attribution_stub.corrections.CreateCorrection(
                pb.CreateCorrectionRequest(correction=pb.Correction(**kw))
            )
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, kw
        assert set(violations(e.value)) == fields, kw

    await attribution_stub.corrections.DeleteCorrection(pb.DeleteCorrectionRequest(correction_id=bonus.correction_id))
    assert len((await attribution_stub.corrections.ListCorrections(pb.ListCorrectionsRequest())).corrections) == 1


async def test_other_accounts_tariffs_and_campaigns(attribution_stub, attribution_server, links_stub, new_account,
                                                    channels, links_server):  # fmt: skip
    c = await make_campaign(links_stub)
    t = await create_tariff(
        attribution_stub, campaign_id=c.campaign_id, model=pb.TARIFF_MODEL_CPI,
        amount=Money(amount="1", currency_code="USD"),
    )  # fmt: skip
    k = (
        await attribution_stub.corrections.CreateCorrection(
            pb.CreateCorrectionRequest(
                correction=pb.Correction(
                    campaign_id=c.campaign_id, amount=Money(amount="10", currency_code="USD"),
                    start_date="2026-01-01", end_date="2026-01-31",
                )
            )
        )
    ).correction  # fmt: skip
    other = await new_account("Rival")
    ch = channels(attribution_server.addr, token=other.api_key)
    tariffs, corrections = config_pb2_grpc.TariffServiceStub(ch), config_pb2_grpc.CorrectionServiceStub(ch)
    for call in (
        tariffs.DeleteTariff(pb.DeleteTariffRequest(tariff_id=t.tariff_id)),
        corrections.DeleteCorrection(pb.DeleteCorrectionRequest(correction_id=k.correction_id)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await call
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert not (await tariffs.ListTariffs(pb.ListTariffsRequest(campaign_id=c.campaign_id))).tariffs
    assert not (await corrections.ListCorrections(pb.ListCorrectionsRequest())).corrections
    # Another account's campaign is "not found" to this one.
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await tariffs.CreateTariff(
            pb.CreateTariffRequest(
                tariff=pb.Tariff(
                    campaign_id=c.campaign_id, model=pb.TARIFF_MODEL_CPC, amount=Money(amount="1", currency_code="USD")
                )
            )
        )
    assert violations(e.value) == {"tariff.campaign_id": f"campaign {c.campaign_id!r} not found"}
    # ... and so is its goal, for a CPA tariff on the rival's own campaign.
    mine = (await attribution_stub.goals.CreateGoal(pb.CreateGoalRequest(goal=pb.Goal(name="G", event="g")))).goal
    rival_links = lpb_grpc.LinksServiceStub(channels(links_server.addr, token=other.api_key))
    theirs = await make_campaign(rival_links)
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await tariffs.CreateTariff(
            pb.CreateTariffRequest(
                tariff=pb.Tariff(
                    campaign_id=theirs.campaign_id, model=pb.TARIFF_MODEL_CPA, goal_id=mine.goal_id,
                    amount=Money(amount="1", currency_code="USD"),
                )
            )
        )  # fmt: skip
    assert set(violations(e.value)) == {"tariff.goal_id"}
    # Nothing of the first account changed.
    assert [x.tariff_id for x in (await attribution_stub.tariffs.ListTariffs(pb.ListTariffsRequest())).tariffs] == [
        t.tariff_id
    ]
    assert len((await attribution_stub.corrections.ListCorrections(pb.ListCorrectionsRequest())).corrections) == 1


async def test_a_published_campaigns_goal_is_frozen(attribution_stub, links_stub):
    goal = (
        await attribution_stub.goals.CreateGoal(pb.CreateGoalRequest(goal=pb.Goal(name="Deposit", event="deposit")))
    ).goal
    draft = await make_campaign(links_stub, target_goal_id=goal.goal_id)
    # While only a draft targets it, the goal can change.
    await attribution_stub.goals.UpdateGoal(
        pb.UpdateGoalRequest(goal=pb.Goal(goal_id=goal.goal_id, occurrence=pb.OCCURRENCE_EVERY))
    )
    req = lpb.UpdateCampaignRequest(
        campaign=lpb.Campaign(campaign_id=draft.campaign_id, status=lpb.CAMPAIGN_STATUS_ACTIVE)
    )
    req.update_mask.paths.append("status")
    await links_stub.UpdateCampaign(req)
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await attribution_stub.goals.UpdateGoal(
            pb.UpdateGoalRequest(goal=pb.Goal(goal_id=goal.goal_id, event="deposit_v2"))
        )
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION and draft.campaign_id in e.value.details()
    renamed = await attribution_stub.goals.UpdateGoal(
        pb.UpdateGoalRequest(goal=pb.Goal(goal_id=goal.goal_id, name="Deposit (v1)"))
    )
    assert renamed.goal.name == "Deposit (v1)" and renamed.goal.event == "deposit"
    assert renamed.goal.occurrence == pb.OCCURRENCE_EVERY
