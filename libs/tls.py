"""TLS and mutual TLS for gRPC: the one place that turns the CLICKTRAIL_GRPC_TLS_*
settings into server and channel credentials.

- Server (``server_credentials``): ``grpc_tls_cert`` + ``grpc_tls_key`` make it
  serve TLS only. It requires a client certificate signed by ``grpc_tls_ca``
  (mutual TLS) when ``grpc_tls_client_auth`` is true or the process has a
  client certificate of its own (``grpc_tls_client_cert``).
- Client (``channel_credentials``): ``grpc_tls_ca`` makes every channel TLS,
  verifying the server against that CA; ``grpc_tls_client_cert`` +
  ``grpc_tls_client_key`` are presented to servers that ask for them.

Nothing set: plaintext, as before.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Protocol

import grpc

from libs.config import CommonSettings, ConfigError


def _read(setting: str, path: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"CLICKTRAIL_{setting.upper()}={path!r}: cannot read it ({exc.strerror})") from exc
    if b"-----BEGIN" not in data:
        raise ConfigError(f"CLICKTRAIL_{setting.upper()}={path!r}: not a PEM file")
    return data


def _pair(settings: CommonSettings, cert_field: str, key_field: str) -> tuple[bytes, bytes] | None:
    cert, key = getattr(settings, cert_field), getattr(settings, key_field)
    if bool(cert) != bool(key):
        missing = key_field if cert else cert_field
        raise ConfigError(
            f"CLICKTRAIL_{missing.upper()} is needed with CLICKTRAIL_{(cert_field if cert else key_field).upper()}"
        )
    if not cert:
        return None
    return _read(key_field, key), _read(cert_field, cert)


def server_tls_enabled(settings: CommonSettings) -> bool:
    return bool(settings.grpc_tls_cert or settings.grpc_tls_key)


def client_auth_required(settings: CommonSettings) -> bool:
    return settings.grpc_tls_client_auth or bool(settings.grpc_tls_client_cert)


def server_credentials(settings: CommonSettings) -> grpc.ServerCredentials | None:
    """The server's TLS credentials, or None for plaintext."""
    pair = _pair(settings, "grpc_tls_cert", "grpc_tls_key")
    if pair is None:
        if settings.grpc_tls_client_auth:
            raise ConfigError("CLICKTRAIL_GRPC_TLS_CLIENT_AUTH needs CLICKTRAIL_GRPC_TLS_CERT and _KEY")
        return None
    require = client_auth_required(settings)
    if require and not settings.grpc_tls_ca:
        raise ConfigError("mutual TLS needs CLICKTRAIL_GRPC_TLS_CA (the CA that signs client certificates)")
    ca = _read("grpc_tls_ca", settings.grpc_tls_ca) if settings.grpc_tls_ca else None
    return grpc.ssl_server_credentials([pair], root_certificates=ca if require else None, require_client_auth=require)


class ChannelTlsSettings(Protocol):
    """The settings a channel's TLS reads (read-only, so the frozen settings classes are one)."""

    @property
    def grpc_tls_ca(self) -> str: ...
    @property
    def grpc_tls_client_cert(self) -> str: ...
    @property
    def grpc_tls_client_key(self) -> str: ...


def channel_credentials(settings: ChannelTlsSettings) -> grpc.ChannelCredentials | None:
    """Credentials for channels to the suite's services, or None for plaintext."""
    return _channel_credentials(settings.grpc_tls_ca, settings.grpc_tls_client_cert, settings.grpc_tls_client_key)


@functools.lru_cache(maxsize=8)
def _channel_credentials(ca_path: str, cert_path: str, key_path: str) -> grpc.ChannelCredentials | None:
    probe = CommonSettings(grpc_tls_ca=ca_path, grpc_tls_client_cert=cert_path, grpc_tls_client_key=key_path)
    pair = _pair(probe, "grpc_tls_client_cert", "grpc_tls_client_key")
    if not ca_path:
        if pair is not None:
            raise ConfigError("CLICKTRAIL_GRPC_TLS_CLIENT_CERT needs CLICKTRAIL_GRPC_TLS_CA (to verify the servers)")
        return None
    ca = _read("grpc_tls_ca", ca_path)
    key, cert = pair if pair is not None else (None, None)
    return grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)
