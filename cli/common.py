"""Shared plumbing of the ``clicktrail`` CLI: credentials, channels, calls,
errors and output. Command modules stay declarative; a new command group
(goals, events, postbacks, reports) needs only this module:

    from cli.common import ApiKey, JsonOut, account_creds, emit, rpc
    from clicktrail.attribution.v1 import attribution_pb2 as pb, attribution_pb2_grpc as pb_grpc

    app = typer.Typer(help="Goals: ...", no_args_is_help=True)

    @app.command("get")
    def get(goal_id: str, api_key: ApiKey = "", json_out: JsonOut = False) -> None:
        resp = rpc("attribution", pb_grpc.GoalServiceStub, "GetGoal",
                   pb.GetGoalRequest(goal_id=goal_id), account_creds(api_key))
        emit(resp.goal, json_out)

plus one ``add_typer`` line in cli/main.py.

Output conventions (the same for every command):
- ``--json`` prints the resource with its proto field names (snake_case); every
  field is present (empty string / 0 / false when unset), timestamps are
  RFC 3339 strings, money is ``{"amount": "7.50", "currency_code": "USD"}``.
- Enum values print as their short lowercase name, exactly as the matching CLI
  flags take them: ``CAMPAIGN_STATUS_ACTIVE`` prints ``"active"``,
  ``DEVICE_TYPE_MOBILE`` prints ``"mobile"``; an unset enum prints ``""``.
- A create or get prints the resource itself (a create that also returns a
  one-time secret adds it beside the resource's fields, e.g. ``api_key``); a
  list prints ``{"<plural>": [...], "next_page_token": "..."}``.
- Errors: one line ``error: ...`` on stderr; exit 2 for bad usage or an
  invalid argument, 1 for anything else.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import grpc
from google.protobuf import timestamp_pb2
from google.protobuf.message import Message

# The rest of the plumbing, one module each, importable from here as before.
from cli.choices import enum_choices, enum_number, enum_short
from cli.errors import CliError, UsageError, field_violations, rpc_error
from cli.options import ApiKey, JsonOut, Limit, PageToken
from cli.output import _cell, _print_table, emit, emit_deleted, emit_list, note, print_json, stderr, stdout, to_dict
from libs.clients import CLIENTS, ServiceClient
from libs.config import CommonSettings, ConfigError

__all__ = [
    "DATA_DIR_ENV", "DEFAULT_DATA_DIR", "MAX_PAGE_SIZE", "REPO_ROOT", "ApiKey", "CliError", "Creds", "JsonOut",
    "Limit", "PageToken", "UsageError", "_cell", "_print_table", "account_creds", "account_key", "admin_creds",
    "admin_token", "client", "data_dirs", "emit", "emit_deleted", "emit_list", "enum_choices", "enum_number",
    "enum_short", "field_mask", "field_violations", "list_pages", "note", "print_json", "rpc", "rpc_error",
    "run_async", "service_addr", "settings", "stderr", "stdout", "timestamp", "to_dict",
]  # fmt: skip

M = TypeVar("M", bound=Message)
T = TypeVar("T")

# Where `make run` keeps its state (embedded Postgres, generated tokens).
DATA_DIR_ENV = "CLICKTRAIL_DATA_DIR"
DEFAULT_DATA_DIR = ".clicktrail"
REPO_ROOT = Path(__file__).resolve().parent.parent
# Largest page asked of a server in one call; lists follow next_page_token.
MAX_PAGE_SIZE = 100


# --------------------------------------------------------------------------- settings and credentials


def settings() -> CommonSettings:
    """What the CLI reads: service addresses, the deadline and TLS (CommonSettings)."""
    try:
        return CommonSettings.load()
    except ConfigError as exc:
        raise UsageError(str(exc)) from exc


def data_dirs() -> list[Path]:
    """Where `make run` may have written its tokens, most specific first."""
    configured = os.environ.get(DATA_DIR_ENV, "")
    dirs = [Path(configured)] if configured else []
    dirs += [Path.cwd() / DEFAULT_DATA_DIR, REPO_ROOT / DEFAULT_DATA_DIR]
    out: list[Path] = []
    for d in dirs:
        if d not in out:
            out.append(d)
    return out


def admin_token() -> str:
    """CLICKTRAIL_ADMIN_TOKEN, else the admin-token file `make run` wrote."""
    token = os.environ.get("CLICKTRAIL_ADMIN_TOKEN", "").strip()
    if token:
        return token
    for d in data_dirs():
        path = d / "admin-token"
        try:
            token = path.read_text().strip()
        except OSError:
            continue
        if token:
            return token
    raise UsageError(
        "no admin token: set CLICKTRAIL_ADMIN_TOKEN, or run this where `make run` wrote .clicktrail/admin-token"
    )


@dataclasses.dataclass(frozen=True)
class Creds:
    """What a call authenticates with: a bearer token, and for the admin token
    acting on one account, that account's id."""

    token: str
    account_id: str = ""
    admin: bool = False


