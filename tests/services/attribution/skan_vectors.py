"""Published SKAdNetwork / AdAttributionKit postbacks with Apple's signatures
(the test vectors of services/attribution/skan_verify.py), and a local signer
for postbacks the tests make themselves (a test key stands in for Apple's).

Sources:
- 2.2: https://developer.apple.com/documentation/storekit/combining-parameters-for-previous-skadnetwork-postback-versions
  ("an example of a version 2.2 install-validation postback that contains all
  possible parameters and a valid signature").
- 2.1: Apple's earlier example of a version 2.1 postback, as quoted (and verified
  with Apple's P-256 key) in https://gist.github.com/jen6/8fa65a25622d2272a862100ab9157bec
- 3.0 winning and non-winning:
  https://developer.apple.com/documentation/storekit/combining-parameters-for-skadnetwork-3-postbacks
- 4.0 (fine value, 4-digit source identifier; web ad, low tier, coarse value, 2 digits):
  https://developer.apple.com/documentation/storekit/verifying-an-install-validation-postback
  ("The attribution-signature value in both examples is a verified signature").
- AdAttributionKit (JWS signed with apple-development-identifier/1, a re-engagement):
  https://developer.apple.com/documentation/adattributionkit/identifying-the-parameters-in-a-postback
  with the keys of https://developer.apple.com/documentation/adattributionkit/verifying-a-postback
- 1.0 and 2.0 (Apple's P-192 key, SKAdNetwork 1 / 2 release notes): Apple's own
  version 1 example does not verify (https://developer.apple.com/forums/thread/657368
  reports the broken example); these are real network postbacks (ironSource's
  su67r6k2v3 and v9wttpbfk9 ad network ids) published in a public Go test suite
  (package skanpostback, TestVerify) that verify with Apple's P-192 key.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

V1_0: dict[str, Any] = {
    "ad-network-id": "su67r6k2v3.skadnetwork",
    "app-id": 1176027022,
    "attribution-signature": ("MDMCGELMEaJCS0y1JXqjZujcMXdJel8boLV6PAIXFNKYjzROJY2CxAmU+HoPQfTJCyjoS6k="),
    "campaign-id": 51,
    "redownload": False,
    "transaction-id": "583e867c-0bc5-4980-8766-6d8cf992f24a",
    "version": "1.0",
}
V2_0: dict[str, Any] = {
    "ad-network-id": "v9wttpbfk9.skadnetwork",
    "app-id": 1176027022,
    "attribution-signature": ("MDQCGDYZvzXjCRDEcFjJu2xd4kaOPwK+sJpUbgIYZRiWFh0Lpz7KFnF3qrXdyl9sAG8j6gne"),
    "campaign-id": 75,
    "conversion-value": 18,
    "redownload": True,
    "transaction-id": "c4a69044-1c85-4755-9e25-97d8daa30c55",
    "version": "2.0",
}
V2_1: dict[str, Any] = {
    "version": "2.1",
    "ad-network-id": "com.example",
    "campaign-id": 42,
    "transaction-id": "6aafb7a5-0170-41b5-bbe4-fe71dedf1e28",
    "app-id": 525463029,
    "attribution-signature": (
        "MEUCID6rbq3qt4GvFaAaynh5/LAcvn1d8CQTRhrZhLIxLKntAiEAo7IrvoMw6u2qDg6Tr5vIsEHXjlLkPlCOL0ojJcEh3Qw="
    ),
    "redownload": True,
    "source-app-id": 1234567891,
    "conversion-value": 20,
}
V2_2: dict[str, Any] = {
    "version": "2.2",
    "ad-network-id": "com.example",
    "campaign-id": 42,
    "transaction-id": "6aafb7a5-0170-41b5-bbe4-fe71dedf1e28",
    "app-id": 525463029,
    "attribution-signature": (
        "MEYCIQDTuQ1Z4Tpy9D3aEKbxLl5J5iKiTumcqZikuY/AOD2U7QIhAJAaiAv89AoquHXJffcieEQXdWHpcV8ZgbKN0EwV9/sY"
    ),
    "redownload": True,
    "source-app-id": 1234567891,
    "fidelity-type": 1,
    "conversion-value": 20,
}
V3_0_WIN: dict[str, Any] = {
    "version": "3.0",
    "ad-network-id": "example123.skadnetwork",
    "campaign-id": 42,
    "transaction-id": "6aafb7a5-0170-41b5-bbe4-fe71dedf1e28",
    "app-id": 525463029,
    "attribution-signature": (
        "MEYCIQD5eq3AUlamORiGovqFiHWI4RZT/PrM3VEiXUrsC+M51wIhAPMANZA9c07raZJ64gVaXhB9+9yZj/X6DcNxONdccQij"
    ),
    "redownload": True,
    "source-app-id": 1234567891,
    "fidelity-type": 1,
    "conversion-value": 20,
    "did-win": True,
}
V3_0_LOSE: dict[str, Any] = {
    "version": "3.0",
    "ad-network-id": "example123.skadnetwork",
    "campaign-id": 42,
    "transaction-id": "f9ac267a-a889-44ce-b5f7-0166d11461f0",
    "app-id": 525463029,
    "attribution-signature": (
        "MEUCIQDDetUtkyc/MiQvVJ5I6HIO1E7l598572Wljot2Onzd4wIgVJLzVcyAV+TXksGNoa0DTMXEPgNPeHCmD4fw1ABXX0g="
    ),
    "redownload": True,
    "fidelity-type": 1,
    "did-win": False,
}
V4_0_FINE: dict[str, Any] = {
    "version": "4.0",
    "ad-network-id": "com.example",
    "source-identifier": "5239",
    "app-id": 525463029,
    "transaction-id": "6aafb7a5-0170-41b5-bbe4-fe71dedf1e30",
    "redownload": False,
    "source-domain": "example.com",
    "fidelity-type": 1,
    "did-win": True,
    "conversion-value": 63,
    "postback-sequence-index": 0,
    "attribution-signature": (
        "MEUCIGRmSMrqedNu6uaHyhVcifs118R5z/AB6cvRaKrRRHWRAiEAv96ne3dKQ5kJpbsfk4eYiePmrZUU6sQmo+7zfP/1Bxo="
    ),
}
V4_0_COARSE: dict[str, Any] = {
    "version": "4.0",
    "ad-network-id": "com.example",
    "source-identifier": "39",
    "app-id": 525463029,
    "transaction-id": "6aafb7a5-0170-41b5-bbe4-fe71dedf1e31",
    "redownload": False,
    "source-domain": "example.com",
    "fidelity-type": 1,
    "did-win": True,
    "coarse-conversion-value": "high",
    "postback-sequence-index": 0,
    "attribution-signature": (
        "MEUCIQD4rX6eh38qEhuUKHdap345UbmlzA7KEZ1bhWZuYM8MJwIgMnyiiZe6heabDkGwOaKBYrUXQhKtF3P/ERHqkR/XpuA="
    ),
}
AAK_JWS = (
    "eyJraWQiOiJhcHBsZS1kZXZlbG9wbWVudC1pZGVudGlmaWVyXC8xIiwiYWxnIjoiRVMyNTYifQ."
    "eyJwb3N0YmFjay1pZGVudGlmaWVyIjoiODU1NDZFQjctRkQzOS00NEJDLTg5OTAtQzk4QTRBQzM2QTQ5IiwicHVibGlzaGVyLWl0ZW0t"
    "aWRlbnRpZmllciI6MCwibWFya2V0cGxhY2UtaWRlbnRpZmllciI6ImNvbS5hcHBsZS5BcHBTdG9yZSIsImltcHJlc3Npb24tdHlwZSI6"
    "ImFwcC1pbXByZXNzaW9uIiwiYWQtbmV0d29yay1pZGVudGlmaWVyIjoiZGV2ZWxvcG1lbnQuYWRhdHRyaWJ1dGlvbmtpdCIsImRpZC13"
    "aW4iOnRydWUsInBvc3RiYWNrLXNlcXVlbmNlLWluZGV4IjowLCJjb252ZXJzaW9uLXR5cGUiOiJyZS1lbmdhZ2VtZW50Iiwic291cmNl"
    "LWlkZW50aWZpZXIiOiIxMjM0IiwiYWR2ZXJ0aXNlZC1pdGVtLWlkZW50aWZpZXIiOjEwNzM4MDI3NzU2fQ."
    "bAdNwKd6OfHK9tofvjjua4X_JPcFTxXPQSspD9gZkinw97pY7R1aI-LSjl-oxZZF3_K2H5JK5TSEBee4_1U4oQ"
)
AAK: dict[str, Any] = {
    "jws-string": AAK_JWS,
    "conversion-value": 24,
    "ad-interaction-type": "click",
    "country-code": "US",
}
AAK_APP_ID = "10738027756"

APPLE_VECTORS = {
    "1.0": V1_0, "2.0": V2_0, "2.1": V2_1, "2.2": V2_2, "3.0 win": V3_0_WIN, "3.0 lose": V3_0_LOSE,
    "4.0 fine": V4_0_FINE, "4.0 coarse": V4_0_COARSE,
}  # fmt: skip


def forged(doc: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    out.update({k.replace("_", "-"): v for k, v in changes.items()})
    return out


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class TestSigner:
    """A P-256 key that signs SKAN 4 postbacks and AAK JWS the way Apple does; a test
    installs its public key in place of Apple's (monkeypatch) to sign postbacks of its own."""

    __test__ = False

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public_b64 = base64.b64encode(der).decode()

    def skan4(self, **fields: Any) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "version": "4.0", "ad-network-id": "example123.skadnetwork", "source-identifier": "1234",
            "app-id": 525463029, "transaction-id": "00000000-0000-4000-8000-000000000001", "redownload": False,
            "source-app-id": 1234567891, "fidelity-type": 1, "did-win": True, "postback-sequence-index": 0,
        }  # fmt: skip
        doc.update({k.replace("_", "-"): v for k, v in fields.items()})
        order = (
            "version", "ad-network-id", "source-identifier", "app-id", "transaction-id", "redownload",
            "source-app-id", "source-domain", "fidelity-type", "did-win", "postback-sequence-index",
        )  # fmt: skip
        parts = [
            ("true" if doc[k] else "false") if isinstance(doc[k], bool) else str(doc[k]) for k in order if k in doc
        ]
        sig = self.key.sign("\u2063".join(parts).encode(), ec.ECDSA(hashes.SHA256()))
        doc["attribution-signature"] = base64.b64encode(sig).decode()
        return doc

    def aak(self, kid: str = "apple-cas-identifier/0", **payload: Any) -> dict[str, Any]:
        claims: dict[str, Any] = {
            "postback-identifier": "0F3E2D1C-0000-4000-8000-000000000002", "publisher-item-identifier": 1234567891,
            "impression-type": "app-impression", "ad-network-identifier": "example123.adattributionkit",
            "did-win": True, "postback-sequence-index": 0, "conversion-type": "download",
            "source-identifier": "5239", "advertised-item-identifier": 525463029,
        }  # fmt: skip
        claims.update({k.replace("_", "-"): v for k, v in payload.items()})
        import orjson

        head = _b64url(orjson.dumps({"kid": kid, "alg": "ES256"}))
        body = _b64url(orjson.dumps(claims))
        r, s = decode_dss_signature(self.key.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256())))
        sig = _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
        return {"jws-string": f"{head}.{body}.{sig}", "conversion-value": 42}
