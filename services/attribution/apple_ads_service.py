"""clicktrail.attribution.v1.AppleAdsService: the account's Apple Ads settings
(enabled, the Apple Ads partner, the default campaign), the Apple campaign ->
campaign mappings and the log of resolved tokens (services/attribution/apple_ads.py).
Campaigns and partners are checked through the links service; every query is
scoped by the caller's account."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import grpc
from clicktrail.attribution.v1 import apple_ads_pb2 as pb
from clicktrail.attribution.v1 import apple_ads_pb2_grpc as pb_grpc

from libs import auth
from libs.api import to_timestamp, update_paths
from libs.errors import AlreadyExists, InvalidArgument, NotFound, Validator
from libs.grpc_server import ServiceContext
from libs.paging import Page
from services.attribution import apple_ads
from services.attribution.campaigns import Campaigns

SETTINGS_PATHS = ("enabled", "partner_id", "default_campaign_id")
MAX_ID = 64
MAX_APPLE_ID = 10**18


def _set_time(msg: Any, field: str, value: dt.datetime | None) -> None:
    if value is not None:
        getattr(msg, field).CopyFrom(to_timestamp(value))


def settings_msg(row: asyncpg.Record | None) -> pb.AppleAdsSettings:
    if row is None:
        return pb.AppleAdsSettings()
    m = pb.AppleAdsSettings(
        enabled=row["enabled"], partner_id=row["partner_id"] or "", default_campaign_id=row["default_campaign_id"] or ""
    )
    _set_time(m, "update_time", row["update_time"])
    return m


def mapping_msg(row: asyncpg.Record) -> pb.AppleAdsMapping:
    m = pb.AppleAdsMapping(apple_campaign_id=row["apple_campaign_id"], campaign_id=row["campaign_id"])
    _set_time(m, "create_time", row["create_time"])
    return m


def lookup_msg(r: asyncpg.Record) -> pb.AppleAdsLookup:
    m = pb.AppleAdsLookup(
        install_id=r["install_id"], outcome=r["outcome"], reason=r["reason"], http_status=r["http_status"] or 0,
        attempts=r["attempts"], org_id=r["org_id"] or 0, apple_campaign_id=r["apple_campaign_id"] or 0,
        ad_group_id=r["ad_group_id"] or 0, keyword_id=r["keyword_id"] or 0, ad_id=r["ad_id"] or 0,
        conversion_type=r["conversion_type"] or "", country_or_region=r["country_or_region"] or "",
        campaign_id=r["campaign_id"] or "", previous_match_type=r["previous_match_type"] or 0,
        previous_campaign_id=r["previous_campaign_id"] or "", conversions_moved=r["conversions_moved"],
    )  # fmt: skip
    _set_time(m, "click_time", r["click_time"])
    _set_time(m, "resolve_time", r["resolve_time"])
    return m


class AppleAdsService(pb_grpc.AppleAdsServiceServicer):
    def __init__(self, pool: asyncpg.Pool, links: Campaigns) -> None:
        self._pool = pool
        self._links = links

    async def _check_campaign(self, v: Validator, account_id: str, field: str, campaign_id: str,
                              partner_id: str) -> None:  # fmt: skip
        """The campaign exists (links) and, when the Apple Ads partner is set, is that partner's."""
        if len(campaign_id) > MAX_ID:
            v.add(field, f"must be at most {MAX_ID} characters")
            return
        campaign = await self._links.campaign(account_id, campaign_id)
        if campaign is None:
            v.add(field, f"campaign {campaign_id!r} not found")
        elif partner_id and campaign.partner_id != partner_id:
            v.add(field, f"campaign {campaign_id!r} belongs to partner {campaign.partner_id!r}, not the Apple Ads "
                         f"partner {partner_id!r}: map Apple campaigns to that partner's campaigns")  # fmt: skip

    async def GetAppleAdsSettings(
        self, request: pb.GetAppleAdsSettingsRequest, context: Any
    ) -> pb.GetAppleAdsSettingsResponse:
        account_id = auth.require_account()
        row = await self._pool.fetchrow(apple_ads.SETTINGS_SQL, account_id)
        return pb.GetAppleAdsSettingsResponse(settings=settings_msg(row))

    async def UpdateAppleAdsSettings(
        self, request: pb.UpdateAppleAdsSettingsRequest, context: Any
    ) -> pb.UpdateAppleAdsSettingsResponse:
        account_id = auth.require_account()
        s = request.settings
        paths = (
            update_paths(request.update_mask, s, SETTINGS_PATHS) if request.update_mask.paths else list(SETTINGS_PATHS)
        )
        current = await self._pool.fetchrow(apple_ads.SETTINGS_SQL, account_id)
        enabled = bool(current["enabled"]) if current else False
        partner_id = (current["partner_id"] or "") if current else ""
        default_id = (current["default_campaign_id"] or "") if current else ""
        if "enabled" in paths:
            enabled = s.enabled
        if "partner_id" in paths:
            partner_id = s.partner_id.strip()
        if "default_campaign_id" in paths:
            default_id = s.default_campaign_id.strip()
        v = Validator()
        if "partner_id" in paths and partner_id:
            if len(partner_id) > MAX_ID:
                v.add("settings.partner_id", f"must be at most {MAX_ID} characters")
            elif not await self._links.partner_exists(account_id, partner_id):
                v.add(
                    "settings.partner_id", f"partner {partner_id!r} not found (create the catalog's apple_search_ads)"
                )
        if default_id and ("default_campaign_id" in paths or "partner_id" in paths):
            await self._check_campaign(v, account_id, "settings.default_campaign_id", default_id, partner_id)
        v.raise_if_any()
        row = await self._pool.fetchrow(
            "INSERT INTO attribution.apple_ads_settings (account_id, enabled, partner_id, default_campaign_id)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (account_id) DO UPDATE SET enabled = excluded.enabled,"
            " partner_id = excluded.partner_id, default_campaign_id = excluded.default_campaign_id,"
            " update_time = clock_timestamp() RETURNING *",
            account_id, enabled, partner_id or None, default_id or None,
        )  # fmt: skip
        return pb.UpdateAppleAdsSettingsResponse(settings=settings_msg(row))

    async def CreateAppleAdsMapping(
        self, request: pb.CreateAppleAdsMappingRequest, context: Any
    ) -> pb.CreateAppleAdsMappingResponse:
        account_id = auth.require_account()
        m = request.mapping
        v = Validator()
        apple_id = m.apple_campaign_id
        v.check(0 < apple_id < MAX_APPLE_ID, "mapping.apple_campaign_id",
                "is required: Apple's campaign id (the attribution API's campaignId), a positive number")  # fmt: skip
        campaign_id = m.campaign_id.strip()
        if not campaign_id:
            v.add("mapping.campaign_id", "is required")
        else:
            settings = await self._pool.fetchrow(apple_ads.SETTINGS_SQL, account_id)
            partner_id = (settings["partner_id"] or "") if settings else ""
            await self._check_campaign(v, account_id, "mapping.campaign_id", campaign_id, partner_id)
        v.raise_if_any()
        try:
            row = await self._pool.fetchrow(
                "INSERT INTO attribution.apple_ads_mappings (account_id, apple_campaign_id, campaign_id)"
                " VALUES ($1, $2, $3) RETURNING *",
                account_id, apple_id, campaign_id,
            )  # fmt: skip
        except asyncpg.UniqueViolationError:
            raise AlreadyExists(
                f"Apple campaign {apple_id} is mapped already; delete its mapping first to map it elsewhere"
            ) from None
        return pb.CreateAppleAdsMappingResponse(mapping=mapping_msg(row))

    async def ListAppleAdsMappings(
        self, request: pb.ListAppleAdsMappingsRequest, context: Any
    ) -> pb.ListAppleAdsMappingsResponse:
        account_id = auth.require_account()
        page = Page.of(request, "after")
        rows = await self._pool.fetch(
            "SELECT * FROM attribution.apple_ads_mappings WHERE account_id = $1 AND apple_campaign_id > $2"
            " ORDER BY apple_campaign_id LIMIT $3",
            account_id, page.get("after", 0, int), page.limit,
        )  # fmt: skip
        rows, token = page.cut(rows, lambda r: {"after": r["apple_campaign_id"]})
        return pb.ListAppleAdsMappingsResponse(mappings=[mapping_msg(r) for r in rows], next_page_token=token)

    async def DeleteAppleAdsMapping(
        self, request: pb.DeleteAppleAdsMappingRequest, context: Any
    ) -> pb.DeleteAppleAdsMappingResponse:
        account_id = auth.require_account()
        if request.apple_campaign_id <= 0:
            raise InvalidArgument("apple_campaign_id", "is required: the mapped Apple campaign id")
        deleted = await self._pool.fetchval(
            "DELETE FROM attribution.apple_ads_mappings WHERE account_id = $1 AND apple_campaign_id = $2"
            " RETURNING apple_campaign_id",
            account_id, request.apple_campaign_id,
        )  # fmt: skip
        if deleted is None:
            raise NotFound(f"no mapping for Apple campaign {request.apple_campaign_id}")
        return pb.DeleteAppleAdsMappingResponse()

    async def ListAppleAdsLookups(
        self, request: pb.ListAppleAdsLookupsRequest, context: Any
    ) -> pb.ListAppleAdsLookupsResponse:
        account_id = auth.require_account()
        if request.outcome and request.outcome not in apple_ads.OUTCOME_NAMES:
            raise InvalidArgument("outcome", f"must be one of {', '.join(apple_ads.OUTCOME_NAMES.values())}")
        page = Page.of(request, "t", "i")
        before = page.get("t", None, dt.datetime.fromisoformat)
        rows = await self._pool.fetch(
            "SELECT * FROM attribution.apple_ads_lookups WHERE account_id = $1"
            " AND ($2::smallint IS NULL OR outcome = $2) AND ($3::text IS NULL OR install_id = $3)"
            " AND ($4::timestamptz IS NULL OR (resolve_time, install_id) < ($4, $5::text))"
            " ORDER BY resolve_time DESC, install_id DESC LIMIT $6",
            account_id, request.outcome or None, request.install_id.strip() or None, before,
            page.get("i", "", str), page.limit,
        )  # fmt: skip
        rows, token = page.cut(rows, lambda r: {"t": r["resolve_time"].isoformat(), "i": r["install_id"]})
        return pb.ListAppleAdsLookupsResponse(lookups=[lookup_msg(r) for r in rows], next_page_token=token)


def register(server: grpc.aio.Server, ctx: ServiceContext, links: Campaigns) -> list[str]:
    pb_grpc.add_AppleAdsServiceServicer_to_server(AppleAdsService(ctx.pool, links), server)
    return [pb.DESCRIPTOR.services_by_name["AppleAdsService"].full_name]
