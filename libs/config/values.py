"""The values settings take: the error type, and the validated types of ports,
counts, seconds, CIDR lists and URLs (pydantic annotations)."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_settings import NoDecode

ENV_PREFIX = "CLICKTRAIL_"
DEFAULT_ADDRS = {
    "links": "127.0.0.1:50051",
    "ingest": "127.0.0.1:50052",
    "attribution": "127.0.0.1:50053",
    "postbacks": "127.0.0.1:50054",
    "analytics": "127.0.0.1:50055",
}


class ConfigError(ValueError):
    """A CLICKTRAIL_* variable has a value we cannot use."""


def _networks(value: Any) -> Any:
    """``10.0.0.0/8, ::1/128`` -> networks (a host address with bits past the prefix is refused)."""
    if isinstance(value, str):
        return tuple(ipaddress.ip_network(p.strip()) for p in value.split(",") if p.strip())
    return value


def _hosts(value: Any) -> Any:
    """``track.example.com, go.example.net`` -> lower-case host names ("*": any host)."""
    if isinstance(value, str):
        return tuple(h.strip().lower().rstrip(".") for h in value.split(",") if h.strip())
    return value


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value


def _postgres_url(value: str) -> str:
    if value and (urlsplit(value).scheme not in ("postgres", "postgresql")):
        raise ValueError("must be a postgres:// or postgresql:// URL")
    return value


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# Comma-separated CIDRs (10.0.0.0/8, ::1/128); a bare address is a /32 or /128.
Networks = Annotated[tuple[Network, ...], NoDecode, BeforeValidator(_networks)]
# Comma-separated host names (track.example.com, go.example.net).
Hosts = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_hosts)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
PostgresUrl = Annotated[str, AfterValidator(_postgres_url)]
Port = Annotated[int, Field(ge=0, le=65535)]
Count = Annotated[int, Field(ge=0)]
Seconds = Annotated[float, Field(ge=0)]
