"""The console's pure parts without a server: form -> proto parsing, field errors
by form field, the pager's links, JSON inside <script>."""

from __future__ import annotations

import pytest
from clicktrail.analytics.v1 import rules_pb2
from clicktrail.attribution.v1 import config_pb2
from clicktrail.postbacks.v1 import postbacks_pb2 as ppb

from console import views
from console.forms import (
    Form,
    campaign_from_form,
    field_errors,
    form_fields,
    funnel_steps,
    goal_from_form,
    header_lines,
    rule_from_form,
    template_from_form,
)


def form(**values: str | list[str]) -> Form:
    return Form({k: v if isinstance(v, list) else [v] for k, v in values.items()})


def test_a_form_reads_stripped_first_values_and_keeps_what_was_typed() -> None:
    f = form(name="  Spring ", ids=["a", " ", "b "], empty="")
    assert f.f("name") == "Spring" and f.f("missing", "x") == "x"
    assert f.fs("ids") == ["a", "b"]
    assert f.flat() == {"name": "  Spring ", "ids": "a", "empty": ""}


def test_header_lines_name_the_line_that_is_not_a_header() -> None:
    assert header_lines("Content-Type: application/json\n\nX-Key:  v:1 ") == {
        "Content-Type": "application/json", "X-Key": "v:1",
    }  # fmt: skip
    with pytest.raises(ValueError, match="a header line takes NAME: VALUE, got 'X-Key'"):
        header_lines("X-Key")
    template, fields = template_from_form(form(headers=": nameless", trigger=str(ppb.TRIGGER_INSTALL)))
    assert "NAME: VALUE" in fields["headers"] and dict(template.headers) == {}


def test_a_campaign_budget_takes_the_accounts_currency_when_none_is_chosen() -> None:
    c = campaign_from_form(form(name="C", type="2", status="x", budget_amount="10"), "EUR")
    assert (c.name, c.type, c.status, c.budget.amount, c.budget.currency_code) == ("C", 2, 0, "10", "EUR")
    assert not campaign_from_form(form(name="C"), "EUR").HasField("budget")


def test_a_goal_condition_line_that_does_not_read_is_named_by_its_line() -> None:
    goal, lines, fields = goal_from_form(form(
        name="Big", event="purchase", occurrence=str(config_pb2.OCCURRENCE_NTH), nth="3",
        conditions="action_properties.price > 10\n\nprice>10",
    ))  # fmt: skip
    assert goal.nth == 3 and len(goal.conditions) == 1 and lines == [1]
    assert fields["conditions"].startswith("line 3 (")


def test_a_rule_form_becomes_the_rule_and_its_unreadable_fields() -> None:
    rule, _, fields = rule_from_form(form(
        name="R", enabled="1", group_by="sub2", window="12h", action="set_budget", budget="5",
        campaign_ids=["c1", "", "c2"],
    ), "USD")  # fmt: skip
    assert not fields
    assert (rule.grouping, rule.sub_id_field, rule.window.seconds) == (rules_pb2.RULE_GROUPING_SUB_ID, "sub2", 43200)
    assert (rule.action.set_budget.budget.amount, rule.action.set_budget.budget.currency_code) == ("5", "USD")
    assert list(rule.campaign_ids) == ["c1", "c2"] and rule.enabled and not rule.dry_run
    _, _, fields = rule_from_form(form(window="soon", action="pause_campaign"), "USD")
    assert set(fields) == {"window"}


def test_field_violations_land_on_their_form_fields() -> None:
    assert form_fields({"campaign.budget.amount": "bad", "campaign.name": "empty"}, "campaign.") == {
        "budget_amount": "bad", "name": "empty",
    }  # fmt: skip
    got = field_errors(
        {"rule.conditions[1].value": "not a number", "rule.action.set_budget.budget": "no", "rule.name": "empty"},
        "rule.", {"conditions": [2, 5]}, (("action.set_budget", "budget"),),
    )  # fmt: skip
    assert got == {"conditions": "line 5: value not a number", "budget": "no", "name": "empty"}


def test_funnel_steps_read_screens_and_actions() -> None:
    steps = funnel_steps("home, action:purchase, screen:cart,")
    assert [(s.screen, s.action) for s in steps] == [("home", ""), ("", "purchase"), ("cart", "")]


def test_the_pager_keeps_its_filters_and_earlier_tokens() -> None:
    assert views.page_href("status=4", "t2", ["t0", "t1"]) == "?status=4&page_token=t2&prev=t0%2Ct1"
    assert views.prev_tokens("a,," + "x" * 600 + ",b") == ["a", "b"]


def test_script_json_cannot_end_the_script_element() -> None:
    text = str(views.script_json({"s": "</script><!--&\u2028"}))
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
