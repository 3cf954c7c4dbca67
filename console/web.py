"""The console's request plumbing on Starlette: the process's state (Console),
one request as the pages see it (Page), and ``page()``, which turns a page
handler into a Starlette endpoint doing what every page needs first: the
server-side session, the query and form limits, the session-bound CSRF check,
the sign-in redirect, and the service errors shown as pages. ConsoleHeaders
adds the security headers, ``cache-control: no-store`` and Server-Timing to
every answer; StaticAssets serves console/static."""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import jinja2
from google.protobuf.message import Message
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as AsgiMessage

from console import rpc, views
from console.choices import TEMPLATE_NAMES
from console.forms import Form
from console.session import COOKIE, MIGRATIONS, PRE_COOKIE, SCHEMA, Session, SessionCodec, SessionStore, secure_default
from libs.asgi import BodyTooLarge, read_body
from libs.conditions import describe_goal_condition, describe_rule_condition, describe_window
from libs.config import ConsoleSettings
from libs.db import create_pool
from libs.migrations import migrate

HERE = Path(__file__).parent
STATIC = HERE / "static"
PREFIX = "/console"
PAGE_SIZE = 25
MAX_FORM_BODY = 64 * 1024
# A form that has not arrived in this long is given up (the gateway has its own bound too).
BODY_TIMEOUT_S = 30.0
# The longest value of one form field or query parameter (characters); the lines of a
# conditions textarea are bounded further by libs.conditions.MAX_LINE_CHARS.
MAX_FIELD_CHARS = 16 * 1024
MAX_QUERY_VALUE_CHARS = 8 * 1024
SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]  # fmt: skip
CONSOLE_OFF = "The console is off: set CLICKTRAIL_CONSOLE_SECRET (make run generates one).\n"


class Console:
    """One per console process: the session store (opened by ``start``), the
    templates and the service connections."""

    def __init__(self, settings: ConsoleSettings) -> None:
        self.settings = settings
        secure = secure_default(settings.public_url, settings.console_secure_cookie)
        self.codec: SessionCodec | None = (
            SessionCodec(settings.console_secret, secure=secure) if settings.console_secret else None
        )
        self.sessions: SessionStore | None = None
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
            undefined=jinja2.StrictUndefined, auto_reload=False,
        )  # fmt: skip
        env.filters["script_json"] = views.script_json
        env.globals.update(
            money=views.money_text, urlencode=urlencode, goal_condition=describe_goal_condition,
            rule_condition=describe_rule_condition, page_href=views.page_href, duration=describe_window,
            **TEMPLATE_NAMES,
        )  # fmt: skip
        self.templates = Jinja2Templates(env=env)
        self.services = rpc.Services(settings)

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
        await self.services.close()
        if self.sessions is not None:
            await self.sessions.pool.close()
            self.sessions = None


class Page:
    """One console request as a page handler sees it."""

    def __init__(self, console: Console, request: Request, session: Session | None) -> None:
        self.console = console
        self.request = request
        self.method: str = request.method
        self.path = request.scope["path"].removeprefix(PREFIX) or "/"  # e.g. "/campaigns"
        self.query = Form(parse_qs(request.scope.get("query_string", b"").decode("latin-1")))
        self.form = Form()
        self.cookies = request.cookies
        self.session = session
        self.pre = self.cookies.get(PRE_COOKIE, "")  # the pre-sign-in cookie value

    def q(self, name: str, default: str = "") -> str:
        return self.query.f(name, default)

    def qs(self, name: str) -> list[str]:
        return self.query.fs(name)

    def f(self, name: str, default: str = "") -> str:
        return self.form.f(name, default)

    def fs(self, name: str) -> list[str]:
        return self.form.fs(name)

    @property
    def time_zone(self) -> str:
        return self.session.time_zone if self.session else "UTC"

    def today(self) -> dt.date:
        return views.today_in(self.time_zone)

    def stub(self, cls: type, service: str) -> Any:
        return self.console.services.stub(cls, service)

    async def call(self, method: Any, request: Message) -> Any:
        """One RPC with the session's API key (rpc.ServiceError, rpc.SignInRequired)."""
        assert self.session is not None
        return await rpc.call(self.session.api_key, method, request)

    def render(self, template: str, status: int = 200, *, anonymous: bool = False, **ctx: Any) -> Response:
        """A page from console/templates (``anonymous``: as if signed out, for the sign-in page)."""
        s = None if anonymous else self.session
        codec = self.console.codec
        ctx.setdefault("error", "")
        ctx.setdefault("notice", views.NOTICES.get(self.q("done"), ""))
        ctx.update(
            session=s, csrf=codec.csrf(s.sid) if (s and codec) else "", path=self.path, prefix=PREFIX,
            paged=bool(self.q("page_token")), page_token=self.q("page_token"),
            prev_tokens=views.prev_tokens(self.q("prev")),
        )  # fmt: skip
        return self.console.templates.TemplateResponse(self.request, template, ctx, status_code=status)


