"""The console's request plumbing on Starlette without a database or services
(httpx over ASGI, a session store that knows no session): routing answers, the
headers of every answer, static files, the form and query limits, the CSRF check
of the sign-in form."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from console.app import create_app
from console.session import PRE_COOKIE
from libs.config import load_settings

CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


class NoSessions:
    """A session store that knows no session (the pages before sign-in need no more)."""

    async def get(self, token: str) -> None:
        return None


def app_with(secret: str) -> Any:
    app = create_app(dataclasses.replace(load_settings(), console_secret=secret))
    if secret:
        app.state.console.sessions = NoSessions()
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app_with("s3cret"))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
        yield c


async def test_without_a_secret_the_console_is_off() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app_with("")), base_url="http://t") as c:
        resp = await c.get("/console/campaigns")
        assert resp.status_code == 503 and "CLICKTRAIL_CONSOLE_SECRET" in resp.text
        assert (await c.get("/console/no-such-page")).status_code == 404  # routing comes first


async def test_unknown_pages_and_methods_are_plain_404_and_405(client: httpx.AsyncClient) -> None:
    for path in ("/console/nope", "/console/campaigns/", "/console/campaigns/bad$id", "/console/rules/r1/other"):
        resp = await client.get(path)
        assert (resp.status_code, resp.text) == (404, "page not found\n"), path
    resp = await client.put("/console/campaigns")
    assert (resp.status_code, resp.text) == (405, "method not allowed\n")


async def test_every_answer_has_the_security_headers_and_its_server_time(client: httpx.AsyncClient) -> None:
    page = await client.get("/console/signin")
    assert page.status_code == 200
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    assert re.fullmatch(r"app;dur=[0-9.]+", page.headers["server-timing"])
    static = await client.get("/console/static/console.js")
    assert static.status_code == 200 and static.headers["content-type"] == "text/javascript; charset=utf-8"
    assert static.headers["cache-control"] == "public, max-age=3600" and "content-security-policy" in static.headers
    assert (await client.get("/console/static/nope.js")).status_code == 404


async def test_pages_need_a_session_and_forms_their_csrf_token(client: httpx.AsyncClient) -> None:
    unsigned = await client.get("/console/campaigns")
    assert unsigned.status_code == 303 and unsigned.headers["location"] == "/console/signin"
    form = await client.get("/console/signin")
    pre = next(h for h in form.headers.get_list("set-cookie") if h.startswith(f"{PRE_COOKIE}="))
    assert {"HttpOnly", "SameSite=Strict", "Path=/console"} <= {p.strip() for p in pre.split(";")}
    refused = await client.post("/console/signin", data={"api_key": "ctk_x"})
    assert refused.status_code == 403 and "CSRF" in refused.text
    token = CSRF_RE.search(form.text)
    assert token is not None
    empty = await client.post("/console/signin", data={"api_key": "", "csrf": token.group(1)})
    assert empty.status_code == 400 and "Enter your account" in empty.text


async def test_forms_and_queries_have_limits(client: httpx.AsyncClient) -> None:
    huge = await client.post("/console/signin", data={"api_key": "x" * (65 * 1024)})
    assert (huge.status_code, huge.text) == (413, "form too large\n")
    query = await client.get("/console/signin", params={"why": "x" * 9000})
    assert query.status_code == 400 and "'why' is too long: 9000 characters, at most 8192" in query.text
