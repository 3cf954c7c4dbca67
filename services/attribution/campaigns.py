"""Campaign look-ups the configuration services make in the links service
(libs/clients.LinksClient, as the service for the calling account): whether a
campaign (or a partner) exists, and which campaigns target a goal."""

from __future__ import annotations

import grpc
from clicktrail.links.v1 import links_pb2

from libs.clients import CallError, LinksClient, for_account
from libs.config import Settings
from libs.errors import Unavailable


class Campaigns:
    def __init__(self, settings: Settings) -> None:
        self._client = LinksClient.internal(settings, deadline_s=5.0)  # type: ignore[arg-type]

    async def campaign(self, account_id: str, campaign_id: str) -> links_pb2.Campaign | None:
        try:
            resp = await self._client.links.GetCampaign(
                links_pb2.GetCampaignRequest(campaign_id=campaign_id), metadata=for_account(account_id)
            )
        except CallError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise Unavailable(f"cannot check the campaign with the links service: {err.details()}") from None
        return resp.campaign

    async def partner_exists(self, account_id: str, partner_id: str) -> bool:
        try:
            await self._client.links.GetPartner(
                links_pb2.GetPartnerRequest(partner_id=partner_id), metadata=for_account(account_id)
            )
        except CallError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                return False
            raise Unavailable(f"cannot check the partner with the links service: {err.details()}") from None
        return True

    async def campaigns_targeting(self, account_id: str, goal_id: str, limit: int = 5) -> list[links_pb2.Campaign]:
        """(Up to ``limit``) campaigns whose target goal is ``goal_id``, published ones first."""
        found: list[links_pb2.Campaign] = []
        token = ""
        try:
            while True:
                resp = await self._client.links.ListCampaigns(
                    links_pb2.ListCampaignsRequest(page_size=1000, page_token=token), metadata=for_account(account_id)
                )
                found += [c for c in resp.campaigns if c.target_goal_id == goal_id]
                token = resp.next_page_token
                if not token:
                    found.sort(key=lambda c: not c.HasField("publish_time"))
                    return found[:limit]
        except CallError as err:
            raise Unavailable(f"cannot check campaigns with the links service: {err.details()}") from None

    async def close(self) -> None:
        await self._client.close()
