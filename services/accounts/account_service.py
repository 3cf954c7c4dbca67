"""clicktrail.accounts.v1.AccountService: tenants and their secrets."""

from __future__ import annotations

import re
import zoneinfo
from typing import Any

import asyncpg
import grpc
from clicktrail.accounts.v1 import accounts_pb2 as pb
from clicktrail.accounts.v1 import accounts_pb2_grpc

from libs import auth
from libs.api import to_timestamp
from libs.errors import NotFound, Validator
from libs.ids import new_resource_id
from libs.paging import Page
from services.accounts.secrets import issue_secret

_CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_NAME = 200

INSERT_ACCOUNT = (
    "INSERT INTO accounts.accounts (account_id, name, currency_code, time_zone) VALUES ($1, $2, $3, $4) RETURNING *"
)
GET_ACCOUNT = "SELECT * FROM accounts.accounts WHERE account_id = $1"
LOCK_ACCOUNT = "SELECT 1 FROM accounts.accounts WHERE account_id = $1 FOR UPDATE"
LIST_ACCOUNTS = "SELECT * FROM accounts.accounts WHERE account_id > $1 ORDER BY account_id LIMIT $2"


def _account(row: asyncpg.Record) -> pb.Account:
    return pb.Account(
        account_id=row["account_id"],
        name=row["name"],
        currency_code=row["currency_code"],
        time_zone=row["time_zone"],
        create_time=to_timestamp(row["create_time"]),
    )


def check_new_account(request: pb.CreateAccountRequest) -> tuple[str, str, str]:
    """A new account's name, currency (default USD; "usd" is USD) and time zone (default UTC)."""
    v = Validator()
    name = request.name.strip()
    v.check(bool(name), "name", "is required")
    v.check(len(name) <= MAX_NAME, "name", f"must be at most {MAX_NAME} characters")
    currency = request.currency_code.strip().upper() or "USD"
    v.check(bool(_CURRENCY.match(currency)), "currency_code", f"{currency!r} is not an ISO 4217 code like USD")
    tz = request.time_zone or "UTC"
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        v.add("time_zone", f"{tz!r} is not an IANA time zone like Europe/Berlin")
    v.raise_if_any()
    return name, currency, tz


def _target_account(requested: str) -> str:
    """The account a call acts on: the caller's own, or (admin) the one named."""
    p = auth.principal()
    if p.kind == "admin":
        if not requested:
            v = Validator()
            v.add("account_id", "is required with the admin token")
            v.raise_if_any()
        return requested
    own = auth.require_account()
    if requested and requested != own:
        # Same answer as a missing account: nothing about other tenants leaks.
        raise NotFound(f"account {requested} not found")
    return own


class AccountService(accounts_pb2_grpc.AccountServiceServicer):
    def __init__(self, pool: asyncpg.Pool, keys: auth.KeyStore) -> None:
        self._pool = pool
        self._keys = keys

    async def CreateAccount(self, request: pb.CreateAccountRequest, context: Any) -> pb.CreateAccountResponse:
        auth.require_admin()
        name, currency, tz = check_new_account(request)
        account_id = new_resource_id("acc")
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(INSERT_ACCOUNT, account_id, name, currency, tz)
            api_key = await issue_secret(conn, self._keys, account_id, "account")
            token = await issue_secret(conn, self._keys, account_id, "postback")
        return pb.CreateAccountResponse(account=_account(row), api_key=api_key, postback_token=token)

    async def GetAccount(self, request: pb.GetAccountRequest, context: Any) -> pb.GetAccountResponse:
        account_id = _target_account(request.account_id)
        row = await self._pool.fetchrow(GET_ACCOUNT, account_id)
        if row is None:
            raise NotFound(f"account {account_id} not found")
        return pb.GetAccountResponse(account=_account(row))

    async def ListAccounts(self, request: pb.ListAccountsRequest, context: Any) -> pb.ListAccountsResponse:
        auth.require_admin()
        page = Page.of(request, "after")
        rows = await self._pool.fetch(LIST_ACCOUNTS, page.get("after", "", str), page.limit)
        rows, token = page.cut(rows, lambda r: {"after": r["account_id"]})
        return pb.ListAccountsResponse(accounts=[_account(r) for r in rows], next_page_token=token)

    async def _rotate(self, requested: str, kind: str) -> str:
        account_id = _target_account(requested)
        async with self._pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval(LOCK_ACCOUNT, account_id):
                raise NotFound(f"account {account_id} not found")
            return await issue_secret(conn, self._keys, account_id, kind)

    async def RotateApiKey(self, request: pb.RotateApiKeyRequest, context: Any) -> pb.RotateApiKeyResponse:
        return pb.RotateApiKeyResponse(api_key=await self._rotate(request.account_id, "account"))

    async def RotatePostbackToken(
        self, request: pb.RotatePostbackTokenRequest, context: Any
    ) -> pb.RotatePostbackTokenResponse:
        return pb.RotatePostbackTokenResponse(postback_token=await self._rotate(request.account_id, "postback"))


def register(server: grpc.aio.Server, pool: asyncpg.Pool, keys: auth.KeyStore) -> list[str]:
    accounts_pb2_grpc.add_AccountServiceServicer_to_server(AccountService(pool, keys), server)
    return [pb.DESCRIPTOR.services_by_name["AccountService"].full_name]
