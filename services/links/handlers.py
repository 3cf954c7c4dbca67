"""clicktrail.links.v1.LinksService: apps, partners, campaigns, links, and the
click/impression RPCs. Every query is scoped by the caller's account."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import functools
import ipaddress
from typing import Any

import asyncpg
from clicktrail.links.v1 import links_pb2 as pb
from clicktrail.links.v1 import links_pb2_grpc
from clicktrail.type.v1 import money_pb2

from libs import auth
from libs import quality as q
from libs.api import (
    decode_page_token,
    encode_page_token,
    format_money,
    from_timestamp,
    page_size,
    parse_money,
    to_timestamp,
    update_paths,
)
from libs.config import Settings
from libs.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied, Validator
from libs.ids import id_time, is_valid_id, new_resource_id, new_slug
from libs.macros import check_url_template
from services.accounts.handlers import issue_secret
from services.links.quality import QualityCache
from services.links.quality_api import QualityRpcs
from services.links.subids import (
    BLACKLIST,
    MAX_ENTRIES_PER_LIST,
    MAX_REASON,
    WHITELIST,
    SubIdListCache,
    canonical_sub_field,
    divert_blacklisted,
    sub_field_choices,
)
from services.links.subids import MAX_VALUE as MAX_SUB_VALUE
from services.links.touches import DESTINATION_MACROS, LinkCache, TouchRecorder, touch_message

MAX_NAME = 200
MAX_TOUCH_BATCH = 5000
MAX_LOOKUPS = 1000
MAX_WINDOW = dt.timedelta(days=90)

# Allowed status moves: publish, pause/resume, archive (terminal).
TRANSITIONS = {
    pb.CAMPAIGN_STATUS_DRAFT: {pb.CAMPAIGN_STATUS_ACTIVE, pb.CAMPAIGN_STATUS_ARCHIVED},
    pb.CAMPAIGN_STATUS_ACTIVE: {pb.CAMPAIGN_STATUS_PAUSED, pb.CAMPAIGN_STATUS_ARCHIVED},
    pb.CAMPAIGN_STATUS_PAUSED: {pb.CAMPAIGN_STATUS_ACTIVE, pb.CAMPAIGN_STATUS_ARCHIVED},
    pb.CAMPAIGN_STATUS_ARCHIVED: set(),
}
INTERNAL_CAMPAIGN_PATHS = frozenset({"status", "budget"})  # what analytics' rules change
FROZEN_WHEN_PUBLISHED = ("type", "traffic_type", "partner_id", "app_id", "target_goal_id")
CAMPAIGN_UPDATABLE = ("name", "status", "fallback_url", "budget", "invalid_traffic_action", *FROZEN_WHEN_PUBLISHED)
LINK_UPDATABLE = ("name", "destination_url", "ios_url", "android_url", "desktop_url", "app_id")


def _status_name(value: int) -> str:
    return pb.CampaignStatus.Name(value).removeprefix("CAMPAIGN_STATUS_").lower()


def _check_name(v: Validator, field: str, name: str) -> None:
    v.check(bool(name.strip()), field, "is required")
    v.check(len(name) <= MAX_NAME, field, f"must be at most {MAX_NAME} characters")


def _check_plain_url(v: Validator, field: str, url: str) -> None:
    """A URL without macros (fallback and store URLs)."""
    if url:
        problem = check_url_template(url, ())
        if problem:
            v.add(field, problem)


def _check_template(v: Validator, field: str, url: str, required: bool) -> None:
    if url or required:
        problem = check_url_template(url, DESTINATION_MACROS)
        if problem:
            v.add(
                field,
                problem
                + (
                    "" if "macro" not in problem else f"; known: {', '.join('{' + m + '}' for m in DESTINATION_MACROS)}"
                ),
            )


def _enum_ok(enum: Any, value: int) -> bool:
    return value in enum.values() and value != 0


def _check_invalid_action(v: Validator, value: int) -> None:
    v.check(
        value in pb.InvalidTrafficAction.values(),
        "campaign.invalid_traffic_action",
        "is not an action: redirect, fallback or block",
    )


def _app(row: asyncpg.Record) -> pb.App:
    return pb.App(
        app_id=row["app_id"], name=row["name"], platform=row["platform"], bundle_id=row["bundle_id"],
        store_url=row["store_url"], create_time=to_timestamp(row["create_time"]),
        update_time=to_timestamp(row["update_time"]),
    )  # fmt: skip


def _partner(row: asyncpg.Record) -> pb.Partner:
    return pb.Partner(
        partner_id=row["partner_id"], name=row["name"], catalog_key=row["catalog_key"],
        create_time=to_timestamp(row["create_time"]), update_time=to_timestamp(row["update_time"]),
    )  # fmt: skip


def _campaign(row: asyncpg.Record) -> pb.Campaign:
    c = pb.Campaign(
        campaign_id=row["campaign_id"], name=row["name"], type=row["type"],
        traffic_type=row["traffic_type"], partner_id=row["partner_id"], app_id=row["app_id"] or "",
        status=row["status"], fallback_url=row["fallback_url"], target_goal_id=row["target_goal_id"],
        create_time=to_timestamp(row["create_time"]), update_time=to_timestamp(row["update_time"]),
        publish_time=to_timestamp(row["publish_time"]), invalid_traffic_action=row["invalid_traffic_action"],
    )  # fmt: skip
    if row["budget_amount"] is not None:
        c.budget.CopyFrom(
            money_pb2.Money(amount=format_money(row["budget_amount"]), currency_code=row["budget_currency"])
        )
    return c


def _list_name(value: int) -> str:
    return "blacklist" if value == BLACKLIST else "whitelist"


def _sub_id_entry(row: asyncpg.Record) -> pb.SubIdEntry:
    return pb.SubIdEntry(
        campaign_id=row["campaign_id"], list=row["list"], sub_field=row["sub_field"], value=row["value"],
        reason=row["reason"], create_time=to_timestamp(row["create_time"]),
    )  # fmt: skip


class LinksService(QualityRpcs, links_pb2_grpc.LinksServiceServicer):
    def __init__(self, pool: asyncpg.Pool, keys: auth.KeyStore, settings: Settings) -> None:
        self._pool = pool
        self._keys = keys
        self._public_url = settings.public_url.rstrip("/")
        self.cache = LinkCache(pool)
        self.quality = QualityCache(pool)
        self.clicks = TouchRecorder(pool, self.cache, kind="click", quality=self.quality)
        self.impressions = TouchRecorder(pool, self.cache, kind="impression", quality=self.quality)
        self.sub_lists = SubIdListCache(pool)

    # ----- helpers -------------------------------------------------------------

    async def _exists(self, table: str, id_col: str, account_id: str, value: str) -> bool:
        return bool(
            await self._pool.fetchval(
                f"SELECT 1 FROM links.{table} WHERE account_id = $1 AND {id_col} = $2", account_id, value
            )
        )

    async def _page(
        self, table: str, id_col: str, account_id: str, request: Any, where: str = "", args: tuple[Any, ...] = ()
    ) -> tuple[list[asyncpg.Record], str]:
        size = page_size(request.page_size)
        cursor = decode_page_token(request.page_token, "after")
        rows = await self._pool.fetch(
            f"SELECT * FROM links.{table} WHERE account_id = $1 AND {id_col} > $2 {where}"
            f" ORDER BY {id_col} LIMIT {size + 1}",
            account_id,
            cursor["after"] if cursor else "",
            *args,
        )
        token = encode_page_token({"after": rows[size - 1][id_col]}) if len(rows) > size else ""
        return rows[:size], token

    def _link(self, row: asyncpg.Record) -> pb.Link:
        return pb.Link(
            link_id=row["link_id"], campaign_id=row["campaign_id"], app_id=row["app_id"] or "",
            name=row["name"], slug=row["slug"], destination_url=row["destination_url"],
            ios_url=row["ios_url"], android_url=row["android_url"], desktop_url=row["desktop_url"],
            click_url=f"{self._public_url}/c/{row['slug']}",
            impression_url=f"{self._public_url}/i/{row['slug']}",
            create_time=to_timestamp(row["create_time"]), update_time=to_timestamp(row["update_time"]),
        )  # fmt: skip

    # ----- apps ----------------------------------------------------------------

    def _validate_app(self, app: pb.App, paths: list[str] | None) -> None:
        v = Validator()
        if paths is None or "name" in paths:
            _check_name(v, "app.name", app.name)
        if paths is None:
            v.check(_enum_ok(pb.Platform, app.platform), "app.platform", "is required: ios, android or web")
            if app.platform in (pb.PLATFORM_IOS, pb.PLATFORM_ANDROID):
                v.check(bool(app.bundle_id.strip()), "app.bundle_id", "is required for iOS and Android apps")
        if paths is None or "store_url" in paths:
            _check_plain_url(v, "app.store_url", app.store_url)
        v.check(len(app.bundle_id) <= 255, "app.bundle_id", "must be at most 255 characters")
        v.raise_if_any()

    async def CreateApp(self, request: pb.CreateAppRequest, context: Any) -> pb.CreateAppResponse:
        account_id = auth.require_account()
        app = request.app
        self._validate_app(app, None)
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "INSERT INTO links.apps (account_id, app_id, name, platform, bundle_id, store_url)"
                " VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
                account_id, new_resource_id("app"), app.name.strip(), app.platform,
                app.bundle_id.strip(), app.store_url,
            )  # fmt: skip
            app_key = await issue_secret(conn, self._keys, account_id, "app", row["app_id"])
        return pb.CreateAppResponse(app=_app(row), app_key=app_key)

    async def GetApp(self, request: pb.GetAppRequest, context: Any) -> pb.GetAppResponse:
        account_id = auth.require_account()
        row = await self._pool.fetchrow(
            "SELECT * FROM links.apps WHERE account_id = $1 AND app_id = $2", account_id, request.app_id
        )
        if row is None:
            raise NotFound(f"app {request.app_id!r} not found")
        return pb.GetAppResponse(app=_app(row))

    async def ListApps(self, request: pb.ListAppsRequest, context: Any) -> pb.ListAppsResponse:
        account_id = auth.require_account()
        rows, token = await self._page("apps", "app_id", account_id, request)
        return pb.ListAppsResponse(apps=[_app(r) for r in rows], next_page_token=token)

    async def UpdateApp(self, request: pb.UpdateAppRequest, context: Any) -> pb.UpdateAppResponse:
        account_id = auth.require_account()
        paths = update_paths(request.update_mask, request.app, ("name", "store_url", "bundle_id"))
        self._validate_app(request.app, paths)
        sets = ", ".join(f"{p} = ${i + 3}" for i, p in enumerate(paths))
        row = await self._pool.fetchrow(
            f"UPDATE links.apps SET {sets}, update_time = now() WHERE account_id = $1 AND app_id = $2 RETURNING *",
            account_id,
            request.app.app_id,
            *[getattr(request.app, p).strip() for p in paths],
        )
        if row is None:
            raise NotFound(f"app {request.app.app_id!r} not found")
        return pb.UpdateAppResponse(app=_app(row))

    async def DeleteApp(self, request: pb.DeleteAppRequest, context: Any) -> pb.DeleteAppResponse:
        account_id = auth.require_account()
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                deleted = await conn.fetchval(
                    "DELETE FROM links.apps WHERE account_id = $1 AND app_id = $2 RETURNING app_id",
                    account_id,
                    request.app_id,
                )
                if deleted is None:
                    raise NotFound(f"app {request.app_id!r} not found")
                keys = await conn.fetch(
                    "UPDATE accounts.credentials SET revoke_time = now() WHERE account_id = $1"
                    " AND app_id = $2 AND revoke_time IS NULL RETURNING key_id",
                    account_id,
                    request.app_id,
                )
        except asyncpg.ForeignKeyViolationError:
            raise FailedPrecondition(
                f"app {request.app_id} is used by campaigns or links; change or delete those first"
            ) from None
        for k in keys:
            self._keys.invalidate(k["key_id"])
        return pb.DeleteAppResponse()

    async def RotateAppKey(self, request: pb.RotateAppKeyRequest, context: Any) -> pb.RotateAppKeyResponse:
        account_id = auth.require_account()
        async with self._pool.acquire() as conn, conn.transaction():
            found = await conn.fetchval(
                "SELECT 1 FROM links.apps WHERE account_id = $1 AND app_id = $2 FOR UPDATE",
                account_id,
                request.app_id,
            )
            if not found:
                raise NotFound(f"app {request.app_id!r} not found")
            key = await issue_secret(conn, self._keys, account_id, "app", request.app_id)
        return pb.RotateAppKeyResponse(app_key=key)

    # ----- partners ------------------------------------------------------------

    async def CreatePartner(self, request: pb.CreatePartnerRequest, context: Any) -> pb.CreatePartnerResponse:
        account_id = auth.require_account()
        v = Validator()
        _check_name(v, "partner.name", request.partner.name)
        v.check(len(request.partner.catalog_key) <= 64, "partner.catalog_key", "must be at most 64 characters")
        # A caller-chosen id (the postbacks service's catalog creation) makes the create idempotent.
        # Only a service may choose it: an account that could would mint ids that exist elsewhere.
        given = request.partner.partner_id
        if given and auth.principal().kind != "internal":
            v.add("partner.partner_id", "is assigned by the server: leave it empty")
        elif given:
            v.check(given.startswith("prt_") and is_valid_id(given[4:]), "partner.partner_id",
                    "must be an id from the postbacks service (prt_...), or empty")  # fmt: skip
        v.raise_if_any()
        name, key = request.partner.name.strip(), request.partner.catalog_key
        row = await self._pool.fetchrow(
            "INSERT INTO links.partners (account_id, partner_id, name, catalog_key)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, partner_id) DO NOTHING RETURNING *",
            account_id,
            given or new_resource_id("prt"),
            name,
            key,
        )
        if row is None:  # the same id again: a retry of the same create answers the partner
            row = await self._pool.fetchrow(
                "SELECT * FROM links.partners WHERE account_id = $1 AND partner_id = $2", account_id, given
            )
            if row is None or (row["name"], row["catalog_key"]) != (name, key):
                raise AlreadyExists(f"partner {given} already exists")
        return pb.CreatePartnerResponse(partner=_partner(row))

    async def GetPartner(self, request: pb.GetPartnerRequest, context: Any) -> pb.GetPartnerResponse:
        account_id = auth.require_account()
        row = await self._pool.fetchrow(
            "SELECT * FROM links.partners WHERE account_id = $1 AND partner_id = $2",
            account_id,
            request.partner_id,
        )
        if row is None:
            raise NotFound(f"partner {request.partner_id!r} not found")
        return pb.GetPartnerResponse(partner=_partner(row))

    async def ListPartners(self, request: pb.ListPartnersRequest, context: Any) -> pb.ListPartnersResponse:
        account_id = auth.require_account()
        rows, token = await self._page("partners", "partner_id", account_id, request)
        return pb.ListPartnersResponse(partners=[_partner(r) for r in rows], next_page_token=token)

    async def UpdatePartner(self, request: pb.UpdatePartnerRequest, context: Any) -> pb.UpdatePartnerResponse:
        account_id = auth.require_account()
        update_paths(request.update_mask, request.partner, ("name",))
        v = Validator()
        _check_name(v, "partner.name", request.partner.name)
        v.raise_if_any()
        row = await self._pool.fetchrow(
            "UPDATE links.partners SET name = $3, update_time = now()"
            " WHERE account_id = $1 AND partner_id = $2 RETURNING *",
            account_id,
            request.partner.partner_id,
            request.partner.name.strip(),
        )
        if row is None:
            raise NotFound(f"partner {request.partner.partner_id!r} not found")
        return pb.UpdatePartnerResponse(partner=_partner(row))

    async def DeletePartner(self, request: pb.DeletePartnerRequest, context: Any) -> pb.DeletePartnerResponse:
        account_id = auth.require_account()
        try:
            deleted = await self._pool.fetchval(
                "DELETE FROM links.partners WHERE account_id = $1 AND partner_id = $2 RETURNING partner_id",
                account_id,
                request.partner_id,
            )
        except asyncpg.ForeignKeyViolationError:
            raise FailedPrecondition(
                f"partner {request.partner_id} has campaigns; archive or delete them first"
            ) from None
        if deleted is None:
            raise NotFound(f"partner {request.partner_id!r} not found")
        return pb.DeletePartnerResponse()

    # ----- campaigns -----------------------------------------------------------

    async def _check_refs(self, v: Validator, account_id: str, partner_id: str | None, app_id: str | None) -> None:
        if partner_id is not None:
            if not partner_id:
                v.add("campaign.partner_id", "is required")
            elif not await self._exists("partners", "partner_id", account_id, partner_id):
                v.add("campaign.partner_id", f"partner {partner_id!r} not found")
        if app_id and not await self._exists("apps", "app_id", account_id, app_id):
            v.add("campaign.app_id", f"app {app_id!r} not found")

    @staticmethod
    def _budget(c: pb.Campaign) -> tuple[decimal.Decimal | None, str | None]:
        if not c.HasField("budget") or (not c.budget.amount and not c.budget.currency_code):
            return None, None
        amount, currency = parse_money(c.budget.amount, c.budget.currency_code, "campaign.budget")
        if amount < 0:
            raise InvalidArgument("campaign.budget.amount", "must not be negative")
        return amount, currency

    async def CreateCampaign(self, request: pb.CreateCampaignRequest, context: Any) -> pb.CreateCampaignResponse:
        account_id = auth.require_account()
        c = request.campaign
        v = Validator()
        _check_name(v, "campaign.name", c.name)
        ctype = c.type or (pb.CAMPAIGN_TYPE_APP_INSTALL if c.app_id else pb.CAMPAIGN_TYPE_WEB)
        v.check(_enum_ok(pb.CampaignType, ctype), "campaign.type", "is not a campaign type")
        v.check(c.traffic_type in pb.TrafficType.values(), "campaign.traffic_type", "is not a traffic type")
        status = c.status or pb.CAMPAIGN_STATUS_DRAFT
        v.check(
            status in (pb.CAMPAIGN_STATUS_DRAFT, pb.CAMPAIGN_STATUS_ACTIVE),
            "campaign.status",
            "a new campaign is draft or active",
        )
        _check_plain_url(v, "campaign.fallback_url", c.fallback_url)
        _check_invalid_action(v, c.invalid_traffic_action)
        await self._check_refs(v, account_id, c.partner_id, c.app_id)
        v.raise_if_any()
        amount, currency = self._budget(c)
        row = await self._pool.fetchrow(
            "INSERT INTO links.campaigns (account_id, campaign_id, name, type, traffic_type, partner_id,"
            " app_id, status, fallback_url, budget_amount, budget_currency, target_goal_id, publish_time,"
            " invalid_traffic_action)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,"
            " CASE WHEN $8::smallint = 2 THEN now() END, $13) RETURNING *",
            account_id, new_resource_id("cmp"), c.name.strip(), ctype, c.traffic_type, c.partner_id,
            c.app_id or None, status, c.fallback_url, amount, currency, c.target_goal_id, c.invalid_traffic_action,
        )  # fmt: skip
        return pb.CreateCampaignResponse(campaign=_campaign(row))

    async def GetCampaign(self, request: pb.GetCampaignRequest, context: Any) -> pb.GetCampaignResponse:
        account_id = auth.require_account()
        row = await self._pool.fetchrow(
            "SELECT * FROM links.campaigns WHERE account_id = $1 AND campaign_id = $2",
            account_id,
            request.campaign_id,
        )
        if row is None:
            raise NotFound(f"campaign {request.campaign_id!r} not found")
        return pb.GetCampaignResponse(campaign=_campaign(row))

    async def ListCampaigns(self, request: pb.ListCampaignsRequest, context: Any) -> pb.ListCampaignsResponse:
        account_id = auth.require_account()
        where, args = [], []
        for col, value in (("status", request.status), ("partner_id", request.partner_id), ("app_id", request.app_id)):
            if value:
                args.append(value)
                where.append(f"AND {col} = ${len(args) + 2}")
        rows, token = await self._page("campaigns", "campaign_id", account_id, request, " ".join(where), tuple(args))
        return pb.ListCampaignsResponse(campaigns=[_campaign(r) for r in rows], next_page_token=token)

    async def UpdateCampaign(self, request: pb.UpdateCampaignRequest, context: Any) -> pb.UpdateCampaignResponse:
        account_id = auth.require_account()
        c = request.campaign
        paths = update_paths(request.update_mask, c, CAMPAIGN_UPDATABLE)
        if auth.principal().kind == "internal" and not set(paths) <= INTERNAL_CAMPAIGN_PATHS:
            # The automation rules pause and budget campaigns; the shared service token may not
            # repoint any account's traffic (its URLs) or change anything else.
            raise PermissionDenied(f"the internal token may update only {', '.join(sorted(INTERNAL_CAMPAIGN_PATHS))}")
        async with self._pool.acquire() as conn, conn.transaction():
            cur = await conn.fetchrow(
                "SELECT * FROM links.campaigns WHERE account_id = $1 AND campaign_id = $2 FOR UPDATE",
                account_id,
                c.campaign_id,
            )
            if cur is None:
                raise NotFound(f"campaign {c.campaign_id!r} not found")
            current = _campaign(cur)
            v = Validator()
            if "name" in paths:
                _check_name(v, "campaign.name", c.name)
            if "type" in paths:
                v.check(_enum_ok(pb.CampaignType, c.type), "campaign.type", "is not a campaign type")
            if "traffic_type" in paths:
                v.check(c.traffic_type in pb.TrafficType.values(), "campaign.traffic_type", "is not a traffic type")
            if "fallback_url" in paths:
                _check_plain_url(v, "campaign.fallback_url", c.fallback_url)
            if "invalid_traffic_action" in paths:
                _check_invalid_action(v, c.invalid_traffic_action)
            if "status" in paths and c.status != current.status:
                if c.status not in TRANSITIONS:
                    v.add("campaign.status", "is not a campaign status")
                elif c.status not in TRANSITIONS[current.status]:
                    raise FailedPrecondition(
                        f"campaign {c.campaign_id} is {_status_name(current.status)}: it cannot become "
                        f"{_status_name(c.status)}"
                        + (" (archived is final)" if current.status == pb.CAMPAIGN_STATUS_ARCHIVED else "")
                    )
            changed_frozen = [p for p in paths if p in FROZEN_WHEN_PUBLISHED and getattr(c, p) != getattr(current, p)]
            if cur["publish_time"] is not None and changed_frozen:
                raise FailedPrecondition(
                    f"campaign {c.campaign_id} is published: {', '.join(changed_frozen)} cannot change;"
                    " only name, status, fallback_url, budget and invalid_traffic_action can"
                )
            await self._check_refs(
                v,
                account_id,
                c.partner_id if "partner_id" in paths else None,
                c.app_id if "app_id" in paths else None,
            )
            v.raise_if_any()
            values: dict[str, Any] = {}
            for p in paths:
                if p == "budget":
                    values["budget_amount"], values["budget_currency"] = self._budget(c)
                elif p == "app_id":
                    values["app_id"] = c.app_id or None
                elif p == "name":
                    values["name"] = c.name.strip()
                else:
                    values[p] = getattr(c, p)
            sets = ", ".join(f"{k} = ${i + 3}" for i, k in enumerate(values))
            publish = (
                ", publish_time = coalesce(publish_time, now())"
                if values.get("status") == pb.CAMPAIGN_STATUS_ACTIVE
                else ""
            )
            row = await conn.fetchrow(
                f"UPDATE links.campaigns SET {sets}, update_time = now(){publish}"
                " WHERE account_id = $1 AND campaign_id = $2 RETURNING *",
                account_id,
                c.campaign_id,
                *values.values(),
            )
        self.cache.clear()
        return pb.UpdateCampaignResponse(campaign=_campaign(row))

    async def DeleteCampaign(self, request: pb.DeleteCampaignRequest, context: Any) -> pb.DeleteCampaignResponse:
        account_id = auth.require_account()
        async with self._pool.acquire() as conn, conn.transaction():
            published = await conn.fetchval(
                "SELECT publish_time IS NOT NULL FROM links.campaigns"
                " WHERE account_id = $1 AND campaign_id = $2 FOR UPDATE",
                account_id,
                request.campaign_id,
            )
            if published is None:
                raise NotFound(f"campaign {request.campaign_id!r} not found")
            if published:
                raise FailedPrecondition(
                    f"campaign {request.campaign_id} has been published; archive it instead of deleting it"
                )
            await conn.execute(
                "DELETE FROM links.campaigns WHERE account_id = $1 AND campaign_id = $2",
                account_id,
                request.campaign_id,
            )
            await conn.execute(
                "DELETE FROM links.quality_settings WHERE account_id = $1 AND campaign_id = $2",
                account_id,
                request.campaign_id,
            )
        self.cache.clear()
        self.sub_lists.clear()
        self.quality.clear()
        return pb.DeleteCampaignResponse()

    # ----- sub-id black- and whitelists -----------------------------------------

    async def _check_entry_key(
        self, v: Validator, prefix: str, account_id: str, campaign_id: str, list_: int, sub_field: str, value: str
    ) -> str:
        """Validates a list entry's key; returns the canonical sub field."""
        v.check(list_ in (BLACKLIST, WHITELIST), f"{prefix}list", "is required: blacklist or whitelist")
        field = canonical_sub_field(sub_field)
        v.check(
            field is not None, f"{prefix}sub_field", f"{sub_field!r} is not a sub-id field; use {sub_field_choices()}"
        )
        v.check(bool(value), f"{prefix}value", "is required")
        v.check(len(value) <= MAX_SUB_VALUE, f"{prefix}value", f"must be at most {MAX_SUB_VALUE} characters")
        v.check("\x00" not in value, f"{prefix}value", "must not contain NUL characters")
        v.check(bool(campaign_id), f"{prefix}campaign_id", "is required")
        v.raise_if_any()
        if not await self._exists("campaigns", "campaign_id", account_id, campaign_id):
            raise NotFound(f"campaign {campaign_id!r} not found")
        return field or ""

    async def AddSubIdEntry(self, request: pb.AddSubIdEntryRequest, context: Any) -> pb.AddSubIdEntryResponse:
        account_id = auth.require_account()
        e = request.entry
        v = Validator()
        v.check(len(e.reason) <= MAX_REASON, "entry.reason", f"must be at most {MAX_REASON} characters")
        field = await self._check_entry_key(v, "entry.", account_id, e.campaign_id, e.list, e.sub_field, e.value)
        async with self._pool.acquire() as conn, conn.transaction():
            # One writer per campaign at a time: the whitelist check and the limit hold.
            await conn.execute(
                "SELECT 1 FROM links.campaigns WHERE account_id = $1 AND campaign_id = $2 FOR UPDATE",
                account_id,
                e.campaign_id,
            )
            existing = await conn.fetchrow(
                "SELECT * FROM links.sub_id_entries WHERE account_id = $1 AND campaign_id = $2 AND list = $3"
                " AND sub_field = $4 AND value = $5",
                account_id, e.campaign_id, e.list, field, e.value,
            )  # fmt: skip
            if existing is not None:
                return pb.AddSubIdEntryResponse(entry=_sub_id_entry(existing), created=False)
            if e.list == BLACKLIST and await conn.fetchval(
                "SELECT 1 FROM links.sub_id_entries WHERE account_id = $1 AND campaign_id = $2 AND list = $3"
                " AND sub_field = $4 AND value = $5",
                account_id, e.campaign_id, WHITELIST, field, e.value,
            ):  # fmt: skip
                raise FailedPrecondition(
                    f"{field}={e.value!r} is on campaign {e.campaign_id}'s whitelist; remove it there first"
                )
            count = await conn.fetchval(
                "SELECT count(*) FROM links.sub_id_entries WHERE account_id = $1 AND campaign_id = $2 AND list = $3",
                account_id,
                e.campaign_id,
                e.list,
            )
            if count >= MAX_ENTRIES_PER_LIST:
                raise FailedPrecondition(
                    f"campaign {e.campaign_id}'s {_list_name(e.list)} already holds {MAX_ENTRIES_PER_LIST} entries"
                )
            row = await conn.fetchrow(
                "INSERT INTO links.sub_id_entries (account_id, campaign_id, list, sub_field, value, reason)"
                " VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
                account_id, e.campaign_id, e.list, field, e.value, e.reason.strip(),
            )  # fmt: skip
        self.sub_lists.clear()
        return pb.AddSubIdEntryResponse(entry=_sub_id_entry(row), created=True)

    async def RemoveSubIdEntry(self, request: pb.RemoveSubIdEntryRequest, context: Any) -> pb.RemoveSubIdEntryResponse:
        account_id = auth.require_account()
        r = request
        field = await self._check_entry_key(Validator(), "", account_id, r.campaign_id, r.list, r.sub_field, r.value)
        deleted = await self._pool.fetchval(
            "DELETE FROM links.sub_id_entries WHERE account_id = $1 AND campaign_id = $2 AND list = $3"
            " AND sub_field = $4 AND value = $5 RETURNING 1",
            account_id, r.campaign_id, r.list, field, r.value,
        )  # fmt: skip
        if deleted is None:
            raise NotFound(f"{field}={r.value!r} is not on campaign {r.campaign_id}'s {_list_name(r.list)}")
        self.sub_lists.clear()
        return pb.RemoveSubIdEntryResponse()

    async def ListSubIdEntries(self, request: pb.ListSubIdEntriesRequest, context: Any) -> pb.ListSubIdEntriesResponse:
        account_id = auth.require_account()
        v = Validator()
        v.check(bool(request.campaign_id), "campaign_id", "is required")
        v.check(
            request.list in (0, BLACKLIST, WHITELIST), "list", "is not a list: blacklist, whitelist or unset for both"
        )
        field = canonical_sub_field(request.sub_field) if request.sub_field else ""
        v.check(
            field is not None, "sub_field", f"{request.sub_field!r} is not a sub-id field; use {sub_field_choices()}"
        )
        v.raise_if_any()
        size = page_size(request.page_size)
        cursor = decode_page_token(request.page_token, "list", "field", "value")
        if not await self._exists("campaigns", "campaign_id", account_id, request.campaign_id):
            raise NotFound(f"campaign {request.campaign_id!r} not found")
        after = (cursor["list"], cursor["field"], cursor["value"]) if cursor else (0, "", "")
        rows = await self._pool.fetch(
            "SELECT * FROM links.sub_id_entries WHERE account_id = $1 AND campaign_id = $2"
            " AND ($3 = 0 OR list = $3) AND ($4 = '' OR sub_field = $4)"
            " AND (list, sub_field, value) > ($5, $6, $7)"
            f" ORDER BY list, sub_field, value LIMIT {size + 1}",
            account_id, request.campaign_id, request.list, field, *after,
        )  # fmt: skip
        token = ""
        if len(rows) > size:
            last = rows[size - 1]
            token = encode_page_token({"list": last["list"], "field": last["sub_field"], "value": last["value"]})
        return pb.ListSubIdEntriesResponse(entries=[_sub_id_entry(r) for r in rows[:size]], next_page_token=token)

    # ----- links ---------------------------------------------------------------

    def _validate_link(self, link: pb.Link, paths: list[str] | None) -> Validator:
        v = Validator()
        if paths is None or "name" in paths:
            v.check(len(link.name) <= MAX_NAME, "link.name", f"must be at most {MAX_NAME} characters")
        if paths is None or "destination_url" in paths:
            _check_template(v, "link.destination_url", link.destination_url, required=True)
        for f in ("ios_url", "android_url", "desktop_url"):
            if paths is None or f in paths:
                _check_template(v, f"link.{f}", getattr(link, f), required=False)
        return v

    async def CreateLink(self, request: pb.CreateLinkRequest, context: Any) -> pb.CreateLinkResponse:
        account_id = auth.require_account()
        link = request.link
        v = self._validate_link(link, None)
        if not link.campaign_id:
            v.add("link.campaign_id", "is required")
        elif not await self._exists("campaigns", "campaign_id", account_id, link.campaign_id):
            v.add("link.campaign_id", f"campaign {link.campaign_id!r} not found")
        if link.app_id and not await self._exists("apps", "app_id", account_id, link.app_id):
            v.add("link.app_id", f"app {link.app_id!r} not found")
        v.raise_if_any()
        for _ in range(5):
            try:
                row = await self._pool.fetchrow(
                    "INSERT INTO links.links (account_id, link_id, campaign_id, app_id, name, slug,"
                    " destination_url, ios_url, android_url, desktop_url)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *",
                    account_id, new_resource_id("lnk"), link.campaign_id, link.app_id or None,
                    link.name.strip(), new_slug(), link.destination_url, link.ios_url, link.android_url,
                    link.desktop_url,
                )  # fmt: skip
                break
            except asyncpg.UniqueViolationError:  # slug collision: draw again
                continue
        else:  # pragma: no cover - 60 random bits
            raise FailedPrecondition("could not allocate a unique slug, retry")
        self.cache.clear()
        return pb.CreateLinkResponse(link=self._link(row))

    async def GetLink(self, request: pb.GetLinkRequest, context: Any) -> pb.GetLinkResponse:
        account_id = auth.require_account()
        row = await self._pool.fetchrow(
            "SELECT * FROM links.links WHERE account_id = $1 AND link_id = $2", account_id, request.link_id
        )
        if row is None:
            raise NotFound(f"link {request.link_id!r} not found")
        return pb.GetLinkResponse(link=self._link(row))

    async def ListLinks(self, request: pb.ListLinksRequest, context: Any) -> pb.ListLinksResponse:
        account_id = auth.require_account()
        where, args = ("AND campaign_id = $3", (request.campaign_id,)) if request.campaign_id else ("", ())
        rows, token = await self._page("links", "link_id", account_id, request, where, args)
        return pb.ListLinksResponse(links=[self._link(r) for r in rows], next_page_token=token)

    async def UpdateLink(self, request: pb.UpdateLinkRequest, context: Any) -> pb.UpdateLinkResponse:
        account_id = auth.require_account()
        link = request.link
        paths = update_paths(request.update_mask, link, LINK_UPDATABLE)
        v = self._validate_link(link, paths)
        if "app_id" in paths and link.app_id and not await self._exists("apps", "app_id", account_id, link.app_id):
            v.add("link.app_id", f"app {link.app_id!r} not found")
        v.raise_if_any()
        values = [(getattr(link, p) or None) if p == "app_id" else getattr(link, p) for p in paths]
        sets = ", ".join(f"{p} = ${i + 3}" for i, p in enumerate(paths))
        row = await self._pool.fetchrow(
            f"UPDATE links.links SET {sets}, update_time = now() WHERE account_id = $1 AND link_id = $2 RETURNING *",
            account_id,
            link.link_id,
            *values,
        )
        if row is None:
            raise NotFound(f"link {link.link_id!r} not found")
        self.cache.clear()
        return pb.UpdateLinkResponse(link=self._link(row))

    async def DeleteLink(self, request: pb.DeleteLinkRequest, context: Any) -> pb.DeleteLinkResponse:
        account_id = auth.require_account()
        deleted = await self._pool.fetchval(
            "DELETE FROM links.links WHERE account_id = $1 AND link_id = $2 RETURNING link_id",
            account_id,
            request.link_id,
        )
        if deleted is None:
            raise NotFound(f"link {request.link_id!r} not found")
        self.cache.clear()
        return pb.DeleteLinkResponse()

    # ----- clicks and impressions ---------------------------------------------

    async def RecordClicks(self, request: pb.RecordClicksRequest, context: Any) -> pb.RecordClicksResponse:
        auth.require_gateway()
        if len(request.clicks) > MAX_TOUCH_BATCH:
            raise InvalidArgument("clicks", f"at most {MAX_TOUCH_BATCH} per call")
        results = await self.clicks.record(request.clicks)
        await divert_blacklisted(request.clicks, results, self.cache, self.sub_lists)
        return pb.RecordClicksResponse(results=results)

    async def RecordImpressions(
        self, request: pb.RecordImpressionsRequest, context: Any
    ) -> pb.RecordImpressionsResponse:
        auth.require_gateway()
        if len(request.impressions) > MAX_TOUCH_BATCH:
            raise InvalidArgument("impressions", f"at most {MAX_TOUCH_BATCH} per call")
        return pb.RecordImpressionsResponse(results=await self.impressions.record(request.impressions))

    async def GetClick(self, request: pb.GetClickRequest, context: Any) -> pb.GetClickResponse:
        account_id = auth.require_account()
        if not is_valid_id(request.click_id):
            raise NotFound(f"click {request.click_id!r} not found")
        t = id_time(request.click_id)
        row = await self._pool.fetchrow(
            "SELECT * FROM links.clicks WHERE account_id = $1 AND click_id = $2"
            " AND create_time >= $3 AND create_time < $4",
            account_id,
            request.click_id,
            t,
            t + dt.timedelta(milliseconds=1),
        )
        if row is None:
            raise NotFound(f"click {request.click_id!r} not found")
        return pb.GetClickResponse(click=_touch(row, pb.Click, "click_id"))

    async def _list_touches(
        self, account_id: str, request: Any, table: str, id_col: str
    ) -> tuple[list[asyncpg.Record], str]:
        size = page_size(request.page_size)
        cursor = decode_page_token(request.page_token, "before")
        conds: list[str] = []
        args: list[Any] = [account_id]
        for col, value in (("campaign_id", request.campaign_id), ("link_id", request.link_id)):
            if value:
                args.append(value)
                conds.append(f"{col} = ${len(args)}")
        v = Validator()
        v.check(
            request.verdict in (0, q.CLEAN, q.SUSPICIOUS, q.INVALID),
            "verdict",
            "is not a verdict: clean, suspicious, invalid or unset",
        )
        v.check(
            not request.reason or request.reason in q.BY_CODE,
            "reason",
            f"{request.reason!r} is not a reason code; codes: {', '.join(r.code for r in q.REASONS)}",
        )
        v.raise_if_any()
        if request.verdict:
            args.append(request.verdict)
            conds.append(f"verdict = ${len(args)}")
            if request.verdict != q.CLEAN:
                # Spelled out so that a generic plan can use the partial index on flagged rows.
                conds.append("verdict <> 1")
        if request.reason:
            args.append(q.BY_CODE[request.reason].mask)
            conds.append(f"reasons & ${len(args)} <> 0")
        start, end = from_timestamp(request.start_time), from_timestamp(request.end_time)
        if start and end and end <= start:
            raise InvalidArgument("end_time", "must be after start_time")
        for op, value in ((">=", start), ("<", end)):
            if value:
                args.append(value)
                conds.append(f"create_time {op} ${len(args)}")
        if cursor:
            args.append(str(cursor["before"]))
            conds.append(f"{id_col} < ${len(args)}")
            # Ids are time-ordered: this also prunes newer partitions.
            if is_valid_id(str(cursor["before"])):
                args.append(id_time(str(cursor["before"])) + dt.timedelta(milliseconds=1))
                conds.append(f"create_time < ${len(args)}")
        where = " AND ".join(["account_id = $1", *conds])
        rows = await self._pool.fetch(
            f"SELECT * FROM links.{table} WHERE {where} ORDER BY {id_col} DESC LIMIT {size + 1}", *args
        )
        token = encode_page_token({"before": rows[size - 1][id_col]}) if len(rows) > size else ""
        return rows[:size], token

    async def ListClicks(self, request: pb.ListClicksRequest, context: Any) -> pb.ListClicksResponse:
        account_id = auth.require_account()
        rows, token = await self._list_touches(account_id, request, "clicks", "click_id")
        return pb.ListClicksResponse(clicks=[_touch(r, pb.Click, "click_id") for r in rows], next_page_token=token)

    async def ListImpressions(self, request: pb.ListImpressionsRequest, context: Any) -> pb.ListImpressionsResponse:
        account_id = auth.require_account()
        rows, token = await self._list_touches(account_id, request, "impressions", "impression_id")
        return pb.ListImpressionsResponse(
            impressions=[_touch(r, pb.Impression, "impression_id") for r in rows], next_page_token=token
        )

    async def FindTouches(self, request: pb.FindTouchesRequest, context: Any) -> pb.FindTouchesResponse:
        account_id = auth.require_account()
        v = Validator()
        lookup = _check_lookup(v, "", request, request.WhichOneof("key"))
        if lookup is None:
            v.add("key", "set device_id or fingerprint")
        v.raise_if_any()
        assert lookup is not None
        return (await self._lookup(account_id, [lookup]))[0]

    async def LookupTouches(self, request: pb.LookupTouchesRequest, context: Any) -> pb.LookupTouchesResponse:
        account_id = auth.require_account()
        if len(request.lookups) > MAX_LOOKUPS:
            raise InvalidArgument("lookups", f"at most {MAX_LOOKUPS} per call")
        v = Validator()
        lookups: list[_Lookup | None] = []
        for i, req in enumerate(request.lookups):
            key = req.WhichOneof("key")
            lookup = _check_lookup(v, f"lookups[{i}].", req, key)
            if lookup is None and key is None:
                v.add(f"lookups[{i}].key", "set click_id, device_id or fingerprint")
            lookups.append(lookup)
        v.raise_if_any()
        return pb.LookupTouchesResponse(results=await self._lookup(account_id, lookups))

    async def _lookup(self, account_id: str, lookups: list[_Lookup | None]) -> list[pb.FindTouchesResponse]:
        """Answers validated look-ups (None: nothing to find) in order, with one
        query per kind of key and table."""
        out = [pb.FindTouchesResponse() for _ in lookups]
        by_kind: dict[str, list[tuple[int, _Lookup]]] = {}
        for n, lookup in enumerate(lookups):
            if lookup is not None:
                by_kind.setdefault(lookup.kind, []).append((n, lookup))
        for kind, items in by_kind.items():
            tables: list[tuple[str, str, Any, str]] = [("clicks", "click_id", pb.Click, "clicks")]
            if kind != "click_id" and any(lk.impressions for _, lk in items):
                tables.append(("impressions", "impression_id", pb.Impression, "impressions"))
            for table, id_col, cls, target in tables:
                chosen = items if table == "clicks" else [(n, lk) for n, lk in items if lk.impressions]
                columns = [list(col) for col in zip(*(lk.args for _, lk in chosen), strict=True)]
                rows = await self._pool.fetch(
                    _lookup_sql(kind, table, id_col), account_id, *columns, [n for n, _ in chosen]
                )
                for r in rows:  # newest first within each look-up
                    getattr(out[r["lookup_n"]], target).append(_touch(r, cls, id_col))
        return out


