"""AffiliateService.GetLinkQrCode: a link's click URL as a QR code."""

from __future__ import annotations

from services.links.base import LinksBase


class QrRpcs(LinksBase):
    pass
