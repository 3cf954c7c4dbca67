"""The delivery rules and the row <-> message mapping, without a database."""

from __future__ import annotations

import datetime as dt

from clicktrail.postbacks.v1 import postbacks_pb2 as pb

from services.postbacks import messages, rules


def test_an_answer_delivers_fails_or_retries() -> None:
    assert rules.delivered(200) and rules.delivered(204) and not rules.delivered(302)
    assert rules.answer_error(200) == ""
    assert rules.answer_error(302) == "HTTP 302 (redirects are not followed)"
    assert rules.answer_error(404) == "HTTP 404"
    assert [s for s in (301, 400, 404, 408, 429, 500, 503) if rules.retryable(s)] == [408, 429, 500, 503]


def test_retry_after_in_seconds_or_as_a_date_capped_at_a_day() -> None:
    now = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
    assert rules.retry_after({}) is None
    assert rules.retry_after({"retry-after": "2"}) == 2.0
    assert rules.retry_after({"retry-after": "999999"}) == rules.MAX_RETRY_AFTER_S
    assert rules.retry_after({"retry-after": "Thu, 01 Jan 2026 12:00:30 GMT"}, now) == 30.0
    assert rules.retry_after({"retry-after": "Thu, 01 Jan 2026 11:00:00 GMT"}, now) == 0.0
    assert rules.retry_after({"retry-after": "soon"}) is None


def test_state_after_an_attempt() -> None:
    assert rules.state_after(failed=False, permanent=False, dead=False) == rules.DELIVERED
    assert rules.state_after(failed=True, permanent=False, dead=False) == rules.RETRYING
    assert rules.state_after(failed=True, permanent=False, dead=True) == rules.DEAD
    assert rules.state_after(failed=True, permanent=True, dead=True) == rules.FAILED


def test_enum_names_come_from_the_protos() -> None:
    assert messages.TRIGGER == {"install": pb.TRIGGER_INSTALL, "goal": pb.TRIGGER_GOAL,
                                "conversion": pb.TRIGGER_CONVERSION, "status_change": pb.TRIGGER_STATUS_CHANGE,
                                "rejected": pb.TRIGGER_REJECTED, "reengagement": pb.TRIGGER_REENGAGEMENT}  # fmt: skip
    assert messages.MODE == {"attributed": pb.SENDING_MODE_ATTRIBUTED, "all": pb.SENDING_MODE_ALL}
    assert messages.METHOD == {"GET": pb.HTTP_METHOD_GET, "POST": pb.HTTP_METHOD_POST}
    assert messages.STATUS_NAME == {
        pb.DELIVERY_STATUS_PENDING: rules.PENDING, pb.DELIVERY_STATUS_RETRYING: rules.RETRYING,
        pb.DELIVERY_STATUS_DELIVERED: rules.DELIVERED, pb.DELIVERY_STATUS_FAILED: rules.FAILED,
        pb.DELIVERY_STATUS_DEAD: rules.DEAD,
    }  # fmt: skip
    # Unset enums in a request: attributed, GET, no trigger.
    t = messages.from_pb(pb.Template(partner_id=" prt_1 "))
    assert (t["partner_id"], t["sending_mode"], t["method"], t["trigger"]) == ("prt_1", "attributed", "GET", "")


def test_tracking_macros_follow_the_status_and_never_claim_consent_without_a_sign_of_it() -> None:
    """{lat} / {tracking_enabled} from {att_status}; an unknown status counts as allowed only
    when the event has an advertising id (iOS gives the IDFA only once tracking is authorized;
    Android zeroes the GAID when ad tracking is limited)."""
    from services.postbacks.render import macro_values

    gaid = "6d92078a-8246-4ba4-ae5b-76104861e7dc"
    cases = [
        ({"att_status": "authorized"}, ("0", "1")),
        ({"att_status": "denied", "gaid": gaid}, ("1", "0")),
        ({"att_status": "restricted", "idfa": gaid.upper()}, ("1", "0")),
        ({"att_status": "not_determined"}, ("1", "0")),
        ({"gaid": gaid}, ("0", "1")),  # unknown, with an advertising id
        ({"idfa": gaid.upper()}, ("0", "1")),
        ({}, ("1", "0")),  # unknown, no id: not claimed
    ]
    for event, want in cases:
        values = macro_values({"kind": "install", **event}, {}, 0)
        assert (values["lat"], values["tracking_enabled"]) == want, event