@dataclasses.dataclass(frozen=True, slots=True)
class _Lookup:
    kind: str  # click_id | device_id | fingerprint
    args: tuple[Any, ...]  # the key's columns, then (for device ids and fingerprints) start, end and limit
    impressions: bool = False


def _check_lookup(v: Validator, prefix: str, request: Any, key: str | None) -> _Lookup | None:
    """Validates one FindTouchesRequest or TouchLookup (field names under
    `prefix`); None when there is nothing to look up (no key, or a malformed
    click id, which finds nothing as GetClick finds nothing)."""
    if key == "click_id":
        click_id = request.click_id
        v.check(bool(click_id), f"{prefix}click_id", "is required")
        if not is_valid_id(click_id):
            return None
        return _Lookup("click_id", (click_id, id_time(click_id)))
    start, end = from_timestamp(request.start_time), from_timestamp(request.end_time)
    v.check(start is not None, f"{prefix}start_time", "is required")
    v.check(end is not None, f"{prefix}end_time", "is required")
    if start and end:
        v.check(end > start, f"{prefix}end_time", "must be after start_time")
        v.check(end - start <= MAX_WINDOW, f"{prefix}end_time", "the window is at most 90 days")
    limit = request.limit or 10
    v.check(0 < limit <= 100, f"{prefix}limit", "must be between 1 and 100")
    window = (start, end, limit)
    if key == "device_id":
        device_id = request.device_id.strip().lower()
        v.check(bool(device_id), f"{prefix}device_id", "is required")
        return _Lookup("device_id", (device_id, *window), request.include_impressions)
    if key == "fingerprint":
        fp = request.fingerprint
        v.check(bool(fp.ip), f"{prefix}fingerprint.ip", "is required")
        try:
            ipaddress.ip_address(fp.ip)
        except ValueError:
            if fp.ip:
                v.add(f"{prefix}fingerprint.ip", "is not an IP address")
        return _Lookup("fingerprint", (fp.ip, fp.user_agent or None, *window), request.include_impressions)
    return None


