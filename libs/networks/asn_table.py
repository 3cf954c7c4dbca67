"""The ASN table file (asn.bin.gz): reading, writing, and the CSV / TSV rows it is built from."""

from __future__ import annotations

import csv
import gzip
import io
import ipaddress
import json
import struct
import sys
from array import array
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from libs.networks.ranges import _V4, _V6, MAX_ASN, _Ranges

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
