"""Addresses as integers and sorted integer ranges (bisect), IPv4 and IPv6."""

from __future__ import annotations

import bisect
import functools
import ipaddress
import socket
from array import array
from collections.abc import Iterable

MAX_ASN = 4_294_967_295
_V4 = 4
_V6 = 6
_V4_MAPPED = 0xFFFF << 32


@functools.lru_cache(maxsize=100_000)
def _address(ip: str) -> tuple[int, int] | None:
    """(4 | 6, integer) of an address; IPv4-mapped IPv6 is IPv4. None if not an address."""
    text = ip.strip()
    # inet_pton is strict (no "1.2", no leading zeros) and ~10x faster than ipaddress.
    try:
        return _V4, int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
    except OSError:
        pass
    try:
        value = int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big")
    except OSError:
        try:  # scoped addresses ("fe80::1%eth0") and other forms ipaddress knows
            addr = ipaddress.ip_address(text)
        except ValueError:
            return None
        value = int(addr)
        if addr.version == _V4:
            return _V4, value
    if value >> 32 == 0xFFFF:
        return _V4, value & 0xFFFFFFFF
    return _V6, value


class _Ranges:
    """Sorted, non-overlapping [start, end] integer ranges of one family; bisect to find one."""

    __slots__ = ("ends", "starts", "values")

    def __init__(self, starts: array[int] | list[int], ends: array[int] | list[int], values: array[int]) -> None:
        self.starts, self.ends, self.values = starts, ends, values

    def find(self, x: int) -> int:
        """The value of the range holding x, or -1."""
        i = bisect.bisect_right(self.starts, x) - 1
        return self.values[i] if i >= 0 and x <= self.ends[i] else -1

    def __len__(self) -> int:
        return len(self.starts)


def _merged(ranges: Iterable[tuple[int, int]]) -> tuple[list[int], list[int]]:
    starts: list[int] = []
    ends: list[int] = []
    for start, end in sorted(ranges):
        if ends and start <= ends[-1] + 1:
            ends[-1] = max(ends[-1], end)
        else:
            starts.append(start)
            ends.append(end)
    return starts, ends


def _range_set(ranges: Iterable[tuple[int, int]]) -> _Ranges:
    starts, ends = _merged(ranges)
    return _Ranges(starts, ends, array("B", [1]) * len(starts))
