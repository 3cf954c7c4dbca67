"""RuleService CRUD: validation naming the field, defaults, update masks,
paging, and account isolation (real analytics + links servers)."""

import grpc
import pytest
from clicktrail.analytics.v1 import rules_pb2 as pb
from clicktrail.analytics.v1 import rules_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc
from google.protobuf import duration_pb2, field_mask_pb2

DAY = duration_pb2.Duration(seconds=86400)


@pytest.fixture
def rules_stub(analytics_server, account, channels):
    return rules_pb2_grpc.RuleServiceStub(channels(analytics_server.addr, token=account.api_key))


async def make_campaign(links_stub: links_pb2_grpc.LinksServiceStub, name: str = "Spring") -> str:
    partner = (await links_stub.CreatePartner(lpb.CreatePartnerRequest(partner=lpb.Partner(name="Net")))).partner
    campaign = (
        await links_stub.CreateCampaign(
            lpb.CreateCampaignRequest(campaign=lpb.Campaign(name=name, partner_id=partner.partner_id))
        )
    ).campaign
    return campaign.campaign_id


def losers_rule(**kw) -> pb.Rule:
    rule = pb.Rule(
        name="Stop losers",
        window=DAY,
        conditions=[
            pb.Condition(metric="roi", comparison=pb.COMPARISON_LESS, value="-50"),
            pb.Condition(metric="clicks", comparison=pb.COMPARISON_GREATER_OR_EQUAL, value="1000"),
        ],
        action=pb.RuleAction(pause_campaign=pb.PauseCampaign()),
    )
    for k, v in kw.items():
        if isinstance(v, list):
            getattr(rule, k).extend(v)
        elif hasattr(v, "CopyFrom"):
            getattr(rule, k).CopyFrom(v)
        else:
            setattr(rule, k, v)
    return rule


async def test_create_get_list_update_delete(rules_stub, links_stub):
    cid = await make_campaign(links_stub)
    created = (await rules_stub.CreateRule(pb.CreateRuleRequest(rule=losers_rule(campaign_ids=[cid])))).rule
    assert created.rule_id.startswith("rul_")
    assert created.enabled and not created.dry_run  # enabled unless said otherwise
    assert created.grouping == pb.RULE_GROUPING_CAMPAIGN
    assert created.window.seconds == 86400 and list(created.campaign_ids) == [cid]
    assert [(c.metric, c.comparison, c.value) for c in created.conditions] == [
        ("roi", pb.COMPARISON_LESS, "-50"),
        ("clicks", pb.COMPARISON_GREATER_OR_EQUAL, "1000"),
    ]
    assert created.action.WhichOneof("kind") == "pause_campaign"
    # The first scheduled check is one interval after creation.
    assert created.next_run_time.ToDatetime() > created.create_time.ToDatetime()

    got = (await rules_stub.GetRule(pb.GetRuleRequest(rule_id=created.rule_id))).rule
    assert got == created

    # Update with a mask: turn it off (false needs the mask) and change the action.
    upd = pb.UpdateRuleRequest(
        rule=pb.Rule(
            rule_id=created.rule_id, enabled=False,
            action=pb.RuleAction(change_budget=pb.ChangeBudget(percent="-25")),
        ),
        update_mask=field_mask_pb2.FieldMask(paths=["enabled", "action"]),
    )  # fmt: skip
    updated = (await rules_stub.UpdateRule(upd)).rule
    assert not updated.enabled and updated.action.change_budget.percent == "-25"
    assert updated.name == "Stop losers" and len(updated.conditions) == 2

    for i in range(3):
        await rules_stub.CreateRule(pb.CreateRuleRequest(rule=losers_rule(name=f"r{i}")))
    seen, token = [], ""
    while True:
        page = await rules_stub.ListRules(pb.ListRulesRequest(page_size=2, page_token=token))
        seen += [r.rule_id for r in page.rules]
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == 4 == len(set(seen)) and created.rule_id in seen

    await rules_stub.DeleteRule(pb.DeleteRuleRequest(rule_id=created.rule_id))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await rules_stub.GetRule(pb.GetRuleRequest(rule_id=created.rule_id))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_sub_id_rule_with_alias_and_budget_actions(rules_stub):
    rule = losers_rule(
        grouping=pb.RULE_GROUPING_SUB_ID, sub_id_field="source",
        action=pb.RuleAction(blacklist_sub_id=pb.BlacklistSubId()),
    )  # fmt: skip
    created = (await rules_stub.CreateRule(pb.CreateRuleRequest(rule=rule))).rule
    assert created.sub_id_field == "sub2" and created.grouping == pb.RULE_GROUPING_SUB_ID
    # Grouping unset but a sub field named: by sub-id.
    implied = (
        await rules_stub.CreateRule(
            pb.CreateRuleRequest(
                rule=losers_rule(sub_id_field="sub4", action=pb.RuleAction(blacklist_sub_id=pb.BlacklistSubId()))
            )
        )
    ).rule
    assert implied.grouping == pb.RULE_GROUPING_SUB_ID
    budget = losers_rule(
        action=pb.RuleAction(set_budget=pb.SetBudget(budget={"amount": "150", "currency_code": "EUR"}))
    )
    made = (await rules_stub.CreateRule(pb.CreateRuleRequest(rule=budget))).rule
    assert (made.action.set_budget.budget.amount, made.action.set_budget.budget.currency_code) == ("150", "EUR")


