"""gRPC over TLS and mutual TLS, set up only through CLICKTRAIL_GRPC_TLS_* settings,
with certificates this module generates (a CA, a server and a client certificate).

Every fixture of this module talks to the services over mutual TLS: ``settings``
carries the TLS files (so the links service serves mTLS only, and the gateway
calls it with its client certificate) and ``channels`` makes TLS channels."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from libs.config import Settings
from libs.grpc_client import make_channel
from libs.grpc_server import start_service
from libs.tls import channel_credentials
from services.links.server import SPEC as LINKS_SPEC
from tests.gateway.conftest import MakeLink, start_gateway


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[str, str]:
    crt, pem = path.with_suffix(".crt"), path.with_suffix(".key")
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(crt), str(pem)


def _issue(
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None, cn: str, *, server: bool = False
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca[0].subject if ca else _name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca is None, path_length=None), critical=True)
    )
    if ca is not None:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return builder.sign(ca[1] if ca else key, hashes.SHA256()), key


@dataclasses.dataclass(frozen=True)
class Certs:
    ca: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str
    ca_pem: bytes


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    d = tmp_path_factory.mktemp("tls")
    ca = _issue(None, "Clicktrail test CA")
    ca_path, _ = _write(d / "ca", *ca)
    server = _write(d / "server", *_issue(ca, "links", server=True))
    client = _write(d / "client", *_issue(ca, "gateway"))
    return Certs(ca_path, *server, *client, Path(ca_path).read_bytes())


@pytest.fixture
def settings(settings: Settings, certs: Certs) -> Settings:
    """Every process of the test on mutual TLS (a client cert configured: servers require one)."""
    return dataclasses.replace(
        settings, grpc_tls_cert=certs.server_cert, grpc_tls_key=certs.server_key, grpc_tls_ca=certs.ca,
        grpc_tls_client_cert=certs.client_cert, grpc_tls_client_key=certs.client_key,
    )  # fmt: skip


@pytest.fixture
def channels(channels: Callable[..., grpc.aio.Channel], settings: Settings) -> Callable[..., grpc.aio.Channel]:
    tls = channel_credentials(settings)

    def make(target: str, **kwargs: object) -> grpc.aio.Channel:
        return channels(target, tls=tls, **kwargs)

    return make


async def _health(channel: grpc.aio.Channel) -> grpc.StatusCode:
    try:
        await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=3)
    except grpc.aio.AioRpcError as err:
        return err.code()
    finally:
        await channel.close()
    return grpc.StatusCode.OK


async def test_a_click_through_the_gateway_to_links_over_mutual_tls(settings, links_server, make_link: MakeLink):
    # The account, app, campaign and link were made over mTLS too (the channels fixture).
    tracked = await make_link("https://shop.example/land?cid={click_id}")
    gw = await start_gateway(dataclasses.replace(settings, links_addr=links_server.addr))
    try:
        async with gw.client() as http:
            r = await http.get(f"/c/{tracked.slug}")
        assert r.status_code == 302, r.text
        assert r.headers["location"].startswith("https://shop.example/land?cid=")
    finally:
        await gw.stop()


async def test_mutual_tls_refuses_plaintext_and_clients_without_a_certificate(settings, links_server, certs):
    addr = links_server.addr
    with_cert = channel_credentials(settings)
    without_cert = grpc.ssl_channel_credentials(root_certificates=certs.ca_pem)
    assert await _health(make_channel(addr, tls=with_cert)) == grpc.StatusCode.OK
    assert await _health(make_channel(addr)) == grpc.StatusCode.UNAVAILABLE
    assert await _health(make_channel(addr, tls=without_cert)) == grpc.StatusCode.UNAVAILABLE


async def test_tls_without_client_auth_serves_tls_only(settings, certs):
    """Server cert + key only: TLS clients that trust the CA get in, plaintext does not."""
    tls_only = dataclasses.replace(settings, grpc_tls_client_cert="", grpc_tls_client_key="")
    svc = await start_service(LINKS_SPEC, tls_only, listen="127.0.0.1:0")
    try:
        assert await _health(make_channel(svc.addr, tls=channel_credentials(tls_only))) == grpc.StatusCode.OK
        assert await _health(make_channel(svc.addr)) == grpc.StatusCode.UNAVAILABLE
    finally:
        await svc.stop(grace=1.0)
