"""The goal rule engine (services.attribution.goals): conditions, occurrence
counting and values, including property-based tests."""

from __future__ import annotations

import string
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from services.attribution.goals import (
    MONETIZATION_CURRENCY_PATH,
    MONETIZATION_VALUE_PATH,
    OPERATORS,
    Condition,
    Goal,
    check_condition,
    check_path,
    to_decimal,
)
from services.attribution.rules import prepare


def goal(event="purchase", conditions=(), occurrence="every", nth=0, value_path="", currency_path="", kind="purchase"):
    return Goal("goal_x", "acc_x", "G", kind, event, tuple(conditions), occurrence, nth, value_path, currency_path)


def track(action="purchase", **props):
    return {"event": 3, "action": action, "user_id": "u1", "platform": 1, "action_properties": props}


# ------------------------------------------------------------------ examples


def test_event_name_selects_install_or_track_action():
    install = {"event": 1, "action": None, "action_properties": {}}
    assert goal(event="install").matches(install)
    assert not goal(event="install").matches(track("install"))  # a track action named install is not an install
    assert goal(event="purchase").matches(track("purchase"))
    assert not goal(event="purchase").matches(track("Purchase"))
    assert not goal(event="purchase").matches({"event": 4, "action": "purchase"})  # a screen, not a track
    assert not goal(event="purchase").matches({})


def test_operators_on_examples():
    ev = track(price=9.99, qty=3, sku="gold_pack", tags=["vip", "ios"], paid=True, nested={"a": {"b": "x"}}, n=None)
    cases = [
        (Condition("action_properties.price", "gt", "9.5"), True),
        (Condition("action_properties.price", "gt", "9.99"), False),
        (Condition("action_properties.price", "gte", "9.99"), True),
        (Condition("action_properties.price", "lt", "10"), True),
        (Condition("action_properties.price", "lte", "9.98"), False),
        (Condition("action_properties.price", "eq", "9.990"), True),
        (Condition("action_properties.qty", "eq", "3"), True),
        (Condition("action_properties.qty", "ne", "3"), False),
        (Condition("action_properties.sku", "eq", "gold_pack"), True),
        (Condition("action_properties.sku", "ne", "silver"), True),
        (Condition("action_properties.sku", "contains", "gold"), True),
        (Condition("action_properties.sku", "contains", "silver"), False),
        (Condition("action_properties.tags", "contains", "vip"), True),
        (Condition("action_properties.tags", "contains", "vi"), False),  # list membership, not substring
        (Condition("action_properties.tags.1", "eq", "ios"), True),
        (Condition("action_properties.sku", "in", values=("a", "gold_pack")), True),
        (Condition("action_properties.sku", "in", values=("a", "b")), False),
        (Condition("action_properties.paid", "eq", "true"), True),
        (Condition("action_properties.paid", "eq", "1"), False),
        (Condition("action_properties.nested.a.b", "eq", "x"), True),
        (Condition("action_properties.nested", "exists"), True),
        (Condition("action_properties.n", "exists"), False),  # null counts as missing
        (Condition("action_properties.n", "not_exists"), True),
        (Condition("action_properties.missing", "not_exists"), True),
        (Condition("user_id", "eq", "u1"), True),
        (Condition("platform", "in", values=("1", "2")), True),
        (Condition("action_properties.sku", "gt", "1"), False),  # text is not a number
        (Condition("action_properties.nested", "eq", "x"), False),  # an object equals nothing
        (Condition("action_properties.nested", "ne", "x"), False),  # ... and is unequal to nothing
    ]
    for cond, expected in cases:
        assert cond.holds(ev) is expected, cond


def test_missing_fields_never_match_and_never_raise():
    weird = [{}, {"action_properties": None}, {"action_properties": "text"}, {"action_properties": [1, 2]}]
    for op in OPERATORS:
        c = Condition(
            "action_properties.x.y",
            op,
            "" if op in ("exists", "not_exists", "in") else "1",
            ("1",) if op == "in" else (),
        )
        for ev in weird:
            assert c.holds(ev) is (op == "not_exists")


def test_numeric_edge_cases_do_not_raise():
    assert not Condition("action_properties.p", "gt", "1").holds(track(p="NaN"))
    assert not Condition("action_properties.p", "gt", "1").holds(track(p="Infinity"))
    assert Condition("action_properties.p", "gt", "1").holds(track(p="1e309"))  # huge but finite as a decimal
    assert not Condition("action_properties.p", "gt", "0").holds(track(p=True))  # booleans are not numbers
    assert Condition("action_properties.p", "eq", "10").holds(track(p="10.0"))
    assert to_decimal(float("inf")) is None and to_decimal("1" * 100) is None


