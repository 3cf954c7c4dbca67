"""The loaded data (ASN table, data-centre ASNs, Tor exits) and ``network_of``."""

from __future__ import annotations

import functools
import ipaddress
import os
import re
from pathlib import Path
from typing import NamedTuple

from libs.networks.asn_table import _AsnTable, _read_asn_table
from libs.networks.ranges import _V4, _V6, _address, _range_set, _Ranges

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "data"
ASN_FILE = "asn.bin.gz"
DATACENTER_FILE = "datacenter_asns.txt"
TOR_FILE = "tor_exits.txt"


class Network(NamedTuple):
    asn: int  # 0: unknown (private, reserved or unannounced space)
    asn_name: str
    datacenter: bool
    tor: bool


UNKNOWN = Network(0, "", False, False)


def data_dir() -> Path:
    """Where refreshed files go and are looked for first."""
    # Read here rather than through libs.config: a pure library called from
    # every service's hot path and from this module's command line alike.
    override = os.environ.get("CLICKTRAIL_NETWORK_DATA_DIR", "")
    return Path(override) if override else SHIPPED_DIR


def _data_file(name: str) -> Path:
    candidate = data_dir() / name
    return candidate if candidate.exists() else SHIPPED_DIR / name


# ---------------------------------------------------------------- data-centre ASNs and Tor exits

_AS_LINE = re.compile(r"^\s*(-?)\s*AS(\d+)\b", re.IGNORECASE)
_LISTED = "# Listed."
_REFRESHED = "# Refreshed"


def _read_datacenter(path: Path) -> frozenset[int]:
    listed: set[int] = set()
    not_listed: set[int] = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if m := _AS_LINE.match(line):
            (not_listed if m.group(1) else listed).add(int(m.group(2)))
    return frozenset(listed - not_listed)


def _read_cidrs(path: Path) -> tuple[_Ranges, _Ranges]:
    fams: dict[int, list[tuple[int, int]]] = {_V4: [], _V6: []}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        net = ipaddress.ip_network(line, strict=False)
        fams[net.version].append((int(net.network_address), int(net.broadcast_address)))
    return _range_set(fams[_V4]), _range_set(fams[_V6])


class _Data(NamedTuple):
    asn: _AsnTable
    datacenter: frozenset[int]
    tor4: _Ranges
    tor6: _Ranges


@functools.cache
def _data() -> _Data:
    tor4, tor6 = _read_cidrs(_data_file(TOR_FILE))
    return _Data(_read_asn_table(_data_file(ASN_FILE)), _read_datacenter(_data_file(DATACENTER_FILE)), tor4, tor6)


def load() -> None:
    """Load the data now (≈0.15 s) rather than on the first click."""
    _data()


@functools.lru_cache(maxsize=100_000)
def network_of(ip: str) -> Network:
    """ASN, data-centre and Tor verdicts of an IPv4 or IPv6 address (UNKNOWN for '' or garbage)."""
    parsed = _address(ip) if ip else None
    if parsed is None:
        return UNKNOWN
    fam, x = parsed
    d = _data()
    table = d.asn.v4 if fam == _V4 else d.asn.v6
    asn = max(table.find(x), 0)
    tor = (d.tor4 if fam == _V4 else d.tor6).find(x) > 0
    if not asn and not tor:
        return UNKNOWN
    net = Network(asn, d.asn.names.get(asn, ""), asn in d.datacenter, tor)
    # One object per distinct answer: the cache then holds a few thousand objects for the
    # garbage collector to walk, not one per address (~40 ms a full collection at 100k).
    return _INTERNED.setdefault(net, net)


_INTERNED: dict[Network, Network] = {}
