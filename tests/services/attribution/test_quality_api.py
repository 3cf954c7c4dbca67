"""The traffic-quality API of attribution over real gRPC: check settings (the
account's, a campaign's overrides), revenue ranges, overrules; what it
refuses (INVALID_ARGUMENT naming the field) and another account's ids."""

from __future__ import annotations

import grpc
import pytest
from clicktrail.attribution.v1 import attribution_pb2 as apb
from clicktrail.attribution.v1 import attribution_pb2_grpc, config_pb2_grpc
from clicktrail.attribution.v1 import config_pb2 as cpb
from clicktrail.links.v1 import links_pb2_grpc
from clicktrail.type.v1 import quality_pb2 as qpb
from google.protobuf import duration_pb2, field_mask_pb2

from tests.services.attribution.engine_support import (
    attribution,
    conversions,
    drained,
    event,
    installs,
    make_app,
    make_campaign,
    send,
)
from tests.services.attribution.test_goals import violations

S = cpb.AttributionQualitySettings


def quality(stubs) -> config_pb2_grpc.AttributionQualityServiceStub:
    return config_pb2_grpc.AttributionQualityServiceStub(stubs.channel)


async def refused(call, request) -> dict[str, str]:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call(request)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    return violations(err.value)


async def not_found(call, request) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call(request)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND, err.value.details()


def secs(n: int) -> duration_pb2.Duration:
    return duration_pb2.Duration(seconds=n)


async def test_settings_defaults_account_values_and_campaign_overrides(attribution_stub, attribution_server,
                                                                       links_stub):  # fmt: skip
    qs = quality(attribution_stub)
    got = await qs.GetAttributionQualitySettings(cpb.GetAttributionQualitySettingsRequest())
    assert got.settings == S()  # nothing set
    e = got.effective
    assert dict(e.checks) == dict.fromkeys(
        ("click_injection", "install_before_click", "click_flooding", "install_burst", "client_mismatch",
         "too_soon_after_install", "revenue_out_of_range", "rejected_install"), True,
    )  # fmt: skip
    assert (e.click_injection_time.seconds, e.click_flooding_time.seconds, e.install_burst_ip,
            e.install_burst_subnet, e.install_burst_window.seconds, e.too_soon_after_install_time.seconds) == (
        10, 7200, 10, 30, 3600, 5,
    )  # fmt: skip

    resp = await qs.UpdateAttributionQualitySettings(cpb.UpdateAttributionQualitySettingsRequest(
        settings=S(click_injection_time=secs(20), install_burst_ip=4, checks={"client_mismatch": False})))  # fmt: skip
    assert (resp.settings.click_injection_time.seconds, resp.settings.install_burst_ip) == (20, 4)
    assert dict(resp.settings.checks) == {"client_mismatch": False} and resp.settings.HasField("update_time")
    assert not resp.settings.HasField("install_burst_subnet")  # unset: inherits
    assert (resp.effective.install_burst_subnet, resp.effective.checks["client_mismatch"]) == (30, False)

    app_id = await make_app(links_stub)
    c = await make_campaign(links_stub, app_id)
    resp = await qs.UpdateAttributionQualitySettings(cpb.UpdateAttributionQualitySettingsRequest(
        settings=S(campaign_id=c.campaign_id, click_injection_time=secs(45))))  # fmt: skip
    assert resp.settings.campaign_id == c.campaign_id and resp.settings.click_injection_time.seconds == 45
    # The campaign's effective settings: its own value, the account's for the rest.
    assert (resp.effective.click_injection_time.seconds, resp.effective.install_burst_ip) == (45, 4)
    assert resp.effective.checks["client_mismatch"] is False

    # A path whose field is unset goes back to inheriting; checks.<code> one check at a time.
    resp = await qs.UpdateAttributionQualitySettings(
        cpb.UpdateAttributionQualitySettingsRequest(
            settings=S(), update_mask=field_mask_pb2.FieldMask(paths=["click_injection_time", "checks.client_mismatch"])
        )
    )
    assert resp.settings == S(install_burst_ip=4, update_time=resp.settings.update_time)
    assert (resp.effective.click_injection_time.seconds, resp.effective.checks["client_mismatch"]) == (10, True)
    got = await qs.GetAttributionQualitySettings(cpb.GetAttributionQualitySettingsRequest(campaign_id=c.campaign_id))
    assert (got.settings.click_injection_time.seconds, got.effective.click_injection_time.seconds) == (45, 45)
    assert got.effective.install_burst_ip == 4


