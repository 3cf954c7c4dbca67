"""Automation rules: the list, the create and edit forms, the enabled / dry-run
switches, delete, the run history and running a rule now."""

from __future__ import annotations

from typing import Any

import grpc
from clicktrail.analytics.v1 import rules_pb2 as rules_pb
from clicktrail.analytics.v1 import rules_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc
from google.protobuf import field_mask_pb2
from starlette.responses import Response

from console.choices import RULE_ACTIONS, RULE_GROUPS
from console.forms import RULE_FIELD_OF, RULE_FIELDS, UNREADABLE, field_errors, rule_from_form
from console.pages.common import delete_page
from console.rpc import ServiceError
from console.web import PAGE_SIZE, PREFIX, Page, Params, redirect
from libs.conditions import describe_rule_condition, describe_window


async def rules(req: Page, m: Params) -> Response:
    svc = req.stub(rules_pb2_grpc.RuleServiceStub, "analytics")
    page = await req.call(svc.ListRules, rules_pb.ListRulesRequest(page_size=PAGE_SIZE, page_token=req.q("page_token")))
    return req.render("rules.html", rules=list(page.rules), next_page=page.next_page_token, query="")


async def _rule_page(
    req: Page, form: dict[str, str], *, status: int = 200, error: str = "",
    fields: dict[str, str] | None = None, campaign_ids: list[str] | None = None, rule_id: str = "",
) -> Response:  # fmt: skip
    """The new-rule form, or with ``rule_id`` the edit form of that rule."""
    links = req.stub(links_pb2_grpc.LinksServiceStub, "links")
    campaigns = await req.call(links.ListCampaigns, lpb.ListCampaignsRequest(page_size=1000))
    return req.render(
        "rule_form.html", status, form=form, error=error, fields=fields or {},
        campaign_options=[(c.campaign_id, c.name) for c in campaigns.campaigns], chosen=campaign_ids or [],
        groups=RULE_GROUPS, actions=RULE_ACTIONS, rule_id=rule_id,
    )  # fmt: skip


async def rule_new(req: Page, m: Params) -> Response:
    form = {
        "window": "24h", "group_by": "campaign", "action": "pause_campaign", "enabled": "1",
        "currency": req.session.currency if req.session else "",
    }  # fmt: skip
    return await _rule_page(req, form)


async def rule_create(req: Page, m: Params) -> Response:
    return await _save_rule(req, "")


async def _save_rule(req: Page, rule_id: str) -> Response:
    """Create the rule the form describes, or with ``rule_id`` save the whole form
    over that rule: every editable field is in the mask, so unticked flags and an
    emptied campaign list are saved too."""
    rule, lines, fields = rule_from_form(req.form, req.session.currency if req.session else "")
    ctx: dict[str, Any] = {"form": req.form.flat(), "campaign_ids": list(rule.campaign_ids), "rule_id": rule_id}
    if fields:
        return await _rule_page(req, status=400, error=UNREADABLE, fields=fields, **ctx)
    svc = req.stub(rules_pb2_grpc.RuleServiceStub, "analytics")
    try:
        if rule_id:
            rule.rule_id = rule_id
            mask = field_mask_pb2.FieldMask(paths=list(RULE_FIELDS))
            await req.call(svc.UpdateRule, rules_pb.UpdateRuleRequest(rule=rule, update_mask=mask))
        else:
            await req.call(svc.CreateRule, rules_pb.CreateRuleRequest(rule=rule))
    except ServiceError as exc:
        if rule_id and exc.code == grpc.StatusCode.NOT_FOUND:
            raise
        fields = field_errors(exc.fields, "rule.", {"conditions": lines}, RULE_FIELD_OF)
        return await _rule_page(req, status=exc.http_status(400), error=exc.message, fields=fields, **ctx)
    return redirect(f"{PREFIX}/rules?done={'rule_saved' if rule_id else 'rule_created'}")


async def rule(req: Page, m: Params) -> Response:
    svc = req.stub(rules_pb2_grpc.RuleServiceStub, "analytics")
    r = (await req.call(svc.GetRule, rules_pb.GetRuleRequest(rule_id=m["id"]))).rule
    kind = r.action.WhichOneof("kind") or ""
    form = {
        "name": r.name, "enabled": "1" if not r.HasField("enabled") or r.enabled else "",
        "dry_run": "1" if r.dry_run else "", "group_by": r.sub_id_field or "campaign",
        "window": describe_window(r.window), "action": kind, "currency": r.currency_code,
        "conditions": "\n".join(describe_rule_condition(c) for c in r.conditions),
        "percent": r.action.change_budget.percent if kind == "change_budget" else "",
        "budget": r.action.set_budget.budget.amount if kind == "set_budget" else "",
    }  # fmt: skip
    return await _rule_page(req, form, campaign_ids=list(r.campaign_ids), rule_id=r.rule_id)


async def rule_update(req: Page, m: Params) -> Response:
    return await _save_rule(req, m["id"])


async def rule_flag(req: Page, m: Params) -> Response:
    """Switch a rule's enabled or dry_run flag (the form sends the new value)."""
    svc = req.stub(rules_pb2_grpc.RuleServiceStub, "analytics")
    rule = rules_pb.Rule(rule_id=m["id"])
    setattr(rule, m["flag"], req.f("value") == "1")
    mask = field_mask_pb2.FieldMask(paths=[m["flag"]])
    await req.call(svc.UpdateRule, rules_pb.UpdateRuleRequest(rule=rule, update_mask=mask))
    return redirect(f"{PREFIX}/rules?done=rule_saved")


async def rule_delete(req: Page, m: Params) -> Response:
    svc = req.stub(rules_pb2_grpc.RuleServiceStub, "analytics")
    rule = (await req.call(svc.GetRule, rules_pb.GetRuleRequest(rule_id=m["id"]))).rule
    return await delete_page(
        req, f"Delete the rule “{rule.name}”?", "Its run history goes with it.", f"{PREFIX}/rules",
        lambda: req.call(svc.DeleteRule, rules_pb.DeleteRuleRequest(rule_id=rule.rule_id)),
        f"{PREFIX}/rules?done=rule_deleted",
    )  # fmt: skip


async def rule_runs(req: Page, m: Params) -> Response:
    svc = req.stub(rules_pb2_grpc.RuleServiceStub, "analytics")
    rule = (await req.call(svc.GetRule, rules_pb.GetRuleRequest(rule_id=m["id"]))).rule
    page = await req.call(
        svc.ListRuleRuns,
        rules_pb.ListRuleRunsRequest(rule_id=m["id"], page_size=PAGE_SIZE, page_token=req.q("page_token")),
    )
    return req.render("rule_runs.html", rule=rule, runs=list(page.runs), next_page=page.next_page_token)


async def rule_run(req: Page, m: Params) -> Response:
    """Run a rule now; a dry run records what it would do and changes nothing."""
    svc = req.stub(rules_pb2_grpc.RuleServiceStub, "analytics")
    dry = req.f("dry_run") == "1"
    await req.call(svc.RunRule, rules_pb.RunRuleRequest(rule_id=m["id"], dry_run=dry))
    return redirect(f"{PREFIX}/rules/{m['id']}/runs?done=ran")
