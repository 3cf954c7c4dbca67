"""The console's ASGI handler. The gateway hands it every request whose path
starts with /console; it answers with server-rendered HTML (Jinja2).

Every page reads only paged RPCs and the report rollups (RunCampaignReport),
never raw clicks, so it stays fast however many clicks the database holds.
The account comes from the session's API key alone: the services scope every
call to it; no account id is ever taken from the request.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import datetime as dt
import functools
import io
import mimetypes
import re
import time
import zoneinfo
from collections.abc import Awaitable, Callable
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import grpc
import jinja2
import markupsafe
import orjson
from clicktrail.accounts.v1 import accounts_pb2, accounts_pb2_grpc
from clicktrail.analytics.v1 import metrics_pb2, metrics_pb2_grpc, reports_pb2, reports_pb2_grpc, rules_pb2_grpc
from clicktrail.analytics.v1 import rules_pb2 as rules_pb
from clicktrail.attribution.v1 import attribution_pb2, attribution_pb2_grpc, config_pb2, config_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc
from clicktrail.postbacks.v1 import postbacks_pb2 as ppb
from clicktrail.postbacks.v1 import postbacks_pb2_grpc
from clicktrail.type.v1 import money_pb2
from google.protobuf import duration_pb2, field_mask_pb2
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from cli.commands.postbacks import pairs
from cli.common import UsageError, field_violations
from console import quality
from console.session import (
    COOKIE,
    MIGRATIONS,
    PRE_COOKIE,
    SCHEMA,
    Session,
    SessionCodec,
    SessionStore,
    secure_default,
)
from libs.asgi import BodyTooLarge, read_body
from libs.conditions import (
    describe_goal_condition,
    describe_rule_condition,
    describe_window,
    parse_goal_condition,
    parse_rule_condition,
    parse_window,
    shown,
)
from libs.config import Settings
from libs.csvsafe import SafeWriter
from libs.db import create_pool
from libs.grpc_client import ChannelPool
from libs.logging import get_logger
from libs.migrations import migrate
from libs.tls import channel_credentials

log = get_logger("console")

HERE = Path(__file__).parent
STATIC = HERE / "static"
PREFIX = "/console"
MAX_FORM_BODY = 64 * 1024
# A form that has not arrived in this long is given up (the gateway has its own bound too).
BODY_TIMEOUT_S = 30.0
# The longest value of one form field or query parameter (characters); the lines of a
# conditions textarea are bounded further by libs.conditions.MAX_LINE_CHARS.
MAX_FIELD_CHARS = 16 * 1024
MAX_QUERY_VALUE_CHARS = 8 * 1024
PAGE_SIZE = 25
# The pager's "Previous" link: the tokens of the pages before this one, in the query string (bounded).
MAX_PREV_TOKENS = 20
MAX_TOKEN_LEN = 512
REPORT_DIMENSIONS = (
    "campaign", "link", "partner", "app", "country", "device_type", "os", "day", "hour",
    *(f"sub{i}" for i in range(1, 11)),
)  # fmt: skip
FILTERABLE = tuple(d for d in REPORT_DIMENSIONS if d not in ("day", "hour"))
CSV_MAX_ROWS = 100_000
# Frozen once a campaign is published (links.v1 UpdateCampaign).
FROZEN_FIELDS = ("type", "traffic_type", "partner_id", "app_id", "target_goal_id")
SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]  # fmt: skip
HTML_CT = b"text/html; charset=utf-8"


def enum_names(enum: Any, prefix: str) -> list[tuple[int, str]]:
    """(number, short lower-case name) of an enum's values, without _UNSPECIFIED."""
    return [(v.number, v.name.removeprefix(prefix).lower()) for v in enum.DESCRIPTOR.values if v.number != 0]


CAMPAIGN_TYPES = enum_names(lpb.CampaignType, "CAMPAIGN_TYPE_")
TRAFFIC_TYPES = enum_names(lpb.TrafficType, "TRAFFIC_TYPE_")
CAMPAIGN_STATUSES = enum_names(lpb.CampaignStatus, "CAMPAIGN_STATUS_")
DELIVERY_STATUSES = enum_names(ppb.DeliveryStatus, "DELIVERY_STATUS_")
TARIFF_MODELS = enum_names(config_pb2.TariffModel, "TARIFF_MODEL_")
DEAD_LETTERS = (ppb.DELIVERY_STATUS_FAILED, ppb.DELIVERY_STATUS_DEAD)
GOAL_KINDS = enum_names(config_pb2.GoalKind, "GOAL_KIND_")
OCCURRENCES = enum_names(config_pb2.Occurrence, "OCCURRENCE_")
# What the goal form edits (UpdateGoal's mask: only what changed, so a published campaign's goal can be renamed).
GOAL_FIELDS = ("name", "event", "kind", "occurrence", "nth", "value_path", "currency_path", "conditions")
TEMPLATE_TRIGGERS = enum_names(ppb.Trigger, "TRIGGER_")
SENDING_MODES = enum_names(ppb.SendingMode, "SENDING_MODE_")
HTTP_METHODS = [(n, name.upper()) for n, name in enum_names(ppb.HttpMethod, "HTTP_METHOD_")]
# What the template form edits (partner_id is fixed at create).
TEMPLATE_FIELDS = ("name", "app_id", "trigger", "goal_id", "sending_mode", "method", "url_template", "body_template",
                   "headers", "enabled")  # fmt: skip
RULE_ACTIONS = [
    (f.name, f.name.replace("_", " ")) for f in rules_pb.RuleAction.DESCRIPTOR.oneofs_by_name["kind"].fields
]
RULE_GROUPS = ("campaign", *(f"sub{i}" for i in range(1, 11)))
# What the rule form edits (UpdateRule's mask).
RULE_FIELDS = (
    "name", "enabled", "dry_run", "campaign_ids", "grouping", "sub_id_field", "window", "conditions", "action",
    "currency_code",
)  # fmt: skip


# What JSON inside a <script> element may not hold as is: "</script>", "<!--", "&" entities,
# and the JavaScript line terminators U+2028 / U+2029.
_SCRIPT_UNSAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_SCRIPT_UNSAFE_RE = re.compile("[<>&\u2028\u2029]")


def script_json(value: Any) -> markupsafe.Markup:
    """``{{ data | script_json }}``: JSON that is safe inside a <script> element (the
    same value for JSON.parse; no character that could end the element or start markup)."""
    text = orjson.dumps(value).decode()
    # Markup: JSON with every character that HTML would read as markup escaped above.
    return markupsafe.Markup(_SCRIPT_UNSAFE_RE.sub(lambda m: _SCRIPT_UNSAFE[m.group()], text))  # noqa: S704


def to_dict(msg: Message) -> dict[str, Any]:
    return MessageToDict(msg, preserving_proto_field_name=True)


def money_text(m: Any) -> str:
    if m is None or not m.currency_code:
        return ""
    return f"{m.amount} {m.currency_code}"


class ServiceError(Exception):
    """A service refused or failed a call: what to tell the operator."""

    def __init__(self, err: grpc.aio.AioRpcError) -> None:
        self.code = err.code()
        self.message = err.details() or self.code.name
        self.fields = dict(field_violations(err))
        super().__init__(self.message)


class SignInRequired(Exception):
    """The session is missing, expired, or its API key stopped working."""

    def __init__(self, message: str = "") -> None:
        self.message = message
        super().__init__(message)


@dataclasses.dataclass
class Request:
    method: str
    path: str  # under /console, e.g. "/campaigns"
    query: dict[str, list[str]]
    form: dict[str, list[str]]
    cookies: dict[str, str]
    session: Session | None = None
    pre: str = ""  # the pre-sign-in cookie value

    def q(self, name: str, default: str = "") -> str:
        values = self.query.get(name)
        return values[0].strip() if values else default

    def f(self, name: str, default: str = "") -> str:
        values = self.form.get(name)
        return values[0].strip() if values else default

    def fs(self, name: str) -> list[str]:
        return [v.strip() for v in self.form.get(name, []) if v.strip()]

    def qs(self, name: str) -> list[str]:
        return [v.strip() for v in self.query.get(name, []) if v.strip()]


@dataclasses.dataclass
class Response:
    status: int
    body: bytes
    content_type: bytes = HTML_CT
    headers: list[tuple[bytes, bytes]] = dataclasses.field(default_factory=list)


def redirect(location: str, *cookies: bytes) -> Response:
    headers = [(b"location", location.encode())] + [(b"set-cookie", c) for c in cookies]
    return Response(303, b"", b"text/plain; charset=utf-8", headers)


Handler = Callable[[Request, re.Match[str]], Awaitable[Response]]


