"""What several page groups share: the pickers of the campaign and template forms,
and the confirm-then-delete page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from clicktrail.attribution.v1 import config_pb2, config_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc
from starlette.responses import Response

from console.choices import CAMPAIGN_STATUSES, CAMPAIGN_TYPES, TRAFFIC_TYPES
from console.forms import FROZEN_FIELDS
from console.rpc import ServiceError
from console.web import Page, redirect


async def choices(req: Page) -> dict[str, Any]:
    """The partners, apps and goals a form picks from, and the campaign enums."""
    links = req.stub(links_pb2_grpc.LinksServiceStub, "links")
    partners = await req.call(links.ListPartners, lpb.ListPartnersRequest(page_size=200))
    apps = await req.call(links.ListApps, lpb.ListAppsRequest(page_size=200))
    goals = await req.call(
        req.stub(config_pb2_grpc.GoalServiceStub, "attribution").ListGoals,
        config_pb2.ListGoalsRequest(page_size=200),
    )
    return {
        "partner_options": [(p.partner_id, p.name) for p in partners.partners],
        "app_options": [(a.app_id, a.name) for a in apps.apps],
        "goal_options": [(g.goal_id, g.name) for g in goals.goals],
        "published": False,
        "frozen": FROZEN_FIELDS,
        "types": CAMPAIGN_TYPES,
        "traffic_types": TRAFFIC_TYPES,
        "statuses": CAMPAIGN_STATUSES,
    }


async def delete_page(
    req: Page, title: str, detail: str, back: str, delete: Callable[[], Awaitable[Any]], done: str
) -> Response:
    """GET asks to confirm; the POST of its form deletes. A refusal (e.g. a goal
    still in use) shows on the page."""
    error, status = "", 200
    if req.method == "POST":
        try:
            await delete()
        except ServiceError as exc:
            if exc.code == grpc.StatusCode.NOT_FOUND:
                raise
            error, status = exc.message, exc.http_status(400)
        else:
            return redirect(done)
    return req.render("confirm.html", status, title=title, detail=detail, back=back, error=error)
