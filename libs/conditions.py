"""The text syntax of goal conditions (``action_properties.price > 9.99``),
rule conditions (``roi < -50%``) and rule windows (``24h``): one parser for
the CLI's --where / --when / --window flags and the console's forms.

Problems raise ValueError with what is wrong (without the text itself): the
caller adds where the text came from (a flag, a line of a form field).
"""

from __future__ import annotations

import re

from clicktrail.analytics.v1 import rules_pb2
from clicktrail.attribution.v1 import config_pb2
from google.protobuf import duration_pb2

from libs.vocab.metrics import PERCENT_METRICS
from libs.vocab.timetext import duration_seconds, format_duration_unit

# ----------------------------------------------------------------- goal conditions

# The operators and their proto values.
GOAL_OPERATORS = {
    "=": config_pb2.OPERATOR_EQUALS, "==": config_pb2.OPERATOR_EQUALS, "!=": config_pb2.OPERATOR_NOT_EQUALS,
    ">": config_pb2.OPERATOR_GREATER_THAN, ">=": config_pb2.OPERATOR_GREATER_OR_EQUAL,
    "<": config_pb2.OPERATOR_LESS_THAN, "<=": config_pb2.OPERATOR_LESS_OR_EQUAL, "in": config_pb2.OPERATOR_IN,
    "contains": config_pb2.OPERATOR_CONTAINS, "exists": config_pb2.OPERATOR_EXISTS,
    "not-exists": config_pb2.OPERATOR_NOT_EXISTS, "not_exists": config_pb2.OPERATOR_NOT_EXISTS,
}  # fmt: skip
# How a condition prints (the first spelling of each operator).
GOAL_SYMBOL = {op: sym for sym, op in reversed(list(GOAL_OPERATORS.items()))}
# The longest condition / window line the parser reads (a form field's line, a CLI flag):
# longer text is refused before any parsing.
MAX_LINE_CHARS = 1000
_NO_VALUE = (config_pb2.OPERATOR_EXISTS, config_pb2.OPERATOR_NOT_EXISTS)


def parse_goal_condition(text: str) -> config_pb2.Condition:
    """``FIELD OP VALUE`` -> a goal condition; ``in`` takes comma-separated values,
    ``exists`` / ``not-exists`` none; a value may be quoted."""
    _check_length(text)
    # A hand split (no regular expression): linear in the length of the line.
    parts = text.split(None, 2)
    if len(parts) < 2 or parts[1] not in GOAL_OPERATORS or "\n" in text.strip():
        raise ValueError(
            "write FIELD OP VALUE with spaces, e.g. 'action_properties.price > 9.99' "
            f"(OP: {' '.join(dict.fromkeys(GOAL_OPERATORS))})"
        )
    field, op = parts[0], parts[1]
    rest = parts[2].strip() if len(parts) > 2 else ""
    operator = GOAL_OPERATORS[op]
    if len(rest) >= 2 and rest[0] == rest[-1] and rest[0] in "'\"":
        rest = rest[1:-1]
    if operator in _NO_VALUE:
        if rest:
            raise ValueError(f"{op} takes no value")
        return config_pb2.Condition(field=field, operator=operator)
    if operator == config_pb2.OPERATOR_IN:
        values = [v.strip() for v in rest.split(",") if v.strip()]
        if not values:
            raise ValueError("in needs values, e.g. 'action_properties.sku in gold,silver'")
        return config_pb2.Condition(field=field, operator=operator, values=values)
    if not rest:
        raise ValueError(f"{op} needs a value")
    return config_pb2.Condition(field=field, operator=operator, value=rest)


def shown(text: str, limit: int = 60) -> str:
    """A line as an error message may quote it: at most ``limit`` characters."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_length(text: str) -> None:
    if len(text) > MAX_LINE_CHARS:
        raise ValueError(f"too long: {len(text)} characters, at most {MAX_LINE_CHARS}")


def describe_goal_condition(c: config_pb2.Condition) -> str:
    """A condition in the syntax parse_goal_condition reads back."""
    sym = GOAL_SYMBOL.get(c.operator, "?")
    if c.operator in _NO_VALUE:
        return f"{c.field} {sym}"
    if c.operator == config_pb2.OPERATOR_IN:
        return f"{c.field} in {','.join(c.values)}"
    value = c.value
    if value != value.strip() or (len(value) >= 2 and value[0] == value[-1] and value[0] in "'\""):
        value = f'"{value}"'  # the parser takes one layer of quotes off
    return f"{c.field} {sym} {value}"


# ----------------------------------------------------------------- rule conditions and windows

RULE_COMPARISONS = {
    "<": rules_pb2.COMPARISON_LESS, "<=": rules_pb2.COMPARISON_LESS_OR_EQUAL, ">": rules_pb2.COMPARISON_GREATER,
    ">=": rules_pb2.COMPARISON_GREATER_OR_EQUAL, "==": rules_pb2.COMPARISON_EQUAL, "=": rules_pb2.COMPARISON_EQUAL,
    "!=": rules_pb2.COMPARISON_NOT_EQUAL,
}  # fmt: skip
RULE_SYMBOL = {v: k for k, v in reversed(list(RULE_COMPARISONS.items()))}
_RULE_CONDITION = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|==|!=|<|>|=)\s*(\S+?)\s*$")


def parse_rule_condition(text: str) -> rules_pb2.Condition:
    """``METRIC OP VALUE`` -> a rule condition (``roi < -50%``: a trailing % is dropped)."""
    _check_length(text)
    m = _RULE_CONDITION.match(text)
    if not m:
        raise ValueError("expected 'METRIC OP VALUE', e.g. 'roi < -50%' or 'clicks >= 1000'")
    metric, op, value = m.groups()
    return rules_pb2.Condition(metric=metric.lower(), comparison=RULE_COMPARISONS[op], value=value.removesuffix("%"))


def describe_rule_condition(c: rules_pb2.Condition) -> str:
    pct = "%" if c.metric in PERCENT_METRICS else ""
    return f"{c.metric} {RULE_SYMBOL.get(c.comparison, '?')} {c.value}{pct}"


def parse_window(text: str) -> duration_pb2.Duration:
    """``30m``, ``24h``, ``7d``, ``1d12h`` (or plain seconds) -> a Duration."""
    _check_length(text)
    try:
        seconds = duration_seconds(text)
    except ValueError:
        raise ValueError("expected a number with s, m, h or d, e.g. 24h") from None
    return duration_pb2.Duration(seconds=seconds)


def describe_window(window: duration_pb2.Duration) -> str:
    """A Duration as ``parse_window`` reads it, in its largest whole unit: 86400 s -> ``1d``."""
    return format_duration_unit(window.seconds)