class Console:
    """One per console process (``python -m console``; the gateway forwards /console
    to it). ``await console.start()`` opens the session store; then
    ``await console(scope, receive, send)`` answers one request and returns its HTTP status."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        secure = secure_default(settings.public_url, settings.console_secure_cookie)
        self.codec: SessionCodec | None = (
            SessionCodec(settings.console_secret, secure=secure) if settings.console_secret else None
        )
        self.sessions: SessionStore | None = None
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            auto_reload=False,
        )
        self.env.filters["script_json"] = script_json
        self.env.globals.update(
            money=money_text, urlencode=urlencode, status_names=dict(CAMPAIGN_STATUSES),
            type_names=dict(CAMPAIGN_TYPES), delivery_names=dict(DELIVERY_STATUSES),
            comparisons=dict(enum_names(rules_pb.Comparison, "COMPARISON_")),
            triggers=dict(enum_names(rules_pb.RunTrigger, "RUN_TRIGGER_")),
            run_statuses=dict(enum_names(rules_pb.RunStatus, "RUN_STATUS_")),
            outcomes=dict(enum_names(rules_pb.ActionOutcome, "ACTION_OUTCOME_")),
            model_names=dict(TARIFF_MODELS),
            kind_names=dict(GOAL_KINDS), occurrence_names=dict(OCCURRENCES),
            trigger_names=dict(TEMPLATE_TRIGGERS), method_names=dict(HTTP_METHODS),
            goal_condition=describe_goal_condition, rule_condition=describe_rule_condition, page_href=_page_href,
            duration=describe_window,
        )
        self._pools: dict[str, ChannelPool] = {}
        self._stubs: dict[tuple[type, int], Any] = {}
        self._static: dict[str, tuple[bytes, bytes]] = {}
        get = "GET"
        post = "POST"
        self.routes: list[tuple[str, re.Pattern[str], Handler, bool]] = [
            (get, re.compile(r"/?"), self.home, True),
            (get, re.compile(r"/signin"), self.signin_form, False),
            (post, re.compile(r"/signin"), self.signin, False),
            (post, re.compile(r"/signout"), self.signout, True),
            (get, re.compile(r"/campaigns"), self.campaigns, True),
            (get, re.compile(r"/campaigns/new"), self.campaign_new, True),
            (post, re.compile(r"/campaigns/new"), self.campaign_create, True),
            (get, re.compile(r"/campaigns/(?P<id>[A-Za-z0-9_-]{1,64})"), self.campaign, True),
            (post, re.compile(r"/campaigns/(?P<id>[A-Za-z0-9_-]{1,64})"), self.campaign_update, True),
            (post, re.compile(r"/campaigns/(?P<id>[A-Za-z0-9_-]{1,64})/links"), self.link_create, True),
            (get, re.compile(r"/partners"), self.partners, True),
            (post, re.compile(r"/partners"), self.partner_create, True),
            (get, re.compile(r"/reports"), self.report, True),
            (get, re.compile(r"/reports\.csv"), self.report_csv, True),
            (get, re.compile(r"/metrics"), self.metrics, True),
            (get, re.compile(r"/postbacks"), self.templates, True),
            (get, re.compile(r"/postbacks/new"), self.template_new, True),
            (post, re.compile(r"/postbacks/new"), self.template_create, True),
            (get, re.compile(r"/postbacks/(?P<id>pbt_[A-Za-z0-9_-]{1,60})"), self.template, True),
            (post, re.compile(r"/postbacks/(?P<id>pbt_[A-Za-z0-9_-]{1,60})"), self.template_update, True),
            (get, re.compile(r"/postbacks/(?P<id>pbt_[A-Za-z0-9_-]{1,60})/delete"), self.template_delete, True),
            (post, re.compile(r"/postbacks/(?P<id>pbt_[A-Za-z0-9_-]{1,60})/delete"), self.template_delete, True),
            (get, re.compile(r"/postbacks/deliveries"), self.deliveries, True),
            (post, re.compile(r"/postbacks/deliveries/(?P<id>[A-Za-z0-9_-]{1,64})/retry"), self.retry, True),
            (get, re.compile(r"/postbacks/inbound"), self.inbound, True),
            (get, re.compile(r"/goals"), self.goals, True),
            (get, re.compile(r"/goals/new"), self.goal_new, True),
            (post, re.compile(r"/goals/new"), self.goal_create, True),
            (get, re.compile(r"/goals/(?P<id>[A-Za-z0-9_-]{1,64})"), self.goal, True),
            (post, re.compile(r"/goals/(?P<id>[A-Za-z0-9_-]{1,64})"), self.goal_update, True),
            (get, re.compile(r"/goals/(?P<id>[A-Za-z0-9_-]{1,64})/delete"), self.goal_delete, True),
            (post, re.compile(r"/goals/(?P<id>[A-Za-z0-9_-]{1,64})/delete"), self.goal_delete, True),
            (get, re.compile(r"/tariffs"), self.tariffs, True),
            (post, re.compile(r"/tariffs"), self.tariff_create, True),
            (get, re.compile(r"/rules"), self.rules, True),
            (get, re.compile(r"/rules/new"), self.rule_new, True),
            (post, re.compile(r"/rules/new"), self.rule_create, True),
            (get, re.compile(r"/rules/(?P<id>[A-Za-z0-9_-]{1,64})"), self.rule, True),
            (post, re.compile(r"/rules/(?P<id>[A-Za-z0-9_-]{1,64})"), self.rule_update, True),
            (post, re.compile(r"/rules/(?P<id>[A-Za-z0-9_-]{1,64})/(?P<flag>enabled|dry_run)"), self.rule_flag, True),
            (get, re.compile(r"/rules/(?P<id>[A-Za-z0-9_-]{1,64})/delete"), self.rule_delete, True),
            (post, re.compile(r"/rules/(?P<id>[A-Za-z0-9_-]{1,64})/delete"), self.rule_delete, True),
            (get, re.compile(r"/rules/(?P<id>[A-Za-z0-9_-]{1,64})/runs"), self.rule_runs, True),
            (get, re.compile(r"/quality"), functools.partial(quality.overview, self), True),
            (get, re.compile(r"/quality/touches"), functools.partial(quality.touches, self), True),
            (post, re.compile(r"/quality/(?P<kind>clicks|impressions|installs)/(?P<id>[A-Za-z0-9_-]{1,64})/overrule"),
             functools.partial(quality.overrule, self), True),
            (post, re.compile(r"/rules/(?P<id>[A-Za-z0-9_-]{1,64})/runs"), self.rule_run, True),
        ]

    # -- plumbing ---------------------------------------------------------------

    def stub(self, cls: type, service: str) -> Any:
        pool = self._pools.get(service)
        if pool is None:
            pool = self._pools[service] = ChannelPool(
                self.settings.addr_of(service), 2, deadline_s=self.settings.grpc_deadline_s,
                tls=channel_credentials(self.settings),
            )
        channel = pool.next()
        key = (cls, id(channel))
        stub = self._stubs.get(key)
        if stub is None:
            stub = self._stubs[key] = cls(channel)
        return stub

    async def call(self, req: Request, method: Any, request: Message) -> Any:
        """One RPC with the session's API key; UNAUTHENTICATED means sign in again."""
        assert req.session is not None
        try:
            return await method(request, metadata=(("authorization", f"Bearer {req.session.api_key}"),))
        except grpc.aio.AioRpcError as err:
            if err.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED) and (
                "api key" in (err.details() or "").lower() or err.code() == grpc.StatusCode.UNAUTHENTICATED
            ):
                raise SignInRequired("Your API key is no longer accepted (rotated?): sign in again.") from err
            raise ServiceError(err) from err

    async def start(self) -> None:
        """Open the session store (console.sessions, migrated here); without a
        console secret the console stays off and needs no database."""
        if self.codec is None or self.sessions is not None:
            return
        pool = await create_pool(self.settings.database_url, min_size=1, max_size=4, application_name="console")
        async with pool.acquire() as conn:
            await migrate(conn, SCHEMA, MIGRATIONS)
        self.sessions = SessionStore(pool, self.codec, self.settings.console_session_ttl_s)

    async def close(self) -> None:
        for pool in self._pools.values():
            await pool.close()
        self._pools.clear()
        self._stubs.clear()
        if self.sessions is not None:
            await self.sessions.pool.close()
            self.sessions = None

    def render(self, req: Request, template: str, status: int = 200, **ctx: Any) -> Response:
        s = req.session
        ctx.setdefault("error", "")
        ctx.setdefault("notice", _NOTICES.get(req.q("done"), ""))
        body = self.env.get_template(template).render(
            session=s,
            csrf=self.codec.csrf(s.sid) if (s and self.codec) else "",
            path=req.path,
            prefix=PREFIX,
            paged=bool(req.q("page_token")),
            page_token=req.q("page_token"),
            prev_tokens=_prev_tokens(req),
            **ctx,
        )
        return Response(status, body.encode())

    def today(self, req: Request) -> dt.date:
        tz = req.session.time_zone if req.session else "UTC"
        try:
            return dt.datetime.now(zoneinfo.ZoneInfo(tz)).date()
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return dt.datetime.now(dt.UTC).date()

    # -- ASGI -------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> int:
        started = time.perf_counter()
        path: str = scope["path"][len(PREFIX) :] or "/"
        method: str = scope["method"]
        if path.startswith("/static/"):
            resp = self._static_file(path[len("/static/") :])
        else:
            resp = await self._dispatch(scope, receive, method, path)
        headers = [
            (b"content-type", resp.content_type),
            (b"content-length", str(len(resp.body)).encode()),
            *SECURITY_HEADERS,
            *resp.headers,
        ]
        if not any(k == b"cache-control" for k, _ in resp.headers):
            headers.append((b"cache-control", b"no-store"))
        # The server's time for the page (read by bench/bench_console.py and the browser's devtools).
        headers.append((b"server-timing", f"app;dur={(time.perf_counter() - started) * 1000:.1f}".encode()))
        await send({"type": "http.response.start", "status": resp.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else resp.body})
        return resp.status

    def _static_file(self, name: str) -> Response:
        cached = self._static.get(name)
        if cached is None:
            path = (STATIC / name).resolve()
            if not name or "/" in name or not path.is_file() or path.parent != STATIC.resolve():
                return Response(404, b"not found\n", b"text/plain; charset=utf-8")
            ctype = (mimetypes.guess_type(name)[0] or "application/octet-stream").encode()
            if ctype.startswith(b"text/") or ctype == b"application/javascript" or name.endswith(".js"):
                ctype = (b"text/javascript" if name.endswith(".js") else ctype) + b"; charset=utf-8"
            cached = self._static[name] = (path.read_bytes(), ctype)
        return Response(200, cached[0], cached[1], [(b"cache-control", b"public, max-age=3600")])

    async def _dispatch(self, scope: dict[str, Any], receive: Any, method: str, path: str) -> Response:
        verb = "GET" if method == "HEAD" else method
        match: re.Match[str] | None = None
        handler: Handler | None = None
        needs_session = True
        allowed = False
        for route_method, pattern, fn, auth in self.routes:
            m = pattern.fullmatch(path)
            if m is None:
                continue
            allowed = True
            if route_method == verb:
                match, handler, needs_session = m, fn, auth
                break
        if handler is None or match is None:
            if allowed:
                return Response(405, b"method not allowed\n", b"text/plain; charset=utf-8")
            return Response(404, b"page not found\n", b"text/plain; charset=utf-8")
        if self.codec is None or self.sessions is None:
            body = b"The console is off: set CLICKTRAIL_CONSOLE_SECRET (make run generates one).\n"
            return Response(503, body, b"text/plain; charset=utf-8")
        cookies = _cookies(scope)
        req = Request(method, path, parse_qs(scope.get("query_string", b"").decode("latin-1")), {}, cookies)
        req.session = await self.sessions.get(cookies[COOKIE]) if cookies.get(COOKIE) else None
        req.pre = cookies.get(PRE_COOKIE, "")
        if (too_long := _too_long(req.query, MAX_QUERY_VALUE_CHARS, "query parameter")) is not None:
            return too_long
        if verb == "POST":
            try:
                raw = await read_body(receive, MAX_FORM_BODY, BODY_TIMEOUT_S)
            except BodyTooLarge:
                return Response(413, b"form too large\n", b"text/plain; charset=utf-8")
            except TimeoutError:
                return Response(408, b"the form did not arrive in time\n", b"text/plain; charset=utf-8")
            if raw is None:  # the client went away
                return Response(400, b"incomplete form\n", b"text/plain; charset=utf-8")
            req.form = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
            if (too_long := _too_long(req.form, MAX_FIELD_CHARS, "form field")) is not None:
                return too_long
            bound = req.session.sid if (needs_session and req.session) else req.pre
            if not self.codec.csrf_ok(bound, req.f("csrf")):
                return Response(
                    403,
                    b"CSRF check failed: reload the page and submit the form again.\n",
                    b"text/plain; charset=utf-8",
                )
        if needs_session and req.session is None:
            return redirect(f"{PREFIX}/signin")
        try:
            return await handler(req, match)
        except SignInRequired:
            await self.sessions.revoke(cookies.get(COOKIE, ""))
            return redirect(f"{PREFIX}/signin?why=key_refused", self.codec.clear(COOKIE))
        except ServiceError as exc:
            status = _HTTP_OF.get(exc.code, 502)
            return self.render(req, "error.html", status, message=exc.message, fields=exc.fields)

    # -- sign-in ------------------------------------------------------------------

    async def signin_form(self, req: Request, m: re.Match[str], error: str = "", status: int = 200) -> Response:
        assert self.codec is not None
        pre = req.pre
        cookies: list[tuple[bytes, bytes]] = []
        if len(pre) < 16:
            pre = _random_token()
            cookies.append((b"set-cookie", self.codec.cookie(PRE_COOKIE, pre, 3600)))
        resp = self.render(
            dataclasses.replace(req, session=None), "signin.html", status,
            pre_csrf=self.codec.csrf(pre), error=error or _SIGNIN_WHY.get(req.q("why"), ""),
        )  # fmt: skip
        resp.headers.extend(cookies)
        return resp

    async def signin(self, req: Request, m: re.Match[str]) -> Response:
        assert self.codec is not None
        key = req.f("api_key")
        if not key:
            return await self.signin_form(req, m, "Enter your account's API key.", 400)
        if not (key.isascii() and key.isprintable()):  # a NUL, %-decoded bytes: no gRPC header can carry it
            return await self.signin_form(req, m, "That is not an API key (they are plain ASCII, ctk_...).", 401)
        stub = self.stub(accounts_pb2_grpc.AccountServiceStub, "accounts")
        try:
            resp = await stub.GetAccount(
                accounts_pb2.GetAccountRequest(), metadata=(("authorization", f"Bearer {key}"),)
            )
        except grpc.aio.AioRpcError as err:
            if err.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                msg = "That API key was not accepted. Check it (clicktrail account create prints it once) and retry."
                return await self.signin_form(req, m, msg, 401)
            log.warning("console_signin_failed", code=err.code().name, details=err.details())
            return await self.signin_form(req, m, f"The accounts service did not answer ({err.code().name}).", 503)
        assert self.sessions is not None
        token, _ = await self.sessions.create(key, resp.account)
        return redirect(f"{PREFIX}/campaigns", self.codec.cookie(COOKIE, token), self.codec.clear(PRE_COOKIE))

    async def signout(self, req: Request, m: re.Match[str]) -> Response:
        """Ends the session on the server: its cookie is worthless from now on, wherever a copy of it is."""
        assert self.codec is not None and self.sessions is not None
        await self.sessions.revoke(req.cookies.get(COOKIE, ""))
        return redirect(f"{PREFIX}/signin?why=signed_out", self.codec.clear(COOKIE))

    async def home(self, req: Request, m: re.Match[str]) -> Response:
        return redirect(f"{PREFIX}/campaigns")

    # -- campaigns ----------------------------------------------------------------

    async def campaigns(self, req: Request, m: re.Match[str]) -> Response:
        links = self.stub(links_pb2_grpc.LinksServiceStub, "links")
        page = await self.call(
            req, links.ListCampaigns, lpb.ListCampaignsRequest(page_size=PAGE_SIZE, page_token=req.q("page_token"))
        )
        campaigns = list(page.campaigns)
        today = self.today(req).isoformat()
        stats: dict[str, Any] = {}
        error = ""
        if campaigns:
            # One report call for the whole page: today's figures grouped by campaign.
            try:
                ids = [c.campaign_id for c in campaigns]
                report = await self.call(
                    req,
                    self.stub(reports_pb2_grpc.ReportServiceStub, "analytics").RunCampaignReport,
                    reports_pb2.RunCampaignReportRequest(
                        start_date=today, end_date=today, time_zone=req.session.time_zone if req.session else "UTC",
                        group_by=["campaign"], filters=[reports_pb2.ReportFilter(dimension="campaign", values=ids)],
                        page_size=len(campaigns),
                    ),
                )  # fmt: skip
                stats = {row.dimensions["campaign"]: _row_view(row) for row in report.rows}
            except ServiceError as exc:  # the list still shows; the figures say why they are missing
                error = f"Today's figures are unavailable: {exc.message}"
        return self.render(
            req, "campaigns.html", campaigns=campaigns, stats=stats, today=today, error=error,
            next_page=page.next_page_token, statuses=CAMPAIGN_STATUSES,
        )  # fmt: skip

    async def _choices(self, req: Request) -> dict[str, Any]:
        links = self.stub(links_pb2_grpc.LinksServiceStub, "links")
        partners = await self.call(req, links.ListPartners, lpb.ListPartnersRequest(page_size=200))
        apps = await self.call(req, links.ListApps, lpb.ListAppsRequest(page_size=200))
        goals = await self.call(
            req,
            self.stub(config_pb2_grpc.GoalServiceStub, "attribution").ListGoals,
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

    async def campaign_new(self, req: Request, m: re.Match[str]) -> Response:
        form = {"status": str(lpb.CAMPAIGN_STATUS_DRAFT), "type": str(lpb.CAMPAIGN_TYPE_APP_INSTALL)}
        return self.render(req, "campaign_form.html", campaign=None, form=form, fields={}, **await self._choices(req))

    def _campaign_from_form(self, req: Request) -> lpb.Campaign:
        c = lpb.Campaign(
            name=req.f("name"),
            type=_int(req.f("type")),  # type: ignore[arg-type]
            traffic_type=_int(req.f("traffic_type")),  # type: ignore[arg-type]
            partner_id=req.f("partner_id"),
            app_id=req.f("app_id"),
            status=_int(req.f("status")),  # type: ignore[arg-type]
            fallback_url=req.f("fallback_url"),
            target_goal_id=req.f("target_goal_id"),
        )
        if req.f("budget_amount"):
            c.budget.amount = req.f("budget_amount")
            c.budget.currency_code = req.f("budget_currency") or (req.session.currency if req.session else "USD")
        return c

    async def campaign_create(self, req: Request, m: re.Match[str]) -> Response:
        links = self.stub(links_pb2_grpc.LinksServiceStub, "links")
        try:
            resp = await self.call(
                req, links.CreateCampaign, lpb.CreateCampaignRequest(campaign=self._campaign_from_form(req))
            )
        except ServiceError as exc:
            return self.render(
                req, "campaign_form.html", 400, campaign=None, form=_flat(req.form), error=exc.message,
                fields=_form_fields(exc.fields, "campaign."), **await self._choices(req),
            )  # fmt: skip
        return redirect(f"{PREFIX}/campaigns/{resp.campaign.campaign_id}?done=created")

    async def _campaign_page(
        self, req: Request, campaign_id: str, *, status: int = 200, form: dict[str, str] | None = None,
        error: str = "", fields: dict[str, str] | None = None, link_form: dict[str, str] | None = None,
        link_fields: dict[str, str] | None = None,
    ) -> Response:  # fmt: skip
        links = self.stub(links_pb2_grpc.LinksServiceStub, "links")
        campaign = (await self.call(req, links.GetCampaign, lpb.GetCampaignRequest(campaign_id=campaign_id))).campaign
        page = await self.call(
            req,
            links.ListLinks,
            lpb.ListLinksRequest(campaign_id=campaign_id, page_size=PAGE_SIZE, page_token=req.q("page_token")),
        )
        if form is None:
            form = {
                "name": campaign.name, "type": str(campaign.type), "traffic_type": str(campaign.traffic_type),
                "partner_id": campaign.partner_id, "app_id": campaign.app_id, "status": str(campaign.status),
                "fallback_url": campaign.fallback_url, "target_goal_id": campaign.target_goal_id,
                "budget_amount": campaign.budget.amount, "budget_currency": campaign.budget.currency_code,
            }  # fmt: skip
        return self.render(
            req, "campaign_form.html", status, campaign=campaign, form=form, error=error, fields=fields or {},
            links=list(page.links), next_page=page.next_page_token, link_form=link_form or {},
            link_fields=link_fields or {},
            **{**await self._choices(req), "published": campaign.HasField("publish_time")},
        )  # fmt: skip

    async def campaign(self, req: Request, m: re.Match[str]) -> Response:
        return await self._campaign_page(req, m["id"])

    async def campaign_update(self, req: Request, m: re.Match[str]) -> Response:
        links = self.stub(links_pb2_grpc.LinksServiceStub, "links")
        current = (await self.call(req, links.GetCampaign, lpb.GetCampaignRequest(campaign_id=m["id"]))).campaign
        wanted = self._campaign_from_form(req)
        wanted.campaign_id = current.campaign_id
        published = current.HasField("publish_time")
        paths = ["name", "status", "fallback_url", "budget"]
        if not published:
            paths += list(FROZEN_FIELDS)
        try:
            await self.call(
                req,
                links.UpdateCampaign,
                lpb.UpdateCampaignRequest(campaign=wanted, update_mask=field_mask_pb2.FieldMask(paths=paths)),
            )
        except ServiceError as exc:
            return await self._campaign_page(
                req, m["id"], status=400, form=_flat(req.form), error=exc.message,
                fields=_form_fields(exc.fields, "campaign."),
            )  # fmt: skip
        return redirect(f"{PREFIX}/campaigns/{current.campaign_id}?done=saved")

    async def link_create(self, req: Request, m: re.Match[str]) -> Response:
        links = self.stub(links_pb2_grpc.LinksServiceStub, "links")
        link = lpb.Link(
            campaign_id=m["id"], name=req.f("name"), destination_url=req.f("destination_url"),
            ios_url=req.f("ios_url"), android_url=req.f("android_url"), desktop_url=req.f("desktop_url"),
        )  # fmt: skip
        try:
            await self.call(req, links.CreateLink, lpb.CreateLinkRequest(link=link))
        except ServiceError as exc:
            return await self._campaign_page(
                req, m["id"], status=400, error=exc.message, link_form=_flat(req.form),
                link_fields=_form_fields(exc.fields, "link."),
            )  # fmt: skip
        return redirect(f"{PREFIX}/campaigns/{m['id']}?done=link_created#links")

    async def partners(self, req: Request, m: re.Match[str], **ctx: Any) -> Response:
        links = self.stub(links_pb2_grpc.LinksServiceStub, "links")
        page = await self.call(
            req, links.ListPartners, lpb.ListPartnersRequest(page_size=PAGE_SIZE, page_token=req.q("page_token"))
        )
        apps = await self.call(req, links.ListApps, lpb.ListAppsRequest(page_size=PAGE_SIZE))
        ctx.setdefault("form", {})
        ctx.setdefault("fields", {})
        return self.render(
            req, "partners.html", ctx.pop("status", 200), partners=list(page.partners), apps=list(apps.apps),
            next_page=page.next_page_token, **ctx,
        )  # fmt: skip

    async def partner_create(self, req: Request, m: re.Match[str]) -> Response:
        links = self.stub(links_pb2_grpc.LinksServiceStub, "links")
        try:
            await self.call(req, links.CreatePartner, lpb.CreatePartnerRequest(partner=lpb.Partner(name=req.f("name"))))
        except ServiceError as exc:
            return await self.partners(
                req, m, status=400, error=exc.message, form=_flat(req.form), fields=_form_fields(exc.fields, "partner.")
            )
        return redirect(f"{PREFIX}/partners?done=partner_created")

    # -- reports ------------------------------------------------------------------

    def _report_params(self, req: Request) -> dict[str, Any]:
        today = self.today(req)
        start = req.q("from") or (today - dt.timedelta(days=6)).isoformat()
        end = req.q("to") or today.isoformat()
        group_by = [g for g in req.qs("group_by") if g in REPORT_DIMENSIONS] or ["campaign"]
        filters: dict[str, list[str]] = {}
        for dim in FILTERABLE:
            raw = req.q(f"f_{dim}")
            if raw:
                filters[dim] = [v.strip() for v in raw.split(",") if v.strip()]
        return {"from": start, "to": end, "group_by": group_by, "filters": filters}

    def _report_request(self, req: Request, p: dict[str, Any], **kw: Any) -> reports_pb2.RunCampaignReportRequest:
        return reports_pb2.RunCampaignReportRequest(
            start_date=p["from"], end_date=p["to"], time_zone=req.session.time_zone if req.session else "UTC",
            filters=[reports_pb2.ReportFilter(dimension=d, values=v) for d, v in p["filters"].items()], **kw,
        )  # fmt: skip

    async def report(self, req: Request, m: re.Match[str]) -> Response:
        p = self._report_params(req)
        reports = self.stub(reports_pb2_grpc.ReportServiceStub, "analytics")
        error = ""
        fields: dict[str, str] = {}
        table: Any = None
        names: dict[str, str] = {}
        chart: dict[str, Any] = {"days": [], "clicks": [], "installs": [], "conversions": [], "breakpoints": []}
        try:
            # The table's page, the chart's days and (for the campaign column) the names, at once.
            calls = [
                self.call(
                    req,
                    reports.RunCampaignReport,
                    self._report_request(req, p, group_by=p["group_by"], page_size=50, page_token=req.q("page_token")),
                ),
                self.call(
                    req,
                    reports.RunCampaignReport,
                    self._report_request(req, p, group_by=["day"], order_by="day", page_size=400),
                ),
            ]
            if "campaign" in p["group_by"]:
                links = self.stub(links_pb2_grpc.LinksServiceStub, "links")
                calls.append(self.call(req, links.ListCampaigns, lpb.ListCampaignsRequest(page_size=1000)))
            results: list[Any] = []
            for r in await asyncio.gather(*calls, return_exceptions=True):
                if isinstance(r, BaseException):
                    raise r
                results.append(r)
            table, by_day = results[0], results[1]
            if len(results) > 2:
                names = {c.campaign_id: c.name for c in results[2].campaigns}
            got = {row.dimensions["day"]: row for row in by_day.rows}
            for day in _days(p["from"], p["to"]) or sorted(got):
                row = got.get(day)  # days without traffic are drawn as zeros
                chart["days"].append(day)
                chart["clicks"].append(row.clicks if row else 0)
                chart["installs"].append(row.installs if row else 0)
                chart["conversions"].append(row.conversions if row else 0)
            for b in by_day.breakpoints:
                when = b.effective_time.ToDatetime(dt.UTC)
                changed = ", ".join(b.changed_fields) or "changed"
                chart["breakpoints"].append({
                    "day": _local_day(when, req.session.time_zone if req.session else "UTC"),
                    "label": f"window {describe_window(b.conversion_window)} ({changed})",
                })  # fmt: skip
        except ServiceError as exc:
            error, fields = exc.message, exc.fields
        query = {"from": p["from"], "to": p["to"], "group_by": p["group_by"]}
        query.update({f"f_{d}": ",".join(v) for d, v in p["filters"].items()})
        return self.render(
            req, "report.html", 400 if error else 200, p=p, dims=REPORT_DIMENSIONS, filterable=FILTERABLE,
            rows=[_row_view(r) for r in table.rows] if table else [], totals=_row_view(table.totals) if table else None,
            total_rows=table.total_rows if table else 0, next_page=table.next_page_token if table else "",
            chart=chart, breakpoints=chart["breakpoints"], error=error, fields=fields,
            query=urlencode(query, doseq=True), names=names,
        )  # fmt: skip

    async def report_csv(self, req: Request, m: re.Match[str]) -> Response:
        p = self._report_params(req)
        reports = self.stub(reports_pb2_grpc.ReportServiceStub, "analytics")
        out = io.StringIO()
        w = SafeWriter(csv.writer(out))
        w.writerow([*p["group_by"], *_CSV_COUNTS, "currency", "revenue", "cost", "profit", "roi", "epc", "cpi"])
        token, written = "", 0
        while True:
            page = await self.call(
                req,
                reports.RunCampaignReport,
                self._report_request(req, p, group_by=p["group_by"], page_size=10_000, page_token=token),
            )
            for row in page.rows:
                head = [row.dimensions.get(d, "") for d in p["group_by"]]
                counts = [getattr(row, c) for c in _CSV_COUNTS]
                for money in row.money or [None]:
                    if money is None:
                        w.writerow([*head, *counts, *[""] * 7])
                    else:
                        roi = f"{money.roi:.4f}" if money.HasField("roi") else ""
                        w.writerow([
                            *head, *counts, money.currency_code, money.revenue.amount, money.cost.amount,
                            money.profit.amount, roi, money.epc.amount, money.cpi.amount,
                        ])  # fmt: skip
                written += 1
            token = page.next_page_token
            if not token or written >= CSV_MAX_ROWS:
                break
        name = f"report_{p['from']}_{p['to']}.csv"
        return Response(
            200, out.getvalue().encode(), b"text/csv; charset=utf-8",
            [(b"content-disposition", f'attachment; filename="{name}"'.encode())],
        )  # fmt: skip

    # -- product metrics ----------------------------------------------------------

    async def metrics(self, req: Request, m: re.Match[str]) -> Response:
        links = self.stub(links_pb2_grpc.LinksServiceStub, "links")
        apps = list((await self.call(req, links.ListApps, lpb.ListAppsRequest(page_size=200))).apps)
        today = self.today(req)
        app_id = req.q("app_id") or (apps[0].app_id if apps else "")
        start = req.q("from") or (today - dt.timedelta(days=29)).isoformat()
        end = req.q("to") or today.isoformat()
        steps_text = req.q("steps")
        tz = req.session.time_zone if req.session else "UTC"
        ctx: dict[str, Any] = {"apps": apps, "app_id": app_id, "from": start, "to": end, "steps": steps_text}
        data: dict[str, Any] = {"active": [], "retention": [], "revenue": {}, "funnel": []}
        error = ""
        if app_id:
            svc = self.stub(metrics_pb2_grpc.MetricsServiceStub, "analytics")
            common: dict[str, Any] = {"app_id": app_id, "start_date": start, "end_date": end, "time_zone": tz}
            try:
                active = await self.call(req, svc.GetActiveUsers, metrics_pb2.GetActiveUsersRequest(**common))
                data["active"] = [{"date": d.date, "dau": d.dau, "wau": d.wau, "mau": d.mau} for d in active.days]
                retention = await self.call(
                    req, svc.GetRetention, metrics_pb2.GetRetentionRequest(days=[1, 3, 7, 14, 30], **common)
                )
                data["retention"] = [
                    {"date": c.date, "users": c.users, "points": [
                        {"day": pt.day, "rate": pt.rate, "complete": pt.complete} for pt in c.points
                    ]} for c in retention.cohorts
                ]  # fmt: skip
                revenue = await self.call(req, svc.GetRevenue, metrics_pb2.GetRevenueRequest(**common))
                by_day: dict[str, dict[str, float]] = {}
                for r in revenue.rows:
                    cur = by_day.setdefault(r.revenue.currency_code or "?", {})
                    cur[r.date] = cur.get(r.date, 0.0) + float(r.revenue.amount or 0)
                data["revenue"] = by_day
                steps = _funnel_steps(steps_text)
                if steps:
                    funnel = await self.call(req, svc.GetFunnel, metrics_pb2.GetFunnelRequest(steps=steps, **common))
                    data["funnel"] = [
                        {"step": s.step.screen or s.step.action, "users": s.users}
                        for s in funnel.steps
                    ]
            except ServiceError as exc:
                error = exc.message
        return self.render(
            req, "metrics.html", 400 if error else 200, data=data, chart=data,
            error=error, **ctx,
        )  # fmt: skip

    # -- postbacks ----------------------------------------------------------------

    async def templates(self, req: Request, m: re.Match[str]) -> Response:
        svc = self.stub(postbacks_pb2_grpc.PostbackServiceStub, "postbacks")
        partner_id = req.q("partner_id")
        page = await self.call(
            req,
            svc.ListTemplates,
            ppb.ListTemplatesRequest(page_size=PAGE_SIZE, page_token=req.q("page_token"), partner_id=partner_id),
        )
        choices = await self._choices(req)
        return self.render(
            req, "templates.html", templates=list(page.templates), next_page=page.next_page_token,
            partner_id=partner_id, partner_names=dict(choices["partner_options"]),
            goal_names=dict(choices["goal_options"]), query=urlencode({"partner_id": partner_id}) if partner_id else "",
        )  # fmt: skip

    async def _template_page(
        self, req: Request, template: ppb.Template | None, form: dict[str, str], *, status: int = 200,
        error: str = "", fields: dict[str, str] | None = None,
    ) -> Response:  # fmt: skip
        return self.render(
            req, "template_form.html", status, postback=template, form=form, error=error, fields=fields or {},
            trigger_options=TEMPLATE_TRIGGERS, modes=SENDING_MODES, methods=HTTP_METHODS, **await self._choices(req),
        )  # fmt: skip

    async def template_new(self, req: Request, m: re.Match[str]) -> Response:
        form = {
            "partner_id": req.q("partner_id"), "trigger": str(ppb.TRIGGER_INSTALL),
            "sending_mode": str(ppb.SENDING_MODE_ATTRIBUTED), "method": str(ppb.HTTP_METHOD_GET),
        }  # fmt: skip
        return await self._template_page(req, None, form)

    async def template_create(self, req: Request, m: re.Match[str]) -> Response:
        template, fields = _template_from_form(req)
        if fields:
            return await self._template_page(req, None, _flat(req.form), status=400, error=_UNREADABLE, fields=fields)
        template.partner_id = req.f("partner_id")
        svc = self.stub(postbacks_pb2_grpc.PostbackServiceStub, "postbacks")
        try:
            await self.call(req, svc.CreateTemplate, ppb.CreateTemplateRequest(template=template))
        except ServiceError as exc:
            return await self._template_page(
                req, None, _flat(req.form), status=_HTTP_OF.get(exc.code, 400), error=exc.message,
                fields=_field_errors(exc.fields, "template."),
            )  # fmt: skip
        return redirect(f"{PREFIX}/postbacks?done=template_created")

    async def template(self, req: Request, m: re.Match[str]) -> Response:
        svc = self.stub(postbacks_pb2_grpc.PostbackServiceStub, "postbacks")
        t = (await self.call(req, svc.GetTemplate, ppb.GetTemplateRequest(template_id=m["id"]))).template
        form = {
            "name": t.name, "app_id": t.app_id, "trigger": str(t.trigger), "goal_id": t.goal_id,
            "sending_mode": str(t.sending_mode), "method": str(t.method), "url_template": t.url_template,
            "body_template": t.body_template, "headers": "\n".join(f"{k}: {v}" for k, v in sorted(t.headers.items())),
            "enabled": "1" if t.enabled else "",
        }  # fmt: skip
        return await self._template_page(req, t, form)

    async def template_update(self, req: Request, m: re.Match[str]) -> Response:
        svc = self.stub(postbacks_pb2_grpc.PostbackServiceStub, "postbacks")
        current = (await self.call(req, svc.GetTemplate, ppb.GetTemplateRequest(template_id=m["id"]))).template
        wanted, fields = _template_from_form(req)
        if fields:
            return await self._template_page(
                req, current, _flat(req.form), status=400, error=_UNREADABLE, fields=fields
            )
        wanted.template_id = current.template_id
        mask = field_mask_pb2.FieldMask(paths=TEMPLATE_FIELDS)
        try:
            await self.call(req, svc.UpdateTemplate, ppb.UpdateTemplateRequest(template=wanted, update_mask=mask))
        except ServiceError as exc:
            return await self._template_page(
                req, current, _flat(req.form), status=_HTTP_OF.get(exc.code, 400), error=exc.message,
                fields=_field_errors(exc.fields, "template."),
            )  # fmt: skip
        return redirect(f"{PREFIX}/postbacks?done=template_saved")

    async def template_delete(self, req: Request, m: re.Match[str]) -> Response:
        svc = self.stub(postbacks_pb2_grpc.PostbackServiceStub, "postbacks")
        t = (await self.call(req, svc.GetTemplate, ppb.GetTemplateRequest(template_id=m["id"]))).template
        return await self._delete_page(
            req, f"Delete the postback template “{t.name or t.template_id}”?",
            "Deliveries already queued still go out; nothing more is sent with it.",
            f"{PREFIX}/postbacks/{t.template_id}",
            lambda: self.call(req, svc.DeleteTemplate, ppb.DeleteTemplateRequest(template_id=t.template_id)),
            f"{PREFIX}/postbacks?done=template_deleted",
        )  # fmt: skip

    async def deliveries(self, req: Request, m: re.Match[str]) -> Response:
        svc = self.stub(postbacks_pb2_grpc.PostbackServiceStub, "postbacks")
        statuses = [n for n in (_int(s) for s in req.qs("status")) if n in dict(DELIVERY_STATUSES)]
        page = await self.call(
            req,
            svc.ListDeliveries,
            ppb.ListDeliveriesRequest(
                page_size=PAGE_SIZE, page_token=req.q("page_token"), statuses=statuses,  # type: ignore[arg-type]
            ),
        )  # fmt: skip
        return self.render(
            req, "deliveries.html", deliveries=list(page.deliveries), next_page=page.next_page_token,
            statuses=DELIVERY_STATUSES, chosen=statuses, dead=DEAD_LETTERS,
            query=urlencode({"status": statuses}, doseq=True),
        )  # fmt: skip

    async def retry(self, req: Request, m: re.Match[str]) -> Response:
        svc = self.stub(postbacks_pb2_grpc.PostbackServiceStub, "postbacks")
        await self.call(req, svc.RetryDelivery, ppb.RetryDeliveryRequest(delivery_id=m["id"]))
        return redirect(f"{PREFIX}/postbacks/deliveries?done=retried")

    async def inbound(self, req: Request, m: re.Match[str]) -> Response:
        svc = self.stub(attribution_pb2_grpc.AttributionServiceStub, "attribution")
        page = await self.call(
            req,
            svc.ListInboundPostbacks,
            attribution_pb2.ListInboundPostbacksRequest(page_size=PAGE_SIZE, page_token=req.q("page_token")),
        )
        rows = [to_dict(p) for p in page.postbacks]
        columns = list(dict.fromkeys(k for r in rows for k in r)) or ["postback_id"]
        return self.render(
            req, "list.html", title="Inbound postbacks", rows=rows, next_page=page.next_page_token,
            columns=columns[:9], query="",
        )  # fmt: skip

    # -- goals, tariffs, rules ------------------------------------------------------

    async def goals(self, req: Request, m: re.Match[str]) -> Response:
        svc = self.stub(config_pb2_grpc.GoalServiceStub, "attribution")
        page = await self.call(
            req, svc.ListGoals, config_pb2.ListGoalsRequest(page_size=PAGE_SIZE, page_token=req.q("page_token"))
        )
        return self.render(req, "goals.html", goals=list(page.goals), next_page=page.next_page_token, query="")

    def _goal_page(
        self, req: Request, goal: config_pb2.Goal | None, form: dict[str, str], *, status: int = 200,
        error: str = "", fields: dict[str, str] | None = None,
    ) -> Response:  # fmt: skip
        return self.render(
            req, "goal_form.html", status, goal=goal, form=form, error=error, fields=fields or {}, kinds=GOAL_KINDS,
            occurrences=OCCURRENCES,
        )  # fmt: skip

    async def goal_new(self, req: Request, m: re.Match[str]) -> Response:
        form = {"kind": str(config_pb2.GOAL_KIND_CUSTOM), "occurrence": str(config_pb2.OCCURRENCE_FIRST)}
        return self._goal_page(req, None, form)

    async def goal_create(self, req: Request, m: re.Match[str]) -> Response:
        goal, lines, fields = _goal_from_form(req)
        if fields:
            return self._goal_page(req, None, _flat(req.form), status=400, error=_UNREADABLE, fields=fields)
        svc = self.stub(config_pb2_grpc.GoalServiceStub, "attribution")
        try:
            await self.call(req, svc.CreateGoal, config_pb2.CreateGoalRequest(goal=goal))
        except ServiceError as exc:  # FAILED_PRECONDITION at 25 goals: its message says so
            return self._goal_page(
                req, None, _flat(req.form), status=_HTTP_OF.get(exc.code, 400), error=exc.message,
                fields=_field_errors(exc.fields, "goal.", {"conditions": lines}),
            )  # fmt: skip
        return redirect(f"{PREFIX}/goals?done=goal_created")

    async def goal(self, req: Request, m: re.Match[str]) -> Response:
        svc = self.stub(config_pb2_grpc.GoalServiceStub, "attribution")
        g = (await self.call(req, svc.GetGoal, config_pb2.GetGoalRequest(goal_id=m["id"]))).goal
        form = {
            "name": g.name, "event": g.event, "kind": str(g.kind), "occurrence": str(g.occurrence),
            "nth": str(g.nth) if g.nth else "", "value_path": g.value_path, "currency_path": g.currency_path,
            "conditions": "\n".join(describe_goal_condition(c) for c in g.conditions),
        }  # fmt: skip
        return self._goal_page(req, g, form)

    async def goal_update(self, req: Request, m: re.Match[str]) -> Response:
        svc = self.stub(config_pb2_grpc.GoalServiceStub, "attribution")
        current = (await self.call(req, svc.GetGoal, config_pb2.GetGoalRequest(goal_id=m["id"]))).goal
        wanted, lines, fields = _goal_from_form(req)
        if fields:
            return self._goal_page(req, current, _flat(req.form), status=400, error=_UNREADABLE, fields=fields)
        wanted.goal_id = current.goal_id
        # Only what changed: the goal of a published campaign can still be renamed.
        paths = [f for f in GOAL_FIELDS if getattr(wanted, f) != getattr(current, f)] or ["name"]
        try:
            await self.call(
                req,
                svc.UpdateGoal,
                config_pb2.UpdateGoalRequest(goal=wanted, update_mask=field_mask_pb2.FieldMask(paths=paths)),
            )
        except ServiceError as exc:
            return self._goal_page(
                req, current, _flat(req.form), status=_HTTP_OF.get(exc.code, 400), error=exc.message,
                fields=_field_errors(exc.fields, "goal.", {"conditions": lines}),
            )  # fmt: skip
        return redirect(f"{PREFIX}/goals?done=goal_saved")

    async def goal_delete(self, req: Request, m: re.Match[str]) -> Response:
        svc = self.stub(config_pb2_grpc.GoalServiceStub, "attribution")
        g = (await self.call(req, svc.GetGoal, config_pb2.GetGoalRequest(goal_id=m["id"]))).goal
        return await self._delete_page(
            req, f"Delete the goal “{g.name}”?",
            "Refused while a campaign targets it or a tariff or conversion refers to it.",
            f"{PREFIX}/goals/{g.goal_id}",
            lambda: self.call(req, svc.DeleteGoal, config_pb2.DeleteGoalRequest(goal_id=g.goal_id)),
            f"{PREFIX}/goals?done=goal_deleted",
        )  # fmt: skip

    async def _delete_page(
        self, req: Request, title: str, detail: str, back: str, delete: Callable[[], Awaitable[Any]], done: str
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
                error, status = exc.message, _HTTP_OF.get(exc.code, 400)
            else:
                return redirect(done)
        return self.render(req, "confirm.html", status, title=title, detail=detail, back=back, error=error)

    async def tariffs(self, req: Request, m: re.Match[str], **ctx: Any) -> Response:
        svc = self.stub(config_pb2_grpc.TariffServiceStub, "attribution")
        campaign_id = req.q("campaign_id")
        page = await self.call(
            req,
            svc.ListTariffs,
            config_pb2.ListTariffsRequest(page_size=PAGE_SIZE, page_token=req.q("page_token"), campaign_id=campaign_id),
        )
        links = self.stub(links_pb2_grpc.LinksServiceStub, "links")
        campaigns = await self.call(req, links.ListCampaigns, lpb.ListCampaignsRequest(page_size=1000))
        names = {c.campaign_id: c.name for c in campaigns.campaigns}
        ctx.setdefault("form", {"campaign_id": campaign_id, "currency": req.session.currency if req.session else ""})
        ctx.setdefault("fields", {})
        return self.render(
            req, "tariffs.html", ctx.pop("status", 200), tariffs=list(page.tariffs), next_page=page.next_page_token,
            names=names, models=TARIFF_MODELS, query=urlencode({"campaign_id": campaign_id}) if campaign_id else "",
            **ctx,
        )  # fmt: skip

    async def tariff_create(self, req: Request, m: re.Match[str]) -> Response:
        svc = self.stub(config_pb2_grpc.TariffServiceStub, "attribution")
        tariff = config_pb2.Tariff(
            campaign_id=req.f("campaign_id"), model=_int(req.f("model")),  # type: ignore[arg-type]
            percent=req.f("percent"), effective_date=req.f("effective_date"),
        )  # fmt: skip
        if req.f("amount"):
            tariff.amount.amount = req.f("amount")
            tariff.amount.currency_code = req.f("currency")
        try:
            await self.call(req, svc.CreateTariff, config_pb2.CreateTariffRequest(tariff=tariff))
        except ServiceError as exc:
            fields = {k.removeprefix("tariff.").split(".")[0]: v for k, v in exc.fields.items()}
            return await self.tariffs(req, m, status=400, error=exc.message, form=_flat(req.form), fields=fields)
        return redirect(f"{PREFIX}/tariffs?done=tariff_created")

    async def rules(self, req: Request, m: re.Match[str]) -> Response:
        svc = self.stub(rules_pb2_grpc.RuleServiceStub, "analytics")
        page = await self.call(
            req, svc.ListRules, rules_pb.ListRulesRequest(page_size=PAGE_SIZE, page_token=req.q("page_token"))
        )
        return self.render(req, "rules.html", rules=list(page.rules), next_page=page.next_page_token, query="")

    async def _rule_page(
        self, req: Request, form: dict[str, str], *, status: int = 200, error: str = "",
        fields: dict[str, str] | None = None, campaign_ids: list[str] | None = None, rule_id: str = "",
    ) -> Response:  # fmt: skip
        """The new-rule form, or with ``rule_id`` the edit form of that rule."""
        links = self.stub(links_pb2_grpc.LinksServiceStub, "links")
        campaigns = await self.call(req, links.ListCampaigns, lpb.ListCampaignsRequest(page_size=1000))
        return self.render(
            req, "rule_form.html", status, form=form, error=error, fields=fields or {},
            campaign_options=[(c.campaign_id, c.name) for c in campaigns.campaigns], chosen=campaign_ids or [],
            groups=RULE_GROUPS, actions=RULE_ACTIONS, rule_id=rule_id,
        )  # fmt: skip

    async def rule_new(self, req: Request, m: re.Match[str]) -> Response:
        form = {
            "window": "24h", "group_by": "campaign", "action": "pause_campaign", "enabled": "1",
            "currency": req.session.currency if req.session else "",
        }  # fmt: skip
        return await self._rule_page(req, form)

    async def rule_create(self, req: Request, m: re.Match[str]) -> Response:
        return await self._save_rule(req, "")

    async def _save_rule(self, req: Request, rule_id: str) -> Response:
        """Create the rule the form describes, or with ``rule_id`` save the whole form
        over that rule: every editable field is in the mask, so unticked flags and an
        emptied campaign list are saved too."""
        rule, lines, fields = _rule_from_form(req)
        ctx: dict[str, Any] = {"form": _flat(req.form), "campaign_ids": list(rule.campaign_ids), "rule_id": rule_id}
        if fields:
            return await self._rule_page(req, status=400, error=_UNREADABLE, fields=fields, **ctx)
        svc = self.stub(rules_pb2_grpc.RuleServiceStub, "analytics")
        try:
            if rule_id:
                rule.rule_id = rule_id
                mask = field_mask_pb2.FieldMask(paths=list(RULE_FIELDS))
                await self.call(req, svc.UpdateRule, rules_pb.UpdateRuleRequest(rule=rule, update_mask=mask))
            else:
                await self.call(req, svc.CreateRule, rules_pb.CreateRuleRequest(rule=rule))
        except ServiceError as exc:
            if rule_id and exc.code == grpc.StatusCode.NOT_FOUND:
                raise
            fields = _field_errors(exc.fields, "rule.", {"conditions": lines}, RULE_FIELD_OF)
            return await self._rule_page(
                req, status=_HTTP_OF.get(exc.code, 400), error=exc.message, fields=fields, **ctx
            )
        return redirect(f"{PREFIX}/rules?done={'rule_saved' if rule_id else 'rule_created'}")

    async def rule(self, req: Request, m: re.Match[str]) -> Response:
        svc = self.stub(rules_pb2_grpc.RuleServiceStub, "analytics")
        r = (await self.call(req, svc.GetRule, rules_pb.GetRuleRequest(rule_id=m["id"]))).rule
        kind = r.action.WhichOneof("kind") or ""
        form = {
            "name": r.name, "enabled": "1" if not r.HasField("enabled") or r.enabled else "",
            "dry_run": "1" if r.dry_run else "", "group_by": r.sub_id_field or "campaign",
            "window": describe_window(r.window), "action": kind, "currency": r.currency_code,
            "conditions": "\n".join(describe_rule_condition(c) for c in r.conditions),
            "percent": r.action.change_budget.percent if kind == "change_budget" else "",
            "budget": r.action.set_budget.budget.amount if kind == "set_budget" else "",
        }  # fmt: skip
        return await self._rule_page(req, form, campaign_ids=list(r.campaign_ids), rule_id=r.rule_id)

    async def rule_update(self, req: Request, m: re.Match[str]) -> Response:
        return await self._save_rule(req, m["id"])

    async def rule_flag(self, req: Request, m: re.Match[str]) -> Response:
        """Switch a rule's enabled or dry_run flag (the form sends the new value)."""
        svc = self.stub(rules_pb2_grpc.RuleServiceStub, "analytics")
        rule = rules_pb.Rule(rule_id=m["id"])
        setattr(rule, m["flag"], req.f("value") == "1")
        mask = field_mask_pb2.FieldMask(paths=[m["flag"]])
        await self.call(req, svc.UpdateRule, rules_pb.UpdateRuleRequest(rule=rule, update_mask=mask))
        return redirect(f"{PREFIX}/rules?done=rule_saved")

    async def rule_delete(self, req: Request, m: re.Match[str]) -> Response:
        svc = self.stub(rules_pb2_grpc.RuleServiceStub, "analytics")
        rule = (await self.call(req, svc.GetRule, rules_pb.GetRuleRequest(rule_id=m["id"]))).rule
        return await self._delete_page(
            req, f"Delete the rule “{rule.name}”?", "Its run history goes with it.", f"{PREFIX}/rules",
            lambda: self.call(req, svc.DeleteRule, rules_pb.DeleteRuleRequest(rule_id=rule.rule_id)),
            f"{PREFIX}/rules?done=rule_deleted",
        )  # fmt: skip

    async def rule_runs(self, req: Request, m: re.Match[str]) -> Response:
        svc = self.stub(rules_pb2_grpc.RuleServiceStub, "analytics")
        rule = (await self.call(req, svc.GetRule, rules_pb.GetRuleRequest(rule_id=m["id"]))).rule
        page = await self.call(
            req,
            svc.ListRuleRuns,
            rules_pb.ListRuleRunsRequest(rule_id=m["id"], page_size=PAGE_SIZE, page_token=req.q("page_token")),
        )
        return self.render(req, "rule_runs.html", rule=rule, runs=list(page.runs), next_page=page.next_page_token)

    async def rule_run(self, req: Request, m: re.Match[str]) -> Response:
        """Run a rule now; a dry run records what it would do and changes nothing."""
        svc = self.stub(rules_pb2_grpc.RuleServiceStub, "analytics")
        dry = req.f("dry_run") == "1"
        await self.call(req, svc.RunRule, rules_pb.RunRuleRequest(rule_id=m["id"], dry_run=dry))
        return redirect(f"{PREFIX}/rules/{m['id']}/runs?done=ran")


# ----------------------------------------------------------------------------- helpers

_NOTICES = {
    "created": "Campaign created.",
    "saved": "Campaign saved.",
    "link_created": "Link created.",
    "retried": "Delivery queued for another attempt.",
    "overruled": "Verdict overruled: reports, cost and postbacks follow within a few seconds.",
    "partner_created": "Partner created.",
    "ran": "Rule run recorded below.",
    "tariff_created": "Tariff created.",
    "goal_created": "Goal created.",
    "goal_saved": "Goal saved.",
    "goal_deleted": "Goal deleted.",
    "template_created": "Postback template created.",
    "template_saved": "Postback template saved.",
    "template_deleted": "Postback template deleted.",
    "rule_created": "Rule created.",
    "rule_saved": "Rule saved.",
    "rule_deleted": "Rule deleted.",
}
_UNREADABLE = "Some fields could not be read: see below."
# Rule violations by form field: the action's fields, the grouping.
RULE_FIELD_OF = (
    ("action.change_budget", "percent"), ("action.set_budget", "budget"), ("grouping", "group_by"),
    ("sub_id_field", "group_by"), ("currency_code", "currency"),
)  # fmt: skip
_INDEXED = re.compile(r"(?P<name>\w+)\[(?P<i>\d+)\](?:\.(?P<sub>[\w.]+))?")
# Why the sign-in page shows (fixed texts: nothing from the URL is echoed).
_SIGNIN_WHY = {
    "key_refused": "Your API key is no longer accepted (rotated?): sign in again.",
    "signed_out": "Signed out.",
}
_HTTP_OF = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}
_CSV_COUNTS = ("clicks", "unique_clicks", "impressions", "installs", "conversions", "approved_conversions", "cr")


def _random_token() -> str:
    import secrets

    return secrets.token_urlsafe(24)


def _cookies(scope: dict[str, Any]) -> dict[str, str]:
    raw = b"; ".join(v for k, v in scope["headers"] if k == b"cookie")
    if not raw:
        return {}
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw.decode("latin-1"))
    except CookieError:
        return {}
    return {k: morsel.value for k, morsel in jar.items()}


