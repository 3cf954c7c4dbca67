"""`clicktrail goal|settings|tariff|correction` and `campaign --goal` against
real links and attribution servers."""

from __future__ import annotations

import enum

import pytest
from clicktrail.attribution.v1 import config_pb2 as apb

from cli import choices
from cli.commands.attribution_settings import parse_duration
from cli.commands.goals import parse_where
from cli.common import UsageError, enum_choices, enum_number
from libs.grpc_server import RunningService
from tests.cli.conftest import Cli
from tests.conftest import AttributionStubs


@pytest.fixture
def acli(cli: Cli, cli_env: pytest.MonkeyPatch, attribution_server: RunningService) -> Cli:
    cli_env.setenv("CLICKTRAIL_ATTRIBUTION_ADDR", attribution_server.addr)
    return cli


@pytest.mark.parametrize(
    ("choice", "proto_enum"),
    [(choices.GoalKind, apb.GoalKind), (choices.Occurrence, apb.Occurrence), (choices.TariffModel, apb.TariffModel)],
)
def test_flag_choices_match_the_protos(choice: type[enum.StrEnum], proto_enum: object) -> None:
    desc = proto_enum.DESCRIPTOR  # type: ignore[attr-defined]
    assert [c.value for c in choice] == enum_choices(desc)
    for c in choice:
        assert enum_number(desc, c) != 0


def test_where_and_duration_parsing() -> None:
    c = parse_where("action_properties.price >= 9.99")
    assert (c.field, c.operator, c.value) == ("action_properties.price", apb.OPERATOR_GREATER_OR_EQUAL, "9.99")
    c = parse_where("action_properties.sku in gold, silver")
    assert c.operator == apb.OPERATOR_IN and list(c.values) == ["gold", "silver"]
    c = parse_where('action_properties.title contains "summer sale"')
    assert c.operator == apb.OPERATOR_CONTAINS and c.value == "summer sale"
    assert parse_where("action_properties.coupon not-exists").operator == apb.OPERATOR_NOT_EXISTS
    for bad in ("price>10", "action_properties.x exists 1", "action_properties.x in", "action_properties.x ="):
        with pytest.raises(UsageError):
            parse_where(bad)
    crafted = "action_properties.x = a" + " " * 5000 + "b"  # long lines are refused, briefly quoted
    with pytest.raises(UsageError, match=r"^--where 'action_properties.x = a {34}\.\.\.': too long: 5024 characters"):
        parse_where(crafted)
    assert parse_duration("--x", "1d12h").seconds == 36 * 3600
    assert parse_duration("--x", "90m").seconds == 5400
    assert parse_duration("--x", "3600").seconds == 3600
    for bad in ("7 days", "1.5h", "", "h"):
        with pytest.raises(UsageError):
            parse_duration("--x", bad)


async def test_goal_commands(acli: Cli) -> None:
    g = (
        await acli(
            "goal", "create", "--name", "Big purchase", "--event", "purchase", "--kind", "purchase",
            "--occurrence", "every", "--where", "action_properties.price > 10",
            "--where", "action_properties.sku in gold,silver", "--value-path", "action_properties.price", "--json",
        )
    ).json()  # fmt: skip
    assert g["goal_id"].startswith("goal_") and g["kind"] == "purchase" and g["occurrence"] == "every"
    assert g["conditions"] == [
        {"field": "action_properties.price", "operator": "greater_than", "value": "10", "values": []},
        {"field": "action_properties.sku", "operator": "in", "value": "", "values": ["gold", "silver"]},
    ]
    text = await acli("goal", "get", g["goal_id"])
    assert "action_properties.price > 10; action_properties.sku in gold,silver" in text.stdout

    listed = (await acli("goal", "list", "--json")).json()
    assert [x["goal_id"] for x in listed["goals"]] == [g["goal_id"]]
    assert "Big purchase" in (await acli("goal", "list")).stdout

    upd = (
        await acli("goal", "update", g["goal_id"], "--occurrence", "nth", "--nth", "2", "--clear-conditions", "--json")
    ).json()
    assert upd["occurrence"] == "nth" and upd["nth"] == 2 and upd["conditions"] == [] and upd["name"] == "Big purchase"

    # A bad condition names the field and exits 2.
    bad = await acli(
        "goal", "create", "--name", "x", "--event", "purchase", "--where", "action_properties.p > ten", code=2
    )
    assert "error: goal.conditions[0].value:" in bad.stderr
    usage = await acli("goal", "create", "--name", "x", "--event", "purchase", "--where", "p>1", code=2)
    assert "FIELD OP VALUE" in usage.stderr
    await acli("goal", "update", g["goal_id"], code=2)  # nothing to update

    await acli("goal", "delete", g["goal_id"])
    gone = await acli("goal", "get", g["goal_id"], code=1)
    assert "not found" in gone.stderr


async def test_goal_limit_message(acli: Cli, attribution_stub: AttributionStubs) -> None:
    for i in range(24):
        await attribution_stub.goals.CreateGoal(apb.CreateGoalRequest(goal=apb.Goal(name=f"g{i}", event="e")))
    await acli("goal", "create", "--name", "g24", "--event", "e", "--json")
    res = await acli("goal", "create", "--name", "g25", "--event", "e", code=1)
    assert "at most 25 goals" in res.stderr


