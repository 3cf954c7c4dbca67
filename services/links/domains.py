"""AffiliateService: the account's custom tracking domains."""

from __future__ import annotations

from services.links.base import LinksBase


class DomainRpcs(LinksBase):
    pass
