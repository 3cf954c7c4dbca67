"""libs/networks on real addresses (tests/data/quality/addresses.tsv, README.md there)
and the accounts' CIDR / ASN lists."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest

from libs import networks
from libs.networks import Network, NetworkList, network_of, parse_network_entry

DATA = Path(__file__).resolve().parents[1] / "data" / "quality"


def addresses(kind: str) -> list[tuple[str, str, str]]:
    rows = []
    for line in (DATA / "addresses.tsv").read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            continue
        k, provider, address, published = line.split("\t")
        assert ipaddress.ip_address(address) in ipaddress.ip_network(published), line
        if k == kind:
            rows.append((provider, address, published))
    return rows


def test_cloud_and_hosting_addresses_are_data_centre() -> None:
    rows = addresses("datacenter")
    providers = {p for p, _, _ in rows}
    assert {"AWS", "Azure", "Google Cloud", "DigitalOcean", "Hetzner", "OVHcloud"} <= providers
    assert any(":" in a for _, a, _ in rows)  # IPv6 too
    wrong = [(p, a, network_of(a)) for p, a, _ in rows if not network_of(a).datacenter]
    assert wrong == []
    assert all(network_of(a).asn > 0 and network_of(a).asn_name for _, a, _ in rows)


def test_home_and_mobile_carriers_are_not_data_centre() -> None:
    rows = addresses("residential")
    assert len({p for p, _, _ in rows}) >= 6
    assert any(":" in a for _, a, _ in rows)
    wrong = [(p, a, network_of(a)) for p, a, _ in rows if network_of(a).datacenter or network_of(a).tor]
    assert wrong == []
    # Known to the ASN table (a carrier's address is not "unknown").
    assert [(p, a) for p, a, _ in rows if network_of(a).asn == 0] == []


def test_asn_of_well_known_addresses() -> None:
    assert network_of("73.22.1.1") == Network(7922, "Comcast Cable Communications, LLC", False, False)
    assert network_of("2a01:4f8:c17:1::1").asn == 24940  # Hetzner, IPv6
    assert network_of("49.36.1.1").asn_name == "Reliance Jio Infocomm Limited"


def test_tor_exits() -> None:
    # In the shipped Tor Project exit list (libs/data/tor_exits.txt).
    for ip in ("185.220.101.5", "192.42.116.13", "109.70.100.3"):
        assert network_of(ip).tor, ip
    assert not network_of("73.22.1.1").tor


@pytest.mark.parametrize("ip", ["", "garbage", "1.2", "127.0.0.1", "10.1.2.3", "192.168.0.1", "::1", "2001:db8::1"])
def test_private_reserved_and_malformed_addresses_are_unknown(ip: str) -> None:
    assert network_of(ip) == networks.UNKNOWN


def test_ipv4_mapped_ipv6_is_the_ipv4_address() -> None:
    assert network_of("::ffff:73.22.1.1") == network_of("73.22.1.1")
    assert network_of("::ffff:5.9.10.10").datacenter


def test_lookups_are_cached() -> None:
    network_of("88.99.20.20")
    hits = network_of.cache_info().hits
    network_of("88.99.20.20")
    assert network_of.cache_info().hits == hits + 1


# ---- entries of the accounts' lists


@pytest.mark.parametrize(
    ("value", "normalised"),
    [
        ("10.0.0.0/8", "10.0.0.0/8"),
        (" 203.0.113.0/24 ", "203.0.113.0/24"),
        ("2001:DB8::/32", "2001:db8::/32"),
        ("198.51.100.7", "198.51.100.7/32"),
        ("2001:db8::1", "2001:db8::1/128"),
        ("AS13335", "AS13335"),
        ("as 13335", "AS13335"),
        ("13335", "AS13335"),
        ("AS4294967295", "AS4294967295"),
    ],
)
def test_good_entries_are_normalised(value: str, normalised: str) -> None:
    assert parse_network_entry(value) == normalised


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("999.1.1.1/8", "999.1.1.1/8 is not a valid CIDR"),
        ("10.0.0.0/33", "10.0.0.0/33 is not a valid CIDR"),
        ("2001:db8::/129", "is not a valid CIDR"),
        ("010.0.0.0/8", "is not a valid CIDR"),
        ("10.0.0.0 / 8", "is not a valid CIDR"),
        ("example.com", "is not a valid CIDR"),
        ("10.0.0.1/8", "10.0.0.1/8 has host bits set: write the network, 10.0.0.0/8, or the single address, 10.0.0.1/32"),  # noqa: E501
        ("2001:db8::1/32", "has host bits set: write the network, 2001:db8::/32"),
        ("AS0", "AS0 is out of range: AS numbers run from 1 to 4294967295"),
        ("AS4294967296", "out of range"),
        ("AS99999999999999", "out of range"),
        ("ASx", "ASx is not an ASN"),
        ("AS-13335", "is not an ASN"),
        ("", "empty network entry"),
        ("  ", "empty network entry"),
        ("1" * 65, "at most 64"),
    ],
)  # fmt: skip
def test_malformed_entries_are_refused_saying_what_is_wrong(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_network_entry(value)


def test_a_list_with_one_malformed_entry_is_refused_not_trimmed() -> None:
    with pytest.raises(ValueError, match=re.escape("999.1.1.1/8 is not a valid CIDR")):
        NetworkList(["10.0.0.0/8", "999.1.1.1/8", "AS13335"])


def test_network_list_matches_by_cidr_and_by_asn() -> None:
    blocked = NetworkList(["10.0.0.0/8", "203.0.113.0/24", "203.0.113.128/25", "2001:db8::/32", "AS14061", "as24940"])
    assert blocked.entries == (
        "10.0.0.0/8",
        "2001:db8::/32",
        "203.0.113.0/24",
        "203.0.113.128/25",
        "AS14061",
        "AS24940",
    )
    assert blocked.matches("10.200.3.4", 0)
    assert blocked.matches("203.0.113.255", 0)
    assert not blocked.matches("203.0.114.0", 0)
    assert not blocked.matches("11.0.0.0", 0)
    assert blocked.matches("2001:db8:ffff::1", 0)
    assert not blocked.matches("2001:db9::1", 0)
    assert blocked.matches("::ffff:10.0.0.1", 0)
    # By ASN: the caller passes the address's ASN (network_of(ip).asn).
    assert blocked.matches("159.203.2.2", network_of("159.203.2.2").asn)  # DigitalOcean
    assert blocked.matches("2a01:4f8:c17:1::1", network_of("2a01:4f8:c17:1::1").asn)  # Hetzner
    assert not blocked.matches("73.22.1.1", network_of("73.22.1.1").asn)  # Comcast
    assert not blocked.matches("", 0)
    assert not blocked.matches("not an address", 7922)


def test_network_list_edges_of_a_range() -> None:
    one = NetworkList(["192.0.2.16/28"])
    assert not one.matches("192.0.2.15")
    assert one.matches("192.0.2.16")
    assert one.matches("192.0.2.31")
    assert not one.matches("192.0.2.32")


def test_an_empty_network_list_matches_nothing() -> None:
    empty = NetworkList([])
    assert not empty
    assert not empty.matches("10.0.0.1", 13335)


def test_a_large_list_is_ranges_not_a_loop() -> None:
    entries = [f"10.{i // 256}.{i % 256}.0/24" for i in range(20_000)] + [f"AS{n}" for n in range(1, 2_001)]
    big = NetworkList(entries)
    # Adjacent /24s merge into a few ranges; lookups bisect them.
    assert len(big.v4) < 100
    assert big.matches("10.78.31.200")
    assert not big.matches("10.200.0.1")
    assert big.matches("8.8.8.8", 1_999)


# ---- refreshing the shipped lists from a downloaded file


def test_refresh_from_downloaded_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLICKTRAIL_NETWORK_DATA_DIR", str(tmp_path))
    asn_txt = tmp_path / "ASN.txt"
    asn_txt.write_text("AS7922 # not a data centre, but whatever the file says\nAS14061 # DigitalOcean\n")
    networks.main(["refresh-datacenter", str(asn_txt)])
    refreshed = (tmp_path / networks.DATACENTER_FILE).read_text()
    assert "AS7922  # Comcast Cable Communications, LLC" in refreshed
    assert "-AS36290" in refreshed  # our exclusions survive a refresh
    exits = tmp_path / "torbulkexitlist"
    exits.write_text("# a comment\n198.51.100.6\n198.51.100.7\n2001:db8::5\n")
    networks.main(["refresh-tor", str(exits)])
    tor = (tmp_path / networks.TOR_FILE).read_text()
    assert "198.51.100.6/31" in tor and "2001:db8::5/128" in tor
    csv_v4 = tmp_path / "asn-ipv4.csv"
    csv_v4.write_text('1.0.0.0,1.0.0.255,13335,"Cloudflare, Inc."\n73.0.0.0,73.255.255.255,7922,Comcast\n')
    networks.main(["refresh-asn", str(csv_v4), "--version", "test"])
    networks._data.cache_clear()
    network_of.cache_clear()
    try:
        assert network_of("73.1.2.3") == Network(7922, "Comcast", True, False)
        assert network_of("198.51.100.7").tor
        assert not network_of("5.9.10.10").datacenter  # not in the small table: unknown ASN
    finally:
        monkeypatch.delenv("CLICKTRAIL_NETWORK_DATA_DIR")
        networks._data.cache_clear()
        network_of.cache_clear()
    assert network_of("5.9.10.10").datacenter
