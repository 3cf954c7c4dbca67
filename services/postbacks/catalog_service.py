"""PostbackService: the integrated-partner catalog RPCs (list the catalog,
create a partner with all its templates)."""

from __future__ import annotations

from typing import Any

from clicktrail.postbacks.v1 import postbacks_pb2 as pb

from libs import auth
from libs.paging import Page
from services.postbacks import catalog, catalog_partners, template_store
from services.postbacks.base import PostbacksBase
from services.postbacks.messages import MODE_NAME, catalog_entry_pb, template_pb


class CatalogRpcs(PostbacksBase):
    async def ListCatalog(self, request: pb.ListCatalogRequest, context: Any) -> pb.ListCatalogResponse:
        auth.require_account()
        entries, token = Page.of(request, "offset").slice(catalog.entries())
        return pb.ListCatalogResponse(entries=[catalog_entry_pb(e) for e in entries], next_page_token=token)

    async def CreateCatalogPartner(
        self, request: pb.CreateCatalogPartnerRequest, context: Any
    ) -> pb.CreateCatalogPartnerResponse:
        """The partner and all its catalog templates, with the caller's choices
        (enabled, goal, sending mode) applied as they are written: all or nothing
        (see catalog_partners)."""
        account_id = auth.require_account()
        choices = [
            catalog_partners.Choice(
                template_index=c.template_index, enabled=c.enabled, goal_id=c.goal_id.strip(),
                # an enum value this server does not know stays visible, so it is refused by name
                sending_mode=MODE_NAME.get(c.sending_mode, f"#{c.sending_mode}") if c.sending_mode else "",
            )
            for c in request.choices
        ]  # fmt: skip
        partner_id, name, ids = await catalog_partners.create(
            self._pool, self._settings, self._links, account_id, request.catalog_key, request.name,
            dict(request.settings), request.app_id, choices,
        )  # fmt: skip
        async with self._pool.acquire() as conn:
            rows = [await template_store.load(conn, account_id, i) for i in ids]
        return pb.CreateCatalogPartnerResponse(
            partner_id=partner_id, name=name, catalog_key=request.catalog_key.strip(),
            templates=[template_pb(r) for r in rows],
        )  # fmt: skip
