"""Unit tier: postback formats (services/attribution/postback_formats.py), the
matching / refund / offer payout rules (postback_matching.py) and the signed
payout (postback_rules.py), without Postgres."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from libs.errors import FailedPrecondition, InvalidArgument
from services.attribution.lookups import OfferInfo
from services.attribution.postback_formats import (
    DEFAULT,
    Format,
    Preset,
    check_aliases,
    check_words,
    click_aliases,
    parse_presets,
    vocabulary,
)
from services.attribution.postback_matching import Refund, Update, dedup_key, offer_payout, refund, update
from services.attribution.postback_refunds import refund_key
from services.attribution.postback_rules import ALIASES, from_request, parse_signed_payout, parse_status
from services.attribution.rules import APPROVED, PENDING, REJECTED

FIXED, POSTBACK = 2, 1  # affiliate_pb2.PayoutType

AFFISE = Preset("affise", "Affise", "network", {"click_id": ("sub1",), "txid": ("transactionid",), "payout": ("sum",)},
                {"1": APPROVED, "2": PENDING, "3": REJECTED, "5": PENDING})  # fmt: skip


def _request(**params: str) -> SimpleNamespace:
    return SimpleNamespace(params=params, click_id="", status="", payout="", currency="", goal="", txid="",
                           method="GET", client_ip="203.0.113.7", user_agent="net/1.0", partner_id="")  # fmt: skip


def test_a_format_reads_its_own_aliases_then_its_presets_then_the_defaults() -> None:
    fmt = Format("prt_1", "affise", {"click_id": ("aff_sub",), "goal": ("event",)}, {"2": APPROVED, "paid": APPROVED})
    vocab = vocabulary(fmt, {"affise": AFFISE})
    assert vocab.aliases["click_id"] == ("aff_sub", "sub1", *ALIASES["click_id"])
    assert vocab.aliases["goal"] == ("event", "goal") and vocab.aliases["payout"][0] == "sum"
    # The format's own word wins over the preset's ("2" pending at Affise), the preset's over the defaults.
    assert (vocab.status("2"), vocab.status("3"), vocab.status(" SALE "), vocab.status("nope")) == (
        APPROVED, REJECTED, APPROVED, None,
    )  # fmt: skip
    assert vocabulary(None, {}) is DEFAULT
    assert parse_status("5", vocab.words) == PENDING
    with pytest.raises(InvalidArgument):
        parse_status("5")  # not a default word


def test_without_a_partner_the_click_is_found_by_every_configured_alias() -> None:
    formats = [Format("prt_1", aliases={"click_id": ("aff_sub",)}), Format("prt_2", "affise")]
    assert click_aliases(formats, {"affise": AFFISE}) == (*ALIASES["click_id"], "aff_sub", "sub1")


def test_reread_takes_the_partners_aliases_and_explicit_fields_still_win() -> None:
    inp = from_request(_request(sub1="c-1", transactionid="T-9", sum="4.20", status="2"))
    assert (inp.click_id, inp.txid) == ("", "")  # not default aliases
    vocab = vocabulary(Format("prt_1", "affise"), {"affise": AFFISE})
    again = inp.reread(vocab.aliases)
    assert (again.click_id, again.txid, again.payout, again.status) == ("c-1", "T-9", "4.20", "2")
    explicit = from_request(SimpleNamespace(**{**vars(_request(sub1="c-1")), "click_id": "c-2"}))
    assert explicit.reread(vocab.aliases).click_id == "c-2"


def test_aliases_and_words_are_checked_naming_the_field() -> None:
    assert check_aliases([("click_id", ["Aff_Sub", "aff_sub", "s2"])], "a") == {"click_id": ("aff_sub", "s2")}
    for items, field in [
        ([("clickid", ["x"])], "a[0].field"),
        ([("txid", ["ok"]), ("txid", ["again"])], "a[1].field"),
        ([("txid", ["has space"])], "a[0].params"),
        ([("txid", ["token"])], "a[0].params"),  # the URL's own parameter
        ([("txid", [f"p{i}" for i in range(21)])], "a[0].params"),
    ]:
        with pytest.raises(InvalidArgument) as err:
            check_aliases(items, "a")
        assert err.value.violations[0][0] == field
    assert check_words({" Declined ": "rejected", "2": "pending"}, "w") == {"declined": REJECTED, "2": PENDING}
    with pytest.raises(InvalidArgument) as err:
        check_words({"ok": "paid"}, "w")
    assert err.value.violations[0][0] == "w[ok]"


def test_preset_files_are_read_and_a_bad_one_is_named() -> None:
    preset = {"preset_id": "x", "name": "X", "aliases": {"txid": ["oid"]},
              "status_words": {"rejected": ["reversed"]}, "sources": ["https://example.com/doc"]}  # fmt: skip
    doc = {"presets": [preset]}
    presets = parse_presets(doc)
    assert presets["x"].aliases["txid"] == ("oid",) and presets["x"].words == {"reversed": REJECTED}
    assert presets["x"].sources == ("https://example.com/doc",)
    for bad in ({}, {"presets": [{"preset_id": "Bad Id"}]}, {"presets": [{"preset_id": "x"}, {"preset_id": "x"}]},
                {"presets": [{"preset_id": "x", "aliases": {"nope": ["a"]}}]}):  # fmt: skip
        with pytest.raises(ValueError):
            parse_presets(bad)


def test_dedup_keys_keep_the_old_forms_and_add_the_type() -> None:
    assert dedup_key("c", "T", "", "", typed=False) == "tx:c:T"  # as before types
    assert dedup_key("c", "T", "", "Deposit", typed=True) == "tx:c:T:deposit"
    assert dedup_key("c", "T", "gol_1", "Deposit", typed=True) == "tx:c:T:gol_1"
    assert dedup_key("c", "", "", "Lead", typed=True) == "goal:c:lead"  # as before


def test_a_negative_payout_is_a_refund() -> None:
    """TUNE/HasOffers remove conversions by adding negative ones that cancel their earnings
    (https://help.stage.tune.com/hasoffers/adjusting-stats/); offerwalls send reversals as
    negative rewards. Everflow updates a conversion's payout and status
    (https://developers.everflow.io/docs/network/conversion_updates/)."""
    assert parse_signed_payout("-2.50") == Decimal("-2.50") and parse_signed_payout("2.5") == Decimal("2.5")
    with pytest.raises(InvalidArgument):
        parse_signed_payout("--2")
    # A part: the payout drops, the status stays; all of it (or more): rejected at 0.
    assert refund("cv", APPROVED, Decimal("10"), "USD", Decimal("4"), None, None) == Refund(Decimal("6"), APPROVED)
    assert refund("cv", APPROVED, Decimal("10"), "USD", Decimal("12"), "USD", None) == Refund(Decimal("0"), REJECTED)
    assert refund("cv", PENDING, None, None, Decimal("1"), None, None).status == REJECTED
    # A status word in the refund applies too (a chargeback word).
    assert refund("cv", APPROVED, Decimal("10"), "USD", Decimal("1"), None, REJECTED) == Refund(Decimal("9"), REJECTED)
    with pytest.raises(FailedPrecondition, match="paid in USD"):
        refund("cv", APPROVED, Decimal("10"), "USD", Decimal("1"), "EUR", None)


def test_an_offer_decides_the_payout() -> None:
    fixed = OfferInfo("off_1", "prt_1", FIXED, Decimal("12.5"), "EUR")
    by_postback = OfferInfo("off_2", "prt_1", POSTBACK, None, "GBP")
    assert offer_payout(fixed, Decimal("3"), "USD") == (Decimal("12.5"), "EUR")  # whatever the postback says
    assert offer_payout(fixed, None, "") == (Decimal("12.5"), "EUR")
    assert offer_payout(fixed, Decimal("-1"), "") == (Decimal("-1"), "EUR")  # a refund stays a refund
    assert offer_payout(by_postback, Decimal("3"), "USD") == (Decimal("3"), "USD")
    assert offer_payout(by_postback, Decimal("3"), "") == (Decimal("3"), "GBP")  # the offer's currency
    assert offer_payout(OfferInfo("off_3", "prt_1", POSTBACK, None, ""), Decimal("3"), "") == (Decimal("3"), "")
    assert offer_payout(None, Decimal("3"), "") == (Decimal("3"), "")  # then the account's


def test_a_partners_own_codes_keep_the_default_codes_out() -> None:
    """review2 L3: a network whose codes are 2 approved, 3 declined, 4 chargeback (BeMob's example)
    and whose "1" (new) the operator did not map: "1" is refused, not read as the defaults' approved.
    A format with words only (no codes) still reads the defaults' "1"."""
    codes = vocabulary(Format("prt_1", words={"2": APPROVED, "3": REJECTED, "4": REJECTED}), {})
    assert (codes.status("1"), codes.status("2"), codes.status("sale")) == (None, APPROVED, APPROVED)
    with pytest.raises(InvalidArgument):
        parse_status("1", codes.words)
    words = vocabulary(Format("prt_2", words={"reversed": REJECTED}), {})
    assert (words.status("1"), words.status("reversed")) == (APPROVED, REJECTED)
    # A preset's codes count as the partner's own; its "1" is its own meaning.
    assert vocabulary(Format("prt_3", "affise", words={"1": PENDING}), {"affise": AFFISE}).status("1") == PENDING


def test_a_later_postback_moves_an_existing_conversion() -> None:
    """postback_matching.update: a status update keeps the payout unless it carries one (and the
    offer is not fixed), in the conversion's currency when it names none; refunds default to it too."""
    base: dict[str, Any] = {"new_status": APPROVED, "status_word": APPROVED, "fixed": False, "default_currency": "USD"}
    row = ("cv", PENDING, Decimal("10"), "EUR")
    assert update(*row, sent_payout=None, sent_currency="", **base) == Update(APPROVED, Decimal("10"), "EUR")
    assert update(*row, sent_payout=Decimal("12"), sent_currency="", **base) == Update(
        APPROVED, Decimal("12"), "EUR", repriced=True
    )
    assert update(*row, sent_payout=Decimal("12"), sent_currency="", **{**base, "fixed": True}) == Update(
        APPROVED, Decimal("10"), "EUR"
    )
    refund_base: dict[str, Any] = {**base, "status_word": None}
    assert update(*row, sent_payout=Decimal("-4"), sent_currency="", **refund_base) == Update(
        PENDING, Decimal("6"), "EUR"
    )
    with pytest.raises(FailedPrecondition, match="paid in EUR"):
        update(*row, sent_payout=Decimal("-4"), sent_currency="USD", **refund_base)
    # A conversion without a payout or currency: a refund rejects it, in the currency a new one would get.
    assert update("cv", PENDING, None, None, sent_payout=Decimal("-1"), sent_currency="", **refund_base) == Update(
        REJECTED, Decimal("0"), "USD"
    )


def test_a_refund_key_is_its_id_else_a_digest_of_the_request() -> None:
    params = {"click_id": "c", "payout": "-4"}
    key = refund_key("cv", "", Decimal("4"), "usd", "", params)
    assert key.startswith("sha256:") and key == refund_key("cv", "", Decimal("4.00"), "USD", " ", dict(params))
    assert key != refund_key("cv2", "", Decimal("4"), "USD", "", params)
    assert key != refund_key("cv", "", Decimal("4"), "USD", "", {**params, "note": "second"})
    assert refund_key("cv", "ADJ-1", Decimal("4"), "USD", "", params) == "id:ADJ-1"
