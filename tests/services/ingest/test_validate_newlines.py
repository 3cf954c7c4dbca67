"""A value with a trailing newline is refused, not stored with it (review of issue 22):
Python's ``$`` matches before a final "\\n", so ``re.match`` with ``^...$`` let
"<uuid>\\n" through as a device id (never equal to the click's: another device key)."""

from __future__ import annotations

import pytest

from services.ingest.validate import Rejected, _device_id, check_monetization

GAID = "38400000-8cf0-11bd-b23e-10b96e40000d"


def test_a_device_id_with_a_trailing_newline_is_refused_naming_the_field() -> None:
    assert _device_id({"gaid": GAID.upper()}, "gaid") == GAID
    with pytest.raises(Rejected) as err:
        _device_id({"gaid": GAID + "\n"}, "gaid")
    assert err.value.field == "device.gaid"


def test_a_web3_token_with_a_trailing_newline_is_refused_naming_the_field() -> None:
    props = {
        "bundle_id": "b1", "bundle_package_items": [["gem", 1]], "bundle_paid_id": "p1",
        "bundle_paid_amount": "15", "bundle_paid_currency": "ETH", "platform": "web", "tx_ref": "0xab",
    }  # fmt: skip
    check_monetization(dict(props), web3=True)
    with pytest.raises(Rejected) as err:
        check_monetization({**props, "bundle_paid_currency": "ETH\n"}, web3=True)
    assert err.value.field == "action_properties.bundle_paid_currency"