def _too_long(values: dict[str, list[str]], limit: int, what: str) -> Response | None:
    """A 400 naming the first field whose value is over ``limit`` characters."""
    for name, items in values.items():
        longest = max((len(v) for v in items), default=0)
        if longest > limit or len(name) > 100:
            shown = name[:100].encode("ascii", "backslashreplace").decode()
            body = f"{what} {shown!r} is too long: {longest} characters, at most {limit}.\n"
            return Response(400, body.encode(), b"text/plain; charset=utf-8")
    return None


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def _flat(form: dict[str, list[str]]) -> dict[str, str]:
    return {k: v[0] for k, v in form.items() if v}


def _form_fields(violations: dict[str, str], prefix: str) -> dict[str, str]:
    """Field violations keyed by form field: "campaign.budget.amount" -> "budget_amount"."""
    out: dict[str, str] = {}
    for field, description in violations.items():
        name = field.removeprefix(prefix)
        if name.startswith("budget"):
            name = "budget_amount"
        out[name] = description
    return out


def _row_view(row: reports_pb2.ReportRow) -> dict[str, Any]:
    money = row.money[0] if row.money else None
    return {
        "dimensions": dict(row.dimensions),
        "clicks": row.clicks,
        "unique_clicks": row.unique_clicks,
        "impressions": row.impressions,
        "installs": row.installs,
        "conversions": row.conversions,
        "approved": row.approved_conversions,
        "cr": row.cr,
        "revenue": money_text(money.revenue) if money else "",
        "cost": money_text(money.cost) if money else "",
        "profit": money_text(money.profit) if money else "",
        "roi": f"{money.roi * 100:.1f}%" if money and money.HasField("roi") else "",
        "more_currencies": len(row.money) - 1 if row.money else 0,
    }


