"""skan_verify: Apple's published postbacks verify (every SKAdNetwork version and
AdAttributionKit; sources in skan_vectors.py), one changed field is refused as
"signature", and malformed postbacks are refused naming the field. Pure: no
database, no network."""

from __future__ import annotations

import orjson
import pytest

from services.attribution import skan_verify as sv

from .skan_vectors import AAK, AAK_APP_ID, APPLE_VECTORS, V2_2, V3_0_LOSE, V4_0_COARSE, V4_0_FINE, TestSigner, forged


def parse(doc: object, **kw: object) -> sv.Postback:
    return sv.parse(orjson.dumps(doc), **kw)[0]  # type: ignore[arg-type]


def refused(doc: object, **kw: object) -> sv.SkanRefused:
    with pytest.raises(sv.SkanRefused) as e:
        parse(doc, **kw)
    return e.value


@pytest.mark.parametrize("name", sorted(APPLE_VECTORS))
def test_apples_examples_verify(name: str) -> None:
    doc = APPLE_VECTORS[name]
    p = parse(doc)
    assert p.kind == sv.KIND_SKAN and p.transaction_id == doc["transaction-id"]
    assert p.store_app_id == str(doc["app-id"]) and p.ad_network_id == doc["ad-network-id"]
    assert p.signing_key == (sv.KEY_P192 if name in ("1.0", "2.0") else sv.KEY_P256)
    assert p.source_identifier == str(doc.get("source-identifier", doc.get("campaign-id")))


@pytest.mark.parametrize("name", sorted(APPLE_VECTORS))
def test_one_changed_signed_field_is_refused(name: str) -> None:
    doc = APPLE_VECTORS[name]
    # Another app, another campaign: the signature no longer verifies.
    assert refused(forged(doc, app_id=doc["app-id"] + 1)).field == "signature"
    key = "source-identifier" if "source-identifier" in doc else "campaign-id"
    other = "9999" if key == "source-identifier" else doc[key] + 1
    assert refused(forged(doc, **{key.replace("-", "_"): other})).field == "signature"


def test_unsigned_values_ride_along() -> None:
    # Conversion values are not signed (Apple): changing one keeps the signature good.
    assert parse(forged(V2_2, conversion_value=7)).fine_value == 7
    p = parse(V4_0_FINE)
    assert (p.version, p.fine_value, p.coarse_value, p.source_domain, p.sequence_index) == (
        "4.0",
        63,
        None,
        "example.com",
        0,
    )
    p = parse(V4_0_COARSE)
    assert (p.fine_value, p.coarse_value, p.source_identifier, p.installs) == (None, "high", "39", 1)


def test_did_win_false_is_no_install() -> None:
    p = parse(V3_0_LOSE)
    assert (p.did_win, p.installs, p.source_app_id) == (False, 0, None)


def test_version_mismatch_is_a_refusal_not_a_crash() -> None:
    # The 4.0 example relabelled 3.0: 3.0 has no source-identifier.
    e = refused(forged(V4_0_FINE, version="3.0"))
    assert e.field == "campaign-id"
    # The 2.2 example relabelled 3.0: field order differs (did-win missing).
    assert refused(forged(V2_2, version="3.0")).field == "did-win"
    # Relabelled 2.1 (no fidelity-type signed): the signature fails.
    assert refused(forged(V2_2, version="2.1")).field == "signature"
    assert refused(forged(V2_2, version="5.0")).field == "version"
    assert refused(forged(V2_2, version=2.2)).field == "version"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"transaction-id": None}, "transaction-id"),
        ({"app-id": "abc"}, "app-id"),
        ({"app-id": True}, "app-id"),
        ({"redownload": "yes"}, "redownload"),
        ({"conversion-value": 64}, "conversion-value"),
        ({"fidelity-type": 3}, "fidelity-type"),
        ({"attribution-signature": "%%%"}, "attribution-signature"),
        ({"attribution-signature": None}, "attribution-signature"),
        ({"ad-network-id": "bad id!"}, "ad-network-id"),
    ],
)
def test_malformed_fields_are_named(change: dict[str, object], field: str) -> None:
    doc = dict(V2_2)
    doc.update(change)
    if change.get("transaction-id", 0) is None or change.get("attribution-signature", 0) is None:
        doc = {k: v for k, v in doc.items() if v is not None}
    assert refused(doc).field == field


