"""services/links/rules.py and store.py: the pure domain rules and the SQL builders (no database)."""

import datetime as dt
from typing import Any

import pytest
from clicktrail.links.v1 import links_pb2 as pb
from google.protobuf import timestamp_pb2

from libs import quality as q
from libs.errors import FailedPrecondition, InvalidArgument, Validator
from services.links import rules, store


def _campaign(**kw: Any) -> pb.Campaign:
    return pb.Campaign(**{"campaign_id": "cmp_1", "name": "Spring", "status": pb.CAMPAIGN_STATUS_ACTIVE, **kw})


def test_status_moves() -> None:
    v = Validator()
    current = _campaign()
    rules.check_campaign_update(v, _campaign(status=pb.CAMPAIGN_STATUS_PAUSED), current, ["status"], published=True)
    assert not v.violations
    with pytest.raises(FailedPrecondition, match="archived is final"):
        rules.check_campaign_update(
            v, _campaign(status=pb.CAMPAIGN_STATUS_ACTIVE),
            _campaign(status=pb.CAMPAIGN_STATUS_ARCHIVED), ["status"], published=True,
        )  # fmt: skip
    rules.check_campaign_update(v, _campaign(status=99), current, ["status"], published=False)
    assert v.violations == [("campaign.status", "is not a campaign status")]


def test_a_published_campaigns_frozen_fields() -> None:
    changed = _campaign(partner_id="prt_2")
    with pytest.raises(FailedPrecondition, match="partner_id cannot change"):
        rules.check_campaign_update(Validator(), changed, _campaign(partner_id="prt_1"), ["partner_id"], published=True)
    rules.check_campaign_update(Validator(), changed, _campaign(partner_id="prt_1"), ["partner_id"], published=False)


def test_new_campaign_defaults_and_publishing() -> None:
    v = Validator()
    new = rules.check_new_campaign(v, pb.Campaign(name="x", app_id="app_1"))
    assert (new.type, new.status) == (pb.CAMPAIGN_TYPE_APP_INSTALL, pb.CAMPAIGN_STATUS_DRAFT) and not v.violations
    assert rules.publishes(pb.CAMPAIGN_STATUS_ACTIVE) and not rules.publishes(new.status)
    assert rules.check_internal_campaign_paths(["status", "budget"]) is None
    assert "only budget, status" in (rules.check_internal_campaign_paths(["fallback_url"]) or "")


def test_campaign_values_and_budget() -> None:
    c = pb.Campaign(name=" Spring ", app_id="")
    c.budget.amount, c.budget.currency_code = "10.5", "usd"
    values = rules.campaign_values(c, ["name", "app_id", "budget"])
    assert values["name"] == "Spring" and values["app_id"] is None
    assert str(values["budget_amount"]) == "10.5" and values["budget_currency"] == "USD"
    c.budget.amount = "-1"
    with pytest.raises(InvalidArgument):
        rules.budget_of(c)


def test_lookups() -> None:
    v = Validator()
    assert rules.check_lookup(v, "", pb.TouchLookup(click_id="not-an-id"), "click_id") is None
    start = timestamp_pb2.Timestamp()
    start.FromDatetime(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    end = timestamp_pb2.Timestamp()
    end.FromDatetime(dt.datetime(2026, 6, 1, tzinfo=dt.UTC))
    lk = rules.check_lookup(v, "x.", pb.TouchLookup(device_id=" ABC ", start_time=start, end_time=end), "device_id")
    assert lk is not None and lk.args[0] == "abc"
    assert ("x.end_time", "the window is at most 90 days") in v.violations


def test_sql_builders() -> None:
    assert store.update_sql("apps", "app_id", ["name"], rules.APP_UPDATABLE).startswith(
        "UPDATE links.apps SET name = $3, update_time = now()"
    )
    with pytest.raises(ValueError):
        store.update_sql("apps", "app_id", ["account_id"], rules.APP_UPDATABLE)
    sql = store.update_campaign_sql(["status", "budget_amount", "budget_currency"], rules.CAMPAIGN_COLUMNS)
    assert "CASE WHEN $6::bool" in sql
    assert f"verdict <> {q.CLEAN}" in store.list_touches_sql("clicks", "click_id", True)
    assert "verdict <>" not in store.list_touches_sql("clicks", "click_id", False)
