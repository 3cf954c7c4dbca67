"""LinksService: partners (the ad networks a campaign buys from)."""

from __future__ import annotations

from typing import Any

import asyncpg
from clicktrail.links.v1 import links_pb2 as pb

from libs import auth
from libs.api import update_paths
from libs.errors import AlreadyExists, FailedPrecondition, NotFound, Validator
from libs.ids import new_resource_id
from services.links import rules, store
from services.links.base import LinksBase
from services.links.messages import partner_msg


class PartnerRpcs(LinksBase):
    async def CreatePartner(self, request: pb.CreatePartnerRequest, context: Any) -> pb.CreatePartnerResponse:
        account_id = auth.require_account()
        rules.validate_new_partner(request.partner, internal=auth.principal().kind == "internal")
        given = request.partner.partner_id
        name, key = request.partner.name.strip(), request.partner.catalog_key
        row = await self._pool.fetchrow(store.INSERT_PARTNER, account_id, given or new_resource_id("prt"), name, key)
        if row is None:  # the same id again: a retry of the same create answers the partner
            row = await self._pool.fetchrow(store.GET_PARTNER, account_id, given)
            if row is None or (row["name"], row["catalog_key"]) != (name, key):
                raise AlreadyExists(f"partner {given} already exists")
        return pb.CreatePartnerResponse(partner=partner_msg(row))

    async def GetPartner(self, request: pb.GetPartnerRequest, context: Any) -> pb.GetPartnerResponse:
        account_id = auth.require_account()
        row = await self._get(store.GET_PARTNER, "partner", account_id, request.partner_id)
        return pb.GetPartnerResponse(partner=partner_msg(row))

    async def ListPartners(self, request: pb.ListPartnersRequest, context: Any) -> pb.ListPartnersResponse:
        account_id = auth.require_account()
        rows, token = await self._page_after(request, store.LIST_PARTNERS, "partner_id", account_id)
        return pb.ListPartnersResponse(partners=[partner_msg(r) for r in rows], next_page_token=token)

    async def UpdatePartner(self, request: pb.UpdatePartnerRequest, context: Any) -> pb.UpdatePartnerResponse:
        account_id = auth.require_account()
        update_paths(request.update_mask, request.partner, ("name",))
        v = Validator()
        rules.check_name(v, "partner.name", request.partner.name)
        v.raise_if_any()
        row = await self._pool.fetchrow(
            store.RENAME_PARTNER, account_id, request.partner.partner_id, request.partner.name.strip()
        )
        if row is None:
            raise NotFound(f"partner {request.partner.partner_id!r} not found")
        return pb.UpdatePartnerResponse(partner=partner_msg(row))

    async def DeletePartner(self, request: pb.DeletePartnerRequest, context: Any) -> pb.DeletePartnerResponse:
        account_id = auth.require_account()
        try:
            deleted = await self._pool.fetchval(store.DELETE_PARTNER, account_id, request.partner_id)
        except asyncpg.ForeignKeyViolationError:
            raise FailedPrecondition(
                f"partner {request.partner_id} has campaigns or offers; archive or delete them first"
            ) from None
        if deleted is None:
            raise NotFound(f"partner {request.partner_id!r} not found")
        return pb.DeletePartnerResponse()
