"""AffiliateService: offers (a network's landing, payout, countries, caps)."""

from __future__ import annotations

from services.links.base import LinksBase


class OfferRpcs(LinksBase):
    pass
