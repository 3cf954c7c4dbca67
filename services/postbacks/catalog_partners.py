"""CreateCatalogPartner: a partner (a links resource) with every postback
template of a catalog entry, all or nothing.

1. Everything is validated first (settings, every template); nothing is written
   when any of it is wrong.
2. An intent row (postbacks.partner_creations) names the new partner id.
3. One postbacks transaction deletes the intent row (holding its lock), writes
   every template and, last, asks the links service for the partner under that
   id (idempotent). It commits only when all of that worked.
4. When anything fails the transaction rolls back (no template stays) and the
   partner is removed again from the links service. If that cannot be done
   now, the intent row stays and the sweeper, run by every postbacks process,
   removes the partner later: a failed creation never leaves a partner behind.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import grpc
import orjson
from clicktrail.links.v1 import links_pb2, links_pb2_grpc

from libs.config import Settings
from libs.errors import InvalidArgument, Unavailable, Validator
from libs.grpc_client import make_channel
from libs.ids import new_resource_id
from libs.logging import get_logger
from libs.tls import channel_credentials
from services.postbacks import catalog
from services.postbacks.quota import check_template_quota
from services.postbacks.render import check_template

log = get_logger("postbacks")

# A leftover intent younger than this may still be in flight (the links call has a 5 s deadline).
SWEEP_GRACE_S = 60.0
SWEEP_EVERY_S = 30.0
MAX_NAME = 200

INSERT_TEMPLATE = (
    "INSERT INTO postbacks.templates (account_id, template_id, partner_id, app_id, name, trigger, goal_id,"
    " sending_mode, method, url_template, body_template, headers, settings, signature_header, enabled, catalog_key)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13::jsonb, $14, $15, $16)"
)


def plan(key: str, name: str, given: dict[str, str], app_id: str) -> tuple[str, list[dict[str, Any]]]:
    """The partner name and the templates (stored columns) a creation writes; every
    problem with the request is raised as one INVALID_ARGUMENT."""
    e = catalog.entry(key.strip())
    if e is None:
        raise InvalidArgument("catalog_key", f"{key!r} is not in the catalog (see ListCatalog)")
    v = Validator()
    name = name.strip() or e["name"]
    v.check(len(name) <= MAX_NAME, "name", f"must be at most {MAX_NAME} characters")
    values = catalog.settings_for(e, given, v)
    v.raise_if_any()  # the templates' own checks would only repeat a missing setting
    templates = []
    for i, ct in enumerate(e["templates"]):
        t = {
            "template_id": new_resource_id("pbt"), "partner_id": "prt_pending", "app_id": app_id.strip(),
            "name": ct["name"], "trigger": ct["trigger"], "goal_id": "", "sending_mode": ct["sending_mode"],
            "method": ct["method"], "url_template": ct["url_template"], "body_template": ct.get("body_template", ""),
            "headers": dict(ct.get("headers", {})), "settings": values, "signature_header": "", "enabled": True,
            "catalog_key": e["key"],
        }  # fmt: skip
        check_template(t, v, prefix=f"templates[{i}].")
        templates.append(t)
    v.raise_if_any()
    return name, templates


async def _links_call(settings: Settings, account_id: str, method: str, request: Any) -> Any:
    """Links, called as the service (only a service may choose a partner's id) for the account."""
    async with make_channel(
        settings.links_addr, token=settings.internal_token, account_id=account_id, deadline_s=5.0,
        tls=channel_credentials(settings),
    ) as ch:  # fmt: skip
        return await getattr(links_pb2_grpc.LinksServiceStub(ch), method)(request)


async def remove_partner(settings: Settings, account_id: str, partner_id: str, *, sure: bool) -> bool:
    """Deletes the partner from the links service; True when it is gone for good.
    NOT_FOUND counts only when ``sure`` (no create of it can still be in flight)."""
    try:
        await _links_call(settings, account_id, "DeletePartner", links_pb2.DeletePartnerRequest(partner_id=partner_id))
    except grpc.aio.AioRpcError as err:
        if err.code() == grpc.StatusCode.NOT_FOUND:
            return sure
        log.warning("catalog_partner_undo_failed", account_id=account_id, partner_id=partner_id, error=err.details())
        return False
    return True


async def _forget(pool: asyncpg.Pool, account_id: str, partner_id: str) -> None:
    await pool.execute(
        "DELETE FROM postbacks.partner_creations WHERE account_id = $1 AND partner_id = $2", account_id, partner_id
    )


async def create(
    pool: asyncpg.Pool, settings: Settings, account_id: str, key: str, name: str,
    given: dict[str, str], app_id: str,
) -> tuple[str, str, list[str]]:  # fmt: skip
    """(partner_id, partner name, template ids), or an error with nothing left behind."""
    name, templates = plan(key, name, given, app_id)
    partner_id = new_resource_id("prt")
    await pool.execute(
        "INSERT INTO postbacks.partner_creations (account_id, partner_id) VALUES ($1, $2)", account_id, partner_id
    )
    asked = False  # has the links service been asked for the partner?
    try:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "DELETE FROM postbacks.partner_creations WHERE account_id = $1 AND partner_id = $2",
                account_id,
                partner_id,
            )
            await check_template_quota(conn, account_id, len(templates), settings.postback_templates_per_account)
            for t in templates:
                await conn.execute(
                    INSERT_TEMPLATE, account_id, t["template_id"], partner_id, t["app_id"], t["name"], t["trigger"],
                    t["goal_id"], t["sending_mode"], t["method"], t["url_template"], t["body_template"],
                    orjson.dumps(t["headers"]).decode(), orjson.dumps(t["settings"]).decode(), t["signature_header"],
                    True, t["catalog_key"],
                )  # fmt: skip
            asked = True
            partner = links_pb2.Partner(partner_id=partner_id, name=name, catalog_key=templates[0]["catalog_key"])
            try:
                create_partner = links_pb2.CreatePartnerRequest(partner=partner)
                await _links_call(settings, account_id, "CreatePartner", create_partner)
            except grpc.aio.AioRpcError as err:
                if err.code() == grpc.StatusCode.INVALID_ARGUMENT:
                    asked = False  # refused: no partner was made
                    raise InvalidArgument("name", err.details() or "refused by the links service") from None
                raise Unavailable(f"cannot create the partner in the links service: {err.details()}") from None
    except BaseException:
        # The templates are rolled back; the partner must go too.
        try:
            if not asked:
                await _forget(pool, account_id, partner_id)
            elif await asyncio.shield(remove_partner(settings, account_id, partner_id, sure=False)):
                await _forget(pool, account_id, partner_id)
        except Exception as exc:
            log.warning("catalog_partner_undo_deferred", account_id=account_id, partner_id=partner_id, error=str(exc))
        raise
    log.info("catalog_partner_created", account_id=account_id, partner_id=partner_id, catalog_key=key)
    return partner_id, name, [t["template_id"] for t in templates]


async def sweep_once(pool: asyncpg.Pool, settings: Settings, grace_s: float = SWEEP_GRACE_S) -> int:
    """Removes the partners of failed creations older than ``grace_s``; how many."""
    done = 0
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            "SELECT account_id, partner_id FROM postbacks.partner_creations"
            " WHERE create_time < now() - make_interval(secs => $1) ORDER BY create_time LIMIT 100"
            " FOR UPDATE SKIP LOCKED",
            grace_s,
        )
        for r in rows:
            if await remove_partner(settings, r["account_id"], r["partner_id"], sure=True):
                await conn.execute(
                    "DELETE FROM postbacks.partner_creations WHERE account_id = $1 AND partner_id = $2",
                    r["account_id"],
                    r["partner_id"],
                )
                done += 1
    return done


async def sweeper(pool: asyncpg.Pool, settings: Settings) -> None:
    """The background loop (every postbacks process runs one; SKIP LOCKED shares the work)."""
    while True:
        await asyncio.sleep(SWEEP_EVERY_S)
        try:
            n = await sweep_once(pool, settings)
            if n:
                log.info("catalog_partner_swept", removed=n)
        except Exception as exc:
            log.warning("catalog_partner_sweep_failed", error=str(exc))
