"""``python -m libs.networks``: refresh the data from files an operator downloaded, or show what is loaded."""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import resource
import time
from pathlib import Path

from libs.networks.asn_table import _asn_rows, _read_asn_table, _write_asn_table
from libs.networks.data import (
    _AS_LINE,
    _LISTED,
    _REFRESHED,
    ASN_FILE,
    DATACENTER_FILE,
    TOR_FILE,
    _data,
    _data_file,
    data_dir,
    network_of,
)
from libs.networks.ranges import _V4, _V6, _merged


def _today() -> str:
    return datetime.datetime.now(datetime.UTC).date().isoformat()


def _refresh_asn(args: argparse.Namespace) -> None:
    paths = [Path(p) for p in args.files]
    meta = {"source": args.source, "version": args.version, "built": _today(), "files": " ".join(p.name for p in paths)}
    counts = _write_asn_table(data_dir() / ASN_FILE, _asn_rows(paths), meta)
    print(f"wrote {data_dir() / ASN_FILE}: {counts}")


def _refresh_datacenter(args: argparse.Namespace) -> None:
    """Replace the listed ASNs with the downloaded file's; keep our header and the -AS exclusions."""
    target = data_dir() / DATACENTER_FILE
    current = _data_file(DATACENTER_FILE).read_text(encoding="utf-8").splitlines()
    marker = current.index(_LISTED) if _LISTED in current else len(current)
    head = [line for line in current[:marker] if not line.startswith(_REFRESHED)]
    names = _read_asn_table(_data_file(ASN_FILE)).names
    asns: set[int] = set()
    for line in Path(args.file).read_text(encoding="utf-8").splitlines():
        if (m := _AS_LINE.match(line)) and not m.group(1):
            asns.add(int(m.group(2)))
    if not asns:
        raise SystemExit(f"{args.file}: no 'AS<number>' lines; expected X4BNet/lists_vpn input/datacenter/ASN.txt")
    while head and not head[-1].strip():
        head.pop()
    stamp = f"{_REFRESHED} {_today()} from {Path(args.file).name} ({args.source})."
    body = [f"AS{a}  # {names[a]}" if names.get(a) else f"AS{a}" for a in sorted(asns)]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join([*head, "", stamp, _LISTED, *body]) + "\n", encoding="utf-8")
    excluded = sum(1 for line in head if (m := _AS_LINE.match(line)) and m.group(1))
    print(f"wrote {target}: {len(asns)} ASNs listed, {excluded} -AS exclusions kept")


def _refresh_tor(args: argparse.Namespace) -> None:
    fams: dict[int, list[tuple[int, int]]] = {_V4: [], _V6: []}
    for line in Path(args.file).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            net = ipaddress.ip_network(line, strict=False)
            fams[net.version].append((int(net.network_address), int(net.broadcast_address)))
    if not fams[_V4] and not fams[_V6]:
        raise SystemExit(f"{args.file}: no addresses; expected the Tor Project's torbulkexitlist")
    lines = [f"# Tor exit addresses, refreshed {_today()} from {Path(args.file).name} ({args.source})."]
    for fam in (_V4, _V6):
        starts, ends = _merged(fams[fam])
        for start, end in zip(starts, ends, strict=True):
            first, last = ipaddress.ip_address(start), ipaddress.ip_address(end)
            lines += [str(n) for n in ipaddress.summarize_address_range(first, last)]  # type: ignore[arg-type]
    target = data_dir() / TOR_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {target}: {len(lines) - 1} networks")


def _info(args: argparse.Namespace) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    d = _data()
    took = time.perf_counter() - started
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print(f"loaded in {took:.3f} s, max RSS +{grown:.0f} MB")
    print(f"ASN table {_data_file(ASN_FILE)}: {d.asn.meta}")
    print(f"  {len(d.asn.names)} ASNs, {len(d.asn.v4)} IPv4 and {len(d.asn.v6)} IPv6 ranges")
    print(f"data-centre ASNs {_data_file(DATACENTER_FILE)}: {len(d.datacenter)}")
    print(f"Tor exits {_data_file(TOR_FILE)}: {len(d.tor4)} IPv4 and {len(d.tor6)} IPv6 ranges")
    for ip in args.ips:
        print(ip, network_of(ip))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m libs.networks", description="Who an address belongs to: refresh the offline data, or show it."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("refresh-asn", help="rebuild asn.bin.gz from ip-location-db asn CSVs or iptoasn TSVs")
    p.add_argument("files", nargs="+", help="asn-ipv4.csv asn-ipv6.csv (or -num), or ip2asn-v4.tsv(.gz) ...")
    p.add_argument("--source", default="ip-location-db asn (RouteViews, RIRs, DB-IP ASN Lite; CC BY 4.0)")
    p.add_argument("--version", default="")
    p.set_defaults(run=_refresh_asn)
    p = commands.add_parser("refresh-datacenter", help="replace the data-centre ASN list (X4BNet's ASN.txt format)")
    p.add_argument("file", help="input/datacenter/ASN.txt of X4BNet/lists_vpn, or any 'AS<number>' per line file")
    p.add_argument("--source", default="X4BNet/lists_vpn input/datacenter/ASN.txt")
    p.set_defaults(run=_refresh_datacenter)
    p = commands.add_parser("refresh-tor", help="replace the Tor exit list (torbulkexitlist: one address per line)")
    p.add_argument("file")
    p.add_argument("--source", default="https://check.torproject.org/torbulkexitlist")
    p.set_defaults(run=_refresh_tor)
    p = commands.add_parser("info", help="what is loaded, how long it took, and the verdicts of some addresses")
    p.add_argument("ips", nargs="*")
    p.set_defaults(run=_info)
    args = parser.parse_args(argv)
    args.run(args)