async def test_settings_commands(acli: Cli) -> None:
    now = (await acli("settings", "get", "--json")).json()
    assert now["click_lookback"] == "604800s" and now["conversion_window"] == "2592000s"
    text = await acli("settings", "get")
    assert "7d" in text.stdout and "defaults" in text.stdout
    assert "no breakpoints" in (await acli("settings", "history")).stderr

    changed = (await acli("settings", "set", "--click-lookback", "14d", "--view-lookback", "12h", "--json")).json()
    assert changed["changed"] is True and changed["click_lookback"] == "1209600s" and changed["effective_time"]
    same = (await acli("settings", "set", "--click-lookback", "14d", "--json")).json()
    assert same["changed"] is False
    await acli("settings", "set", "--conversion-window", "7d")

    hist = (await acli("settings", "history", "--json")).json()
    assert [b["changed_fields"] for b in hist["breakpoints"]] == [
        ["conversion_window"],
        ["click_lookback", "view_lookback"],
    ]
    table = (await acli("settings", "history")).stdout
    assert "conversion_window" in table and "14d" in table and "12h" in table

    at_first = (await acli("settings", "get", "--at", hist["breakpoints"][1]["effective_time"], "--json")).json()
    assert at_first["conversion_window"] == "2592000s" and at_first["click_lookback"] == "1209600s"

    bad = await acli("settings", "set", "--click-lookback", "365d", code=2)
    assert "error: settings.click_lookback:" in bad.stderr
    await acli("settings", "set", "--click-lookback", "soon", code=2)
    await acli("settings", "set", code=2)


async def test_tariff_and_correction_commands(acli: Cli) -> None:
    partner = (await acli("partner", "create", "--name", "AdNet", "--json")).json()["partner_id"]
    goal = (await acli("goal", "create", "--name", "Deposit", "--event", "deposit", "--json")).json()["goal_id"]
    campaign = (
        await acli("campaign", "create", "--name", "Web", "--partner", partner, "--goal", goal, "--json")
    ).json()
    assert campaign["target_goal_id"] == goal
    cid = campaign["campaign_id"]
    # --goal is checked against the attribution service.
    missing = await acli("campaign", "create", "--name", "W2", "--partner", partner, "--goal", "goal_nope", code=2)
    assert "no such goal" in missing.stderr
    cleared = (await acli("campaign", "update", cid, "--goal", "", "--json")).json()
    assert cleared["target_goal_id"] == ""
    assert (await acli("campaign", "update", cid, "--goal", goal, "--json")).json()["target_goal_id"] == goal

    cpi = (
        await acli("tariff", "set", "--campaign", cid, "--model", "cpi", "--amount", "1.20", "--from", "2026-01-01",
                   "--json")
    ).json()  # fmt: skip
    assert cpi["model"] == "cpi" and cpi["amount"] == {"amount": "1.2", "currency_code": "USD"}
    # set again for the same day replaces it.
    cpa = (
        await acli("tariff", "set", "--campaign", cid, "--model", "cpa", "--amount", "5", "--currency", "eur",
                   "--from", "2026-01-01", "--json")
    ).json()  # fmt: skip
    assert cpa["tariff_id"] == cpi["tariff_id"] and cpa["goal_id"] == goal and cpa["amount"]["currency_code"] == "EUR"
    rev = (await acli("tariff", "set", "--campaign", cid, "--model", "revshare", "--percent", "30", "--json")).json()
    assert rev["percent"] == "30"
    listed = (await acli("tariff", "list", "--campaign", cid, "--json")).json()["tariffs"]
    assert [t["tariff_id"] for t in listed] == [cpa["tariff_id"], rev["tariff_id"]]
    assert "revshare" in (await acli("tariff", "list")).stdout
    bad = await acli("tariff", "set", "--campaign", cid, "--model", "cpc", "--amount", "7,50", code=2)
    assert "tariff.amount.amount" in bad.stderr
    await acli("tariff", "set", "--campaign", cid, "--model", "revshare", "--amount", "1", code=2)
    await acli("tariff", "set", "--campaign", "cmp_nope", "--model", "cpc", "--amount", "1", code=2)
    await acli("tariff", "delete", rev["tariff_id"])

    corr = (
        await acli("correction", "add", "--campaign", cid, "--amount", "300", "--from", "2026-03-01",
                   "--to", "2026-03-31", "--note", "flat fee", "--json")
    ).json()  # fmt: skip
    assert corr["amount"] == {"amount": "300", "currency_code": "USD"} and corr["end_date"] == "2026-03-31"
    assert [c["correction_id"] for c in (await acli("correction", "list", "--json")).json()["corrections"]] == [
        corr["correction_id"]
    ]
    assert "flat fee" in (await acli("correction", "list", "--campaign", cid)).stdout
    bad = await acli(
        "correction", "add", "--campaign", cid, "--amount", "5", "--from", "2026-03-05", "--to", "2026-03-01", code=2
    )
    assert "correction.end_date" in bad.stderr
    await acli("correction", "delete", corr["correction_id"], "--json")
    assert (await acli("correction", "list", "--json")).json()["corrections"] == []
