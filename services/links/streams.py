"""AffiliateService: a campaign's flow of streams (filters and an action)."""

from __future__ import annotations

from services.links.base import LinksBase


class StreamRpcs(LinksBase):
    pass
