"""Helpers for AIP-style APIs: update masks, timestamps and money (paging:
libs.paging)."""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Iterable

from google.protobuf import field_mask_pb2, timestamp_pb2
from google.protobuf.message import Message

from libs.errors import InvalidArgument

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_AMOUNT = re.compile(r"^-?\d{1,18}(\.\d{1,6})?$")


def update_paths(mask: field_mask_pb2.FieldMask, resource: Message, allowed: Iterable[str]) -> list[str]:
    """The fields an Update call changes: the mask's paths, or (empty mask) every
    allowed field set to a non-default value. Unknown or read-only paths are refused."""
    allowed_set = set(allowed)
    if mask.paths:
        bad = [p for p in mask.paths if p not in allowed_set]
        if bad:
            raise InvalidArgument(
                "update_mask",
                f"cannot update {', '.join(bad)}; updatable fields: {', '.join(sorted(allowed_set))}",
            )
        return list(dict.fromkeys(mask.paths))
    present = {fd.name for fd, _ in resource.ListFields()}
    paths = [p for p in sorted(allowed_set) if p in present]
    if not paths:
        raise InvalidArgument("update_mask", "nothing to update: set fields or an update_mask")
    return paths


def to_timestamp(value: dt.datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value.astimezone(dt.UTC))
    return ts


def from_timestamp(ts: timestamp_pb2.Timestamp) -> dt.datetime | None:
    """None for an unset (zero) timestamp."""
    if ts.seconds == 0 and ts.nanos == 0:
        return None
    return ts.ToDatetime(tzinfo=dt.UTC)


def parse_money(amount: str, currency: str, field: str) -> tuple[decimal.Decimal, str]:
    """An amount and its ISO 4217 code; a code typed in either case is kept upper case ("usd" is USD)."""
    currency = currency.strip().upper()
    if not _AMOUNT.match(amount.strip()):
        raise InvalidArgument(f"{field}.amount", f"{amount!r} is not a decimal like 12.50")
    if not _CURRENCY.match(currency):
        raise InvalidArgument(f"{field}.currency_code", f"{currency!r} is not an ISO 4217 code like USD")
    return decimal.Decimal(amount.strip()), currency


def format_money(amount: decimal.Decimal) -> str:
    return format(amount.normalize(), "f")
