"""Which conversion a postback is about, what a refund does, and what an offer
pays: the rules inbound.py applies (pure, except ``resolve_keys``: one read per
group of postbacks, in its transaction).

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
The key found is then locked in the group's transaction like any other. (Two
postbacks of one group are resolved together: a key-less update that arrives in
the same instant as its conversion's very first postback makes its own.)

Refunds and chargebacks (TUNE/HasOffers adjustments, Everflow reversals, CAKE
disposition changes, Impact REVERSED actions, Affise status 3, offerwall
negative rewards): a NEGATIVE payout refunds that amount of the conversion:
``payout := max(0, payout - amount)`` (no payout counts as 0). The status is the
postback's status word when it has one (refund / chargeback / reversed words
mean rejected), else the conversion's own; a payout brought to 0 makes it
rejected. A rejected conversion's revenue leaves the reports (they count
approved and pending only). A refund without a currency is in the conversion's
currency; one in another currency is refused (409); a refund for a conversion
that does not exist is refused as bad input naming ``payout`` (400: there is
nothing to take back). A refund of a conversion already rejected changes
nothing ("unchanged": nothing is paid, nothing to take back), and a refund is
applied once however often the network resends it (postback_refunds.py).

Offers: with PAYOUT_TYPE_FIXED the conversion's payout is the offer's amount and
currency whatever the postback says; otherwise the postback's payout in the
postback's currency, else the offer's payout currency, else the account's. That
is what a postback that CREATES the conversion gets. A later postback (a status
update, ``update``) keeps the conversion's payout, unless it carries a payout
of its own and the offer is not fixed: then that payout, in the postback's
currency, else the conversion's. So a fixed offer's approval does not put back
an amount refunded before it, nor reprice old conversions after the operator
changes the offer.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from libs.errors import FailedPrecondition
from services.attribution.lookups import OfferInfo
from services.attribution.rules import REJECTED, SOURCE_POSTBACK

# Per postback of a group (in its transaction, before the new conversions are inserted): the key of
# the existing conversion it updates, else NULL. ``strict`` (a txid and a type): the key itself or
# its pre-type form of the same goal; else the key itself, else the click's newest postback
# conversion with that txid (or, without a txid, of that goal).
RESOLVE_SQL = f"""
SELECT (
    SELECT c.dedup_key FROM attribution.conversions c
    WHERE c.account_id = t.a AND (
        c.dedup_key = t.k
        OR (t.strict AND c.dedup_key = t.legacy
            AND ((c.goal_id <> '' AND c.goal_id = t.gid) OR (c.goal_id = '' AND lower(c.goal) = t.gname)))
        OR (NOT t.strict AND c.click_id = t.cl AND c.source = {SOURCE_POSTBACK:d}
            AND CASE WHEN t.tx IS NOT NULL THEN c.txid = t.tx
                     WHEN t.gid <> '' THEN c.goal_id = t.gid
                     ELSE c.goal_id = '' AND lower(c.goal) = t.gname END))
    ORDER BY c.dedup_key = t.k DESC, c.conversion_id DESC
    LIMIT 1
) AS found
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bool[])
    WITH ORDINALITY AS t(a, cl, k, legacy, tx, gid, gname, strict, n)
ORDER BY t.n
"""


@dataclasses.dataclass(frozen=True)
class KeyQuery:
    """What finds the conversion one postback is about."""

    account_id: str
    click_id: str
    txid: str
    goal_id: str
    goal_name: str
    typed: bool

    @property
    def key(self) -> str:
        return dedup_key(self.click_id, self.txid, self.goal_id, self.goal_name, self.typed)


async def resolve_keys(conn: Any, queries: list[KeyQuery]) -> list[str | None]:
    """The key of the existing conversion each postback updates (None: it makes a new one), in one query."""
    rows = await conn.fetch(
        RESOLVE_SQL, [q.account_id for q in queries], [q.click_id for q in queries], [q.key for q in queries],
        [f"tx:{q.click_id}:{q.txid}" if q.txid and q.typed else "" for q in queries],
        [q.txid or None for q in queries], [q.goal_id for q in queries], [q.goal_name.lower() for q in queries],
        [bool(q.txid and q.typed) for q in queries],
    )  # fmt: skip
    return [r["found"] for r in rows]


def type_key(goal_id: str, goal_name: str) -> str:
    return goal_id or goal_name.lower()


def dedup_key(click_id: str, txid: str, goal_id: str, goal_name: str, typed: bool) -> str:
    """The key of a new conversion (see the module docstring)."""
    if txid:
        return f"tx:{click_id}:{txid}:{type_key(goal_id, goal_name)}" if typed else f"tx:{click_id}:{txid}"
    return f"goal:{click_id}:{type_key(goal_id, goal_name)}"


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


@dataclasses.dataclass(frozen=True)
class Update:
    """Where a postback takes an existing conversion."""

    status: int
    payout: Decimal | None
    currency: str | None
    # The postback set a new payout of its own (checked again against the goal's revenue range).
    repriced: bool = False


def update(conversion_id: str, status: int, payout: Decimal | None, currency: str | None, *, new_status: int,
           status_word: int | None, sent_payout: Decimal | None, sent_currency: str, fixed: bool,
           default_currency: str | None) -> Update:  # fmt: skip
    """A later postback for a conversion (``status`` / ``payout`` / ``currency``: the row's):
    a refund (negative ``sent_payout``), else a status update (see the module docstring).
    ``default_currency``: what a new conversion would get when the row has none."""
    if sent_payout is not None and sent_payout < 0:
        moved = refund(conversion_id, status, payout, currency, -sent_payout, sent_currency or currency, status_word)
        return Update(moved.status, moved.payout, currency or sent_currency or default_currency)
    if sent_payout is None or fixed:  # a fixed offer's payout was set once, when the conversion was made
        return Update(new_status, payout, currency)
    return Update(new_status, sent_payout, sent_currency or currency or default_currency, repriced=True)