def _days(start: str, end: str) -> list[str]:
    """Every day from start to end (at most 400), or [] when the dates do not parse."""
    try:
        first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    except ValueError:
        return []
    n = (last - first).days + 1
    return [(first + dt.timedelta(days=i)).isoformat() for i in range(n)] if 0 < n <= 400 else []


def _local_day(when: dt.datetime, tz: str) -> str:
    try:
        return when.astimezone(zoneinfo.ZoneInfo(tz)).date().isoformat()
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return when.date().isoformat()


def _funnel_steps(text: str) -> list[metrics_pb2.FunnelStep]:
    """"screen:home, action:purchase" -> funnel steps (a bare name is a screen)."""
    steps = []
    for part in text.split(","):
        kind, sep, name = part.strip().partition(":")
        if not part.strip():
            continue
        if not sep:
            steps.append(metrics_pb2.FunnelStep(screen=kind.strip()))
        elif kind.strip() == "action":
            steps.append(metrics_pb2.FunnelStep(action=name.strip()))
        else:
            steps.append(metrics_pb2.FunnelStep(screen=name.strip()))
    return steps


def _prev_tokens(req: Request) -> list[str]:
    """The page tokens of the pages before this one (``prev=`` in the query), oldest first."""
    tokens = [t for t in req.q("prev").split(",") if t and len(t) <= MAX_TOKEN_LEN]
    return tokens[-MAX_PREV_TOKENS:]


