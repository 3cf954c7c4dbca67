"""The SSRF guard's rules (pure): which destination addresses a postback may
go to.

Loopback, private, link-local, multicast, reserved, every IANA special-purpose
block and the cloud-metadata addresses are refused unless they fall inside the
operator's allowed networks (CLICKTRAIL_POSTBACK_ALLOWED_NETWORKS; metadata
addresses only when allowed by name). IPv4 addresses carried inside IPv6 ones
(IPv4-mapped, NAT64, 6to4, TEREDO) are judged by the IPv4 address. Numeric
IPv4 host forms that inet_aton and browsers accept (2130706433, 0x7f000001,
0177.1) are read as the addresses they are.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections.abc import Sequence

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud instance-metadata and platform endpoints: refused even inside the
# operator's allowed networks unless an allowed network names the address alone.
METADATA = {
    ipaddress.ip_address("169.254.169.254"): "AWS, GCP, Azure, OpenStack instance metadata",
    ipaddress.ip_address("169.254.170.2"): "AWS ECS task metadata",
    ipaddress.ip_address("fd00:ec2::254"): "AWS instance metadata over IPv6",
    ipaddress.ip_address("100.100.100.200"): "Alibaba Cloud instance metadata",
    ipaddress.ip_address("168.63.129.16"): "Azure WireServer",
}
# Special-purpose address blocks, from the IANA registries:
#   IPv4: https://www.iana.org/assignments/iana-ipv4-special-registry
#   IPv6: https://www.iana.org/assignments/iana-ipv6-special-registry
# Every block there is refused, "globally reachable" ones too (anycast services,
# AS112, AMT, ...): none of them is a partner's postback endpoint. Python's
# ipaddress attributes (private, loopback, link-local, multicast, reserved,
# unspecified, not global) are checked as well; this list names the block in
# the refusal and covers what those attributes miss (6to4, TEREDO, site-local,
# the newer documentation and SRv6 prefixes).
SPECIAL_PURPOSE: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(net), name)
    for net, name in (
        ("0.0.0.0/8", '"this network"'),
        ("10.0.0.0/8", "private-use"),
        ("100.64.0.0/10", "shared address space (carrier-grade NAT)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private-use"),
        ("192.0.0.0/24", "IETF protocol assignments"),
        ("192.0.2.0/24", "documentation (TEST-NET-1)"),
        ("192.31.196.0/24", "AS112-v4"),
        ("192.52.193.0/24", "AMT"),
        ("192.88.99.0/24", "deprecated 6to4 relay anycast"),
        ("192.168.0.0/16", "private-use"),
        ("192.175.48.0/24", "direct delegation AS112 service"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation (TEST-NET-2)"),
        ("203.0.113.0/24", "documentation (TEST-NET-3)"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
        ("255.255.255.255/32", "limited broadcast"),
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("::ffff:0:0/96", "IPv4-mapped"),
        ("64:ff9b::/96", "IPv4-IPv6 translation"),
        ("64:ff9b:1::/48", "local-use IPv4-IPv6 translation"),
        ("100::/64", "discard-only"),
        ("100:0:0:1::/64", "dummy IPv6 prefix"),
        ("2001::/23", "IETF protocol assignments"),
        ("2001::/32", "TEREDO"),
        ("2001:db8::/32", "documentation"),
        ("2002::/16", "6to4"),
        ("2620:4f:8000::/48", "direct delegation AS112 service"),
        ("3fff::/20", "documentation"),
        ("5f00::/16", "segment routing (SRv6) SIDs"),
        ("fc00::/7", "unique-local"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local (deprecated, RFC 3879)"),
        ("ff00::/8", "multicast"),
    )
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class Refused(Exception):
    """The destination is not allowed (scheme, or an address the guard refuses)."""


class HttpError(Exception):
    """No HTTP answer: DNS failure, connect error, reset, timeout, malformed reply."""


@functools.lru_cache(maxsize=4096)
def literal(host: str) -> IPAddress | None:
    """An address written as the host: IPv4/IPv6, or the numeric IPv4 forms that
    inet_aton and browsers accept (2130706433, 0x7f000001, 0177.1). None for a name."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefxABCDEFX." for c in host) and host[0].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _allowed(ip: IPAddress, allowed: Sequence[IPNetwork]) -> bool:
    return any(ip in n and (ip not in METADATA or n.num_addresses == 1) for n in allowed if n.version == ip.version)


def _embedded(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses a 6to4 or TEREDO address carries."""
    out: list[ipaddress.IPv4Address] = []
    if ip.sixtofour is not None:
        out.append(ip.sixtofour)
    if ip.teredo is not None:
        out.extend(ip.teredo)  # (server, client)
    return out


def refusal(ip: IPAddress, allowed: Sequence[IPNetwork]) -> str | None:
    """Why a destination address is refused, or None when it may be used."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None or ip in NAT64:
            # The connection goes to the IPv4 address inside: that one decides.
            inner = ip.ipv4_mapped or ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
            why = refusal(inner, allowed)
            return None if why is None else f"{ip} carries {why}"
        for inner in _embedded(ip):
            why = refusal(inner, allowed)
            if why:
                return f"{ip} carries {why}"
    if _allowed(ip, allowed):
        return None
    if ip in METADATA:
        return f"{ip} is a cloud metadata address ({METADATA[ip]})"
    block = next((f" ({net}: {name})" for net, name in SPECIAL_PURPOSE if net.version == ip.version and ip in net), "")
    if ip.is_loopback:
        return f"{ip} is a loopback address{block}"
    if ip.is_link_local:
        return f"{ip} is a link-local address{block}"
    if ip.is_private:
        return f"{ip} is a private address{block}"
    if block:
        return f"{ip} is a special-purpose address{block}"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return f"{ip} is a site-local address"
    if ip.is_multicast or ip.is_reserved or ip.is_unspecified or not ip.is_global:
        return f"{ip} is not a public address"
    return None
