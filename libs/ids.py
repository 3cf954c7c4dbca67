"""Ids and secrets.

Click, impression and event ids are ULIDs: 48 bits of milliseconds then 80
random bits, in lowercase Crockford base32 (26 characters, URL-safe). They sort
by time, and the time can be read back, which lets a lookup by id go straight
to the right daily partition.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_DECODE = {c: i for i, c in enumerate(_ALPHABET)}
ID_LEN = 26


def _encode128(value: int) -> str:
    out = []
    for _ in range(ID_LEN):
        out.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


def new_id(ms: int | None = None) -> str:
    """A time-ordered id with 80 random bits."""
    if ms is None:
        ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    return _encode128((ms << 80) | rand)


def new_resource_id(prefix: str) -> str:
    """An id for a managed resource, e.g. ``cmp_01j...``."""
    return f"{prefix}_{new_id()}"


def is_valid_id(value: str) -> bool:
    return len(value) == ID_LEN and value[0] in "01234567" and all(c in _DECODE for c in value)


def id_time(value: str) -> dt.datetime:
    """The creation time encoded in an id from ``new_id``; ValueError if malformed."""
    if not is_valid_id(value):
        raise ValueError("not a valid id")
    ms = 0
    for c in value[:10]:
        ms = (ms << 5) | _DECODE[c]
    return ms_to_datetime(ms)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def ms_to_datetime(ms: int) -> dt.datetime:
    """Exact (no float rounding): the same instant the id encodes."""
    return _EPOCH + dt.timedelta(milliseconds=ms)


def new_secret(prefix: str) -> str:
    """A bearer secret: ``<prefix>_<key id>_<secret>``; the key id is the lookup handle."""
    return f"{prefix}_{secrets.token_hex(6)}_{secrets.token_urlsafe(24)}"


def new_slug() -> str:
    """A short public link slug (~60 bits)."""
    return secrets.token_urlsafe(8)[:10].replace("-", "x").replace("_", "y")