async def test_settings_are_validated_naming_the_field(attribution_stub, attribution_server, new_account,
                                                       links_server, channels):  # fmt: skip
    update = quality(attribution_stub).UpdateAttributionQualitySettings

    def req(mask: list[str] | None = None, **kw) -> cpb.UpdateAttributionQualitySettingsRequest:
        return cpb.UpdateAttributionQualitySettingsRequest(
            settings=S(**kw), update_mask=field_mask_pb2.FieldMask(paths=mask or [])
        )

    assert "settings.checks[robots]" in await refused(update, req(checks={"robots": False}))
    assert "settings.click_injection_time" in await refused(update, req(click_injection_time=secs(7200)))
    bad = duration_pb2.Duration(seconds=5, nanos=500)
    assert "settings.too_soon_after_install_time" in await refused(update, req(too_soon_after_install_time=bad))
    assert "settings.install_burst_ip" in await refused(update, req(install_burst_ip=0))
    assert "settings.install_burst_window" in await refused(update, req(install_burst_window=secs(30)))
    assert "update_mask" in await refused(update, req())
    assert "update_mask" in await refused(update, req(mask=["verdict"]))
    # Several at once, every one named.
    many = await refused(update, req(install_burst_subnet=-1, click_flooding_time=secs(1)))
    assert {"settings.install_burst_subnet", "settings.click_flooding_time"} <= set(many)

    # Another account's campaign is not there.
    other = await new_account("Other")
    other_links = links_pb2_grpc.LinksServiceStub(channels(links_server.addr, token=other.api_key))
    theirs = await make_campaign(other_links, await make_app(other_links))
    assert "settings.campaign_id" in await refused(update, req(campaign_id=theirs.campaign_id, install_burst_ip=3))
    await not_found(quality(attribution_stub).GetAttributionQualitySettings,
                    cpb.GetAttributionQualitySettingsRequest(campaign_id=theirs.campaign_id))  # fmt: skip


async def test_revenue_ranges(attribution_stub, attribution_server, new_account, channels):
    qs = quality(attribution_stub)
    goal = (await attribution_stub.goals.CreateGoal(cpb.CreateGoalRequest(
        goal=cpb.Goal(name="purchase", kind=cpb.GOAL_KIND_PURCHASE, event="purchase")))).goal  # fmt: skip
    R = cpb.RevenueRange
    create = qs.CreateRevenueRange

    def req(**kw) -> cpb.CreateRevenueRangeRequest:
        return cpb.CreateRevenueRangeRequest(range=R(**{"goal_id": goal.goal_id, "currency": "USD", **kw}))

    assert "range.currency" in await refused(create, req(currency="dollars", max_amount="10"))
    assert "range.min_amount" in await refused(create, req(min_amount="-1"))
    assert "range.max_amount" in await refused(create, req(max_amount="1e9"))
    assert "range.max_amount" in await refused(create, req(min_amount="10", max_amount="5"))
    assert "range.min_amount" in await refused(create, req())  # no bound at all
    assert "range.goal_id" in await refused(create, req(goal_id="goal_nope", max_amount="5"))

    usd = (await create(req(currency="usd", max_amount="500"))).range
    assert (usd.goal_id, usd.currency, usd.min_amount, usd.max_amount) == (goal.goal_id, "USD", "", "500")
    eur = (await create(req(currency="EUR", min_amount="1", max_amount="400.50"))).range
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await create(req(currency="USD", max_amount="1"))
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    listed = (await qs.ListRevenueRanges(cpb.ListRevenueRangesRequest(goal_id=goal.goal_id))).ranges
    assert [(r.currency, r.min_amount, r.max_amount) for r in listed] == [("EUR", "1", "400.5"), ("USD", "", "500")]
    page = await qs.ListRevenueRanges(cpb.ListRevenueRangesRequest(page_size=1))
    assert len(page.ranges) == 1 and page.next_page_token

    upd = (await qs.UpdateRevenueRange(cpb.UpdateRevenueRangeRequest(
        range=R(range_id=usd.range_id, min_amount="0.99"), update_mask=field_mask_pb2.FieldMask(paths=["min_amount"]))
    )).range  # fmt: skip
    assert (upd.min_amount, upd.max_amount) == ("0.99", "500")
    assert "range.max_amount" in await refused(
        qs.UpdateRevenueRange,
        cpb.UpdateRevenueRangeRequest(
            range=R(range_id=usd.range_id, max_amount="0.5"), update_mask=field_mask_pb2.FieldMask(paths=["max_amount"])
        ),
    )

    # Another account sees none of them, and cannot touch them.
    other = await new_account("Other")
    ch = channels(attribution_server.addr, token=other.api_key)
    theirs = config_pb2_grpc.AttributionQualityServiceStub(ch)
    assert not (await theirs.ListRevenueRanges(cpb.ListRevenueRangesRequest())).ranges
    await not_found(theirs.DeleteRevenueRange, cpb.DeleteRevenueRangeRequest(range_id=eur.range_id))
    await not_found(theirs.UpdateRevenueRange, cpb.UpdateRevenueRangeRequest(range=R(range_id=eur.range_id,
                                                                                     max_amount="1")))  # fmt: skip
    assert "range.goal_id" in await refused(theirs.CreateRevenueRange, req(max_amount="5"))

    await qs.DeleteRevenueRange(cpb.DeleteRevenueRangeRequest(range_id=eur.range_id))
    await not_found(qs.DeleteRevenueRange, cpb.DeleteRevenueRangeRequest(range_id=eur.range_id))
    # A goal's ranges go with it.
    await attribution_stub.goals.DeleteGoal(cpb.DeleteGoalRequest(goal_id=goal.goal_id))
    assert not (await qs.ListRevenueRanges(cpb.ListRevenueRangesRequest())).ranges


