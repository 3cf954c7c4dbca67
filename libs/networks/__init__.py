"""Who an address belongs to: its ASN, whether that is a data-centre / hosting /
VPN network, whether it is a Tor exit; and accounts' own CIDR / ASN lists.

Offline data shipped in libs/data (see libs/data/README.md for sources, dates
and licences), loaded once per process (``load()``, ≈0.15 s, ≈30 MB):

- ``asn.bin.gz``: IPv4 and IPv6 ranges -> AS number and name, compiled from
  the ip-location-db "asn" dataset (RouteViews + the five RIRs + DB-IP ASN
  Lite, CC BY 4.0). geoip2fast's bundled ASN file (what libs/geo.py uses for
  countries) has AS names but no AS numbers, which the accounts' ASN lists and
  the data-centre list need; it also costs ≈110 MB per process and dates
  from 2024-06.
- ``datacenter_asns.txt``: data-centre, hosting and VPN ASNs from
  X4BNet/lists_vpn, minus the eyeball (residential / mobile / campus)
  networks that list carries, which are kept as ``-AS...`` lines.
- ``tor_exits.txt``: the Tor Project's bulk exit list (via
  rezmoss/cloud-provider-ip-addresses).

Refresh from a file an operator downloaded (``python -m libs.networks --help``):
``refresh-asn``, ``refresh-datacenter``, ``refresh-tor``. They write to
``$CLICKTRAIL_NETWORK_DATA_DIR`` when it is set (a writable volume; files there
win over the shipped ones), else into libs/data.
"""

from __future__ import annotations

from libs.networks.data import (
    ASN_FILE,
    DATACENTER_FILE,
    SHIPPED_DIR,
    TOR_FILE,
    UNKNOWN,
    Network,
    _data,
    data_dir,
    load,
    network_of,
)
from libs.networks.lists import MAX_ENTRY_LENGTH, NetworkList, parse_network_entry
from libs.networks.ranges import MAX_ASN


def main(argv: list[str] | None = None) -> None:
    """``python -m libs.networks`` (refresh the data, or show it); loaded only when run."""
    from libs.networks.refresh import main as run

    run(argv)


__all__ = [
    "ASN_FILE",
    "DATACENTER_FILE",
    "MAX_ASN",
    "MAX_ENTRY_LENGTH",
    "SHIPPED_DIR",
    "TOR_FILE",
    "UNKNOWN",
    "Network",
    "NetworkList",
    "_data",
    "data_dir",
    "load",
    "main",
    "network_of",
    "parse_network_entry",
]
