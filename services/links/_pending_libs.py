"""TEMPORARY placeholders (no checks at all) so the links service runs until
libs/bots.py and libs/networks.py land; deleted then. Not a copy of them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable


def classify_user_agent(ua: str) -> int:
    return 0


def validate_user_agent_pattern(p: str) -> str:
    return p


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


class UserAgentList:
    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = list(patterns)

    def matches(self, ua: str) -> bool:
        return False


class NetworkList:
    def __init__(self, entries: Iterable[str]) -> None:
        self.entries = list(entries)

    def matches(self, ip: str, asn: int) -> bool:
        return False