async def test_overrules_are_validated_and_scoped_to_the_account(
    attribution_stub, attribution_server, ingest_server, ingest_stub, links_stub, new_account, channels, settings,
):  # fmt: skip
    app_id = await make_app(links_stub)
    await attribution_stub.goals.CreateGoal(cpb.CreateGoalRequest(
        goal=cpb.Goal(name="purchase", kind=cpb.GOAL_KIND_PURCHASE, event="purchase")))  # fmt: skip
    await send(
        ingest_stub,
        event(app_id, "install", device={"gaid": "6d92078a-8246-4ba4-ae5b-76104861e7dc"}),
        event(app_id, "track", action="purchase", device={"gaid": "6d92078a-8246-4ba4-ae5b-76104861e7dc"}),
    )
    await drained(settings)
    [inst] = await installs(attribution_stub)
    [conv] = await conversions(attribution_stub)
    stub = attribution(attribution_stub)
    oi, oc = stub.OverruleInstallVerdict, stub.OverruleConversionVerdict
    assert "verdict" in await refused(oi, apb.OverruleInstallVerdictRequest(install_id=inst.install_id))
    assert "install_id" in await refused(oi, apb.OverruleInstallVerdictRequest(verdict=qpb.VERDICT_CLEAN))
    assert "note" in await refused(
        oi, apb.OverruleInstallVerdictRequest(install_id=inst.install_id, verdict=qpb.VERDICT_CLEAN, note="x" * 501)
    )
    assert "verdict" in await refused(
        oc, apb.OverruleConversionVerdictRequest(conversion_id=conv.conversion_id, verdict=9)
    )  # type: ignore[arg-type]
    await not_found(oi, apb.OverruleInstallVerdictRequest(install_id="nope", verdict=qpb.VERDICT_CLEAN))

    other = await new_account("Other")
    theirs = attribution_pb2_grpc.AttributionServiceStub(channels(attribution_server.addr, token=other.api_key))
    await not_found(theirs.OverruleInstallVerdict, apb.OverruleInstallVerdictRequest(
        install_id=inst.install_id, verdict=qpb.VERDICT_INVALID))  # fmt: skip
    await not_found(theirs.OverruleConversionVerdict, apb.OverruleConversionVerdictRequest(
        conversion_id=conv.conversion_id, verdict=qpb.VERDICT_INVALID))  # fmt: skip
    assert (await stub.GetInstall(apb.GetInstallRequest(install_id=inst.install_id))).install.verdict == (
        qpb.VERDICT_CLEAN
    )

    # Overruling to the verdict it has: recorded (operator, note), not a change.
    resp = await oc(apb.OverruleConversionVerdictRequest(conversion_id=conv.conversion_id, verdict=conv.verdict,
                                                          note="checked by hand"))  # fmt: skip
    assert (resp.changed, resp.previous_verdict, resp.conversion.verdict_note) == (False, conv.verdict,
                                                                                  "checked by hand")  # fmt: skip
    assert "operator" in resp.conversion.reasons
