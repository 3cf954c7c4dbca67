"""Apple's signature on SKAdNetwork and AdAttributionKit postbacks: parsing a
postback body into one ``Postback`` and verifying it, pure (no IO).

SKAdNetwork (Apple, "Verifying an install-validation postback" and the pages it
links: https://developer.apple.com/documentation/storekit/verifying-an-install-validation-postback):
the signed string is the values of a version's fields, in that version's order,
joined by U+2063 (INVISIBLE SEPARATOR), UTF-8; ``attribution-signature`` is a
base64 DER ECDSA signature over its SHA-256, by

- 1.0 and 2.0: Apple's NIST P-192 key (SKAdNetwork 1 / 2 release notes);
- 2.1 and later: Apple's NIST P-256 key.

Field orders (an optional field is left out, separator and all, when absent):

- 1.0: ad-network-id, campaign-id, app-id, transaction-id
- 2.0, 2.1: version, ad-network-id, campaign-id, app-id, transaction-id, redownload, [source-app-id]
- 2.2: the same, then fidelity-type
- 3.0: ... fidelity-type, did-win
- 4.0: version, ad-network-id, source-identifier, app-id, transaction-id, redownload,
  [source-app-id | source-domain], fidelity-type, did-win, postback-sequence-index

Booleans are signed as "true" / "false", numbers in decimal. Conversion values
(fine and coarse) are never signed.

AdAttributionKit (https://developer.apple.com/documentation/adattributionkit/verifying-a-postback):
the body is ``{"jws-string": <compact JWS>, "conversion-value"?, "coarse-conversion-value"?,
"ad-interaction-type"?, "country-code"?}``; the JWS is ES256 over
``header.payload`` (raw r||s signature, base64url), the key chosen by the header's
``kid``: ``apple-cas-identifier/0`` (production, the SKAN P-256 key), or the
development keys ``apple-development-identifier/0`` (end-to-end test flows) and
``/1`` (developer settings), which any device in Developer Mode can produce and are
accepted only where the operator allows them. The header's ``alg`` never chooses
the algorithm: ES256 or a refusal.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

SEPARATOR = "\u2063"
KIND_SKAN, KIND_AAK = 1, 2
# Apple's public keys (base64 DER SubjectPublicKeyInfo), as Apple publishes them.
# P-192: SKAdNetwork 1 and 2 release notes; P-256: "Verifying an install-validation postback".
APPLE_P192 = "MEkwEwYHKoZIzj0CAQYIKoZIzj0DAQEDMgAEMyHD625uvsmGq4C43cQ9BnfN2xslVT5V1nOmAMP6qaRRUll3PB1JYmgSm+62sosG"
APPLE_P256 = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEWdp8GPcGqmhgzEFj9Z2nSpQVddayaPe4FMzqM9wib1+aHaaIzoHoLN9zW4K8y4SPykE3YVK3"
    "sVqW6Af0lfx3gg=="
)
# AdAttributionKit, by JWS kid ("Verifying a postback").
AAK_PRODUCTION_KID = "apple-cas-identifier/0"
AAK_KEYS = {
    AAK_PRODUCTION_KID: APPLE_P256,
    "apple-development-identifier/0": (
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAELeEDzpJEP+/qRSE5hJVC1p1J0ssUnQGMzBBbvnACBok8OVGGLgxL0myrKiy6lvRtSlLR"
        "sWit87i+vftD8AEqeQ=="
    ),
    "apple-development-identifier/1": (
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8YzdO7eM97s/IJ25kdW5CZ3A14USE5IJ5Ha/vhWaxI6UBI1ZxCEvjrKxVluVGe6qWwF1"
        "BDFq+QHqKfH5u+wxHQ=="
    ),
}
KEY_P192, KEY_P256 = "apple-skan-p192", "apple-skan-p256"
P192_VERSIONS = ("1.0", "2.0")
VERSIONS = ("1.0", "2.0", "2.1", "2.2", "3.0", "4.0")
OPTIONAL = "?"  # a field name's prefix in ORDER: left out when the postback does not carry it
ORDER: dict[str, tuple[str, ...]] = {
    "1.0": ("ad-network-id", "campaign-id", "app-id", "transaction-id"),
    "2.0": ("version", "ad-network-id", "campaign-id", "app-id", "transaction-id", "redownload", "?source-app-id"),
    "2.2": (
        "version", "ad-network-id", "campaign-id", "app-id", "transaction-id", "redownload", "?source-app-id",
        "fidelity-type",
    ),
    "3.0": (
        "version", "ad-network-id", "campaign-id", "app-id", "transaction-id", "redownload", "?source-app-id",
        "fidelity-type", "did-win",
    ),
    "4.0": (
        "version", "ad-network-id", "source-identifier", "app-id", "transaction-id", "redownload", "?source-app-id",
        "?source-domain", "fidelity-type", "did-win", "postback-sequence-index",
    ),
}  # fmt: skip
ORDER["2.1"] = ORDER["2.0"]
BOOL_FIELDS = ("redownload", "did-win")
INT_FIELDS = ("campaign-id", "app-id", "source-app-id", "fidelity-type", "postback-sequence-index")
COARSE = ("low", "medium", "high")
MAX_TEXT = 200
AD_NETWORK_RE = re.compile(r"[A-Za-z0-9._-]{1,200}")
SOURCE_ID_RE = re.compile(r"[0-9]{2,4}")
TRANSACTION_RE = re.compile(r"[A-Za-z0-9._:-]{1,200}")
DOMAIN_RE = re.compile(r"[A-Za-z0-9.-]{1,253}")
JWS_PART_RE = re.compile(r"[A-Za-z0-9_-]*")


class SkanRefused(ValueError):
    """A postback refused: ``field`` names what to fix ("signature" when Apple's key
    does not verify it)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class Postback:
    """One verified postback, normalized (what skan_postbacks stores)."""

    kind: int
    version: str  # "1.0" .. "4.0"; AdAttributionKit: "aak"
    transaction_id: str
    ad_network_id: str
    store_app_id: str
    source_identifier: str
    source_app_id: str | None
    source_domain: str | None
    fidelity_type: int | None
    redownload: bool
    did_win: bool
    sequence_index: int
    fine_value: int | None
    coarse_value: str | None
    signing_key: str
    conversion_type: str | None = None  # AdAttributionKit: "download" | "redownload" | "re-engagement"

    @property
    def installs(self) -> int:
        """1 for the winning first postback of an install (a re-engagement is no install)."""
        first_win = self.sequence_index == 0 and self.did_win
        return 1 if first_win and self.conversion_type != "re-engagement" else 0


