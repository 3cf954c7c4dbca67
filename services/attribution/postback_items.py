"""A validated inbound postback, as inbound.py stores it with its group, and what
it does to a conversion that already exists (postback_matching.update) and the
key of the refund it is (postback_refunds.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from services.attribution import postback_refunds
from services.attribution import quality as qual
from services.attribution.lookups import CampaignInfo, Touch
from services.attribution.postback_matching import Update, update
from services.attribution.postback_rules import PostbackInput


@dataclasses.dataclass
class Postback:
    """A validated postback, ready to be stored with its group."""

    account_id: str
    inp: PostbackInput
    pid: str
    dedup: str
    goal_id: str
    goal_name: str
    status: int
    payout: Decimal | None
    currency: str | None
    click: Touch
    campaign: CampaignInfo | None
    # The postback's own checks: invalid_click, revenue_out_of_range.
    reasons: int = 0
    # The partner whose stored format read it ("" the defaults).
    partner_id: str = ""
    # The status the postback's status word says (None: it has none; status is then the default).
    status_word: int | None = None
    # The payout and currency as the postback sent them (payout / currency: what a NEW conversion gets).
    sent_payout: Decimal | None = None
    sent_currency: str = ""
    # The click's offer pays a fixed amount (set when the conversion is made, never by a later postback).
    fixed: bool = False
    # The account's revenue ranges when the campaign checks them (None: not checked).
    ranges: qual.Config | None = None

    @property
    def refund(self) -> Decimal | None:
        """The amount a negative payout takes back (positive), else None."""
        return -self.sent_payout if self.sent_payout is not None and self.sent_payout < 0 else None

    def out_of_range(self, goal_id: str, amount: Decimal | None, currency: str | None) -> bool:
        allowed = self.ranges.revenue_range(goal_id, currency) if self.ranges and amount is not None else None
        return allowed is not None and amount is not None and allowed.outside(amount)

    def update(self, row: Mapping[str, Any]) -> Update:
        """Where this postback takes an existing conversion (postback_matching.update)."""
        return update(row["conversion_id"], row["status"], row["payout"], row["currency"], new_status=self.status,
                      status_word=self.status_word, sent_payout=self.sent_payout, sent_currency=self.sent_currency,
                      fixed=self.fixed, default_currency=self.currency)  # fmt: skip

    def refund_key(self, row: Mapping[str, Any]) -> postback_refunds.RefundKey:
        """This refund's key for the conversion ``row`` (only for a refund)."""
        assert self.refund is not None
        currency = self.sent_currency or row["currency"] or ""
        key = postback_refunds.refund_key(row["conversion_id"], self.inp.refund_id, self.refund, currency,
                                          self.inp.status, self.inp.params)  # fmt: skip
        return self.account_id, row["conversion_id"], key
