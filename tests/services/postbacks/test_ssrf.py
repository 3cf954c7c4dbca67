"""The SSRF guard, address by address: one address (often the first and the
last) of every block of the IANA special-purpose registries, the cloud
metadata endpoints and the embedded-IPv4 forms are refused; public ones pass.

IPv4: https://www.iana.org/assignments/iana-ipv4-special-registry
IPv6: https://www.iana.org/assignments/iana-ipv6-special-registry
"""

from __future__ import annotations

import ipaddress

import pytest

from services.postbacks.guard import refusal

REFUSED = [
    # IPv4 special-purpose registry
    ("0.0.0.0", '"this host on this network" (0.0.0.0/32)'),
    ("0.0.0.1", '"this network" (0.0.0.0/8)'),
    ("0.255.255.255", '"this network" (0.0.0.0/8)'),
    ("10.0.0.0", "private-use (10.0.0.0/8)"),
    ("10.255.255.255", "private-use (10.0.0.0/8)"),
    ("100.64.0.0", "shared address space (100.64.0.0/10)"),
    ("100.127.255.255", "shared address space (100.64.0.0/10)"),
    ("127.0.0.1", "loopback (127.0.0.0/8)"),
    ("127.255.255.254", "loopback (127.0.0.0/8)"),
    ("169.254.0.1", "link local (169.254.0.0/16)"),
    ("169.254.255.254", "link local (169.254.0.0/16)"),
    ("172.16.0.0", "private-use (172.16.0.0/12)"),
    ("172.31.255.255", "private-use (172.16.0.0/12)"),
    ("192.0.0.0", "IETF protocol assignments (192.0.0.0/24)"),
    ("192.0.0.1", "IPv4 service continuity prefix, DS-Lite (192.0.0.0/29)"),
    ("192.0.0.8", "IPv4 dummy address (192.0.0.8/32)"),
    ("192.0.0.9", "port control protocol anycast (192.0.0.9/32)"),
    ("192.0.0.10", "traversal using relays around NAT anycast (192.0.0.10/32)"),
    ("192.0.0.170", "NAT64/DNS64 discovery (192.0.0.170/32)"),
    ("192.0.0.171", "NAT64/DNS64 discovery (192.0.0.171/32)"),
    ("192.0.0.255", "IETF protocol assignments (192.0.0.0/24)"),
    ("192.0.2.1", "documentation TEST-NET-1 (192.0.2.0/24)"),
    ("192.31.196.1", "AS112-v4 (192.31.196.0/24)"),
    ("192.52.193.1", "AMT (192.52.193.0/24)"),
    ("192.88.99.1", "deprecated 6to4 relay anycast (192.88.99.0/24)"),
    ("192.168.0.1", "private-use (192.168.0.0/16)"),
    ("192.168.255.255", "private-use (192.168.0.0/16)"),
    ("192.175.48.1", "direct delegation AS112 service (192.175.48.0/24)"),
    ("198.18.0.1", "benchmarking (198.18.0.0/15)"),
    ("198.19.255.255", "benchmarking (198.18.0.0/15)"),
    ("198.51.100.1", "documentation TEST-NET-2 (198.51.100.0/24)"),
    ("203.0.113.1", "documentation TEST-NET-3 (203.0.113.0/24)"),
    ("240.0.0.1", "reserved (240.0.0.0/4)"),
    ("255.255.255.254", "reserved (240.0.0.0/4)"),
    ("255.255.255.255", "limited broadcast (255.255.255.255/32)"),
    # IPv4 multicast address space registry
    ("224.0.0.1", "multicast (224.0.0.0/4)"),
    ("239.255.255.255", "multicast (224.0.0.0/4)"),
    # Cloud metadata / platform endpoints
    ("169.254.169.254", "AWS, GCP, Azure, OpenStack metadata"),
    ("169.254.170.2", "AWS ECS task metadata"),
    ("168.63.129.16", "Azure WireServer (a public address)"),
    ("100.100.100.200", "Alibaba Cloud metadata"),
    ("fd00:ec2::254", "AWS IMDS over IPv6"),
    # IPv6 special-purpose registry
    ("::", "unspecified (::/128)"),
    ("::1", "loopback (::1/128)"),
    ("::ffff:127.0.0.1", "IPv4-mapped loopback (::ffff:0:0/96)"),
    ("::ffff:10.0.0.1", "IPv4-mapped private (::ffff:0:0/96)"),
    ("::ffff:169.254.169.254", "IPv4-mapped metadata (::ffff:0:0/96)"),
    ("64:ff9b::a00:1", "IPv4-IPv6 translation of a private address (64:ff9b::/96)"),
    ("64:ff9b::a9fe:a9fe", "IPv4-IPv6 translation of the metadata address (64:ff9b::/96)"),
    ("64:ff9b:1::1", "local-use IPv4/IPv6 translation (64:ff9b:1::/48)"),
    ("100::1", "discard-only (100::/64)"),
    ("100:0:0:1::1", "dummy IPv6 prefix (100:0:0:1::/64)"),
    ("2001::1", "IETF protocol assignments / TEREDO (2001::/23, 2001::/32)"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "TEREDO with public server and client (2001::/32)"),
    ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "TEREDO whose client is 10.0.0.1 (2001::/32)"),
    ("2001:1::1", "port control protocol anycast (2001:1::1/128)"),
    ("2001:1::2", "traversal using relays around NAT anycast (2001:1::2/128)"),
    ("2001:1::3", "DNS-SD service registration protocol anycast (2001:1::3/128)"),
    ("2001:2::1", "benchmarking (2001:2::/48)"),
    ("2001:3::1", "AMT (2001:3::/32)"),
    ("2001:4:112::1", "AS112-v6 (2001:4:112::/48)"),
    ("2001:10::1", "deprecated ORCHID (2001:10::/28)"),
    ("2001:20::1", "ORCHIDv2 (2001:20::/28)"),
    ("2001:30::1", "drone remote ID entity tags (2001:30::/28)"),
    ("2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", "IETF protocol assignments (2001::/23)"),
    ("2001:db8::1", "documentation (2001:db8::/32)"),
    ("2002:808:808::1", "6to4 of a public address (2002::/16)"),
    ("2002:a00:1::1", "6to4 of 10.0.0.1 (2002::/16)"),
    ("2002:7f00:1::1", "6to4 of 127.0.0.1 (2002::/16)"),
    ("2620:4f:8000::1", "direct delegation AS112 service (2620:4f:8000::/48)"),
    ("3fff::1", "documentation (3fff::/20)"),
    ("5f00::1", "segment routing SIDs (5f00::/16)"),
    ("fc00::1", "unique-local (fc00::/7)"),
    ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "unique-local (fc00::/7)"),
    ("fe80::1", "link-local unicast (fe80::/10)"),
    ("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "link-local unicast (fe80::/10)"),
    # IPv6 address space registry: deprecated site-local (RFC 3879), multicast
    ("fec0::1", "site-local (fec0::/10)"),
    ("feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "site-local (fec0::/10)"),
    ("ff02::1", "multicast (ff00::/8)"),
    # Deprecated IPv4-compatible form (::/96, in the reserved ::/8)
    ("::a00:1", "IPv4-compatible 10.0.0.1"),
]

PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "2a00:1450:4001:82a::200e",
          "::ffff:8.8.8.8", "64:ff9b::808:808"]  # fmt: skip


