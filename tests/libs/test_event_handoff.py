"""The queue hand-offs (libs/event_handoff, libs/postback_handoff): typed messages in the
proto JSON mapping, jobs of the version before still read; an erased queued event keeps
its kept amounts exactly."""

from __future__ import annotations

import datetime as dt
import uuid

import orjson
import pytest
from clicktrail.handoff.v1.events_pb2 import StoredEvents
from clicktrail.handoff.v1.outbound_pb2 import OutboundEvent
from google.protobuf import json_format

from libs import event_handoff, postback_handoff
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


# --------------------------------------------------------------------------- the typed hand-offs (issue 20)


NOW = dt.datetime(2026, 12, 6, 17, 55, 11, 123456, tzinfo=dt.UTC)
EVENT_UUID = uuid.UUID("6f0c3b8e-2a44-4c1e-9a51-7d3a2e6b9c09")
PROPS = '{"bundle_paid_amount":12345678901234567.25,"wei":123456789012345678901234567890}'


def _row(**over: object) -> list[object]:
    values: dict[str, object] = {
        "account_id": "acc_1", "app_id": "app_1", "event_uuid": EVENT_UUID, "event": 3, "event_time": NOW,
        "receive_time": NOW, "session_id": "s-1", "session_offset": 7, "user_id": "player-42", "platform": 2,
        "gaid": "6d92078a-8246-4ba4-ae5b-76104861e7dc", "ip": "81.2.69.142", "action": "purchase",
        "properties": PROPS, **over,
    }  # fmt: skip
    return [values.get(c) for c in event_handoff.COLUMNS]


def test_the_columns_are_the_ingest_rows_order() -> None:
    assert event_handoff.COLUMNS[:6] == ("account_id", "app_id", "event_uuid", "event", "event_time", "receive_time")
    assert event_handoff.COLUMNS[25:27] == ("install_begin_time", "referrer_click_time")
    assert event_handoff.COLUMNS[-4:] == ("adservices_token", "app_instance_id", "tracking_status", "app_version")
    assert len(event_handoff.COLUMNS) == 31


def test_a_stored_event_round_trips_as_the_proto_json_mapping() -> None:
    payload = event_handoff.encode([_row()])
    batch = event_handoff.decode(payload)
    assert isinstance(batch, StoredEvents) and len(batch.events) == 1
    ev = batch.events[0]
    assert (ev.event_uuid, ev.event, ev.platform, ev.session_offset) == (str(EVENT_UUID), 3, 2, 7)
    assert ev.event_time == NOW.isoformat() and not ev.HasField("click_id")
    # The payload is the message's JSON mapping: json_format reads it to the same message ...
    assert json_format.ParseDict(orjson.loads(payload), StoredEvents()) == batch
    # ... and what json_format writes (enum names, int64 as text) decodes alike.
    written = json_format.MessageToJson(batch, preserving_proto_field_name=True).encode()
    assert event_handoff.decode(written) == batch
    view = event_handoff.fields(ev)
    assert event_handoff.decode_fields(payload) == [view] == event_handoff.decode_fields(written)
    assert view["properties"] == PROPS  # exact numbers: the text as sent
    assert view["click_id"] is None and view["user_id"] == "player-42" and view["event"] == 3


def test_a_job_queued_by_the_version_before_still_decodes() -> None:
    old = orjson.dumps({"columns": event_handoff.COLUMNS, "rows": [_row(idfa=None)]}, default=str)
    batch = event_handoff.decode(old)
    assert batch == event_handoff.decode(event_handoff.encode([_row()]))
    assert event_handoff.fields(batch.events[0])["event_time"] == NOW.isoformat()