_KEYS: dict[str, ec.EllipticCurvePublicKey] = {}


def public_key(b64: str) -> ec.EllipticCurvePublicKey:
    key = _KEYS.get(b64)
    if key is None:
        loaded = serialization.load_der_public_key(base64.b64decode(b64))
        if not isinstance(loaded, ec.EllipticCurvePublicKey):
            raise TypeError("not an EC public key")
        key = _KEYS[b64] = loaded
    return key


def signed_text(value: Any) -> str:
    """A value as Apple signs it: booleans "true"/"false", integers in decimal, text as is."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _present(doc: Mapping[str, Any], name: str) -> bool:
    return name in doc and doc[name] is not None and doc[name] != ""


def _int(doc: Mapping[str, Any], name: str, low: int, high: int) -> int | None:
    """An integer field (a JSON number, or digits as a string: networks' copies stringify)."""
    if not _present(doc, name):
        return None
    value = doc[name]
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise SkanRefused(name, "must be an integer")
    if isinstance(value, str):
        if not value.isascii() or not value.isdigit() or len(value) > 20:
            raise SkanRefused(name, "must be an integer")
        value = int(value)
    if not low <= value <= high:
        raise SkanRefused(name, f"must be between {low} and {high}")
    return value


def _bool(doc: Mapping[str, Any], name: str) -> bool | None:
    if not _present(doc, name):
        return None
    value = doc[name]
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    raise SkanRefused(name, "must be true or false")


def _text(doc: Mapping[str, Any], name: str, pattern: re.Pattern[str], what: str) -> str | None:
    if not _present(doc, name):
        return None
    value = doc[name]
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise SkanRefused(name, f"must be {what}")
    return value


def _values(doc: Mapping[str, Any], version: str) -> tuple[int | None, str | None]:
    """The (unsigned) fine and coarse conversion values."""
    fine = _int(doc, "conversion-value", 0, 63)
    coarse = doc.get("coarse-conversion-value")
    if coarse in (None, ""):
        coarse = None
    elif not isinstance(coarse, str) or coarse.lower() not in COARSE:
        raise SkanRefused("coarse-conversion-value", "must be low, medium or high")
    else:
        coarse = coarse.lower()
    return fine, coarse


def _require(doc: Mapping[str, Any], names: tuple[str, ...]) -> None:
    for name in names:
        if not name.startswith(OPTIONAL) and not _present(doc, name):
            raise SkanRefused(name, "is required")


def _ecdsa_ok(key_b64: str, signature_der: bytes, message: bytes) -> bool:
    try:
        public_key(key_b64).verify(signature_der, message, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def parse_skan(doc: Mapping[str, Any]) -> Postback:
    """A SKAdNetwork postback (the JSON object Apple posts), verified; SkanRefused otherwise."""
    raw_version = doc.get("version")
    if raw_version in (None, ""):
        version = "1.0"  # version 1 postbacks carry no version
    elif isinstance(raw_version, str) and raw_version in VERSIONS:
        version = raw_version
    else:
        raise SkanRefused("version", f"must be one of {', '.join(VERSIONS)} (AdAttributionKit: send jws-string)")
    order = ORDER[version]
    _require(doc, (*order, "attribution-signature"))
    ad_network = _text(doc, "ad-network-id", AD_NETWORK_RE, "an ad network id (letters, digits, '.', '-', '_')")
    transaction = _text(doc, "transaction-id", TRANSACTION_RE, "a transaction id (a UUID)")
    app_id = _int(doc, "app-id", 0, 10**15)
    source_app = _int(doc, "source-app-id", 0, 10**15)
    fidelity = _int(doc, "fidelity-type", 0, 1)
    redownload = _bool(doc, "redownload")
    did_win = _bool(doc, "did-win")
    sequence = _int(doc, "postback-sequence-index", 0, 2)
    domain = _text(doc, "source-domain", DOMAIN_RE, "a domain name")
    if version == "4.0":
        if source_app is not None and domain is not None:
            raise SkanRefused("source-domain", "a postback carries source-app-id or source-domain, not both")
        source = _text(doc, "source-identifier", SOURCE_ID_RE, "2 to 4 digits")
    else:
        for name in ("source-identifier", "postback-sequence-index", "source-domain"):
            if _present(doc, name):
                raise SkanRefused(name, f"is a version 4.0 field; this postback says version {version}")
        campaign = _int(doc, "campaign-id", 0, 10**9)
        source = None if campaign is None else str(campaign)
    if version in ("1.0", "2.0", "2.1", "2.2") and _present(doc, "did-win"):
        raise SkanRefused("did-win", f"is a version 3.0 field; this postback says version {version}")
    fine, coarse = _values(doc, version)
    if coarse is not None and version != "4.0":
        raise SkanRefused("coarse-conversion-value", f"is a version 4.0 field; this postback says version {version}")
    signature = doc.get("attribution-signature")
    try:
        if not isinstance(signature, str):
            raise ValueError
        der = base64.b64decode(signature, validate=True)
    except (ValueError, binascii.Error):
        raise SkanRefused("attribution-signature", "must be Apple's base64 signature") from None
    parts = [signed_text(doc[name.lstrip(OPTIONAL)]) for name in order if _present(doc, name.lstrip(OPTIONAL))]
    p192 = version in P192_VERSIONS
    if not _ecdsa_ok(APPLE_P192 if p192 else APPLE_P256, der, SEPARATOR.join(parts).encode()):
        raise SkanRefused("signature", f"Apple's signature does not verify (version {version} fields, Apple's key)")
    assert ad_network is not None and transaction is not None and app_id is not None
    return Postback(
        kind=KIND_SKAN, version=version, transaction_id=transaction, ad_network_id=ad_network.lower(),
        store_app_id=str(app_id), source_identifier=source or "",
        source_app_id=None if source_app is None else str(source_app), source_domain=domain,
        fidelity_type=fidelity, redownload=bool(redownload), did_win=True if did_win is None else did_win,
        sequence_index=sequence or 0, fine_value=fine, coarse_value=coarse,
        signing_key=KEY_P192 if p192 else KEY_P256,
    )  # fmt: skip


def _b64url(part: str, field: str) -> bytes:
    if JWS_PART_RE.fullmatch(part) is None:
        raise SkanRefused("jws-string", f"the JWS {field} is not base64url")
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (ValueError, binascii.Error):
        raise SkanRefused("jws-string", f"the JWS {field} is not base64url") from None


def _json_object(raw: bytes, field: str) -> dict[str, Any]:
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise SkanRefused("jws-string", f"the JWS {field} is not JSON") from None
    if not isinstance(doc, dict):
        raise SkanRefused("jws-string", f"the JWS {field} must be a JSON object")
    return doc


def parse_aak(doc: Mapping[str, Any], *, development_keys: bool = False) -> Postback:
    """An AdAttributionKit postback (``{"jws-string": ..., "conversion-value": ...}``), verified."""
    jws = doc.get("jws-string")
    if not isinstance(jws, str) or not jws:
        raise SkanRefused("jws-string", "is required: Apple's compact JWS")
    parts = jws.split(".")
    if len(parts) != 3:
        raise SkanRefused("jws-string", "must be a compact JWS: header.payload.signature")
    header = _json_object(_b64url(parts[0], "header"), "header")
    if header.get("alg") != "ES256":
        raise SkanRefused("jws-string", "the JWS header's alg must be ES256")
    kid = header.get("kid")
    key = AAK_KEYS.get(kid) if isinstance(kid, str) else None
    if key is None or not isinstance(kid, str):
        raise SkanRefused("jws-string", f"the JWS kid {str(kid)[:64]!r} is none of Apple's keys")
    if kid != AAK_PRODUCTION_KID and not development_keys:
        raise SkanRefused(
            "signature", f"signed with Apple's development key {kid}: development postbacks are not accepted here"
            " (CLICKTRAIL_SKAN_DEVELOPMENT_KEYS=1 accepts them)",
        )  # fmt: skip
    raw_sig = _b64url(parts[2], "signature")
    if len(raw_sig) != 64:
        raise SkanRefused("signature", "Apple's signature does not verify (an ES256 signature is 64 bytes)")
    der = encode_dss_signature(int.from_bytes(raw_sig[:32], "big"), int.from_bytes(raw_sig[32:], "big"))
    if not _ecdsa_ok(key, der, f"{parts[0]}.{parts[1]}".encode("ascii")):
        raise SkanRefused("signature", f"Apple's signature does not verify (JWS, key {kid})")
    payload = _json_object(_b64url(parts[1], "payload"), "payload")
    _require(payload, ("postback-identifier", "ad-network-identifier", "advertised-item-identifier"))
    transaction = _text(payload, "postback-identifier", TRANSACTION_RE, "a postback identifier (a UUID)")
    ad_network = _text(payload, "ad-network-identifier", AD_NETWORK_RE, "an ad network id")
    app_id = _int(payload, "advertised-item-identifier", 0, 10**15)
    source = _text(payload, "source-identifier", SOURCE_ID_RE, "2 to 4 digits")
    publisher = _int(payload, "publisher-item-identifier", 0, 10**15)
    domain = _text(payload, "source-domain", DOMAIN_RE, "a domain name")
    did_win = _bool(payload, "did-win")
    sequence = _int(payload, "postback-sequence-index", 0, 2)
    conversion_type = payload.get("conversion-type")
    if conversion_type is not None and conversion_type not in ("download", "redownload", "re-engagement"):
        raise SkanRefused("conversion-type", "must be download, redownload or re-engagement")
    interaction = doc.get("ad-interaction-type")
    fidelity = {"view": 0, "click": 1}.get(interaction) if isinstance(interaction, str) else None
    fine, coarse = _values(doc, "aak")
    assert transaction is not None and ad_network is not None and app_id is not None
    return Postback(
        kind=KIND_AAK, version="aak", transaction_id=transaction, ad_network_id=ad_network.lower(),
        store_app_id=str(app_id), source_identifier=source or "",
        source_app_id=str(publisher) if publisher else None, source_domain=domain, fidelity_type=fidelity,
        redownload=conversion_type == "redownload", did_win=True if did_win is None else did_win,
        sequence_index=sequence or 0, fine_value=fine, coarse_value=coarse, signing_key=kid,
        conversion_type=conversion_type,
    )  # fmt: skip


def parse(body: bytes, kind: int = 0, *, development_keys: bool = False) -> tuple[Postback, dict[str, Any]]:
    """A postback body (JSON object) -> the verified postback and the document as
    received. ``kind`` 0: AdAttributionKit when the body has a jws-string."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise SkanRefused("body", "is not valid JSON") from None
    if not isinstance(doc, dict):
        raise SkanRefused("body", "must be a JSON object")
    if kind == KIND_AAK or (kind == 0 and "jws-string" in doc):
        return parse_aak(doc, development_keys=development_keys), doc
    return parse_skan(doc), doc
