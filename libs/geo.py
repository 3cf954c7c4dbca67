"""Country of an IP address (IPv4 and IPv6) from geoip2fast's bundled data."""

from __future__ import annotations

import functools

from geoip2fast import GeoIP2Fast


@functools.cache
def _reader() -> GeoIP2Fast:
    return GeoIP2Fast(geoip2fast_data_file="geoip2fast-ipv6.dat.gz")


def load() -> None:
    """Load the data now (≈0.1 s) rather than on the first click."""
    _reader()


def country_of(ip: str) -> str:
    """ISO 3166-1 alpha-2 code, or '' for private, reserved or unknown addresses."""
    if not ip:
        return ""
    code = _reader().lookup(ip).country_code
    return code if code and len(code) == 2 and code.isalpha() else ""