def test_occurrence_counting():
    first, every, third = goal(occurrence="first"), goal(occurrence="every"), goal(occurrence="nth", nth=3)
    assert [first.counts(n) for n in range(0, 5)] == [False, True, False, False, False]
    assert [every.counts(n) for n in range(0, 5)] == [False, True, True, True, True]
    assert [third.counts(n) for n in range(0, 5)] == [False, False, False, True, False]


def test_value_and_currency():
    g = goal(value_path="action_properties.price", currency_path="action_properties.cur")
    assert g.value(track(price="7.50", cur="eur"), "USD") == (Decimal("7.50"), "EUR")
    assert g.value(track(price=3, cur="not a code"), "USD") == (Decimal(3), "USD")
    assert g.value(track(price="7,50"), "USD") == (None, "USD")
    assert g.value(track(price="1e309"), "USD") == (None, "USD")
    assert g.value(track(price=-1), "USD") == (Decimal(-1), "USD")
    assert g.value(track(), "USD") == (None, "USD")
    assert goal().value(track(price=1), "RUB") == (None, "RUB")
    mon = goal("monetization_web2", value_path=MONETIZATION_VALUE_PATH, currency_path=MONETIZATION_CURRENCY_PATH)
    ev = track("monetization_web2", bundle_paid_amount="4.99", bundle_paid_currency="USD")
    assert mon.matches(ev) and mon.value(ev, "EUR") == (Decimal("4.99"), "USD")


def test_amounts_from_stored_events_are_exact():
    """An event as the hand-off carries it (properties as JSON text): 18 significant digits
    and 1.10 come back as the exact decimals, never through a float (was 123456789012.34567)."""
    stored = {"properties": '{"price": 123456789012.345678, "fee": 1.10, "n": 3}',
              "event_time": "2026-01-01T00:00:00+00:00", "receive_time": "2026-01-01T00:00:01+00:00"}  # fmt: skip
    ev = {**prepare(stored), "event": 3, "action": "purchase"}
    assert goal(value_path="action_properties.price").value(ev, "USD") == (Decimal("123456789012.345678"), "USD")
    assert str(ev["action_properties"]["fee"]) == "1.10" and ev["action_properties"]["n"] == 3
    assert Condition("action_properties.fee", "eq", "1.1").holds(ev)
    assert Condition("action_properties.price", "gt", "123456789012.345677").holds(ev)


def test_path_and_condition_validation():
    assert check_path("action_properties.price") is None
    assert check_path("user_id") is None
    assert "not an event field" in (check_path("nonsense") or "")
    assert check_path("action_properties") is not None
    assert check_path("action_properties..x") is not None
    assert check_path("properties") is not None  # the raw text column is not addressable
    assert [f for f, _ in check_condition(Condition("action_properties.p", "gt", "abc"))] == ["value"]
    assert [f for f, _ in check_condition(Condition("action_properties.p", "in"))] == ["values"]
    assert [f for f, _ in check_condition(Condition("action_properties.p", "exists", "1"))] == ["value"]
    assert [f for f, _ in check_condition(Condition("", "bogus"))] == ["path", "operator"]


# ------------------------------------------------------------------ properties

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**20), 10**20), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)  # fmt: skip
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=4), inner, max_size=4)),
    max_leaves=12,
)
keys = st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=6)
paths = st.lists(st.one_of(keys, st.sampled_from(["0", "1"])), min_size=1, max_size=3).map(
    lambda parts: "action_properties." + ".".join(parts)
)
operands = st.one_of(
    st.text(max_size=10),
    st.integers(-1000, 1000).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str),
)
conditions = st.builds(
    lambda path, op, value, values: Condition(
        path,
        op,
        "" if op in ("exists", "not_exists", "in") else value,
        tuple(values) if op == "in" else (),
    ),
    paths,
    st.sampled_from(OPERATORS),
    operands,
    st.lists(operands, min_size=1, max_size=4),
)
events = st.builds(
    lambda props, action, code: {"event": code, "action": action, "user_id": "u", "action_properties": props},
    st.dictionaries(keys, json_values, max_size=5),
    st.sampled_from(["purchase", "level_up"]),
    st.sampled_from([1, 3, 4]),
)


