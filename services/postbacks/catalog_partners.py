"""CreateCatalogPartner: a partner (a links resource) with every postback
template of a catalog entry, all or nothing, and no call to the links service
inside a database transaction.

1. Everything is validated first (settings, every template, the template
   quota); nothing is written when any of it is wrong.
2. An intent row (postbacks.partner_creations) names the new partner id.
3. The links service is asked for the partner under that id (idempotent),
   outside any transaction.
4. One postbacks transaction deletes the intent row (it must still be there:
   the sweeper has not taken it), checks the quota again under the account's
   lock and writes every template. It commits only when all of that worked.
5. When anything fails, no template stays (the transaction rolled back or
   never ran) and the partner is removed again from the links service. If that
   cannot be done now, the intent row stays and the sweeper, run by every
   postbacks process, removes the partner later: a failed creation never
   leaves a partner behind.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import grpc
from clicktrail.links.v1 import links_pb2

from libs.clients import CallError, LinksClient, for_account
from libs.config import PostbacksSettings
from libs.errors import InvalidArgument, Unavailable, Validator
from libs.ids import new_resource_id
from libs.logging import get_logger
from services.postbacks import catalog, template_store
from services.postbacks.quota import check_template_quota
from services.postbacks.render import MODES, check_template

log = get_logger("postbacks")

# A leftover intent younger than this may still be in flight (the links call has a 5 s deadline).
SWEEP_GRACE_S = 60.0
SWEEP_EVERY_S = 30.0
MAX_NAME = 200
LINKS_DEADLINE_S = 5.0
MAX_GOAL_ID = 64
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Choice:
    """The caller's choice for one catalog template (CatalogTemplateChoice):
    send it or not, only one goal's conversions ("" = every one), a sending
    mode ("" = the catalog's)."""

    template_index: int
    enabled: bool
    goal_id: str = ""
    sending_mode: str = ""


def _chosen(e: Mapping[str, Any], choices: Sequence[Choice], v: Validator) -> dict[int, Choice]:
    """The choices by template index; each bad one is a violation naming ``choices[i].<field>``."""
    out: dict[int, Choice] = {}
    n = len(e["templates"])
    for i, c in enumerate(choices):
        where = f"choices[{i}]"
        if not 0 <= c.template_index < n:
            v.add(f"{where}.template_index", f"must be 0 to {n - 1}: {e['name']} has {n} templates (see ListCatalog)")
            continue
        if c.template_index in out:
            first = next(j for j, d in enumerate(choices) if d.template_index == c.template_index)
            v.add(f"{where}.template_index", f"template {c.template_index} is already chosen by choices[{first}]")
            continue
        ct = e["templates"][c.template_index]
        if c.goal_id:
            if ct["trigger"] != "conversion":
                fires = ct["trigger"].replace("_", " ")
                v.add(f"{where}.goal_id", f"is only for a conversion template; {ct['name']!r} fires on {fires}")
            elif len(c.goal_id) > MAX_GOAL_ID or _CONTROL.search(c.goal_id):
                v.add(f"{where}.goal_id", f"is not a goal id (at most {MAX_GOAL_ID} characters, no control characters)")
        if c.sending_mode and c.sending_mode not in MODES:
            v.add(f"{where}.sending_mode", "must be attributed or all (or unspecified: the catalog's)")
        out[c.template_index] = c
    return out


def plan(
    key: str, name: str, given: dict[str, str], app_id: str, choices: Sequence[Choice] = ()
) -> tuple[str, list[dict[str, Any]]]:
    """The partner name and the templates (stored columns) a creation writes; every
    problem with the request is raised as one INVALID_ARGUMENT. With ``choices``,
    each template is written as chosen (enabled or not, goal, mode) and a template
    with no choice is written disabled: never enabled first and changed after."""
    e = catalog.entry(key.strip())
    if e is None:
        raise InvalidArgument("catalog_key", f"{key!r} is not in the catalog (see ListCatalog)")
    v = Validator()
    name = name.strip() or e["name"]
    v.check(len(name) <= MAX_NAME, "name", f"must be at most {MAX_NAME} characters")
    values = catalog.settings_for(e, given, v)
    chosen = _chosen(e, choices, v)
    v.raise_if_any()  # the templates' own checks would only repeat a missing setting
    templates = []
    for i, ct in enumerate(e["templates"]):
        c = chosen.get(i)
        t = {
            "template_id": new_resource_id("pbt"), "partner_id": "prt_pending", "app_id": app_id.strip(),
            "name": ct["name"], "trigger": ct["trigger"], "goal_id": "", "sending_mode": ct["sending_mode"],
            "method": ct["method"], "url_template": ct["url_template"], "body_template": ct.get("body_template", ""),
            "headers": dict(ct.get("headers", {})), "settings": values, "signature_header": "",
            "enabled": c.enabled if c else not choices, "catalog_key": e["key"],
        }  # fmt: skip
        if c and c.goal_id:
            t.update(trigger="goal", goal_id=c.goal_id)
        if c and c.sending_mode:
            t["sending_mode"] = c.sending_mode
        check_template(t, v, prefix=f"templates[{i}].")
        templates.append(t)
    v.raise_if_any()
    return name, templates


def links_client(settings: PostbacksSettings) -> LinksClient:
    """Links, called as the service (only a service may choose a partner's id), naming the account per call."""
    return LinksClient.internal(settings, deadline_s=LINKS_DEADLINE_S)


async def remove_partner(links: LinksClient, account_id: str, partner_id: str, *, sure: bool) -> bool:
    """Deletes the partner from the links service; True when it is gone for good.
    NOT_FOUND counts only when ``sure`` (no create of it can still be in flight)."""
    try:
        await links.links.DeletePartner(
            links_pb2.DeletePartnerRequest(partner_id=partner_id), metadata=for_account(account_id)
        )
    except CallError as err:
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
    pool: asyncpg.Pool, settings: PostbacksSettings, links: LinksClient, account_id: str, key: str, name: str,
    given: dict[str, str], app_id: str, choices: Sequence[Choice] = (),
) -> tuple[str, str, list[str]]:  # fmt: skip
    """(partner_id, partner name, template ids), or an error with nothing left behind."""
    name, templates = plan(key, name, given, app_id, choices)
    limit = settings.postback_templates_per_account
    async with pool.acquire() as conn:  # the quota, before anything is made (checked again below, locked)
        await check_template_quota(conn, account_id, len(templates), limit)
    partner_id = new_resource_id("prt")
    await pool.execute(
        "INSERT INTO postbacks.partner_creations (account_id, partner_id) VALUES ($1, $2)", account_id, partner_id
    )
    asked = True  # has the links service been asked for the partner (may it have it)?
    try:
        partner = links_pb2.Partner(partner_id=partner_id, name=name, catalog_key=templates[0]["catalog_key"])
        try:
            await links.links.CreatePartner(
                links_pb2.CreatePartnerRequest(partner=partner), metadata=for_account(account_id)
            )
        except CallError as err:
            if err.code() == grpc.StatusCode.INVALID_ARGUMENT:
                asked = False  # refused: no partner was made
                raise InvalidArgument("name", err.details() or "refused by the links service") from None
            raise Unavailable(f"cannot create the partner in the links service: {err.details()}") from None
        async with pool.acquire() as conn, conn.transaction():
            gone = await conn.execute(
                "DELETE FROM postbacks.partner_creations WHERE account_id = $1 AND partner_id = $2",
                account_id,
                partner_id,
            )
            if gone.endswith(" 0"):  # the sweeper took it (this creation outlived SWEEP_GRACE_S)
                raise Unavailable("the partner creation took too long: try again")
            await check_template_quota(conn, account_id, len(templates), limit)
            for t in templates:
                await template_store.insert(conn, account_id, t["template_id"], {**t, "partner_id": partner_id})
    except BaseException:
        # No template was written; the partner must go too.
        try:
            if not asked:
                await _forget(pool, account_id, partner_id)
            elif await asyncio.shield(remove_partner(links, account_id, partner_id, sure=False)):
                await _forget(pool, account_id, partner_id)
        except Exception as exc:
            log.warning("catalog_partner_undo_deferred", account_id=account_id, partner_id=partner_id, error=str(exc))
        raise
    log.info("catalog_partner_created", account_id=account_id, partner_id=partner_id, catalog_key=key)
    return partner_id, name, [t["template_id"] for t in templates]


