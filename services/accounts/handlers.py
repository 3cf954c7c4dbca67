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
from libs.api import decode_page_token, encode_page_token, page_size, to_timestamp
from libs.errors import NotFound, PermissionDenied, Validator
from libs.ids import new_resource_id

_CURRENCY = re.compile(r"^[A-Z]{3}$")


def _account(row: asyncpg.Record) -> pb.Account:
    return pb.Account(
        account_id=row["account_id"],
        name=row["name"],
        currency_code=row["currency_code"],
        time_zone=row["time_zone"],
        create_time=to_timestamp(row["create_time"]),
    )


async def issue_secret(
    conn: asyncpg.Connection, keys: auth.KeyStore, account_id: str, kind: str, app_id: str | None = None
) -> str:
    """Revoke the live secret of this kind (and app) and store a new one; returns it."""
    revoked = await conn.fetch(
        "UPDATE accounts.credentials SET revoke_time = now()"
        " WHERE account_id = $1 AND kind = $2 AND app_id IS NOT DISTINCT FROM $3 AND revoke_time IS NULL"
        " RETURNING key_id",
        account_id,
        kind,
        app_id,
    )
    for r in revoked:
        keys.invalidate(r["key_id"])
    secret, key_id, digest = auth.make_secret(kind)  # type: ignore[arg-type]
    await conn.execute(
        "INSERT INTO accounts.credentials (key_id, account_id, kind, app_id, secret_hash) VALUES ($1, $2, $3, $4, $5)",
        key_id,
        account_id,
        kind,
        app_id,
        digest,
    )
    return secret


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
        v = Validator()
        name = request.name.strip()
        v.check(bool(name), "name", "is required")
        v.check(len(name) <= 200, "name", "must be at most 200 characters")
        currency = request.currency_code.strip().upper() or "USD"  # "usd" is USD
        v.check(bool(_CURRENCY.match(currency)), "currency_code", f"{currency!r} is not an ISO 4217 code like USD")
        tz = request.time_zone or "UTC"
        try:
            zoneinfo.ZoneInfo(tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            v.add("time_zone", f"{tz!r} is not an IANA time zone like Europe/Berlin")
        v.raise_if_any()
        account_id = new_resource_id("acc")
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "INSERT INTO accounts.accounts (account_id, name, currency_code, time_zone)"
                " VALUES ($1, $2, $3, $4) RETURNING *",
                account_id,
                name,
                currency,
                tz,
            )
            api_key = await issue_secret(conn, self._keys, account_id, "account")
            token = await issue_secret(conn, self._keys, account_id, "postback")
        return pb.CreateAccountResponse(account=_account(row), api_key=api_key, postback_token=token)

    async def GetAccount(self, request: pb.GetAccountRequest, context: Any) -> pb.GetAccountResponse:
        account_id = _target_account(request.account_id)
        row = await self._pool.fetchrow("SELECT * FROM accounts.accounts WHERE account_id = $1", account_id)
        if row is None:
            raise NotFound(f"account {account_id} not found")
        return pb.GetAccountResponse(account=_account(row))

    async def ListAccounts(self, request: pb.ListAccountsRequest, context: Any) -> pb.ListAccountsResponse:
        auth.require_admin()
        size = page_size(request.page_size)
        cursor = decode_page_token(request.page_token, "after")
        rows = await self._pool.fetch(
            "SELECT * FROM accounts.accounts WHERE account_id > $1 ORDER BY account_id LIMIT $2",
            cursor["after"] if cursor else "",
            size + 1,
        )
        token = encode_page_token({"after": rows[size - 1]["account_id"]}) if len(rows) > size else ""
        return pb.ListAccountsResponse(accounts=[_account(r) for r in rows[:size]], next_page_token=token)

    async def _rotate(self, requested: str, kind: str) -> str:
        account_id = _target_account(requested)
        async with self._pool.acquire() as conn, conn.transaction():
            exists = await conn.fetchval("SELECT 1 FROM accounts.accounts WHERE account_id = $1 FOR UPDATE", account_id)
            if not exists:
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


__all__ = ["AccountService", "PermissionDenied", "issue_secret", "register"]
