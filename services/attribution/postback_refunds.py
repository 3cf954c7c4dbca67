"""Refunds are idempotent: a refund postback the network resends (it got no
answer: a timeout, a 5xx, a deploy) takes the amount back once.

Every refund applied to a conversion leaves a key in
attribution.conversion_refunds (migration 0005), in the transaction that
changes the conversion. The key:

- ``id:<refund id>`` when the postback names its refund (the ``refund_id``
  field: refund_id, adjustment_id, reversal_id, chargeback_id, or a partner
  format's aliases): two refunds with different ids are two refunds, even of
  the same amount;
- else ``sha256:<hex>`` of the conversion, the amount, the currency (as sent,
  else the conversion's), the status word and every parameter of the postback.
  A resend is the same request, so it has the same key. Two distinct refunds
  of the same amount in identical requests cannot be told apart from a resend
  and count once; a network that sends such refunds must name them (refund id).

A postback whose key is already stored is answered "unchanged". Refunds of one
conversion are serialised by its row lock (the group locks the row FOR UPDATE
before it reads the keys), so a key read there is not raced.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import orjson

# (account, conversion, refund key) of the ones already applied, among those asked.
SEEN_SQL = """
SELECT f.account_id, f.conversion_id, f.refund_key
FROM unnest($1::text[], $2::text[], $3::text[]) AS k(a, c, r)
JOIN attribution.conversion_refunds f ON f.account_id = k.a AND f.conversion_id = k.c AND f.refund_key = k.r
"""

STORE_SQL = """
INSERT INTO attribution.conversion_refunds (account_id, conversion_id, refund_key, amount, postback_id)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[], $5::text[])
ON CONFLICT DO NOTHING
"""

RefundKey = tuple[str, str, str]  # (account, conversion, key)


def refund_key(conversion_id: str, refund_id: str, amount: Decimal, currency: str, status_word: str,
               params: Mapping[str, str]) -> str:  # fmt: skip
    """The key of one refund of a conversion (see the module docstring); ``amount`` positive."""
    if refund_id:
        return f"id:{refund_id}"
    doc = [conversion_id, format(amount.normalize(), "f"), currency.upper(), status_word.strip().lower(),
           sorted(params.items())]  # fmt: skip
    return "sha256:" + hashlib.sha256(orjson.dumps(doc)).hexdigest()


async def seen(conn: Any, keys: Iterable[RefundKey]) -> set[RefundKey]:
    """The keys among ``keys`` already applied (their conversions locked by the caller)."""
    keys = list(keys)
    if not keys:
        return set()
    rows = await conn.fetch(SEEN_SQL, [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys])
    return {(r["account_id"], r["conversion_id"], r["refund_key"]) for r in rows}


async def store(conn: Any, applied: list[tuple[RefundKey, Decimal, str]]) -> None:
    """Remember the refunds applied in this transaction: ((account, conversion, key), amount, postback id)."""
    if applied:
        await conn.execute(
            STORE_SQL, [k[0] for k, _, _ in applied], [k[1] for k, _, _ in applied], [k[2] for k, _, _ in applied],
            [a for _, a, _ in applied], [pid for _, _, pid in applied],
        )  # fmt: skip
