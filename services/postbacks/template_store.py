"""The templates and the partners' signing secrets (SQL only)."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson

from libs.errors import NotFound

TEMPLATE_COLUMNS = (
    "template_id, partner_id, app_id, trigger, goal_id, sending_mode, method, url_template, body_template,"
    " headers, settings, signature_header, enabled"
)
_KEYED = (
    "EXISTS (SELECT 1 FROM postbacks.partner_secrets s WHERE s.account_id = t.account_id"
    " AND s.partner_id = t.partner_id) AS has_secret"
)
_LOAD = (
    f"SELECT {TEMPLATE_COLUMNS}, name, catalog_key, create_time, update_time, {_KEYED},"
    " coalesce((SELECT secret FROM postbacks.partner_secrets s WHERE s.account_id = t.account_id"
    " AND s.partner_id = t.partner_id), '') AS secret"
    " FROM postbacks.templates t WHERE account_id = $1 AND template_id = $2"
)
_LIST = (
    f"SELECT {TEMPLATE_COLUMNS}, name, catalog_key, create_time, update_time, {_KEYED}"
    " FROM postbacks.templates t WHERE t.account_id = $1 AND ($2::text IS NULL OR template_id > $2)"
    " AND ($3::text IS NULL OR partner_id = $3) ORDER BY template_id LIMIT $4"
)
_FIRING = (
    f"SELECT {TEMPLATE_COLUMNS}, coalesce(s.secret, '') AS secret FROM postbacks.templates t"
    " LEFT JOIN postbacks.partner_secrets s USING (account_id, partner_id) WHERE t.account_id = $1 AND t.enabled"
)
_INSERT = (
    "INSERT INTO postbacks.templates (account_id, template_id, partner_id, app_id, name, trigger, goal_id,"
    " sending_mode, method, url_template, body_template, headers, settings, signature_header, enabled, catalog_key)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13::jsonb, $14, $15, $16)"
)
_UPDATE = (
    "UPDATE postbacks.templates SET app_id = $3, name = $4, trigger = $5, goal_id = $6, sending_mode = $7,"
    " method = $8, url_template = $9, body_template = $10, headers = $11::jsonb, settings = $12::jsonb,"
    " signature_header = $13, enabled = $14, update_time = now() WHERE account_id = $1 AND template_id = $2"
)
_UPSERT_KEY = (
    "INSERT INTO postbacks.partner_secrets (account_id, partner_id, secret) VALUES ($1, $2, $3)"
    " ON CONFLICT (account_id, partner_id) DO UPDATE SET secret = EXCLUDED.secret, update_time = now()"
)


def template_dict(row: asyncpg.Record) -> dict[str, Any]:
    """A template row as a dict, its JSON columns decoded."""
    t = dict(row)
    for key in ("headers", "settings"):
        if isinstance(t.get(key), str):
            t[key] = orjson.loads(t[key])
    return t


async def load(conn: asyncpg.Connection, account_id: str, template_id: str) -> dict[str, Any]:
    """The template with has_secret and its partner's secret; NotFound otherwise."""
    row = await conn.fetchrow(_LOAD, account_id, template_id)
    if row is None:
        raise NotFound(f"template {template_id} not found")
    return template_dict(row)


async def page(
    pool: asyncpg.Pool, account_id: str, after: str | None, partner_id: str | None, limit: int
) -> list[dict[str, Any]]:
    """Templates by id after ``after``, of one partner when given."""
    return [template_dict(r) for r in await pool.fetch(_LIST, account_id, after, partner_id, limit)]


async def firing(conn: asyncpg.Connection, account_id: str) -> list[dict[str, Any]]:
    """The account's enabled templates with their partner's secret (the fan-out's)."""
    return [template_dict(r) for r in await conn.fetch(_FIRING, account_id)]


async def insert(conn: asyncpg.Connection, account_id: str, template_id: str, t: dict[str, Any]) -> None:
    await conn.execute(
        _INSERT, account_id, template_id, t["partner_id"], t["app_id"], t["name"], t["trigger"], t["goal_id"],
        t["sending_mode"], t["method"], t["url_template"], t["body_template"], orjson.dumps(t["headers"]).decode(),
        orjson.dumps(t["settings"]).decode(), t["signature_header"], t["enabled"], t["catalog_key"],
    )  # fmt: skip


async def update(conn: asyncpg.Connection, account_id: str, template_id: str, t: dict[str, Any]) -> None:
    await conn.execute(
        _UPDATE, account_id, template_id, t["app_id"], t["name"], t["trigger"], t["goal_id"], t["sending_mode"],
        t["method"], t["url_template"], t["body_template"], orjson.dumps(t["headers"]).decode(),
        orjson.dumps(t["settings"]).decode(), t["signature_header"], t["enabled"],
    )  # fmt: skip


async def delete(pool: asyncpg.Pool, account_id: str, template_id: str) -> bool:
    status = await pool.execute(
        "DELETE FROM postbacks.templates WHERE account_id = $1 AND template_id = $2", account_id, template_id
    )
    return not status.endswith(" 0")


async def save_secret(conn: asyncpg.Connection, account_id: str, partner_id: str, secret: str) -> None:
    await conn.execute(_UPSERT_KEY, account_id, partner_id, secret)


async def has_secret(conn: asyncpg.Connection, account_id: str, partner_id: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT 1 FROM postbacks.partner_secrets WHERE account_id = $1 AND partner_id = $2", account_id, partner_id
        )
    )
