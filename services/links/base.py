"""What every LinksService servicer module shares: the database pool, the key
store, the public URL and the click path's caches. The servicer modules (apps,
partners, campaigns, tracking_links, sub_id_lists, touch_service, quality_api)
are mixins over this; services/links/service.py puts them together."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import asyncpg

from libs import auth
from libs.config import Settings
from libs.errors import NotFound
from libs.paging import Page, PagedRequest
from services.links.caps import OfferCaps
from services.links.flow_cache import FlowCache
from services.links.quality import QualityCache
from services.links.subids import SubIdListCache
from services.links.touches import LinkCache, TouchRecorder
from services.links.visitors import Visitors

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")


def own_hosts(settings: Settings) -> frozenset[str] | None:
    """The hosts links without a custom domain answer on: public_url's, loopback and
    CLICKTRAIL_TRACKER_HOSTS; None when that lists "*" (any host)."""
    if "*" in settings.tracker_hosts:
        return None
    public = urlsplit(settings.public_url).hostname or ""
    return frozenset({public, *LOOPBACK_HOSTS, *settings.tracker_hosts} - {""})


class LinksBase:
    def __init__(self, pool: asyncpg.Pool, keys: auth.KeyStore, settings: Settings) -> None:
        self._pool = pool
        self._keys = keys
        self._public_url = settings.public_url.rstrip("/")
        # Deep links (deep_links.py): the fingerprint window and the own hosts' association account.
        self._deep_link_window_s = settings.deferred_deep_link_window_s
        self._association_account = settings.association_account.strip()
        self.cache = LinkCache(pool)
        self.quality = QualityCache(pool)
        # Campaign flows, returning visitors, custom domains (clear() after writes a click sees).
        self.flows = FlowCache(pool)
        self.visitors = Visitors(pool)
        own = self.own_hosts = own_hosts(settings)
        self.clicks = TouchRecorder(
            pool, self.cache, kind="click", quality=self.quality, flows=self.flows, visitors=self.visitors,
            domains=self.flows.hosts, public_url=settings.public_url, own_hosts=own,
        )  # fmt: skip
        self.impressions = TouchRecorder(
            pool, self.cache, kind="impression", quality=self.quality, domains=self.flows.hosts, own_hosts=own
        )
        self.sub_lists = SubIdListCache(pool)
        self.caps = OfferCaps(pool)
        self.clicks.router.caps = self.caps  # the flow asks it per click whether an offer is capped

    async def _get(self, sql: str, noun: str, account_id: str, resource_id: str) -> asyncpg.Record:
        """The row ``sql`` answers ($1 the account, $2 the id), else NotFound naming the resource."""
        row = await self._pool.fetchrow(sql, account_id, resource_id)
        if row is None:
            raise NotFound(f"{noun} {resource_id!r} not found")
        return row

    async def _page_after(
        self, request: PagedRequest, sql: str, id_col: str, account_id: str, *filters: Any
    ) -> tuple[list[asyncpg.Record], str]:
        """A page of a list ordered by its id: ``sql`` takes $1 the account, $2 the
        previous page's last id ("" on the first page), then ``filters``, then the limit."""
        page = Page.of(request, "after")
        rows = await self._pool.fetch(sql, account_id, page.get("after", "", str), *filters, page.limit)
        return page.cut(rows, lambda r: {"after": r[id_col]})
