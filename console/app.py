"""The console's Starlette application. The gateway forwards every request whose
path starts with /console to the console process (``python -m console``); it
answers with server-rendered HTML (Jinja2).

Every page reads only paged RPCs and the report rollups (RunCampaignReport),
never raw clicks, so it stays fast however many clicks the database holds.
The account comes from the session's API key alone: the services scope every
call to it; no account id is ever taken from the request.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router

from console.pages import (
    apple_ads,
    apps,
    attribution_settings,
    campaigns,
    domains,
    goals_tariffs,
    landers,
    links,
    offers,
    partners_catalog,
    postback_formats,
    postbacks,
    quality,
    reports,
    rules,
    signin,
    skan,
    skan_schema,
    streams,
)
from console.web import PREFIX, STATIC, Console, ConsoleHeaders, StaticAssets, http_error, page
from libs.config import ConsoleSettings
from libs.logging import get_logger

log = get_logger("console")


class _Pattern(Convertor[str]):
    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


def _convertor(name: str, pattern: str) -> None:
    register_url_convertor(name, type(name, (_Pattern,), {"regex": pattern})())


# The ids in console paths (anything else is no page: 404).
_convertor("console_id", "[A-Za-z0-9_-]{1,64}")
_convertor("console_template_id", "pbt_[A-Za-z0-9_-]{1,60}")
_convertor("console_touch_kind", "clicks|impressions|installs")
_convertor("console_rule_flag", "enabled|dry_run")
_convertor("console_domain", "[A-Za-z0-9.-]{1,253}")
_convertor("console_apple_campaign", "[0-9]{1,18}")
_convertor("console_qr_format", "svg|png")
ID = "{id:console_id}"
STREAM = "{sid:console_id}"
TEMPLATE = "{id:console_template_id}"
GET, POST, BOTH = ["GET"], ["POST"], ["GET", "POST"]


def console_routes() -> list[BaseRoute]:
    """Every page under /console; the first route whose path and method match serves it."""
    open_ = {"auth": False}
    return [
        Mount("/static", app=StaticAssets(directory=STATIC)),
        Route("/", page(signin.home), methods=GET),
        Route("/signin", page(signin.signin_form, **open_), methods=GET),
        Route("/signin", page(signin.signin, **open_), methods=POST),
        Route("/signout", page(signin.signout), methods=POST),
        Route("/campaigns", page(campaigns.campaigns), methods=GET),
        Route("/campaigns/new", page(campaigns.campaign_new), methods=GET),
        Route("/campaigns/new", page(campaigns.campaign_create), methods=POST),
        Route(f"/campaigns/{ID}", page(campaigns.campaign), methods=GET),
        Route(f"/campaigns/{ID}", page(campaigns.campaign_update), methods=POST),
        Route(f"/campaigns/{ID}/links", page(campaigns.link_create), methods=POST),
        Route(f"/campaigns/{ID}/flow", page(streams.flow), methods=GET),
        Route(f"/campaigns/{ID}/flow", page(streams.stream_create), methods=POST),
        Route(f"/campaigns/{ID}/visitor-window", page(streams.visitor_window), methods=POST),
        Route(f"/campaigns/{ID}/flow/{STREAM}", page(streams.stream), methods=GET),
        Route(f"/campaigns/{ID}/flow/{STREAM}", page(streams.stream_update), methods=POST),
        Route(f"/campaigns/{ID}/flow/{STREAM}/move", page(streams.stream_move), methods=POST),
        Route(f"/campaigns/{ID}/flow/{STREAM}/delete", page(streams.stream_delete), methods=BOTH),
        Route(f"/links/{ID}", page(links.link), methods=GET),
        Route(f"/links/{ID}", page(links.link_update), methods=POST),
        Route(f"/links/{ID}/qr.{{fmt:console_qr_format}}", page(links.link_qr), methods=GET),
        Route("/offers", page(offers.offers), methods=GET),
        Route("/offers/new", page(offers.offer_new), methods=GET),
        Route("/offers/new", page(offers.offer_create), methods=POST),
        Route(f"/offers/{ID}", page(offers.offer), methods=GET),
        Route(f"/offers/{ID}", page(offers.offer_update), methods=POST),
        Route(f"/offers/{ID}/delete", page(offers.offer_delete), methods=BOTH),
        Route("/landers", page(landers.landers), methods=GET),
        Route("/landers/new", page(landers.lander_new), methods=GET),
        Route("/landers/new", page(landers.lander_create), methods=POST),
        Route(f"/landers/{ID}", page(landers.lander), methods=GET),
        Route(f"/landers/{ID}", page(landers.lander_update), methods=POST),
        Route(f"/landers/{ID}/delete", page(landers.lander_delete), methods=BOTH),
        Route("/attribution-settings", page(attribution_settings.settings_page), methods=GET),
        Route("/attribution-settings", page(attribution_settings.settings_update), methods=POST),
        Route("/domains", page(domains.domains), methods=GET),
        Route("/domains", page(domains.domain_add), methods=POST),
        Route("/domains/{name:console_domain}/delete", page(domains.domain_delete), methods=BOTH),
        Route("/apple-ads", page(apple_ads.apple_ads), methods=GET),
        Route("/apple-ads/settings", page(apple_ads.settings_update), methods=POST),
        Route("/apple-ads/mappings", page(apple_ads.mapping_add), methods=POST),
        Route("/apple-ads/mappings/{apple_campaign_id:console_apple_campaign}/delete", page(apple_ads.mapping_delete),
              methods=BOTH),
        Route("/skan", page(skan.skan), methods=GET),
        Route("/skan/mappings", page(skan.mapping_add), methods=POST),
        Route(f"/skan/mappings/{ID}/delete", page(skan.mapping_delete), methods=BOTH),
        Route(f"/apps/{ID}/skan-schema", page(skan_schema.skan_schema), methods=GET),
        Route(f"/apps/{ID}/skan-schema", page(skan_schema.skan_schema_update), methods=POST),
        Route("/partners", page(campaigns.partners), methods=GET),
        Route(f"/apps/{ID}", page(apps.app_page), methods=GET),
        Route(f"/apps/{ID}", page(apps.app_update), methods=POST),
        Route("/partners", page(campaigns.partner_create), methods=POST),
        Route("/integrated-partners", page(partners_catalog.catalog_list), methods=GET),
        Route(f"/integrated-partners/{ID}", page(partners_catalog.catalog_entry), methods=GET),
        Route(f"/integrated-partners/{ID}", page(partners_catalog.catalog_create), methods=POST),
        Route("/reports", page(reports.report), methods=GET),
        Route("/reports.csv", page(reports.report_csv), methods=GET),
        Route("/metrics", page(reports.metrics), methods=GET),
        Route("/postbacks", page(postbacks.templates), methods=GET),
        Route("/postbacks/new", page(postbacks.template_new), methods=GET),
        Route("/postbacks/new", page(postbacks.template_create), methods=POST),
        Route(f"/postbacks/{TEMPLATE}", page(postbacks.template), methods=GET),
        Route(f"/postbacks/{TEMPLATE}", page(postbacks.template_update), methods=POST),
        Route(f"/postbacks/{TEMPLATE}/delete", page(postbacks.template_delete), methods=BOTH),
        Route("/postbacks/deliveries", page(postbacks.deliveries), methods=GET),
        Route(f"/postbacks/deliveries/{ID}/retry", page(postbacks.retry), methods=POST),
        Route("/postbacks/inbound", page(postbacks.inbound), methods=GET),
        Route("/postback-formats", page(postback_formats.formats), methods=GET),
        Route(f"/postback-formats/{ID}", page(postback_formats.format_page), methods=GET),
        Route(f"/postback-formats/{ID}", page(postback_formats.format_update), methods=POST),
        Route(f"/postback-formats/{ID}/delete", page(postback_formats.format_delete), methods=BOTH),
        Route("/goals", page(goals_tariffs.goals), methods=GET),
        Route("/goals/new", page(goals_tariffs.goal_new), methods=GET),
        Route("/goals/new", page(goals_tariffs.goal_create), methods=POST),
        Route(f"/goals/{ID}", page(goals_tariffs.goal), methods=GET),
        Route(f"/goals/{ID}", page(goals_tariffs.goal_update), methods=POST),
        Route(f"/goals/{ID}/delete", page(goals_tariffs.goal_delete), methods=BOTH),
        Route("/tariffs", page(goals_tariffs.tariffs), methods=GET),
        Route("/tariffs", page(goals_tariffs.tariff_create), methods=POST),
        Route("/rules", page(rules.rules), methods=GET),
        Route("/rules/new", page(rules.rule_new), methods=GET),
        Route("/rules/new", page(rules.rule_create), methods=POST),
        Route(f"/rules/{ID}", page(rules.rule), methods=GET),
        Route(f"/rules/{ID}", page(rules.rule_update), methods=POST),
        Route(f"/rules/{ID}/{{flag:console_rule_flag}}", page(rules.rule_flag), methods=POST),
        Route(f"/rules/{ID}/delete", page(rules.rule_delete), methods=BOTH),
        Route(f"/rules/{ID}/runs", page(rules.rule_runs), methods=GET),
        Route(f"/rules/{ID}/runs", page(rules.rule_run), methods=POST),
        Route("/quality", page(quality.overview), methods=GET),
        Route("/quality/touches", page(quality.touches), methods=GET),
        Route(f"/quality/{{kind:console_touch_kind}}/{ID}/overrule", page(quality.overrule), methods=POST),
    ]


async def healthz(request: Request) -> Response:
    """200 once the lifespan has opened the session store."""
    return PlainTextResponse("ok\n")


def create_app(settings: ConsoleSettings) -> Starlette:
    """The console process's ASGI application: the lifespan opens and closes the Console."""
    console = Console(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            await console.start()
        except Exception:
            log.exception("console_startup_failed")
            raise
        try:
            yield
        finally:
            await console.close()

    pages = Router(console_routes(), redirect_slashes=False)
    app = Starlette(
        routes=[Route("/healthz", healthz), Route(PREFIX, page(signin.home)), Mount(PREFIX, app=pages)],
        middleware=[Middleware(ConsoleHeaders)],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False
    app.state.console = console
    return app
