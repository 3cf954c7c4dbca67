"""Unit tier: inbound postback rules (services/attribution/postback_rules.py), without Postgres."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import pytest

from libs.errors import FailedPrecondition, InvalidArgument, NotFound
from services.attribution.postback_rules import (
    MAX_PARAMS,
    check_transition,
    from_request,
    http_status,
    parse_payout,
    parse_status,
)
from services.attribution.rules import APPROVED, PENDING, REJECTED


def _request(**kw: object) -> SimpleNamespace:
    base: dict[str, object] = {
        "params": {}, "click_id": "", "status": "", "payout": "", "currency": "", "goal": "", "txid": "",
        "method": "GET", "client_ip": "203.0.113.7", "user_agent": "net/1.0",
    }  # fmt: skip
    return SimpleNamespace(**(base | kw))


def test_status_words_and_moves() -> None:
    assert (parse_status(""), parse_status(" Sale "), parse_status("lead"), parse_status("chargeback")) == (
        APPROVED, APPROVED, PENDING, REJECTED,
    )  # fmt: skip
    with pytest.raises(InvalidArgument):
        parse_status("maybe")
    check_transition("c", PENDING, APPROVED)
    check_transition("c", APPROVED, APPROVED)
    with pytest.raises(FailedPrecondition):
        check_transition("c", REJECTED, APPROVED)


@pytest.mark.parametrize("bad", ["-1", "7,50", "1e309", "1.1234567", "1" * 19])
def test_a_payout_is_a_plain_decimal(bad: str) -> None:
    assert parse_payout(" 7.50 ") == Decimal("7.50") and parse_payout("") is None
    with pytest.raises(InvalidArgument):
        parse_payout(bad)


def test_explicit_fields_win_over_aliases_and_params_are_kept() -> None:
    inp = from_request(_request(params={"ClickID": "c-1", "sum": "3.5", "tid": "t-9"}, payout="4"))
    assert (inp.click_id, inp.payout, inp.txid, inp.problem) == ("c-1", "4", "t-9", None)
    assert inp.params == {"ClickID": "c-1", "sum": "3.5", "tid": "t-9"}
    many = from_request(_request(params={f"p{i}": "x" for i in range(MAX_PARAMS + 1)}))
    assert many.problem is not None and many.problem[0] == "params" and len(many.params) == MAX_PARAMS


def test_what_a_refusal_answers() -> None:
    assert http_status(InvalidArgument("payout", "bad")) == (400, "invalid")
    assert http_status(NotFound("no click")) == (404, "not_found")
    assert http_status(FailedPrecondition("no move")) == (409, "refused")
