"""AffiliateService.RecordOfferConversions: conversions counted against offer caps."""

from __future__ import annotations

from services.links.base import LinksBase


class OfferCapRpcs(LinksBase):
    pass
