"""What every LinksService servicer module shares: the database pool, the key
store, the public URL and the click path's caches. The servicer modules (apps,
partners, campaigns, tracking_links, sub_id_lists, touch_service, quality_api)
are mixins over this; services/links/service.py puts them together."""

from __future__ import annotations

import asyncpg

from libs import auth
from libs.config import Settings
from services.links.quality import QualityCache
from services.links.subids import SubIdListCache
from services.links.touches import LinkCache, TouchRecorder


class LinksBase:
    def __init__(self, pool: asyncpg.Pool, keys: auth.KeyStore, settings: Settings) -> None:
        self._pool = pool
        self._keys = keys
        self._public_url = settings.public_url.rstrip("/")
        self.cache = LinkCache(pool)
        self.quality = QualityCache(pool)
        self.clicks = TouchRecorder(pool, self.cache, kind="click", quality=self.quality)
        self.impressions = TouchRecorder(pool, self.cache, kind="impression", quality=self.quality)
        self.sub_lists = SubIdListCache(pool)
