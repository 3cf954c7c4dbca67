"""The console over plain HTTP (httpx against the real gateway and services):
sign-in, CSRF refusal, cookie flags, account scoping, field errors."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
from collections.abc import Awaitable, Callable

import asyncpg
import grpc
import httpx
import pytest
from clicktrail.accounts.v1 import accounts_pb2, accounts_pb2_grpc
from clicktrail.attribution.v1 import config_pb2 as cpb
from clicktrail.links.v1 import links_pb2 as pb
from clicktrail.links.v1 import links_pb2_grpc
from clicktrail.postbacks.v1 import postbacks_pb2 as ppb
from clicktrail.postbacks.v1 import postbacks_pb2_grpc

from console.session import COOKIE, PRE_COOKIE, SessionCodec, secure_default
from libs.config import Settings
from tests.conftest import AccountInfo, AttributionStubs
from tests.console.conftest import Seeded, start_console_gateway
from tests.gateway.conftest import RunningGateway

CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')
FIELD_ERROR_RE = re.compile(r'class="field-error" data-field="([^"]+)">([^<]+)<')


def csrf_of(html: str) -> str:
    m = CSRF_RE.search(html)
    assert m, "no CSRF field in the page"
    return m.group(1)


async def sign_in(client: httpx.AsyncClient, api_key: str) -> httpx.Response:
    form = await client.get("/console/signin")
    assert form.status_code == 200
    return await client.post("/console/signin", data={"api_key": api_key, "csrf": csrf_of(form.text)})


def set_cookie(resp: httpx.Response, name: str) -> str:
    for header in resp.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            return header
    raise AssertionError(f"no Set-Cookie {name} in {resp.headers.get_list('set-cookie')}")


async def test_sign_in_sets_an_httponly_strict_cookie_and_opens_the_campaigns(
    console_gateway: RunningGateway, account: AccountInfo
) -> None:
    async with console_gateway.client() as client:
        unsigned = await client.get("/console/campaigns")
        assert unsigned.status_code == 303 and unsigned.headers["location"] == "/console/signin"
        resp = await sign_in(client, account.api_key)
        assert resp.status_code == 303, resp.text
        assert resp.headers["location"] == "/console/campaigns"
        cookie = set_cookie(resp, COOKIE)
        flags = [p.strip() for p in cookie.split(";")]
        assert "HttpOnly" in flags and "SameSite=Strict" in flags and "Path=/console" in flags
        # The gateway's public URL is http://127.0.0.1:8080: Secure is off for plain-http local use.
        assert "Secure" not in flags
        # The key travels encrypted: the cookie does not contain it.
        assert account.api_key not in cookie
        page = await client.get("/console/campaigns")
        assert page.status_code == 200
        assert "Acme Games" in page.text and "No campaigns yet" in page.text
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]

        signout = await client.post("/console/signout", data={"csrf": csrf_of(page.text)})
        assert signout.status_code == 303
        assert "Max-Age=0" in set_cookie(signout, COOKIE)
        client.cookies.clear()
        assert (await client.get("/console/campaigns")).status_code == 303


async def test_sessions_live_on_the_server_and_sign_out_revokes_them(
    console_gateway: RunningGateway, account: AccountInfo
) -> None:
    """The cookie is a random token (the key is neither in it nor derivable from it);
    the session row keeps the key sealed; a copy of the cookie is worthless after
    sign-out, and after the session expires."""
    conn = await asyncpg.connect(console_gateway.settings.database_url)
    try:
        async with console_gateway.client() as client:
            assert (await sign_in(client, account.api_key)).status_code == 303
            token = client.cookies[COOKIE]
            assert 32 <= len(token) <= 64 and account.api_key not in token
            row = await conn.fetchrow(
                "SELECT account_id, api_key_sealed, expires_at - created_at AS ttl FROM console.sessions"
                " WHERE session_hash = $1", hashlib.sha256(token.encode()).digest(),
            )  # fmt: skip
            assert row is not None and row["account_id"] == account.account_id
            assert account.api_key not in row["api_key_sealed"] and row["ttl"] == dt.timedelta(hours=12)
            page = await client.get("/console/campaigns")
            assert page.status_code == 200
            signout = await client.post("/console/signout", data={"csrf": csrf_of(page.text)})
            assert signout.status_code == 303
        async with console_gateway.client() as stolen:  # a copy of the cookie taken before sign-out
            stolen.cookies.set(COOKIE, token, path="/console")
            again = await stolen.get("/console/campaigns")
            assert again.status_code == 303 and again.headers["location"] == "/console/signin"
        assert await conn.fetchval("SELECT count(*) FROM console.sessions") == 0

        async with console_gateway.client() as client:
            assert (await sign_in(client, account.api_key)).status_code == 303
            assert (await client.get("/console/campaigns")).status_code == 200
            await conn.execute("UPDATE console.sessions SET expires_at = now() - interval '1 second'")
            expired = await client.get("/console/campaigns")
            assert expired.status_code == 303 and expired.headers["location"] == "/console/signin"
    finally:
        await conn.close()


async def test_a_wrong_key_gets_a_clear_message(console_gateway: RunningGateway, account: AccountInfo) -> None:
    async with console_gateway.client() as client:
        resp = await sign_in(client, "ctk_not_a_real_key")
        assert resp.status_code == 401
        assert "That API key was not accepted" in resp.text
        assert COOKIE + "=" not in " ".join(resp.headers.get_list("set-cookie"))


async def test_forms_without_the_session_csrf_token_are_refused(
    console_gateway: RunningGateway, account: AccountInfo, seeded: Seeded,
    links_stub: links_pb2_grpc.LinksServiceStub,
) -> None:  # fmt: skip
    async with console_gateway.client() as client:
        form = await client.get("/console/signin")
        no_token = await client.post("/console/signin", data={"api_key": account.api_key})
        assert no_token.status_code == 403 and "CSRF" in no_token.text
        assert (await sign_in(client, account.api_key)).status_code == 303
        new = {"name": "Forged", "partner_id": seeded.partner_id, "type": "1", "status": "1"}
        assert (await client.post("/console/campaigns/new", data=new)).status_code == 403
        # A token of another session (the sign-in form's) is refused too.
        forged = await client.post("/console/campaigns/new", data={**new, "csrf": csrf_of(form.text)})
        assert forged.status_code == 403
        listed = await links_stub.ListCampaigns(pb.ListCampaignsRequest())
        assert [c.name for c in listed.campaigns] == []
        page = await client.get("/console/campaigns/new")
        ok = await client.post("/console/campaigns/new", data={**new, "csrf": csrf_of(page.text)})
        assert ok.status_code == 303, ok.text
        listed = await links_stub.ListCampaigns(pb.ListCampaignsRequest())
        assert [c.name for c in listed.campaigns] == ["Forged"]


async def test_each_account_sees_only_its_own_campaigns(
    console_gateway: RunningGateway, account: AccountInfo, seeded: Seeded,
    links_stub: links_pb2_grpc.LinksServiceStub, new_account: Callable[[str], Awaitable[AccountInfo]],
) -> None:  # fmt: skip
    mine = (await links_stub.CreateCampaign(pb.CreateCampaignRequest(campaign=pb.Campaign(
        name="Mine Only", partner_id=seeded.partner_id, type=pb.CAMPAIGN_TYPE_WEB,
    )))).campaign  # fmt: skip
    other = await new_account("Other Co")
    async with console_gateway.client() as client:
        assert (await sign_in(client, other.api_key)).status_code == 303
        listing = await client.get("/console/campaigns")
        assert "Other Co" in listing.text and "Mine Only" not in listing.text
        # Asking for another account's campaign by id finds nothing.
        page = await client.get(f"/console/campaigns/{mine.campaign_id}")
        assert page.status_code == 404
        assert "Mine Only" not in page.text
        # A query parameter cannot pick the account either.
        listing = await client.get(f"/console/campaigns?account_id={account.account_id}")
        assert "Mine Only" not in listing.text
    async with console_gateway.client() as client:
        assert (await sign_in(client, account.api_key)).status_code == 303
        assert "Mine Only" in (await client.get("/console/campaigns")).text


async def test_a_tampered_cookie_means_signing_in_again(console_gateway: RunningGateway, account: AccountInfo) -> None:
    async with console_gateway.client() as client:
        resp = await sign_in(client, account.api_key)
        value = client.cookies[COOKIE]
        client.cookies.set(COOKIE, value[:-4] + ("AAAA" if not value.endswith("AAAA") else "BBBB"), path="/console")
        again = await client.get("/console/campaigns")
        assert resp.status_code == 303 and again.status_code == 303
        assert again.headers["location"] == "/console/signin"


async def test_invalid_argument_fields_show_next_to_the_form_fields(
    console_gateway: RunningGateway, account: AccountInfo, seeded: Seeded
) -> None:
    async with console_gateway.client() as client:
        await sign_in(client, account.api_key)
        page = await client.get("/console/campaigns/new")
        resp = await client.post(
            "/console/campaigns/new",
            data={"csrf": csrf_of(page.text), "name": "", "partner_id": seeded.partner_id, "type": "1", "status": "1",
                  "budget_amount": "lots", "budget_currency": "USD"},
        )  # fmt: skip
        assert resp.status_code == 400
        errors = dict(re.findall(r'class="field-error" data-field="([^"]+)">([^<]+)<', resp.text))
        assert "name" in errors, resp.text
        # The form keeps what was typed.
        assert 'value="lots"' in resp.text


async def test_a_goal_condition_that_does_not_read_or_validate_is_named_with_its_line(
    console_gateway: RunningGateway, account: AccountInfo, attribution_stub: AttributionStubs
) -> None:
    async with console_gateway.client() as client:
        await sign_in(client, account.api_key)
        page = await client.get("/console/goals/new")
        form = {"csrf": csrf_of(page.text), "name": "Big", "event": "purchase", "kind": "2", "occurrence": "1",
                "conditions": "action_properties.price > 10\nprice>10"}  # fmt: skip
        # The CLI's --where syntax: "price>10" (no spaces) does not read.
        unread = await client.post("/console/goals/new", data=form)
        assert unread.status_code == 400
        errors = dict(FIELD_ERROR_RE.findall(unread.text))
        assert set(errors) == {"conditions"}, errors
        assert errors["conditions"].startswith("line 2 (") and "FIELD OP VALUE" in errors["conditions"]
        assert "action_properties.price &gt; 10\nprice&gt;10</textarea>" in unread.text  # kept as typed
        # It reads, but the service refuses it: the violation names the line too (blank lines count).
        refused = await client.post("/console/goals/new", data={
            **form, "conditions": "action_properties.price > 10\n\naction_properties.price > cheap"})  # fmt: skip
        assert refused.status_code == 400
        errors = dict(FIELD_ERROR_RE.findall(refused.text))
        assert errors["conditions"].startswith("line 3: value") and "not a finite number" in errors["conditions"]
        assert list((await attribution_stub.goals.ListGoals(cpb.ListGoalsRequest())).goals) == []


async def test_the_26th_goal_is_refused_with_the_services_message(
    console_gateway: RunningGateway, account: AccountInfo, attribution_stub: AttributionStubs
) -> None:
    for n in range(25):
        await attribution_stub.goals.CreateGoal(cpb.CreateGoalRequest(goal=cpb.Goal(name=f"g{n}", event=f"e{n}")))
    async with console_gateway.client() as client:
        await sign_in(client, account.api_key)
        page = await client.get("/console/goals/new")
        resp = await client.post("/console/goals/new", data={
            "csrf": csrf_of(page.text), "name": "One too many", "event": "purchase", "kind": "2", "occurrence": "1",
        })  # fmt: skip
        assert resp.status_code == 409
        assert "at most 25 goals and this one has 25" in resp.text and 'id="error"' in resp.text
        assert 'value="One too many"' in resp.text


async def test_a_template_with_a_bad_url_is_refused_with_the_services_words(
    console_gateway: RunningGateway, account: AccountInfo, seeded: Seeded,
    postbacks_stub: postbacks_pb2_grpc.PostbackServiceStub,
) -> None:  # fmt: skip
    async with console_gateway.client() as client:
        await sign_in(client, account.api_key)
        page = await client.get("/console/postbacks/new")
        form = {"csrf": csrf_of(page.text), "partner_id": seeded.partner_id, "name": "Installs", "trigger": "1",
                "sending_mode": "1", "method": "1", "enabled": "1"}  # fmt: skip
        for url, words in (
            ("https://{partner_click_id}.example/pb", "may not use macros in the scheme or host"),
            ("ftp://adnet.example/pb", "must be an http:// or https:// URL"),
            ("https://adnet.example/pb?c={no_such_macro}", "has unknown macros: {no_such_macro}"),
        ):
            bad = await client.post("/console/postbacks/new", data={**form, "url_template": url})
            assert bad.status_code == 400, (url, bad.text)
            assert dict(FIELD_ERROR_RE.findall(bad.text)).get("url_template") == words, bad.text
            assert f'value="{url}"' in bad.text
        header = await client.post("/console/postbacks/new", data={
            **form, "url_template": "https://adnet.example/pb", "headers": "X-Key"})  # fmt: skip
        assert header.status_code == 400 and "NAME: VALUE" in dict(FIELD_ERROR_RE.findall(header.text))["headers"]
        assert list((await postbacks_stub.ListTemplates(ppb.ListTemplatesRequest())).templates) == []
        good = await client.post("/console/postbacks/new", data={
            **form, "url_template": "https://adnet.example/pb?c={partner_click_id}"})  # fmt: skip
        assert good.status_code == 303, good.text
        listed = await client.get(good.headers["location"])
        assert "Installs</a>" in listed.text and "https://adnet.example/pb?c={partner_click_id}" in listed.text
        assert "AdNet" in listed.text  # the partner by name


def test_secure_cookie_default_follows_the_public_url() -> None:
    assert secure_default("http://127.0.0.1:8080", "auto") is False
    assert secure_default("http://localhost:8080", "auto") is False
    assert secure_default("https://track.example.com", "auto") is True
    assert secure_default("http://track.example.com", "auto") is True
    assert secure_default("http://127.0.0.1:8080", "true") is True
    assert secure_default("https://track.example.com", "false") is False
    codec = SessionCodec("s3cret", secure=True)
    assert "; Secure" in codec.cookie(COOKIE, "v").decode()


async def test_the_cookie_is_secure_behind_an_https_public_url(
    console_settings: Settings, account: AccountInfo
) -> None:
    gw = await start_console_gateway(dataclasses.replace(console_settings, public_url="https://track.example.com"))
    try:
        async with gw.client() as client:
            # httpx keeps Secure cookies off plain http, so the pre-sign-in cookie is sent by hand.
            form = await client.get("/console/signin")
            pre = set_cookie(form, PRE_COOKIE).split(";")[0]
            assert "Secure" in set_cookie(form, PRE_COOKIE)
            resp = await client.post(
                "/console/signin", data={"api_key": account.api_key, "csrf": csrf_of(form.text)},
                headers={"cookie": pre},
            )  # fmt: skip
            assert resp.status_code == 303
            assert "Secure" in [p.strip() for p in set_cookie(resp, COOKIE).split(";")]
    finally:
        await gw.stop()


@pytest.mark.parametrize("path", ["/console/static/chart-4.6.1.umd.min.js", "/console/static/console.js"])
async def test_static_files_are_served(console_gateway: RunningGateway, path: str) -> None:
    async with console_gateway.client() as client:
        resp = await client.get(path)
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/javascript")
        assert (await client.get("/console/static/../app.py")).status_code == 404


async def test_a_rotated_key_sends_the_operator_back_to_sign_in(
    console_gateway: RunningGateway, account: AccountInfo, channels: Callable[..., grpc.aio.Channel]
) -> None:
    async with console_gateway.client() as client:
        assert (await sign_in(client, account.api_key)).status_code == 303
        assert (await client.get("/console/campaigns")).status_code == 200
        channel = channels(console_gateway.settings.links_addr, token=account.api_key)
        stub = accounts_pb2_grpc.AccountServiceStub(channel)
        await stub.RotateApiKey(accounts_pb2.RotateApiKeyRequest())
        resp = await client.get("/console/campaigns")
        assert resp.status_code == 303 and resp.headers["location"] == "/console/signin?why=key_refused"
        assert "Max-Age=0" in set_cookie(resp, COOKIE)
        page = await client.get(resp.headers["location"])
        assert "no longer accepted" in page.text
        # Nothing from the URL is echoed on the sign-in page.
        assert "&lt;b&gt;" not in (await client.get("/console/signin?why=<b>hi</b>")).text
        assert "hi</b>" not in (await client.get("/console/signin?why=<b>hi</b>")).text


async def test_over_long_fields_and_lines_are_refused_by_name(
    console_gateway: RunningGateway, account: AccountInfo
) -> None:
    async with console_gateway.client() as client:
        assert (await sign_in(client, account.api_key)).status_code == 303
        page = await client.get("/console/goals/new")
        form = {"csrf": csrf_of(page.text), "name": "Long", "event": "purchase", "kind": "1", "occurrence": "1"}
        huge = await client.post("/console/goals/new", data={**form, "conditions": "a = " + "x" * 20_000})
        assert huge.status_code == 400
        assert huge.text == "form field 'conditions' is too long: 20004 characters, at most 16384.\n"
        crafted = "price = x" + " " * 1500 + "y"  # the shape that made the old pattern backtrack
        line = await client.post("/console/goals/new", data={**form, "conditions": f"user_id exists\n{crafted}"})
        assert line.status_code == 400
        assert "line 2" in line.text and "too long: 1510 characters, at most 1000" in line.text
        query = await client.get("/console/reports", params={"f_sub1": "x" * 9000})
        assert query.status_code == 400 and "'f_sub1' is too long: 9000 characters, at most 8192" in query.text