# Per kind of key: the unnested arrays' types and names, and the match condition.
_LOOKUP_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "click_id": (("text", "timestamptz"), ("id", "t"),
                 "{id_col} = l.id AND create_time >= l.t AND create_time < l.t + interval '1 millisecond'"),
    "device_id": (("text", "timestamptz", "timestamptz", "int"), ("dev", "s", "e", "lim"),
                  "(idfa = l.dev OR gaid = l.dev) AND create_time >= l.s AND create_time < l.e"),
    "fingerprint": (("inet", "text", "timestamptz", "timestamptz", "int"), ("ip", "ua", "s", "e", "lim"),
                    "ip = l.ip AND user_agent IS NOT DISTINCT FROM l.ua AND create_time >= l.s AND create_time < l.e"),
}  # fmt: skip


@functools.cache
def _lookup_sql(kind: str, table: str, id_col: str) -> str:
    """One query answering every look-up of a kind against one table: row
    l.n of the unnested arrays is the look-up's position in the request."""
    types, names, cond = _LOOKUP_KEYS[kind]
    arrays = ", ".join(f"${i + 2}::{t}[]" for i, t in enumerate(types))
    n = len(types) + 2
    # The LIMIT also keeps the planner from flattening the LATERAL subquery into a join
    # over every partition: each probe stays an index scan pruned at run time.
    limit = " LIMIT 1" if kind == "click_id" else f" ORDER BY create_time DESC, {id_col} DESC LIMIT l.lim"
    return (
        f"SELECT l.n AS lookup_n, c.* FROM unnest({arrays}, ${n}::int[]) AS l({', '.join(names)}, n)"
        f" CROSS JOIN LATERAL (SELECT * FROM links.{table} WHERE account_id = $1 AND {cond.format(id_col=id_col)}"
        f"{limit}) c ORDER BY l.n, c.create_time DESC, c.{id_col} DESC"
    )


# The one Click / Impression renderer lives beside the click path.
_touch = touch_message