def _page_href(query: str, token: str = "", prev: list[str] | None = None) -> str:
    """The link to a page of a list: its filters, its token and the stack of earlier tokens."""
    parts = [query] if query else []
    if token:
        parts.append(urlencode({"page_token": token}))
    if prev:
        parts.append(urlencode({"prev": ",".join(prev[-MAX_PREV_TOKENS:])}))
    return "?" + "&".join(parts)


def _field_errors(
    violations: dict[str, str], prefix: str, lines: dict[str, list[int]] | None = None,
    renames: tuple[tuple[str, str], ...] = (),
) -> dict[str, str]:  # fmt: skip
    """Field violations keyed by form field: "goal.conditions[1].field" -> "conditions"
    ("line 3: field ..." when ``lines`` says which line of the textarea item 1 came
    from); ``renames`` maps a path's start to the form field it belongs to."""
    out: dict[str, str] = {}
    for path, description in violations.items():
        name = path.removeprefix(prefix)
        renamed = next((field for start, field in renames if name.startswith(start)), "")
        m = _INDEXED.fullmatch(name)
        if renamed:
            name = renamed
        elif m:
            name, i = m["name"], int(m["i"])
            numbers = (lines or {}).get(name, [])
            where = f"line {numbers[i]}" if i < len(numbers) else f"item {i + 1}"
            description = f"{where}: {m['sub'] + ' ' if m['sub'] else ''}{description}"
        else:
            name = name.split(".")[0]
        out[name] = f"{out[name]}; {description}" if name in out else description
    return out


