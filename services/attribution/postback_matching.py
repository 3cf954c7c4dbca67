"""Which conversion a postback is about, what a refund does, and what an offer
pays: the rules inbound.py applies (pure, except ``find_key``'s one read).

Conversion types and dedup keys. The goal field (aliases type, event, goal_name,
... in a partner's format) is the conversion's TYPE, apart from the transaction
id: one click may carry several types, each its own conversion, even when the
network reuses one txid for them.

- txid, no type: ``tx:<click>:<txid>`` (as before types).
- txid and type: ``tx:<click>:<txid>:<type>`` (type: the goal's id, or the label
  lower-cased). A conversion stored before types under ``tx:<click>:<txid>``
  with that same goal is still the one updated (old keys stay readable).
- no txid: ``goal:<click>:<goal>`` (one conversion per click and goal, as before).

A status update that arrives without the txid the first postback carried:
- no txid: the click's newest postback conversion of that goal/type (whatever
  its txid) is the one updated (the network's later "approved" for the lead);
- a txid but no type, when ``tx:<click>:<txid>`` does not exist: the click's
  newest conversion with that txid (whatever its type).
The key found is then locked in the group's transaction like any other.

Refunds and chargebacks (TUNE/HasOffers adjustments, Everflow reversals, CAKE
disposition changes, Impact REVERSED actions, Affise status 3, offerwall
negative rewards): a NEGATIVE payout refunds that amount of the conversion:
``payout := max(0, payout - amount)`` (no payout counts as 0). The status is the
postback's status word when it has one (refund / chargeback / reversed words
mean rejected), else the conversion's own; a payout brought to 0 makes it
rejected. A rejected conversion's revenue leaves the reports (they count
approved and pending only). A refund in another currency than the conversion's
is refused (409); a refund for a conversion that does not exist is refused as
bad input naming ``payout`` (400: there is nothing to take back).

Offers: with PAYOUT_TYPE_FIXED the conversion's payout is the offer's amount and
currency whatever the postback says; otherwise the postback's payout in the
postback's currency, else the offer's payout currency, else the account's.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from libs.errors import FailedPrecondition
from services.attribution.lookups import OfferInfo
from services.attribution.rules import REJECTED, SOURCE_POSTBACK

# The newest postback conversion of the click that a key-less update means, best first.
FIND_SQL = f"""
SELECT dedup_key FROM attribution.conversions
WHERE account_id = $1 AND click_id = $2 AND source = {SOURCE_POSTBACK:d}
  AND (CASE WHEN $3::text IS NOT NULL THEN txid = $3
            WHEN $4::text <> '' THEN goal_id = $4
            ELSE goal_id = '' AND lower(goal) = $5 END)
ORDER BY dedup_key = ANY($6::text[]) DESC, conversion_id DESC
LIMIT 1
"""
# A pre-type key of the same goal.
LEGACY_SQL = """
SELECT 1 FROM attribution.conversions
WHERE account_id = $1 AND dedup_key = $2 AND ((goal_id <> '' AND goal_id = $3) OR (goal_id = '' AND lower(goal) = $4))
"""


def type_key(goal_id: str, goal_name: str) -> str:
    return goal_id or goal_name.lower()


def dedup_key(click_id: str, txid: str, goal_id: str, goal_name: str, typed: bool) -> str:
    """The key of a new conversion (see the module docstring)."""
    if txid:
        return f"tx:{click_id}:{txid}:{type_key(goal_id, goal_name)}" if typed else f"tx:{click_id}:{txid}"
    return f"goal:{click_id}:{type_key(goal_id, goal_name)}"


async def find_key(conn: Any, account_id: str, click_id: str, txid: str, goal_id: str, goal_name: str,
                   typed: bool) -> tuple[str, bool]:  # fmt: skip
    """The key of the conversion this postback updates (and True), else the key of a new one (and False)."""
    key = dedup_key(click_id, txid, goal_id, goal_name, typed)
    if txid and typed:
        legacy = f"tx:{click_id}:{txid}"
        if await conn.fetchval("SELECT 1 FROM attribution.conversions WHERE account_id = $1 AND dedup_key = $2",
                               account_id, key):  # fmt: skip
            return key, True
        if await conn.fetchval(LEGACY_SQL, account_id, legacy, goal_id, goal_name.lower()):
            return legacy, True
        return key, False
    found = await conn.fetchval(FIND_SQL, account_id, click_id, txid or None, goal_id, goal_name.lower(), [key])
    return (str(found), True) if found is not None else (key, False)


@dataclasses.dataclass(frozen=True)
class Refund:
    payout: Decimal
    status: int


def refund(conversion_id: str, status: int, payout: Decimal | None, currency: str | None, amount: Decimal,
           refund_currency: str | None, status_word: int | None) -> Refund:  # fmt: skip
    """A refund of ``amount`` (positive) of a conversion: its new payout and status."""
    if refund_currency and currency and refund_currency != currency:
        raise FailedPrecondition(
            f"conversion {conversion_id} is paid in {currency}; a refund in {refund_currency} cannot apply to it"
        )
    left = max(Decimal(0), (payout or Decimal(0)) - amount)
    new_status = status_word if status_word is not None else status
    return Refund(left, REJECTED if left == 0 else new_status)


def offer_payout(offer: OfferInfo | None, payout: Decimal | None, currency: str) -> tuple[Decimal | None, str]:
    """The conversion's payout and currency given the click's offer ("" currency: the account's)."""
    if offer is None:
        return payout, currency
    if offer.fixed and offer.amount is not None and (payout is None or payout >= 0):
        return offer.amount, offer.currency
    if payout is not None and not currency:
        return payout, offer.currency
    return payout, currency