@pytest.mark.parametrize(("address", "what"), REFUSED, ids=[a for a, _ in REFUSED])
def test_special_purpose_address_is_refused(address: str, what: str) -> None:
    why = refusal(ipaddress.ip_address(address), ())
    assert why and str(ipaddress.ip_address(address)) in why, what


@pytest.mark.parametrize("address", PUBLIC)
def test_public_address_passes(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), ()) is None


def test_allowed_networks_open_loopback_but_not_metadata() -> None:
    """The tests' loopback allowance (and an operator's) opens what it names;
    a metadata address only when allowed on its own."""
    loop = (ipaddress.ip_network("127.0.0.0/8"),)
    assert refusal(ipaddress.ip_address("127.0.0.1"), loop) is None
    assert refusal(ipaddress.ip_address("::ffff:127.0.0.1"), loop) is None
    assert refusal(ipaddress.ip_address("10.0.0.1"), loop)
    link = (ipaddress.ip_network("169.254.0.0/16"),)
    assert refusal(ipaddress.ip_address("169.254.1.1"), link) is None
    assert "metadata" in (refusal(ipaddress.ip_address("169.254.169.254"), link) or "")
    assert refusal(ipaddress.ip_address("169.254.169.254"), (ipaddress.ip_network("169.254.169.254/32"),)) is None