def _lines(text: str) -> list[tuple[int, str]]:
    """The non-blank lines of a textarea with their (1-based) numbers."""
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def _parse_lines(req: Request, name: str, parse: Callable[[str], Any]) -> tuple[list[Any], list[int], str]:
    """A textarea of one item per line through the shared parser: the items, the
    line each came from, and what is wrong with the lines that do not parse."""
    items, numbers, problems = [], [], []
    for n, line in _lines(req.f(name)):
        try:
            items.append(parse(line))
            numbers.append(n)
        except ValueError as exc:
            problems.append(f"line {n} ({shown(line)!r}): {exc}")
    return items, numbers, "; ".join(problems)


def _goal_from_form(req: Request) -> tuple[config_pb2.Goal, list[int], dict[str, str]]:
    """The goal the form describes, the line of each condition, and the fields that do not parse."""
    conditions, numbers, problem = _parse_lines(req, "conditions", parse_goal_condition)
    occurrence = _int(req.f("occurrence"))
    goal = config_pb2.Goal(
        name=req.f("name"), event=req.f("event"), kind=_int(req.f("kind")),  # type: ignore[arg-type]
        occurrence=occurrence,  # type: ignore[arg-type]
        nth=_int(req.f("nth")) if occurrence == config_pb2.OCCURRENCE_NTH else 0, conditions=conditions,
        value_path=req.f("value_path"), currency_path=req.f("currency_path"),
    )  # fmt: skip
    return goal, numbers, ({"conditions": problem} if problem else {})


