"""An account's secrets (API key, postback token, app keys): issuing one revokes
the live one of its kind."""

from __future__ import annotations

import asyncpg

from libs import auth

REVOKE_LIVE = (
    "UPDATE accounts.credentials SET revoke_time = now()"
    " WHERE account_id = $1 AND kind = $2 AND app_id IS NOT DISTINCT FROM $3 AND revoke_time IS NULL"
    " RETURNING key_id"
)
STORE_NEW_CREDENTIAL = (
    "INSERT INTO accounts.credentials (key_id, account_id, kind, app_id, secret_hash) VALUES ($1, $2, $3, $4, $5)"
)


async def issue_secret(
    conn: asyncpg.Connection, keys: auth.KeyStore, account_id: str, kind: str, app_id: str | None = None
) -> str:
    """Revoke the live secret of this kind (and app) and store a new one; returns it."""
    revoked = await conn.fetch(REVOKE_LIVE, account_id, kind, app_id)
    for r in revoked:
        keys.invalidate(r["key_id"])
    secret, key_id, digest = auth.make_secret(kind)  # type: ignore[arg-type]
    await conn.execute(STORE_NEW_CREDENTIAL, key_id, account_id, kind, app_id, digest)
    return secret
