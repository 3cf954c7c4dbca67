"""The SKAN conversion-value decoder and the schema's validation (pure: no database).

The value model is Apple's: postback 1 (window days 0-2) carries a fine value 0-63
or, below the privacy threshold, a coarse value; postbacks 2 and 3 (days 3-7,
8-35) carry only a coarse value low / medium / high; SKAN before 4 sends one
postback with conversion-value 0-63.
Sources:
- Apple, fine value 0-63 + coarse low/medium/high + lockWindow:
  https://developer.apple.com/documentation/storekit/skadnetwork/updatepostbackconversionvalue(_:coarsevalue:lockwindow:completionhandler:)
- Windows 0-2, 3-7, 8-35 days after install, postbacks 2-3 coarse only:
  https://help.airbridge.io/en/guides/skadnetwork-4
- A schema per postback window, values mapped to events and revenue ranges (Google
  Analytics' SKAdNetworkConversionValueSchema; Google Ads' PostbackMapping with
  postback_sequence_index 0-2 and a lock_window_trigger on an event or a value):
  https://developers.google.com/analytics/devguides/config/admin/v1/rest/v1alpha/properties.dataStreams.sKAdNetworkConversionValueSchema
  https://developers.google.com/google-ads/api/reference/rpc/v25/CustomerSkAdNetworkConversionValueSchema.SkAdNetworkConversionValueSchema.PostbackMapping.md.txt
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from libs.errors import InvalidArgument
from services.attribution.skan_values import NOTHING, SkanDecoded, decode, parse_schema, to_doc

SCHEMA = {
    "currency": "usd",
    "fine_values": [
        {"value": 0},
        {"value": 1, "value_to": 10, "revenue_min": "0.01", "revenue_max": "5", "events": [{"name": "purchase"}]},
        {"value": 11, "revenue_min": 5, "revenue_max": "20", "events": [{"name": "purchase", "count": 2}]},
        {"value": 12, "revenue_min": "20", "revenue": "35.50", "events": ["purchase", "tutorial_done"]},
        {"value": 40, "events": [{"name": "level_5", "count": 1}]},
    ],
    "coarse_values": [
        {"postback": 1, "value": "low", "events": ["tutorial_done"]},
        {"postback": 1, "value": "high", "revenue_min": "10"},
        {"postback": 2, "value": "medium", "revenue_min": "1", "revenue_max": "3", "events": ["purchase"]},
        {"postback": 3, "value": "high", "revenue_min": "50", "revenue_max": "150"},
    ],
    "lock_windows": [{"postback": 1, "lock_after_hours": 24}, {"postback": 2, "lock_on_event": "purchase"}],
}


def violations(exc: pytest.ExceptionInfo[InvalidArgument]) -> dict[str, str]:
    return dict(exc.value.violations)


def bad(doc: dict) -> dict[str, str]:
    with pytest.raises(InvalidArgument) as exc:
        parse_schema(doc)
    return violations(exc)


@pytest.fixture
def schema():
    return parse_schema(SCHEMA, version=3)


def test_fine_value_in_a_range_decodes_to_the_bucket_midpoint(schema):
    got = decode(schema, sequence_index=0, fine_value=7, coarse_value=None)
    assert got == SkanDecoded(1, Decimal("2.505"), "USD", ("purchase",), 3)


def test_fine_value_event_counts_add_up_and_an_explicit_revenue_wins(schema):
    assert decode(schema, sequence_index=0, fine_value=11, coarse_value=None) == SkanDecoded(
        2, Decimal("12.5"), "USD", ("purchase",), 3
    )
    # "20 and above" with an explicit estimate: 35.50, not the open bucket's min.
    got = decode(schema, sequence_index=0, fine_value=12, coarse_value=None)
    assert (got.conversions, got.revenue, got.events) == (2, Decimal("35.50"), ("purchase", "tutorial_done"))


def test_events_only_rule_has_no_revenue_and_no_currency(schema):
    got = decode(schema, sequence_index=0, fine_value=40, coarse_value=None)
    assert got == SkanDecoded(1, None, None, ("level_5",), 3)


def test_value_zero_is_an_install_with_nothing_else(schema):
    got = decode(schema, sequence_index=0, fine_value=0, coarse_value=None)
    assert (got.conversions, got.revenue, got.events, got.schema_version) == (0, None, (), 3)


def test_unmapped_fine_value_falls_back_to_postback_1_coarse(schema):
    assert decode(schema, sequence_index=0, fine_value=63, coarse_value=None) == NOTHING
    got = decode(schema, sequence_index=0, fine_value=63, coarse_value="high")
    assert (got.conversions, got.revenue, got.currency) == (0, Decimal("10"), "USD")  # open bucket: its min


def test_postback_1_coarse_only_below_the_privacy_threshold(schema):
    got = decode(schema, sequence_index=0, fine_value=None, coarse_value="low")
    assert (got.conversions, got.events, got.revenue) == (1, ("tutorial_done",), None)


def test_postbacks_2_and_3_read_their_own_coarse_rules(schema):
    two = decode(schema, sequence_index=1, fine_value=None, coarse_value="medium")
    assert two == SkanDecoded(1, Decimal("2"), "USD", ("purchase",), 3)
    three = decode(schema, sequence_index=2, fine_value=None, coarse_value="HIGH")
    assert three == SkanDecoded(0, Decimal("100"), "USD", (), 3)
    # postback 2's "high" has no rule; postback 1's "high" must not answer for it
    assert decode(schema, sequence_index=1, fine_value=None, coarse_value="high") == NOTHING
    # a fine value on a later postback (Apple sends none) is ignored
    assert decode(schema, sequence_index=1, fine_value=7, coarse_value=None) == NOTHING


def test_no_schema_or_no_value_decodes_to_nothing(schema):
    assert decode(None, sequence_index=0, fine_value=7, coarse_value="high") == NOTHING
    assert decode(schema, sequence_index=0, fine_value=None, coarse_value=None) == NOTHING
    assert NOTHING.conversions == 0 and NOTHING.revenue is None and NOTHING.currency is None


def test_the_document_round_trips(schema):
    doc = to_doc(schema)
    assert doc["currency"] == "USD"
    assert doc["fine_values"][1] == {
        "value": 1, "value_to": 10, "revenue_min": "0.01", "revenue_max": "5",
        "events": [{"name": "purchase", "count": 1}],
    }  # fmt: skip
    assert doc["coarse_values"][3] == {"postback": 3, "value": "high", "revenue_min": "50", "revenue_max": "150"}
    assert doc["lock_windows"] == [
        {"postback": 1, "lock_after_hours": 24},
        {"postback": 2, "lock_on_event": "purchase"},
    ]
    assert parse_schema(doc) == parse_schema(SCHEMA)


def test_every_problem_is_named_by_its_field():
    got = bad(
        {
            "currency": "dollars",
            "fine_values": [
                {"value": 64},
                {"value": 1, "revenue_min": "-1"},
                {"value": 2, "value_to": 70},
                {"value": 3, "revenue_min": "5", "revenue_max": "5"},
                {"value": 4, "revenue": "abc", "events": [{"name": ""}, {"name": "a b"}, {"name": "x", "count": -2}]},
            ],
            "coarse_values": [{"postback": 4, "value": "low"}, {"postback": 2, "value": "huge"}],
            "lock_windows": [{"postback": 2, "lock_after_hours": 12}, {"postback": 3}],
            "colour": "red",
        }
    )
    assert set(got) == {
        "schema.currency",
        "schema.fine_values[0].value",
        "schema.fine_values[1].revenue_min",
        "schema.fine_values[2].value_to",
        "schema.fine_values[3].revenue_max",
        "schema.fine_values[4].revenue",
        "schema.fine_values[4].events[0].name",
        "schema.fine_values[4].events[1].name",
        "schema.fine_values[4].events[2].count",
        "schema.coarse_values[0].postback",
        "schema.coarse_values[1].value",
        "schema.lock_windows[0].lock_after_hours",
        "schema.lock_windows[1]",
        "schema.colour",
    }
    assert "not be negative" in got["schema.fine_values[1].revenue_min"]
    assert "low, medium or high" in got["schema.coarse_values[1].value"]
    assert "hours 48-168" in got["schema.lock_windows[0].lock_after_hours"]


def test_overlapping_value_ranges_are_refused():
    got = bad({"currency": "USD", "fine_values": [{"value": 1, "value_to": 10}, {"value": 5, "events": ["x"]}]})
    assert got == {
        "schema.fine_values[1].value": "overlaps schema.fine_values[0]: each fine value has at most one rule"
    }


def test_overlapping_revenue_buckets_with_the_same_events_are_refused():
    got = bad(
        {
            "currency": "USD",
            "fine_values": [
                {"value": 1, "revenue_min": "0", "revenue_max": "10", "events": ["purchase"]},
                {"value": 2, "revenue_min": "9.99", "revenue_max": "20", "events": ["purchase"]},
                # same bucket, different events: the SDK can tell them apart
                {"value": 3, "revenue_min": "0", "revenue_max": "10", "events": ["purchase", "share"]},
            ],
            "coarse_values": [
                {"postback": 2, "value": "low", "revenue_max": "5"},
                {"postback": 2, "value": "high", "revenue_min": "4"},
                {"postback": 3, "value": "low", "revenue_max": "5"},  # another postback: fine
            ],
        }
    )
    assert set(got) == {"schema.fine_values[1].revenue_min", "schema.coarse_values[1].revenue_min"}
    # touching buckets (max exclusive) do not overlap
    parse_schema(
        {
            "currency": "USD",
            "fine_values": [
                {"value": 1, "revenue_min": "0", "revenue_max": "10"},
                {"value": 2, "revenue_min": "10", "revenue_max": "20"},
            ],
        }
    )


def test_duplicates_and_empty_schemas_are_refused():
    got = bad(
        {
            "currency": "USD",
            "coarse_values": [{"postback": 1, "value": "low"}, {"postback": 1, "value": "Low", "events": ["x"]}],
            "lock_windows": [{"postback": 1, "lock_after_hours": 6}, {"postback": 1, "lock_after_hours": 12}],
        }
    )
    assert set(got) == {"schema.coarse_values[1].value", "schema.lock_windows[1].postback"}
    assert "schema.fine_values" in bad({"currency": "USD"})
    assert bad([1, 2]) == {"schema": "must be a JSON object with currency, fine_values, coarse_values, lock_windows"}
    assert "schema.fine_values" in bad({"currency": "USD", "fine_values": {"value": 1}})


def test_amounts_are_plain_decimals_with_at_most_six_places():
    got = bad(
        {
            "currency": "USD",
            "fine_values": [
                {"value": 1, "revenue_min": "1e3"},
                {"value": 2, "revenue_min": "1.1234567"},
                {"value": 3, "revenue_max": float("inf")},
                {"value": 4, "revenue": [1]},
            ],
        }
    )
    assert set(got) == {
        "schema.fine_values[0].revenue_min", "schema.fine_values[1].revenue_min",
        "schema.fine_values[2].revenue_max", "schema.fine_values[3].revenue",
    }  # fmt: skip
    assert "at most 6 decimals" in got["schema.fine_values[1].revenue_min"]
    # JSON numbers are taken as the decimals they print as
    ok = parse_schema({"currency": "USD", "fine_values": [{"value": 1, "revenue_min": 0.1, "revenue_max": 2}]})
    assert (ok.fine_values[0].revenue_min, ok.fine_values[0].revenue_max) == (Decimal("0.1"), Decimal("2"))
    # a midpoint with a 7th decimal is rounded half-even to 6 (the stored revenue's scale)
    odd = parse_schema(
        {"currency": "USD", "fine_values": [{"value": 1, "revenue_min": "0", "revenue_max": "0.000001"}]}
    )
    assert decode(odd, sequence_index=0, fine_value=1, coarse_value=None).revenue == Decimal("0.000000")
    odd = parse_schema(
        {"currency": "USD", "fine_values": [{"value": 1, "revenue_min": "0", "revenue_max": "0.000003"}]}
    )
    assert decode(odd, sequence_index=0, fine_value=1, coarse_value=None).revenue == Decimal("0.000002")


def test_an_explicit_revenue_lies_in_its_bucket_and_no_amount_is_negative():
    """A rule's ``revenue`` is what the value stands for; the SDK sets the value only
    for revenue in [revenue_min, revenue_max): an estimate outside the bucket would
    report money the value can never mean. "-0" is a negative sign, refused too."""
    got = bad(
        {
            "currency": "USD",
            "fine_values": [
                {"value": 1, "revenue_min": "10", "revenue_max": "20", "revenue": "5"},
                {"value": 2, "revenue_min": "20", "revenue_max": "30", "revenue": "30"},  # max is exclusive
                {"value": 3, "revenue_min": "40", "revenue": "39.99"},  # open bucket: 40 and above
                {"value": 4, "revenue_min": "-0"},
            ],
            "coarse_values": [{"postback": 2, "value": "low", "revenue_max": "5", "revenue": "7"}],
        }
    )
    assert set(got) == {
        "schema.fine_values[0].revenue", "schema.fine_values[1].revenue", "schema.fine_values[2].revenue",
        "schema.fine_values[3].revenue_min", "schema.coarse_values[0].revenue",
    }  # fmt: skip
    assert "[10, 20)" in got["schema.fine_values[0].revenue"]
    assert "not be negative" in got["schema.fine_values[3].revenue_min"]
    # inside the bucket (its min included), or with no bucket at all: fine
    ok = parse_schema(
        {
            "currency": "USD",
            "fine_values": [
                {"value": 1, "revenue_min": "10", "revenue_max": "20", "revenue": "10"},
                {"value": 2, "revenue_min": "20", "revenue": "99"},
                {"value": 3, "revenue": "1.5", "events": ["purchase"]},
            ],
        }
    )
    assert [decode(ok, sequence_index=0, fine_value=v, coarse_value=None).revenue for v in (1, 2, 3)] == [
        Decimal("10"), Decimal("99"), Decimal("1.5"),
    ]  # fmt: skip


def test_an_event_count_of_zero_is_refused_not_read_as_one():
    """A count says how many times the event stands behind the value (conversions add
    them up): 0 is a mistake to name, not one occurrence. Left out, it is 1."""
    got = bad({"currency": "USD", "fine_values": [{"value": 1, "events": [{"name": "purchase", "count": 0}]}]})
    assert got == {"schema.fine_values[0].events[0].count": "must be a whole number from 1 to 1000000"}
    ok = parse_schema({"currency": "USD", "fine_values": [{"value": 1, "events": [{"name": "purchase"}, "login"]}]})
    assert decode(ok, sequence_index=0, fine_value=1, coarse_value=None).conversions == 2
