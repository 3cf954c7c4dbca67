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

import argparse
import bisect
import csv
import datetime
import functools
import gzip
import io
import ipaddress
import json
import os
import re
import resource
import socket
import struct
import sys
import time
from array import array
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

SHIPPED_DIR = Path(__file__).resolve().parent / "data"
ASN_FILE = "asn.bin.gz"
DATACENTER_FILE = "datacenter_asns.txt"
TOR_FILE = "tor_exits.txt"
MAX_ASN = 4_294_967_295
MAX_ENTRY_LENGTH = 64
_V4 = 4
_V6 = 6


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


# ---------------------------------------------------------------- addresses


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


# ---------------------------------------------------------------- the ASN table
#
# asn.bin.gz: gzip of
#   b"CTASN\x01" | u32 meta length | meta JSON (source, version, built)
#   | u32 names | u32 v4 ranges | u32 v6 ranges
#   | names: u32 asn[n] then u32 byte length + UTF-8 names joined by "\n"
#   | v4: u32 start[n], u32 end[n], u32 asn[n]
#   | v6: 16-byte big-endian start[n], end[n], u32 asn[n]
# little-endian, ranges sorted and non-overlapping.

_MAGIC = b"CTASN\x01"


class _AsnTable(NamedTuple):
    v4: _Ranges
    v6: _Ranges
    names: dict[int, str]
    meta: dict[str, str]


def _u32(blob: bytes, offset: int) -> tuple[int, int]:
    return struct.unpack_from("<I", blob, offset)[0], offset + 4


def _u32s(blob: bytes, offset: int, n: int) -> tuple[array[int], int]:
    a = array("I")
    a.frombytes(blob[offset : offset + 4 * n])
    if sys.byteorder != "little":
        a.byteswap()
    return a, offset + 4 * n


def _read_asn_table(path: Path) -> _AsnTable:
    blob = gzip.decompress(path.read_bytes())
    if not blob.startswith(_MAGIC):
        raise ValueError(f"{path} is not an ASN table written by libs.networks")
    offset = len(_MAGIC)
    size, offset = _u32(blob, offset)
    meta = json.loads(blob[offset : offset + size])
    offset += size
    n_names, offset = _u32(blob, offset)
    n4, offset = _u32(blob, offset)
    n6, offset = _u32(blob, offset)
    asns, offset = _u32s(blob, offset, n_names)
    size, offset = _u32(blob, offset)
    names = dict(zip(asns, blob[offset : offset + size].decode().split("\n"), strict=True))
    offset += size
    s4, offset = _u32s(blob, offset, n4)
    e4, offset = _u32s(blob, offset, n4)
    a4, offset = _u32s(blob, offset, n4)
    raw = blob[offset : offset + 16 * n6]
    s6 = [int.from_bytes(raw[i : i + 16], "big") for i in range(0, len(raw), 16)]
    offset += 16 * n6
    raw = blob[offset : offset + 16 * n6]
    e6 = [int.from_bytes(raw[i : i + 16], "big") for i in range(0, len(raw), 16)]
    offset += 16 * n6
    a6, offset = _u32s(blob, offset, n6)
    return _AsnTable(_Ranges(s4, e4, a4), _Ranges(s6, e6, a6), names, meta)


def _write_asn_table(
    path: Path, rows: Iterable[tuple[int, int, int, int, str]], meta: dict[str, str]
) -> dict[str, int]:
    """rows: (family, start, end, asn, name). Overlaps: the first row read for an address wins."""
    names: dict[int, str] = {}
    fams: dict[int, list[tuple[int, int, int]]] = {_V4: [], _V6: []}
    for fam, start, end, asn, name in rows:
        if not 1 <= asn <= MAX_ASN or end < start:
            continue
        fams[fam].append((start, end, asn))
        if name and asn not in names:
            names[asn] = name.replace("\n", " ").strip()
    out = io.BytesIO()
    blob = json.dumps(meta, sort_keys=True).encode()
    out.write(_MAGIC + struct.pack("<I", len(blob)) + blob)
    cleaned: dict[int, list[tuple[int, int, int]]] = {}
    for fam, ranges in fams.items():
        ranges.sort()
        kept: list[tuple[int, int, int]] = []
        for start, end, asn in ranges:
            if kept and start <= kept[-1][1]:
                if end <= kept[-1][1]:
                    continue  # inside the previous range
                start = kept[-1][1] + 1
            if kept and start == kept[-1][1] + 1 and asn == kept[-1][2]:
                kept[-1] = (kept[-1][0], end, asn)
            else:
                kept.append((start, end, asn))
        cleaned[fam] = kept
    asns = sorted(names)
    out.write(struct.pack("<III", len(asns), len(cleaned[_V4]), len(cleaned[_V6])))
    out.write(array("I", asns).tobytes())
    text = "\n".join(names[a] for a in asns).encode()
    out.write(struct.pack("<I", len(text)) + text)
    v4 = cleaned[_V4]
    for column in range(3):
        out.write(array("I", [r[column] for r in v4]).tobytes())
    v6 = cleaned[_V6]
    for column in range(2):
        out.write(b"".join(r[column].to_bytes(16, "big") for r in v6))
    out.write(array("I", [r[2] for r in v6]).tobytes())
    if sys.byteorder != "little":
        raise SystemExit("writing the ASN table needs a little-endian machine")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(gzip.compress(out.getvalue(), compresslevel=9, mtime=0))
    tmp.replace(path)
    return {"asns": len(asns), "ipv4_ranges": len(v4), "ipv6_ranges": len(v6)}


def _address_int(text: str) -> tuple[int, int]:
    text = text.strip()
    if text.isdigit():  # ip-location-db's "-num" files
        value = int(text)
        return (_V4 if value <= 0xFFFFFFFF else _V6), value
    addr = ipaddress.ip_address(text)
    return addr.version, int(addr)


def _asn_rows(paths: Iterable[Path]) -> Iterator[tuple[int, int, int, int, str]]:
    """Rows of ip-location-db CSVs (start,end,asn,name) or iptoasn TSVs (start end asn country name)."""
    for path in paths:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8", newline="") as f:  # type: ignore[operator]
            first = f.readline()
            f.seek(0)
            reader = csv.reader(f, delimiter="\t" if "\t" in first else ",")
            for row in reader:
                if len(row) < 3 or not row[2].strip().isdigit():
                    continue  # a header, or iptoasn's "Not routed" rows (asn 0 is skipped later anyway)
                fam, start = _address_int(row[0])
                _, end = _address_int(row[1])
                name = row[4] if "\t" in first and len(row) > 4 else (row[3] if len(row) > 3 else "")
                yield fam, start, end, int(row[2]), name


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


# ---------------------------------------------------------------- accounts' lists


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


# ---------------------------------------------------------------- command line


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
    parser = argparse.ArgumentParser(prog="python -m libs.networks", description=__doc__.split("\n\n")[0])
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


if __name__ == "__main__":
    main()
