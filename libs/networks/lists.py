"""Accounts' own CIDR / ASN lists: entry parsing and matching."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from libs.networks.ranges import _V4, _V6, MAX_ASN, _address, _range_set

MAX_ENTRY_LENGTH = 64


def parse_network_entry(value: str) -> str:
    """An account's CIDR or ASN entry, normalised ("10.0.0.0/8", "2001:db8::/32",
    "AS13335"), or ValueError saying what is wrong.

    A single address is its /32 or /128. A CIDR with host bits set
    ("10.0.0.1/8") is refused rather than widened or narrowed: which one the
    operator meant is a guess, and guessing wrong blocks the wrong traffic.
    An ASN is "AS" and 1..4294967295 ("AS13335", "as 13335" or "13335").
    """
    text = value.strip()
    if not text:
        raise ValueError("empty network entry: give a CIDR like 203.0.113.0/24 or an ASN like AS13335")
    if len(text) > MAX_ENTRY_LENGTH:
        raise ValueError(
            f"network entry is {len(text)} characters long: a CIDR or an ASN is at most {MAX_ENTRY_LENGTH}"
        )
    if m := re.fullmatch(r"(?:AS\s*)?(\d+)", text, re.IGNORECASE):
        number = int(m.group(1))
        if not 1 <= number <= MAX_ASN:
            raise ValueError(f"{text} is out of range: AS numbers run from 1 to {MAX_ASN}")
        return f"AS{number}"
    if re.match(r"(?i)^AS", text):
        raise ValueError(f"{text} is not an ASN: write AS followed by its number, like AS13335")
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        if "host bits set" in str(exc):
            loose = ipaddress.ip_network(text, strict=False)
            raise ValueError(
                f"{text} has host bits set: write the network, {loose}, or the single address,"
                f" {text.split('/')[0]}/{loose.max_prefixlen}"
            ) from None
        raise ValueError(
            f"{text} is not a valid CIDR: write an address and a prefix length, like 203.0.113.0/24 or 2001:db8::/32"
        ) from None
    return str(network)


class NetworkList:
    """An account's CIDR and ASN entries, built once per version of its settings.

    ``matches`` is a bisect over the sorted, merged integer ranges of the
    address's family plus a set lookup of the ASN: the same cost for 3 entries
    or 30,000. Entries go through ``parse_network_entry``; a malformed one is
    refused with ValueError, never skipped.
    """

    __slots__ = ("asns", "entries", "v4", "v6")

    def __init__(self, entries: Iterable[str]) -> None:
        normalised = sorted({parse_network_entry(e) for e in entries})
        self.entries: tuple[str, ...] = tuple(normalised)
        asns: set[int] = set()
        fams: dict[int, list[tuple[int, int]]] = {_V4: [], _V6: []}
        for entry in normalised:
            if entry.startswith("AS"):
                asns.add(int(entry[2:]))
            else:
                net = ipaddress.ip_network(entry)
                fams[net.version].append((int(net.network_address), int(net.broadcast_address)))
        self.asns = frozenset(asns)
        self.v4 = _range_set(fams[_V4])
        self.v6 = _range_set(fams[_V6])

    def matches(self, ip: str, asn: int = 0) -> bool:
        if asn and asn in self.asns:
            return True
        parsed = _address(ip) if ip else None
        if parsed is None:
            return False
        fam, x = parsed
        return (self.v4 if fam == _V4 else self.v6).find(x) > 0

    def __len__(self) -> int:
        return len(self.entries)

    def __bool__(self) -> bool:
        return bool(self.entries)
