"""LinksService: campaigns (status moves, budgets, what freezes once published)."""

from __future__ import annotations

from typing import Any

from clicktrail.links.v1 import links_pb2 as pb

from libs import auth
from libs.api import update_paths
from libs.errors import FailedPrecondition, NotFound, PermissionDenied, Validator
from libs.ids import new_resource_id
from services.links import rules, store
from services.links.affiliate_store import clear_flows
from services.links.base import LinksBase
from services.links.messages import campaign_msg


class CampaignRpcs(LinksBase):
    async def _check_refs(self, v: Validator, account_id: str, partner_id: str | None, app_id: str | None) -> None:
        if partner_id is not None:
            if not partner_id:
                v.add("campaign.partner_id", "is required")
            elif not await store.exists(self._pool, store.PARTNER_EXISTS, account_id, partner_id):
                v.add("campaign.partner_id", f"partner {partner_id!r} not found")
        if app_id and not await store.exists(self._pool, store.APP_EXISTS, account_id, app_id):
            v.add("campaign.app_id", f"app {app_id!r} not found")

    async def CreateCampaign(self, request: pb.CreateCampaignRequest, context: Any) -> pb.CreateCampaignResponse:
        account_id = auth.require_account()
        c = request.campaign
        v = Validator()
        new = rules.check_new_campaign(v, c)
        await self._check_refs(v, account_id, c.partner_id, c.app_id)
        v.raise_if_any()
        amount, currency = rules.budget_of(c)
        row = await self._pool.fetchrow(
            store.INSERT_CAMPAIGN,
            account_id, new_resource_id("cmp"), c.name.strip(), new.type, c.traffic_type, c.partner_id,
            c.app_id or None, new.status, c.fallback_url, amount, currency, c.target_goal_id,
            rules.publishes(new.status), c.invalid_traffic_action, new.visitor_window_s,
        )  # fmt: skip
        return pb.CreateCampaignResponse(campaign=campaign_msg(row))

    async def GetCampaign(self, request: pb.GetCampaignRequest, context: Any) -> pb.GetCampaignResponse:
        account_id = auth.require_account()
        row = await self._get(store.GET_CAMPAIGN, "campaign", account_id, request.campaign_id)
        return pb.GetCampaignResponse(campaign=campaign_msg(row))

    async def ListCampaigns(self, request: pb.ListCampaignsRequest, context: Any) -> pb.ListCampaignsResponse:
        account_id = auth.require_account()
        rows, token = await self._page_after(
            request, store.LIST_CAMPAIGNS, "campaign_id", account_id,
            request.status or None, request.partner_id or None, request.app_id or None,
        )  # fmt: skip
        return pb.ListCampaignsResponse(campaigns=[campaign_msg(r) for r in rows], next_page_token=token)

    async def UpdateCampaign(self, request: pb.UpdateCampaignRequest, context: Any) -> pb.UpdateCampaignResponse:
        account_id = auth.require_account()
        c = request.campaign
        paths = update_paths(request.update_mask, c, rules.CAMPAIGN_UPDATABLE)
        if auth.principal().kind == "internal":
            refused = rules.check_internal_campaign_paths(paths)
            if refused:
                raise PermissionDenied(refused)
        async with self._pool.acquire() as conn, conn.transaction():
            cur = await conn.fetchrow(store.LOCK_CAMPAIGN, account_id, c.campaign_id)
            if cur is None:
                raise NotFound(f"campaign {c.campaign_id!r} not found")
            v = Validator()
            rules.check_campaign_update(v, c, campaign_msg(cur), paths, published=cur["publish_time"] is not None)
            await self._check_refs(
                v,
                account_id,
                c.partner_id if "partner_id" in paths else None,
                c.app_id if "app_id" in paths else None,
            )
            v.raise_if_any()
            values = rules.campaign_values(c, paths)
            row = await conn.fetchrow(
                store.update_campaign_sql(values, rules.CAMPAIGN_COLUMNS),
                account_id,
                c.campaign_id,
                *values.values(),
                "status" in values and rules.publishes(values["status"]),
            )
        self.cache.clear()
        clear_flows(self)  # the flow holds the fallback URL and the visitor window
        return pb.UpdateCampaignResponse(campaign=campaign_msg(row))

    async def DeleteCampaign(self, request: pb.DeleteCampaignRequest, context: Any) -> pb.DeleteCampaignResponse:
        account_id = auth.require_account()
        async with self._pool.acquire() as conn, conn.transaction():
            published = await conn.fetchval(store.LOCK_CAMPAIGN_PUBLISHED, account_id, request.campaign_id)
            if published is None:
                raise NotFound(f"campaign {request.campaign_id!r} not found")
            if published:
                raise FailedPrecondition(
                    f"campaign {request.campaign_id} has been published; archive it instead of deleting it"
                )
            await conn.execute(store.DELETE_CAMPAIGN, account_id, request.campaign_id)
            await conn.execute(store.DELETE_CAMPAIGN_QUALITY_SETTINGS, account_id, request.campaign_id)
        self.cache.clear()
        clear_flows(self)
        self.sub_lists.clear()
        self.quality.clear()
        return pb.DeleteCampaignResponse()