def admin_creds(account_id: str = "") -> Creds:
    return Creds(admin_token(), account_id=account_id, admin=True)


def account_creds(api_key: str = "") -> Creds:
    return Creds(account_key(api_key))


def account_key(api_key: str = "") -> str:
    """The account API key: --api-key, else CLICKTRAIL_API_KEY."""
    key = (api_key or os.environ.get("CLICKTRAIL_API_KEY", "")).strip()
    if not key:
        raise UsageError(
            "no API key: pass --api-key or set CLICKTRAIL_API_KEY (`clicktrail account create` prints one)"
        )
    return key


def service_addr(service: str) -> str:
    """host:port of a service: CLICKTRAIL_<SERVICE>_ADDR, else its default."""
    return settings().addr_of(service)


# --------------------------------------------------------------------------- calls


def client(service: str, creds: Creds) -> ServiceClient:
    """The typed client of ``service`` (libs.clients) with these credentials, the
    configured address and TLS, and a deadline of at least 10 s."""
    cfg = settings()
    try:
        return CLIENTS[service].connect(
            cfg,
            token=creds.token,
            account_id=creds.account_id,
            deadline_s=max(cfg.grpc_deadline_s, 10.0),
        )
    except ConfigError as exc:
        raise UsageError(str(exc)) from exc


def run_async(make: Callable[[ServiceClient], Awaitable[T]], service: str, creds: Creds) -> T:
    """Connect to ``service`` (its typed client), run ``make(client)``, close it;
    a failed call becomes one CliError line (cli.errors.rpc_error)."""
    addr = service_addr(service)

    async def go() -> T:
        async with client(service, creds) as c:
            return await make(c)

    try:
        return asyncio.run(go())
    except grpc.aio.AioRpcError as err:  # libs.clients.CallError
        raise rpc_error(err, service, addr, admin=creds.admin) from None


def rpc(service: str, stub: type, method: str, request: Message, creds: Creds) -> Any:
    """One unary call, e.g. ``rpc("links", LinksServiceStub, "GetApp", req, account_creds(key))``."""

    async def call(c: ServiceClient) -> Any:
        return await getattr(c.stub(stub), method)(request)

    return run_async(call, service, creds)


def list_pages(
    service: str,
    stub: type,
    method: str,
    request: Message,
    items: str,
    creds: Creds,
    *,
    limit: int,
    page_token: str = "",
) -> tuple[list[Any], str]:
    """Calls a List method page after page (``page_size``/``page_token``/
    ``next_page_token``) until ``limit`` items or the last page; returns the
    items and the token to continue from ("" when there is nothing more)."""
    if limit < 1:
        raise UsageError("--limit must be at least 1")

    async def call(c: ServiceClient) -> tuple[list[Any], str]:
        method_fn = getattr(c.stub(stub), method)
        got: list[Any] = []
        token_ = page_token
        while True:
            req = type(request)()
            req.CopyFrom(request)
            req.page_size = min(MAX_PAGE_SIZE, limit - len(got))  # type: ignore[attr-defined]
            req.page_token = token_  # type: ignore[attr-defined]
            resp = await method_fn(req)
            page = list(getattr(resp, items))
            got.extend(page[: limit - len(got)])
            token_ = resp.next_page_token
            if not token_ or len(got) >= limit or not page:
                return got, token_

    return run_async(call, service, creds)


def field_mask(paths: Iterable[str]) -> list[str]:
    out = list(paths)
    if not out:
        raise UsageError("nothing to update: give at least one field flag (see --help)")
    return out


def timestamp(value: dt.datetime | None) -> timestamp_pb2.Timestamp | None:
    """A Timestamp from a CLI datetime; naive times are taken as UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value)
    return ts
