"""The condition parser (libs/conditions.py) shared by the CLI and the console."""

from __future__ import annotations

import pytest
from clicktrail.attribution.v1 import config_pb2

from libs.conditions import MAX_LINE_CHARS, parse_goal_condition, parse_rule_condition, parse_window


@pytest.mark.timeout(5)
def test_a_long_crafted_goal_line_is_parsed_in_linear_time() -> None:
    """``FIELD = x<spaces>y`` made the old pattern backtrack quadratically (a 60 KB
    form line held the gateway's event loop ~13 s); the hand parser reads it at once,
    and a line over the limit is refused before any parsing."""
    value = "x" + " " * (MAX_LINE_CHARS - 20) + "y"
    c = parse_goal_condition(f"a.b = {value}")
    assert (c.field, c.operator, c.value) == ("a.b", config_pb2.OPERATOR_EQUALS, value)
    for parse in (parse_goal_condition, parse_rule_condition, parse_window):
        with pytest.raises(ValueError, match=f"too long: 200005 characters, at most {MAX_LINE_CHARS}"):
            parse("a = x" + " " * 200_000)
    crafted = "a = x" + " " * 50_000 + "y"  # the old pattern: minutes; now refused at once
    with pytest.raises(ValueError, match="too long"):
        parse_goal_condition(crafted)


def test_goal_conditions_still_read_as_before() -> None:
    c = parse_goal_condition("  action_properties.price   >=  9.99  ")
    assert (c.field, c.operator, c.value) == ("action_properties.price", config_pb2.OPERATOR_GREATER_OR_EQUAL, "9.99")
    c = parse_goal_condition('name = " padded "')
    assert c.value == " padded "
    c = parse_goal_condition("sku in gold, silver ,")
    assert list(c.values) == ["gold", "silver"]
    assert parse_goal_condition("user_id exists").operator == config_pb2.OPERATOR_EXISTS
    for bad, why in (("price>5", "FIELD OP VALUE"), ("price ~ 5", "FIELD OP VALUE"), ("price >5", "FIELD OP VALUE"),
                     ("price >", "needs a value"), ("user_id exists now", "takes no value"), ("a in ,", "in needs"),
                     ("a = b\nc", "FIELD OP VALUE")):  # fmt: skip
        with pytest.raises(ValueError, match=why):
            parse_goal_condition(bad)