async def sweep_once(pool: asyncpg.Pool, links: LinksClient, grace_s: float = SWEEP_GRACE_S) -> int:
    """Removes the partners of failed creations older than ``grace_s``; how many.
    The intents are claimed first (their time moved on, so no other sweeper
    takes them for ``grace_s``), then the links service is called outside any
    transaction, and the intents of the partners removed are deleted."""
    claimed = await pool.fetch(
        "UPDATE postbacks.partner_creations c SET create_time = now() FROM ("
        " SELECT account_id, partner_id FROM postbacks.partner_creations"
        " WHERE create_time < now() - make_interval(secs => $1) ORDER BY create_time LIMIT 100"
        " FOR UPDATE SKIP LOCKED) o"
        " WHERE c.account_id = o.account_id AND c.partner_id = o.partner_id RETURNING c.account_id, c.partner_id",
        grace_s,
    )
    done = 0
    for r in claimed:
        if await remove_partner(links, r["account_id"], r["partner_id"], sure=True):
            await _forget(pool, r["account_id"], r["partner_id"])
            done += 1
    return done


async def sweeper(pool: asyncpg.Pool, links: LinksClient) -> None:
    """The background loop (every postbacks process runs one; SKIP LOCKED shares the work)."""
    while True:
        await asyncio.sleep(SWEEP_EVERY_S)
        try:
            n = await sweep_once(pool, links)
            if n:
                log.info("catalog_partner_swept", removed=n)
        except Exception as exc:
            log.warning("catalog_partner_sweep_failed", error=str(exc))