Params = Mapping[str, str]
Handler = Callable[[Page, Params], Awaitable[Response]]


def plain(status: int, text: str) -> Response:
    return PlainTextResponse(text, status)


def redirect(location: str, *cookies: bytes) -> Response:
    """A 303 to ``location`` with the given Set-Cookie header values."""
    resp = Response(b"", 303, {"location": location}, "text/plain")
    resp.raw_headers.extend((b"set-cookie", c) for c in cookies)
    return resp


def _too_long(values: dict[str, list[str]], limit: int, what: str) -> Response | None:
    """A 400 naming the first field whose value is over ``limit`` characters."""
    for name, items in values.items():
        longest = max((len(v) for v in items), default=0)
        if longest > limit or len(name) > 100:
            shown = name[:100].encode("ascii", "backslashreplace").decode()
            return plain(400, f"{what} {shown!r} is too long: {longest} characters, at most {limit}.\n")
    return None


def page(handler: Handler, *, auth: bool = True) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint of a page handler; ``auth``: only for a signed-in session
    (without one: the sign-in page); its forms' CSRF tokens are bound to the session,
    the others' (sign-in) to the pre-sign-in cookie."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        console: Console = request.app.state.console
        codec, sessions = console.codec, console.sessions
        if codec is None or sessions is None:
            return plain(503, CONSOLE_OFF)
        token = request.cookies.get(COOKIE, "")
        req = Page(console, request, await sessions.get(token) if token else None)
        if (too_long := _too_long(req.query.values, MAX_QUERY_VALUE_CHARS, "query parameter")) is not None:
            return too_long
        if req.method == "POST":
            try:
                raw = await read_body(request.receive, MAX_FORM_BODY, BODY_TIMEOUT_S)  # type: ignore[arg-type]
            except BodyTooLarge:
                return plain(413, "form too large\n")
            except TimeoutError:
                return plain(408, "the form did not arrive in time\n")
            if raw is None:  # the client went away
                return plain(400, "incomplete form\n")
            req.form = Form(parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True))
            if (too_long := _too_long(req.form.values, MAX_FIELD_CHARS, "form field")) is not None:
                return too_long
            bound = req.session.sid if (auth and req.session) else req.pre
            if not codec.csrf_ok(bound, req.f("csrf")):
                return plain(403, "CSRF check failed: reload the page and submit the form again.\n")
        if auth and req.session is None:
            return redirect(f"{PREFIX}/signin")
        try:
            return await handler(req, request.path_params)
        except rpc.SignInRequired:
            await sessions.revoke(token)
            return redirect(f"{PREFIX}/signin?why=key_refused", codec.clear(COOKIE))
        except rpc.ServiceError as exc:
            status = exc.http_status()
            return req.render("error.html", status, message=exc.message, fields=exc.fields)

    return endpoint


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's 404 / 405 (no such page; a known page with another method), as plain text."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return plain(405, "method not allowed\n")
    if exc.status_code == 404:
        return plain(404, "page not found\n")
    return plain(exc.status_code, f"{exc.detail}\n")


class StaticAssets(StaticFiles):
    """console/static, cached by browsers for an hour."""

    def file_response(self, full_path: Any, stat_result: Any, scope: Scope, status_code: int = 200) -> Response:
        resp = super().file_response(full_path, stat_result, scope, status_code)
        resp.headers["cache-control"] = "public, max-age=3600"
        return resp


class ConsoleHeaders:
    """Every answer: the security headers, ``cache-control: no-store`` unless the
    response set its own, and the server's time (``server-timing: app;dur=...``, read
    by bench/bench_console.py and the browser's devtools)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def send_with_headers(message: AsgiMessage) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    headers.raw.append((name, value))
                if "cache-control" not in headers:
                    headers.raw.append((b"cache-control", b"no-store"))
                took = (time.perf_counter() - started) * 1000
                headers.raw.append((b"server-timing", f"app;dur={took:.1f}".encode()))
            await send(message)

        await self.app(scope, receive, send_with_headers)
