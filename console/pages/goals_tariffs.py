"""Goals (what counts as a conversion: list, create, edit, delete) and tariffs
(what a campaign pays)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from clicktrail.attribution.v1 import config_pb2, config_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc
from google.protobuf import field_mask_pb2
from starlette.responses import Response

from console.choices import GOAL_KINDS, OCCURRENCES, TARIFF_MODELS
from console.forms import GOAL_FIELDS, UNREADABLE, field_errors, goal_from_form, to_int
from console.pages.common import delete_page
from console.rpc import ServiceError
from console.web import PAGE_SIZE, PREFIX, Page, Params, redirect
from libs.conditions import describe_goal_condition


async def goals(req: Page, m: Params) -> Response:
    svc = req.stub(config_pb2_grpc.GoalServiceStub, "attribution")
    page = await req.call(
        svc.ListGoals, config_pb2.ListGoalsRequest(page_size=PAGE_SIZE, page_token=req.q("page_token"))
    )
    return req.render("goals.html", goals=list(page.goals), next_page=page.next_page_token, query="")


def _goal_page(
    req: Page, goal: config_pb2.Goal | None, form: dict[str, str], *, status: int = 200,
    error: str = "", fields: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    return req.render(
        "goal_form.html", status, goal=goal, form=form, error=error, fields=fields or {}, kinds=GOAL_KINDS,
        occurrences=OCCURRENCES,
    )  # fmt: skip


async def goal_new(req: Page, m: Params) -> Response:
    form = {"kind": str(config_pb2.GOAL_KIND_CUSTOM), "occurrence": str(config_pb2.OCCURRENCE_FIRST)}
    return _goal_page(req, None, form)


async def goal_create(req: Page, m: Params) -> Response:
    goal, lines, fields = goal_from_form(req.form)
    if fields:
        return _goal_page(req, None, req.form.flat(), status=400, error=UNREADABLE, fields=fields)
    svc = req.stub(config_pb2_grpc.GoalServiceStub, "attribution")
    try:
        await req.call(svc.CreateGoal, config_pb2.CreateGoalRequest(goal=goal))
    except ServiceError as exc:  # FAILED_PRECONDITION at 25 goals: its message says so
        return _goal_page(
            req, None, req.form.flat(), status=exc.http_status(400), error=exc.message,
            fields=field_errors(exc.fields, "goal.", {"conditions": lines}),
        )  # fmt: skip
    return redirect(f"{PREFIX}/goals?done=goal_created")


async def goal(req: Page, m: Params) -> Response:
    svc = req.stub(config_pb2_grpc.GoalServiceStub, "attribution")
    g = (await req.call(svc.GetGoal, config_pb2.GetGoalRequest(goal_id=m["id"]))).goal
    form = {
        "name": g.name, "event": g.event, "kind": str(g.kind), "occurrence": str(g.occurrence),
        "nth": str(g.nth) if g.nth else "", "value_path": g.value_path, "currency_path": g.currency_path,
        "conditions": "\n".join(describe_goal_condition(c) for c in g.conditions),
    }  # fmt: skip
    return _goal_page(req, g, form)


async def goal_update(req: Page, m: Params) -> Response:
    svc = req.stub(config_pb2_grpc.GoalServiceStub, "attribution")
    current = (await req.call(svc.GetGoal, config_pb2.GetGoalRequest(goal_id=m["id"]))).goal
    wanted, lines, fields = goal_from_form(req.form)
    if fields:
        return _goal_page(req, current, req.form.flat(), status=400, error=UNREADABLE, fields=fields)
    wanted.goal_id = current.goal_id
    # Only what changed: the goal of a published campaign can still be renamed.
    paths = [f for f in GOAL_FIELDS if getattr(wanted, f) != getattr(current, f)] or ["name"]
    try:
        await req.call(
            svc.UpdateGoal,
            config_pb2.UpdateGoalRequest(goal=wanted, update_mask=field_mask_pb2.FieldMask(paths=paths)),
        )
    except ServiceError as exc:
        return _goal_page(
            req, current, req.form.flat(), status=exc.http_status(400), error=exc.message,
            fields=field_errors(exc.fields, "goal.", {"conditions": lines}),
        )  # fmt: skip
    return redirect(f"{PREFIX}/goals?done=goal_saved")


async def goal_delete(req: Page, m: Params) -> Response:
    svc = req.stub(config_pb2_grpc.GoalServiceStub, "attribution")
    g = (await req.call(svc.GetGoal, config_pb2.GetGoalRequest(goal_id=m["id"]))).goal
    return await delete_page(
        req, f"Delete the goal “{g.name}”?",
        "Refused while a campaign targets it or a tariff or conversion refers to it.",
        f"{PREFIX}/goals/{g.goal_id}",
        lambda: req.call(svc.DeleteGoal, config_pb2.DeleteGoalRequest(goal_id=g.goal_id)),
        f"{PREFIX}/goals?done=goal_deleted",
    )  # fmt: skip


async def tariffs(req: Page, m: Params, **ctx: Any) -> Response:
    svc = req.stub(config_pb2_grpc.TariffServiceStub, "attribution")
    campaign_id = req.q("campaign_id")
    page = await req.call(
        svc.ListTariffs,
        config_pb2.ListTariffsRequest(page_size=PAGE_SIZE, page_token=req.q("page_token"), campaign_id=campaign_id),
    )
    links = req.stub(links_pb2_grpc.LinksServiceStub, "links")
    campaigns = await req.call(links.ListCampaigns, lpb.ListCampaignsRequest(page_size=1000))
    names = {c.campaign_id: c.name for c in campaigns.campaigns}
    ctx.setdefault("form", {"campaign_id": campaign_id, "currency": req.session.currency if req.session else ""})
    ctx.setdefault("fields", {})
    return req.render(
        "tariffs.html", ctx.pop("status", 200), tariffs=list(page.tariffs), next_page=page.next_page_token,
        names=names, models=TARIFF_MODELS, query=urlencode({"campaign_id": campaign_id}) if campaign_id else "",
        **ctx,
    )  # fmt: skip


async def tariff_create(req: Page, m: Params) -> Response:
    svc = req.stub(config_pb2_grpc.TariffServiceStub, "attribution")
    tariff = config_pb2.Tariff(
        campaign_id=req.f("campaign_id"), model=to_int(req.f("model")),  # type: ignore[arg-type]
        percent=req.f("percent"), effective_date=req.f("effective_date"),
    )  # fmt: skip
    if req.f("amount"):
        tariff.amount.amount = req.f("amount")
        tariff.amount.currency_code = req.f("currency")
    try:
        await req.call(svc.CreateTariff, config_pb2.CreateTariffRequest(tariff=tariff))
    except ServiceError as exc:
        fields = {k.removeprefix("tariff.").split(".")[0]: v for k, v in exc.fields.items()}
        return await tariffs(req, m, status=400, error=exc.message, form=req.form.flat(), fields=fields)
    return redirect(f"{PREFIX}/tariffs?done=tariff_created")
