"""libs/event_handoff.erase_event: an erased queued event keeps its kept amounts exactly."""

from __future__ import annotations

from libs.event_handoff import erase_event


def test_erasing_a_queued_event_keeps_its_amounts_digit_for_digit() -> None:
    event = {
        "user_id": "player-42", "ip": "81.2.69.142", "gaid": "6d92078a-8246-4ba4-ae5b-76104861e7dc",
        "properties": '{"bundle_paid_amount": 12345678901234567.25, "wei": 123456789012345678901234567890,'
                      ' "bundle_paid_currency": "EUR", "email": "a@b.example"}',
    }  # fmt: skip
    erase_event(event, "erased:" + "0" * 32)
    assert (event["user_id"], event["ip"], event["gaid"]) == ("erased:" + "0" * 32, None, None)
    # A float on the way made it 1.2345678901234568e+16; the free-form ones go.
    assert event["properties"] == '{"bundle_paid_amount":12345678901234567.25,"bundle_paid_currency":"EUR"}'