BAD = [
    (dict(name=""), "rule.name"),
    (dict(window=duration_pb2.Duration(seconds=0)), "rule.window"),
    (dict(window=duration_pb2.Duration(seconds=91 * 86400)), "rule.window"),
    (
        dict(conditions=[pb.Condition(metric="ctr", comparison=pb.COMPARISON_LESS, value="1")]),
        "rule.conditions[2].metric",
    ),
    (dict(conditions=[pb.Condition(metric="cr", comparison=99, value="1")]), "rule.conditions[2].comparison"),
    (dict(conditions=[pb.Condition(metric="cr", comparison=pb.COMPARISON_LESS)]), "rule.conditions[2].value"),
    (
        dict(conditions=[pb.Condition(metric="cr", comparison=pb.COMPARISON_LESS, value="abc")]),
        "rule.conditions[2].value",
    ),
    (dict(action=pb.RuleAction(blacklist_sub_id=pb.BlacklistSubId())), "rule.action.blacklist_sub_id"),
    (dict(action=pb.RuleAction(change_budget=pb.ChangeBudget(percent="0"))), "rule.action.change_budget.percent"),
    (dict(action=pb.RuleAction(change_budget=pb.ChangeBudget(percent="-150"))), "rule.action.change_budget.percent"),
    (
        dict(action=pb.RuleAction(set_budget=pb.SetBudget(budget={"amount": "x", "currency_code": "USD"}))),
        "rule.action.set_budget.budget.amount",
    ),
    (dict(grouping=pb.RULE_GROUPING_SUB_ID), "rule.sub_id_field"),
    (dict(grouping=pb.RULE_GROUPING_SUB_ID, sub_id_field="sub11"), "rule.sub_id_field"),
    (dict(grouping=pb.RULE_GROUPING_CAMPAIGN, sub_id_field="sub1"), "rule.sub_id_field"),
    (dict(currency_code="dollars"), "rule.currency_code"),
    (dict(campaign_ids=["cmp_nope"]), "rule.campaign_ids[0]"),
]


@pytest.mark.parametrize(("change", "field"), BAD, ids=[f for _, f in BAD])
async def test_bad_input_names_the_field(rules_stub, change, field):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await rules_stub.CreateRule(pb.CreateRuleRequest(rule=losers_rule(**change)))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"{field}:" in err.value.details()


async def test_missing_action_and_conditions(rules_stub):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await rules_stub.CreateRule(pb.CreateRuleRequest(rule=pb.Rule(name="x", window=DAY)))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "rule.action:" in err.value.details() and "rule.conditions:" in err.value.details()


async def test_update_keeps_the_rule_consistent(rules_stub):
    created = (await rules_stub.CreateRule(pb.CreateRuleRequest(rule=losers_rule()))).rule
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await rules_stub.UpdateRule(
            pb.UpdateRuleRequest(
                rule=pb.Rule(rule_id=created.rule_id, action=pb.RuleAction(blacklist_sub_id=pb.BlacklistSubId())),
                update_mask=field_mask_pb2.FieldMask(paths=["action"]),
            )
        )
    assert (
        err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "rule.action.blacklist_sub_id" in err.value.details()
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await rules_stub.UpdateRule(
            pb.UpdateRuleRequest(
                rule=pb.Rule(rule_id=created.rule_id, name="n"), update_mask=field_mask_pb2.FieldMask(paths=["rule_id"])
            )
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "update_mask" in err.value.details()


async def test_another_account_sees_nothing(
    rules_stub, links_stub, analytics_server, links_server, new_account, channels
):
    mine = await make_campaign(links_stub)
    rule = (await rules_stub.CreateRule(pb.CreateRuleRequest(rule=losers_rule(campaign_ids=[mine])))).rule
    other = await new_account("Other")
    other_rules = rules_pb2_grpc.RuleServiceStub(channels(analytics_server.addr, token=other.api_key))
    assert list((await other_rules.ListRules(pb.ListRulesRequest())).rules) == []
    for call in (
        other_rules.GetRule(pb.GetRuleRequest(rule_id=rule.rule_id)),
        other_rules.DeleteRule(pb.DeleteRuleRequest(rule_id=rule.rule_id)),
        other_rules.RunRule(pb.RunRuleRequest(rule_id=rule.rule_id)),
        other_rules.ListRuleRuns(pb.ListRuleRunsRequest(rule_id=rule.rule_id)),
        other_rules.UpdateRule(
            pb.UpdateRuleRequest(rule=pb.Rule(rule_id=rule.rule_id, name="x"), update_mask={"paths": ["name"]})
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    # Another account's campaign cannot be put in scope.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await other_rules.CreateRule(pb.CreateRuleRequest(rule=losers_rule(campaign_ids=[mine])))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "rule.campaign_ids[0]" in err.value.details()
    # The rule is still there for its owner.
    assert (await rules_stub.GetRule(pb.GetRuleRequest(rule_id=rule.rule_id))).rule.name == "Stop losers"


async def test_needs_credentials(analytics_server, channels):
    stub = rules_pb2_grpc.RuleServiceStub(channels(analytics_server.addr))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ListRules(pb.ListRulesRequest())
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
