"""Per-partner postback formats through the real attribution and links services:
PostbackFormatService, a partner's aliases and status words reading RecordPostback
(the URL's partner, else the click's campaign's partner), conversion types on one
click, status updates without the txid, and refunds / chargebacks.

Sources for the reversal rules (cited per test): TUNE/HasOffers adjustments
(https://help.stage.tune.com/hasoffers/adjusting-stats/), Everflow conversion
updates (https://developers.everflow.io/docs/network/conversion_updates/), Impact
reversals (https://integrations.impact.com/impact-brand/reference/reverse-an-action),
Affise status codes (http://help-center.affise.com/en/articles/4103329-statistics-conversion-statuses),
CAKE statuses (https://support.getcake.com/support/solutions/articles/13000118819-tracking-conversions-in-cake)."""

from __future__ import annotations

import asyncpg
import grpc
import pytest
from clicktrail.attribution.v1 import attribution_pb2 as apb
from clicktrail.attribution.v1 import attribution_pb2_grpc, config_pb2_grpc
from clicktrail.attribution.v1 import config_pb2 as cpb
from clicktrail.links.v1 import links_pb2 as lpb
from google.protobuf import field_mask_pb2

from libs.ids import new_id
from tests.services.attribution.engine_support import make_app, make_campaign, outbound_events, touch

PENDING, APPROVED, REJECTED = (
    apb.CONVERSION_STATUS_PENDING,
    apb.CONVERSION_STATUS_APPROVED,
    apb.CONVERSION_STATUS_REJECTED,
)


@pytest.fixture
async def world(attribution_server, links_stub, gateway_links_stub, account, channels):
    camp = await make_campaign(links_stub, await make_app(links_stub))
    postbacks = attribution_pb2_grpc.AttributionServiceStub(
        channels(attribution_server.addr, token=account.postback_token)
    )
    api = attribution_pb2_grpc.AttributionServiceStub(channels(attribution_server.addr, token=account.api_key))
    formats = config_pb2_grpc.PostbackFormatServiceStub(channels(attribution_server.addr, token=account.api_key))

    async def click() -> str:
        return await touch(gateway_links_stub, camp)

    async def send(partner_id: str = "", **params: str) -> apb.RecordPostbackResponse:
        return await postbacks.RecordPostback(apb.RecordPostbackRequest(params=params, partner_id=partner_id))

    return camp, click, send, api, formats


def fmt(partner_id: str, preset_id: str = "", words: dict[str, str] | None = None, **aliases: list[str]):
    f = cpb.PostbackFormat(partner_id=partner_id, preset_id=preset_id,
                           aliases=[cpb.ParameterAliases(field=k, params=v) for k, v in aliases.items()])  # fmt: skip
    f.status_words.update(words or {})
    return f


