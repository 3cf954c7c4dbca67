"""AffiliateService: landers and pre-landers."""

from __future__ import annotations

from services.links.base import LinksBase


class LanderRpcs(LinksBase):
    pass
