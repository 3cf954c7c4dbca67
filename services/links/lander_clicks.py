"""AffiliateService.RecordLanderClicks: the lander click-through (/lp/click)."""

from __future__ import annotations

from services.links.base import LinksBase


class LanderClickRpcs(LinksBase):
    pass