async def refused(call, code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    assert err.value.code() == code, err.value.details()
    return err.value


async def test_formats_are_managed_per_partner_and_bad_input_names_the_field(world, links_stub):
    camp, _click, _send, _api, formats = world
    await refused(formats.GetPostbackFormat(cpb.GetPostbackFormatRequest(partner_id=camp.partner_id)),
                  grpc.StatusCode.NOT_FOUND)  # fmt: skip
    await refused(formats.UpdatePostbackFormat(cpb.UpdatePostbackFormatRequest(format=fmt(camp.partner_id))),
                  grpc.StatusCode.NOT_FOUND)  # fmt: skip
    made = (await formats.UpdatePostbackFormat(cpb.UpdatePostbackFormatRequest(
        format=fmt(camp.partner_id, words={"Reversed": "rejected"}, click_id=["Aff_Sub"]), allow_missing=True,
    ))).format  # fmt: skip
    assert (made.partner_id, list(made.aliases[0].params), dict(made.status_words)) == (
        camp.partner_id, ["aff_sub"], {"reversed": "rejected"},
    )  # fmt: skip
    assert made.HasField("create_time")
    # Only the status words change; the aliases stay.
    mask = field_mask_pb2.FieldMask(paths=["status_words"])
    changed = (await formats.UpdatePostbackFormat(cpb.UpdatePostbackFormatRequest(
        format=fmt(camp.partner_id, words={"2": "pending"}), update_mask=mask,
    ))).format  # fmt: skip
    assert (dict(changed.status_words), list(changed.aliases[0].params)) == ({"2": "pending"}, ["aff_sub"])
    got = await formats.GetPostbackFormat(cpb.GetPostbackFormatRequest(partner_id=camp.partner_id))
    listed = await formats.ListPostbackFormats(cpb.ListPostbackFormatsRequest())
    assert got.format == changed and list(listed.formats) == [changed]
    for bad, field in [
        (fmt("prt_nope", click_id=["x"]), "format.partner_id"),
        (fmt(camp.partner_id, preset_id="no-such-preset"), "format.preset_id"),
        (fmt(camp.partner_id, clickid=["x"]), "format.aliases[0].field"),
        (fmt(camp.partner_id, txid=["token"]), "format.aliases[0].params"),
        (fmt(camp.partner_id, words={"ok": "paid"}), "format.status_words[ok]"),
    ]:
        request = cpb.UpdatePostbackFormatRequest(format=bad, allow_missing=True)
        err = await refused(formats.UpdatePostbackFormat(request), grpc.StatusCode.INVALID_ARGUMENT)
        assert field in err.details(), (field, err.details())
    presets = (await formats.ListPostbackPresets(cpb.ListPostbackPresetsRequest())).presets
    assert [p.preset_id for p in presets] == sorted(p.preset_id for p in presets)
    await formats.DeletePostbackFormat(cpb.DeletePostbackFormatRequest(partner_id=camp.partner_id))
    assert not (await formats.ListPostbackFormats(cpb.ListPostbackFormatsRequest())).formats


async def test_a_partners_format_reads_its_postbacks(world, links_stub):
    """The URL's partner decides the aliases that find the click; without it the campaign's partner's
    format reads the fields once the click is known (Affise sends status codes 1/2/3/5:
    http://help-center.affise.com/en/articles/4103329-statistics-conversion-statuses)."""
    camp, click, send, api, formats = world
    await formats.UpdatePostbackFormat(cpb.UpdatePostbackFormatRequest(allow_missing=True, format=fmt(
        camp.partner_id, words={"1": "approved", "2": "pending", "3": "rejected", "5": "pending"},
        click_id=["aff_sub"], txid=["transactionid"], goal=["event"], payout=["pay"],
    )))  # fmt: skip
    cid = await click()
    first = await send(camp.partner_id, aff_sub=cid, transactionid="T-1", status="2", pay="3.10")
    assert (first.created, first.conversion.status, first.conversion.txid, first.conversion.payout) == (
        True, PENDING, "T-1", "3.1",
    )  # fmt: skip
    # No partner in the URL: the click is found by the account's aliases, the campaign's partner's words apply.
    second = await send(aff_sub=cid, transactionid="T-1", status="1")
    assert (second.created, second.conversion.conversion_id, second.conversion.status) == (
        False, first.conversion.conversion_id, APPROVED,
    )  # fmt: skip
    # Another partner named in the URL (no format: the defaults) does not know aff_sub.
    other = await links_stub.CreatePartner(lpb.CreatePartnerRequest(partner=lpb.Partner(name="Other")))
    err = await refused(send(other.partner.partner_id, aff_sub=cid, status="3"), grpc.StatusCode.INVALID_ARGUMENT)
    assert "click_id" in err.details()
    log = (await api.ListInboundPostbacks(apb.ListInboundPostbacksRequest())).postbacks
    assert [(p.outcome, p.partner_id) for p in log] == [
        ("invalid", ""), ("updated", camp.partner_id), ("created", camp.partner_id),
    ]  # fmt: skip


async def test_several_conversion_types_on_one_click(world):
    """A type / event parameter apart from the transaction id: Everflow's event postbacks
    (https://developers.everflow.io/webhooks/conversion-webhooks.md) reuse the click's
    transaction id for every event; each type is its own conversion."""
    _camp, click, send, api, _formats = world
    cid = await click()
    reg = await send(click_id=cid, txid="T-7", goal="registration", payout="1")
    dep = await send(click_id=cid, txid="T-7", goal="deposit", payout="20")
    again = await send(click_id=cid, txid="T-7", goal="Deposit", status="rejected")
    assert reg.created and dep.created and reg.conversion.conversion_id != dep.conversion.conversion_id
    assert (again.created, again.conversion.conversion_id, again.conversion.status) == (
        False, dep.conversion.conversion_id, REJECTED,
    )  # fmt: skip
    convs = (await api.ListConversions(apb.ListConversionsRequest(click_id=cid))).conversions
    assert sorted((c.goal, c.status, c.payout) for c in convs) == [("deposit", REJECTED, "20"),
                                                                   ("registration", APPROVED, "1")]  # fmt: skip


async def test_a_status_update_without_the_txid_finds_the_conversion(world):
    """Networks often send the approval without the transaction id of the lead (CAKE's
    disposition changes, Impact's {ActionStatus} updates: https://affpixel.com/blog/impact-postback-setup):
    the click's newest conversion of that type is updated."""
    _camp, click, send, _api, _formats = world
    cid = await click()
    lead = await send(click_id=cid, txid="L-1", goal="lead", status="pending", payout="2")
    older = await send(click_id=cid, txid="S-1", goal="sale", status="pending", payout="5")
    newer = await send(click_id=cid, txid="S-2", goal="sale", status="pending", payout="6")
    approved = await send(click_id=cid, goal="sale", status="approved")
    assert (approved.created, approved.conversion.conversion_id, approved.conversion.txid) == (
        False, newer.conversion.conversion_id, "S-2",
    )  # fmt: skip
    # A txid without its type: the conversion with that txid.
    by_txid = await send(click_id=cid, txid="S-1", status="rejected")
    assert (by_txid.created, by_txid.conversion.conversion_id) == (False, older.conversion.conversion_id)
    untyped = await send(click_id=cid, goal="lead", status="approved")
    assert (untyped.conversion.conversion_id, untyped.conversion.status) == (lead.conversion.conversion_id, APPROVED)


async def test_old_dedup_keys_stay_readable(world, settings, account):
    """A conversion stored before types (key tx:<click>:<txid>, its goal set) is the one a typed
    postback for that goal updates."""
    camp, click, send, _api, _formats = world
    cid = await click()
    conn = await asyncpg.connect(settings.database_url)
    try:
        old_id = new_id()
        await conn.execute(
            "INSERT INTO attribution.conversions (account_id, conversion_id, dedup_key, source, goal, status, txid,"
            " click_id, campaign_id, event_time) VALUES ($1, $2, $3, 1, 'Deposit', 1, 'T-0', $4, $5, now())",
            account.account_id, old_id, f"tx:{cid}:T-0", cid, camp.campaign_id,
        )  # fmt: skip
    finally:
        await conn.close()
    r = await send(click_id=cid, txid="T-0", goal="deposit", status="approved")
    assert (r.created, r.conversion.conversion_id, r.conversion.status) == (False, old_id, APPROVED)


async def test_refunds_and_chargebacks(world, settings, account):
    """A negative payout refunds that much of the conversion, down to 0 = rejected (TUNE/HasOffers
    remove conversions by negative adjustment conversions:
    https://help.stage.tune.com/hasoffers/adjusting-stats/; Everflow updates payout and status:
    https://developers.everflow.io/docs/network/conversion_updates/); a chargeback word rejects it
    (Impact's reversal makes the action REJECTED:
    https://integrations.impact.com/impact-brand/reference/reverse-an-action)."""
    _camp, click, send, api, _formats = world
    cid = await click()
    sale = await send(click_id=cid, txid="O-1", payout="10", currency="USD")
    part = await send(click_id=cid, txid="O-1", payout="-4")
    assert (part.changed, part.conversion.status, part.conversion.payout, part.conversion.currency) == (
        True, APPROVED, "6", "USD",
    )  # fmt: skip
    await refused(send(click_id=cid, txid="O-1", payout="-1", currency="EUR"), grpc.StatusCode.FAILED_PRECONDITION)
    rest = await send(click_id=cid, txid="O-1", payout="-6.00")
    assert (rest.conversion.status, rest.conversion.payout, rest.previous_status) == (REJECTED, "0", APPROVED)
    # A chargeback word with a partial refund: rejected, the payout down by the amount.
    cid2 = await click()
    await send(click_id=cid2, txid="O-2", payout="8")
    back = await send(click_id=cid2, txid="O-2", status="chargeback", payout="-3")
    assert (back.conversion.status, back.conversion.payout) == (REJECTED, "5")
    # Nothing to refund: bad input naming the payout.
    err = await refused(send(click_id=await click(), txid="none", payout="-2"), grpc.StatusCode.INVALID_ARGUMENT)
    assert "payout" in err.details()
    log = (await api.ListInboundPostbacks(apb.ListInboundPostbacksRequest(click_id=cid))).postbacks
    assert [(p.outcome, p.http_status) for p in log] == [
        ("refunded", 200), ("refused", 409), ("refunded", 200), ("created", 200),
    ]  # fmt: skip
    events = [e for e in await outbound_events(settings, account.account_id) if e.get("click_id") == cid]
    assert [(e["kind"], e["status"], e["payout"], e["revenue"]) for e in events] == [
        ("conversion", "approved", "10", "10"), ("status_change", "approved", "6", "6"),
        ("status_change", "rejected", "0", "0"),
    ]  # fmt: skip
    assert len({e["event_id"] for e in events}) == 3 and sale.conversion.conversion_id in events[0]["event_id"]