def test_a_payload_of_the_wrong_shape_is_refused() -> None:
    with pytest.raises(event_handoff.HandoffError):
        event_handoff.decode(b'{"events": [{"event_uuid": 5}]}')
    with pytest.raises(event_handoff.HandoffError):
        event_handoff.decode(b"[1]")
    with pytest.raises(event_handoff.HandoffError):  # the consumer checks every event against the message
        event_handoff.decode_fields(event_handoff.encode([_row(session_offset="x")]))
    with pytest.raises(event_handoff.HandoffError):
        event_handoff.decode_fields(b'{"events": [{"account_id": 5}]}')
    # A column a later version adds is no error (a reader reads the fields it knows).
    later = event_handoff.decode_fields(
        b'{"events": [{"account_id": "a", "new_column": 1, "event": "EVENT_TYPE_TRACK"}]}'
    )
    assert later[0]["account_id"] == "a" and later[0]["event"] == 3 and "new_column" not in later[0]


def test_enum_names_read_as_their_numbers_in_the_column_view() -> None:
    # The message's constructor takes an enum's name as well as its number: the column
    # view must hold the number all the same (the engine compares event / platform with numbers).
    payload = b'{"events": [{"account_id": "a", "event": "EVENT_TYPE_TRACK", "platform": 2}]}'
    (view,) = event_handoff.decode_fields(payload)
    assert view == event_handoff.fields(event_handoff.decode(payload).events[0])
    assert view["event"] == 3 and view["platform"] == 2


@pytest.mark.parametrize("old", [False, True])
def test_erasing_a_queued_payload_keeps_it_a_stored_events(old: bool) -> None:
    row = _row()
    payload = (
        orjson.dumps({"columns": event_handoff.COLUMNS, "rows": [row]}, default=str)
        if old
        else event_handoff.encode([row])
    )
    assert event_handoff.erase_in_payload(payload, lambda e: None) == payload
    erased = event_handoff.erase_in_payload(payload, lambda e: "erased:p" if e["user_id"] == "player-42" else None)
    ev = event_handoff.decode(erased).events[0]
    assert ev.user_id == "erased:p" and not ev.HasField("gaid") and not ev.HasField("ip")
    assert ev.properties == '{"bundle_paid_amount":12345678901234567.25}'
    assert b"player-42" not in erased and b"81.2.69.142" not in erased


def test_an_outbound_event_round_trips_and_is_its_json_mapping() -> None:
    ev = postback_handoff.outbound_event(
        event_id="ins_1", kind="conversion", account_id="acc_1", payout="12345678901234567.25", currency="EUR",
        attributed=True, sub3="s3", txid=None,
    )  # fmt: skip
    payload = postback_handoff.encode(ev)
    assert orjson.loads(payload) == json_format.MessageToDict(ev, preserving_proto_field_name=True)
    back = postback_handoff.decode(payload)
    assert back == ev and back.payout == "12345678901234567.25"
    values = postback_handoff.fields(back)
    assert tuple(values) == postback_handoff.FIELDS and values["sub4"] == "" and values["attributed"] is True


def test_an_outbound_job_queued_by_the_version_before_still_decodes() -> None:
    old = {f: "" for f in postback_handoff.FIELDS} | {"event_id": "c_1:rejected", "kind": "install",
                                                       "attributed": False, "verdict": "invalid"}  # fmt: skip
    ev = postback_handoff.decode(orjson.dumps(old))
    assert isinstance(ev, OutboundEvent) and (ev.event_id, ev.kind, ev.verdict) == (
        "c_1:rejected",
        "install",
        "invalid",
    )


def test_an_outbound_event_of_the_wrong_shape_is_refused() -> None:
    with pytest.raises(postback_handoff.HandoffError):
        postback_handoff.outbound_event(kind="install", unknown="x")
    with pytest.raises(postback_handoff.HandoffError):
        postback_handoff.outbound_event(kind="refund")
    with pytest.raises(ValueError):
        postback_handoff.decode(b'{"event_id": 3, "kind": "install"}')
    with pytest.raises(ValueError):
        postback_handoff.decode(b"not json")