@settings(max_examples=150, deadline=None)
@given(cond=conditions, ev=events)
def test_condition_never_raises_and_returns_a_bool(cond, ev):
    assert cond.holds(ev) in (True, False)
    assert goal(conditions=[cond]).matches(ev) in (True, False)


@settings(max_examples=150, deadline=None)
@given(cond=conditions, ev=events)
def test_missing_field_matches_only_not_exists(cond, ev):
    missing = {**ev, "action_properties": {}}
    assert cond.holds(missing) is (cond.op == "not_exists")


@settings(max_examples=150, deadline=None)
@given(cond=conditions, ev=events)
def test_exists_and_not_exists_are_complements(cond, ev):
    assert Condition(cond.path, "exists").holds(ev) != Condition(cond.path, "not_exists").holds(ev)


@settings(max_examples=150, deadline=None)
@given(
    a=st.decimals(allow_nan=False, allow_infinity=False, places=4),
    b=st.decimals(allow_nan=False, allow_infinity=False, places=4),
    as_text=st.booleans(),
)
def test_comparisons_agree_with_decimal_order(a, b, as_text):
    ev = track(x=str(a) if as_text else float(a) if abs(a) < 10**15 else str(a))
    got = to_decimal(ev["action_properties"]["x"])
    assert got is not None
    assert Condition("action_properties.x", "gt", str(b)).holds(ev) is (got > b)
    assert Condition("action_properties.x", "lt", str(b)).holds(ev) is (got < b)
    assert Condition("action_properties.x", "gte", str(b)).holds(ev) is (got >= b)
    assert Condition("action_properties.x", "lte", str(b)).holds(ev) is (got <= b)
    # Exactly one of <, =, > holds.
    assert [got < b, got == b, got > b].count(True) == 1
    assert Condition("action_properties.x", "eq", str(b)).holds(ev) is (got == b)
    assert Condition("action_properties.x", "ne", str(b)).holds(ev) is (got != b)


@settings(max_examples=120, deadline=None)
@given(conds=st.lists(conditions, max_size=4), ev=events)
def test_goal_matches_iff_event_and_every_condition(conds, ev):
    g = goal(event="purchase", conditions=conds)
    expected = ev["event"] == 3 and ev["action"] == "purchase" and all(c.holds(ev) for c in conds)
    assert g.matches(ev) is expected


@settings(max_examples=120, deadline=None)
@given(
    occurrence=st.sampled_from(["first", "every", "nth"]),
    nth=st.integers(1, 20),
    stream=st.lists(st.booleans(), max_size=40),
)
def test_occurrence_counts_simulated_user(occurrence, nth, stream):
    """Feed a user's events in order; count the matching ones the way the engine does."""
    g = goal(occurrence=occurrence, nth=nth if occurrence == "nth" else 0)
    matching = 0
    counted = []
    for i, is_match in enumerate(stream):
        if is_match:
            matching += 1
            if g.counts(matching):
                counted.append(i)
    total = sum(stream)
    if occurrence == "first":
        assert len(counted) == min(1, total)
    elif occurrence == "every":
        assert len(counted) == total
    else:
        assert len(counted) == (1 if total >= nth else 0)
        if counted:
            assert sum(stream[: counted[0] + 1]) == nth


@given(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=4), st.text(max_size=3))
def test_in_is_any_equals(values, field):
    ev = track(v=field)
    assert Condition("action_properties.v", "in", values=tuple(values)).holds(ev) is any(
        Condition("action_properties.v", "eq", x).holds(ev) for x in values
    )


@settings(max_examples=120, deadline=None)
@given(cond=conditions)
def test_conditions_survive_the_json_round_trip(cond):
    assert Condition.from_json(cond.to_json()) == cond


@settings(max_examples=150, deadline=None)
@given(
    path=st.text(max_size=30),
    op=st.one_of(st.sampled_from(OPERATORS), st.text(max_size=8)),
    value=st.text(max_size=20),
    values=st.lists(st.text(max_size=5), max_size=3),
)
def test_validation_never_raises_and_accepted_conditions_evaluate(path, op, value, values):
    cond = Condition(path, op, value, tuple(values))
    problems = check_condition(cond)
    assert all(field in ("path", "operator", "value", "values") for field, _ in problems)
    if not problems:
        assert cond.holds({"event": 3, "action": "x", "action_properties": {"a": [1, {"b": None}]}}) in (True, False)
