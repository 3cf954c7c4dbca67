"""TEMPORARY placeholders (no checks at all) so the links service runs until
libs/networks.py lands; deleted then. Not a copy of it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable


def load() -> None:
    pass


def parse_network_entry(value: str) -> str:
    return value


@dataclasses.dataclass(frozen=True)
class Network:
    asn: int = 0
    asn_name: str = ""
    datacenter: bool = False
    tor: bool = False


def network_of(ip: str) -> Network:
    return Network()


class NetworkList:
    def __init__(self, entries: Iterable[str]) -> None:
        self.entries = list(entries)

    def matches(self, ip: str, asn: int) -> bool:
        return False