def _template_from_form(req: Request) -> tuple[ppb.Template, dict[str, str]]:
    """The template the form describes (without partner_id), and the fields that do not parse."""
    fields: dict[str, str] = {}
    headers: dict[str, str] = {}
    try:
        headers = pairs([line for _, line in _lines(req.f("headers"))], "a header line", ":")
    except UsageError as exc:
        fields["headers"] = exc.message
    trigger = _int(req.f("trigger"))
    template = ppb.Template(
        name=req.f("name"), app_id=req.f("app_id"), trigger=trigger,  # type: ignore[arg-type]
        goal_id=req.f("goal_id") if trigger == ppb.TRIGGER_GOAL else "",
        sending_mode=_int(req.f("sending_mode")), method=_int(req.f("method")),  # type: ignore[arg-type]
        url_template=req.f("url_template"), body_template=req.f("body_template"), headers=headers,
        enabled=req.f("enabled") == "1",
    )  # fmt: skip
    return template, fields


def _rule_from_form(req: Request) -> tuple[rules_pb.Rule, list[int], dict[str, str]]:
    """The rule the form describes, the line of each condition, and the fields that do not parse."""
    fields: dict[str, str] = {}
    conditions, numbers, problem = _parse_lines(req, "conditions", parse_rule_condition)
    if problem:
        fields["conditions"] = problem
    window = duration_pb2.Duration()
    try:
        window = parse_window(req.f("window"))
    except ValueError as exc:
        fields["window"] = str(exc)
    group = req.f("group_by") or "campaign"
    currency = req.f("currency").upper()
    action = rules_pb.RuleAction()
    kind = req.f("action")
    if kind == "change_budget":
        action.change_budget.percent = req.f("percent").removesuffix("%").strip()
    elif kind == "set_budget":
        action.set_budget.budget.CopyFrom(money_pb2.Money(
            amount=req.f("budget"), currency_code=currency or (req.session.currency if req.session else ""),
        ))  # fmt: skip
    elif kind in dict(RULE_ACTIONS):
        getattr(action, kind).SetInParent()
    rule = rules_pb.Rule(
        name=req.f("name"), enabled=req.f("enabled") == "1", dry_run=req.f("dry_run") == "1",
        campaign_ids=req.fs("campaign_ids"),
        grouping=rules_pb.RULE_GROUPING_CAMPAIGN if group == "campaign" else rules_pb.RULE_GROUPING_SUB_ID,
        sub_id_field="" if group == "campaign" else group, window=window, conditions=conditions, action=action,
        currency_code=currency,
    )  # fmt: skip
    return rule, numbers, fields
