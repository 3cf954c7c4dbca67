"""LinksService: tracking links (a campaign's click and impression URLs and
where they send each platform)."""

from __future__ import annotations

from typing import Any

import asyncpg
from clicktrail.links.v1 import links_pb2 as pb

from libs import auth
from libs.api import from_timestamp, update_paths
from libs.errors import FailedPrecondition, InvalidArgument, NotFound, Validator
from libs.ids import new_resource_id, new_slug
from services.links import rules, store
from services.links.affiliate_store import clear_flows
from services.links.base import LinksBase
from services.links.domains import normalise_domain
from services.links.messages import link_msg

SLUG_ATTEMPTS = 5
NO_APP = "needs an app: set link.app_id or the campaign's app_id (the app the deep link opens)"


class LinkRpcs(LinksBase):
    def _link(self, row: asyncpg.Record) -> pb.Link:
        return link_msg(row, self._public_url)

    async def _link_domain(self, v: Validator, account_id: str, name: str) -> str | None:
        """The link's domain as stored (None: none); it must be one of the account's."""
        if not name:
            return None
        try:
            domain = normalise_domain(name)
        except ValueError as e:
            v.add("link.domain", str(e))
            return None
        if not await store.exists(self._pool, store.DOMAIN_EXISTS, account_id, domain):
            v.add("link.domain", f"{domain} is not a domain of this account (AffiliateService.CreateDomain)")
        return domain

    def _link_changed(self) -> None:
        self.cache.clear()
        clear_flows(self)

    async def CreateLink(self, request: pb.CreateLinkRequest, context: Any) -> pb.CreateLinkResponse:
        account_id = auth.require_account()
        link = request.link
        v = rules.validate_link(link, None)
        if not link.campaign_id:
            v.add("link.campaign_id", "is required")
        elif not await store.exists(self._pool, store.CAMPAIGN_EXISTS, account_id, link.campaign_id):
            v.add("link.campaign_id", f"campaign {link.campaign_id!r} not found")
        if link.app_id and not await store.exists(self._pool, store.APP_EXISTS, account_id, link.app_id):
            v.add("link.app_id", f"app {link.app_id!r} not found")
        domain = await self._link_domain(v, account_id, link.domain)
        if link.deep_link.strip() and not link.app_id and link.campaign_id:
            if not await self._pool.fetchval(store.CAMPAIGN_APP, account_id, link.campaign_id):
                v.add("link.deep_link", NO_APP)
        v.raise_if_any()
        for _ in range(SLUG_ATTEMPTS):
            try:
                row = await self._pool.fetchrow(
                    store.INSERT_LINK,
                    account_id, new_resource_id("lnk"), link.campaign_id, link.app_id or None,
                    link.name.strip(), new_slug(), link.destination_url, link.ios_url, link.android_url,
                    link.desktop_url, domain, from_timestamp(link.expire_time), link.max_clicks,
                    link.redirect_status, link.deep_link.strip(),
                )  # fmt: skip
                break
            except asyncpg.UniqueViolationError:  # slug collision: draw again
                continue
        else:  # pragma: no cover - 60 random bits
            raise FailedPrecondition("could not allocate a unique slug, retry")
        self._link_changed()
        return pb.CreateLinkResponse(link=self._link(row))

    async def GetLink(self, request: pb.GetLinkRequest, context: Any) -> pb.GetLinkResponse:
        account_id = auth.require_account()
        row = await self._get(store.GET_LINK, "link", account_id, request.link_id)
        return pb.GetLinkResponse(link=self._link(row))

    async def ListLinks(self, request: pb.ListLinksRequest, context: Any) -> pb.ListLinksResponse:
        account_id = auth.require_account()
        rows, token = await self._page_after(
            request, store.LIST_LINKS, "link_id", account_id, request.campaign_id or None
        )
        return pb.ListLinksResponse(links=[self._link(r) for r in rows], next_page_token=token)

    async def UpdateLink(self, request: pb.UpdateLinkRequest, context: Any) -> pb.UpdateLinkResponse:
        account_id = auth.require_account()
        link = request.link
        paths = update_paths(request.update_mask, link, rules.LINK_UPDATABLE)
        v = rules.validate_link(link, paths)
        if (
            "app_id" in paths
            and link.app_id
            and not await store.exists(self._pool, store.APP_EXISTS, account_id, link.app_id)
        ):
            v.add("link.app_id", f"app {link.app_id!r} not found")
        domain = await self._link_domain(v, account_id, link.domain) if "domain" in paths else None
        v.raise_if_any()
        values = rules.link_values(link, paths, domain)
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                store.update_sql("links", "link_id", values, rules.LINK_UPDATABLE),
                account_id,
                link.link_id,
                *values.values(),
            )
            if row is None:
                raise NotFound(f"link {link.link_id!r} not found")
            # The link as it now stands (rolled back when not): a deep link needs an app.
            if row["deep_link"] and not await conn.fetchval(store.LINK_APP, account_id, link.link_id):
                field = "link.deep_link" if "deep_link" in paths else "link.app_id"
                raise InvalidArgument(field, NO_APP)
        self._link_changed()
        return pb.UpdateLinkResponse(link=self._link(row))

    async def DeleteLink(self, request: pb.DeleteLinkRequest, context: Any) -> pb.DeleteLinkResponse:
        account_id = auth.require_account()
        if await self._pool.fetchval(store.DELETE_LINK, account_id, request.link_id) is None:
            raise NotFound(f"link {request.link_id!r} not found")
        self._link_changed()
        return pb.DeleteLinkResponse()
