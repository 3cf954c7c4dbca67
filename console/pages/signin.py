"""Sign-in (the account's API key, checked with the accounts service, opens a
server-side session) and sign-out (deletes it)."""

from __future__ import annotations

import secrets

import grpc
from clicktrail.accounts.v1 import accounts_pb2, accounts_pb2_grpc
from starlette.responses import Response

from console.session import COOKIE, PRE_COOKIE
from console.web import PREFIX, Page, Params, redirect
from libs.clients import credentials
from libs.logging import get_logger

log = get_logger("console")

# Why the sign-in page shows (fixed texts: nothing from the URL is echoed).
_SIGNIN_WHY = {
    "key_refused": "Your API key is no longer accepted (rotated?): sign in again.",
    "signed_out": "Signed out.",
}


async def signin_form(req: Page, m: Params, error: str = "", status: int = 200) -> Response:
    codec = req.console.codec
    assert codec is not None
    pre = req.pre
    cookies: list[tuple[bytes, bytes]] = []
    if len(pre) < 16:
        pre = secrets.token_urlsafe(24)
        cookies.append((b"set-cookie", codec.cookie(PRE_COOKIE, pre, 3600)))
    resp = req.render(
        "signin.html", status, anonymous=True, pre_csrf=codec.csrf(pre),
        error=error or _SIGNIN_WHY.get(req.q("why"), ""),
    )  # fmt: skip
    resp.raw_headers.extend(cookies)
    return resp


async def signin(req: Page, m: Params) -> Response:
    codec, sessions = req.console.codec, req.console.sessions
    assert codec is not None and sessions is not None
    key = req.f("api_key")
    if not key:
        return await signin_form(req, m, "Enter your account's API key.", 400)
    if not (key.isascii() and key.isprintable()):  # a NUL, %-decoded bytes: no gRPC header can carry it
        return await signin_form(req, m, "That is not an API key (they are plain ASCII, ctk_...).", 401)
    stub = req.stub(accounts_pb2_grpc.AccountServiceStub, "accounts")
    try:
        resp = await stub.GetAccount(accounts_pb2.GetAccountRequest(), metadata=credentials(token=key))
    except grpc.aio.AioRpcError as err:
        if err.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
            msg = "That API key was not accepted. Check it (clicktrail account create prints it once) and retry."
            return await signin_form(req, m, msg, 401)
        log.warning("console_signin_failed", code=err.code().name, details=err.details())
        return await signin_form(req, m, f"The accounts service did not answer ({err.code().name}).", 503)
    token, _ = await sessions.create(key, resp.account)
    return redirect(f"{PREFIX}/campaigns", codec.cookie(COOKIE, token), codec.clear(PRE_COOKIE))


async def signout(req: Page, m: Params) -> Response:
    """Ends the session on the server: its cookie is worthless from now on, wherever a copy of it is."""
    codec, sessions = req.console.codec, req.console.sessions
    assert codec is not None and sessions is not None
    await sessions.revoke(req.cookies.get(COOKIE, ""))
    return redirect(f"{PREFIX}/signin?why=signed_out", codec.clear(COOKIE))


async def home(req: Page, m: Params) -> Response:
    return redirect(f"{PREFIX}/campaigns")