def test_body_must_be_a_json_object() -> None:
    for body in (b"not json", b"[1, 2]", b'"x"'):
        with pytest.raises(sv.SkanRefused) as e:
            sv.parse(body)
        assert e.value.field == "body"


def test_source_identifier_is_two_to_four_digits() -> None:
    signer = TestSigner()
    assert refused(forged(V4_0_FINE, source_identifier="12345")).field == "source-identifier"
    assert refused(forged(V4_0_FINE, source_identifier="7")).field == "source-identifier"
    assert refused({**signer.skan4(), "source-domain": "example.com"}).field == "source-domain"


def test_aak_apples_example_verifies_with_the_development_key() -> None:
    p = parse(AAK, development_keys=True)
    assert p.kind == sv.KIND_AAK and p.version == "aak"
    assert p.transaction_id == "85546EB7-FD39-44BC-8990-C98A4AC36A49"
    assert (p.store_app_id, p.ad_network_id, p.source_identifier) == (
        AAK_APP_ID,
        "development.adattributionkit",
        "1234",
    )
    assert (p.fine_value, p.fidelity_type, p.signing_key) == (24, 1, "apple-development-identifier/1")
    assert p.conversion_type == "re-engagement" and p.installs == 0  # a re-engagement is no install
    # Off by default: any device in Developer Mode signs with the development keys.
    e = refused(AAK)
    assert e.field == "signature" and "development" in e.reason


def test_aak_forged_and_malformed() -> None:
    head, body, sig = AAK["jws-string"].split(".")
    other = orjson.loads(sv._b64url(body, "payload"))
    other["source-identifier"] = "9999"
    import base64

    body2 = base64.urlsafe_b64encode(orjson.dumps(other)).rstrip(b"=").decode()
    e = refused({**AAK, "jws-string": f"{head}.{body2}.{sig}"}, development_keys=True)
    assert e.field == "signature"
    assert refused({**AAK, "jws-string": f"{head}.{body}"}, development_keys=True).field == "jws-string"
    assert refused({"jws-string": ""}).field == "jws-string"
    none_alg = base64.urlsafe_b64encode(b'{"alg":"none","kid":"apple-cas-identifier/0"}').rstrip(b"=").decode()
    assert refused({"jws-string": f"{none_alg}.{body}."}).field == "jws-string"
    unknown = base64.urlsafe_b64encode(b'{"alg":"ES256","kid":"mine"}').rstrip(b"=").decode()
    assert refused({"jws-string": f"{unknown}.{body}.{sig}"}).field == "jws-string"
    assert refused({**AAK, "coarse-conversion-value": "huge"}, development_keys=True).field == "coarse-conversion-value"


def test_aak_production_key(monkeypatch: pytest.MonkeyPatch) -> None:
    signer = TestSigner()
    monkeypatch.setitem(sv.AAK_KEYS, sv.AAK_PRODUCTION_KID, signer.public_b64)
    p = parse(signer.aak(postback_sequence_index=1, did_win=True))
    assert (p.sequence_index, p.installs, p.fine_value, p.signing_key) == (1, 0, 42, sv.AAK_PRODUCTION_KID)
    p = parse(signer.aak())
    assert (p.installs, p.source_app_id, p.store_app_id) == (1, "1234567891", "525463029")
    # A postback the test key signed does not verify with Apple's real key.
    monkeypatch.setitem(sv.AAK_KEYS, sv.AAK_PRODUCTION_KID, sv.APPLE_P256)
    assert refused(signer.aak()).field == "signature"
