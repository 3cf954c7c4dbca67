"""AffiliateService.GetLinkQrCode: a link's click URL as a QR code (libs/qr.py).

An account key names the link by ``link_id`` (or its ``slug``), within its own
account; the gateway's token serves the public /qr/{slug}.svg|png endpoint and
names it by ``slug`` only: the slug is public and global, like /c/{slug}."""

from __future__ import annotations

from typing import Any

import asyncpg
from clicktrail.links.v1 import affiliate_pb2 as apb

from libs import auth, qr
from libs.errors import NotFound, Validator
from services.links.base import LinksBase
from services.links.messages import link_msg

FORMATS: dict[int, qr.QrFormat] = {
    apb.QR_FORMAT_UNSPECIFIED: "svg",
    apb.QR_FORMAT_SVG: "svg",
    apb.QR_FORMAT_PNG: "png",
}
GET_LINK_BY_ID = "SELECT * FROM links.links WHERE account_id = $1 AND link_id = $2"
GET_LINK_BY_SLUG = "SELECT * FROM links.links WHERE account_id = $1 AND slug = $2"
# The gateway acts for no account: the slug alone names the link (the click path does the same).
GET_PUBLIC_LINK_BY_SLUG = "SELECT * FROM links.links WHERE slug = $1"


class QrRpcs(LinksBase):
    async def GetLinkQrCode(self, request: apb.GetLinkQrCodeRequest, context: Any) -> apb.GetLinkQrCodeResponse:
        principal = auth.principal()
        v = Validator()
        fmt = FORMATS.get(request.format, "svg")
        v.check(request.format in FORMATS, "format", "must be QR_FORMAT_SVG or QR_FORMAT_PNG")
        scale = request.scale or qr.DEFAULT_SCALE
        v.check(qr.MIN_SCALE <= scale <= qr.MAX_SCALE, "scale", f"must be {qr.MIN_SCALE}..{qr.MAX_SCALE}")
        gateway = principal.kind == "gateway"
        if gateway:
            v.check(bool(request.slug), "slug", "is required with the gateway token")
            v.check(not request.link_id, "link_id", "needs an account API key; the gateway names the slug")
        else:
            v.check(bool(request.link_id or request.slug), "link_id", "is required (or slug)")
        v.raise_if_any()
        row: asyncpg.Record | None
        if gateway:
            row = await self._pool.fetchrow(GET_PUBLIC_LINK_BY_SLUG, request.slug)
        else:
            account_id = auth.require_account()
            if request.link_id:
                row = await self._pool.fetchrow(GET_LINK_BY_ID, account_id, request.link_id)
            else:
                row = await self._pool.fetchrow(GET_LINK_BY_SLUG, account_id, request.slug)
        if row is None:
            raise NotFound(f"link {request.link_id or request.slug!r} not found")
        # The Link message's click URL: on the link's custom domain when it has one.
        url = link_msg(row, self._public_url).click_url
        image = qr.render(url, fmt, scale)
        return apb.GetLinkQrCodeResponse(url=url, content_type=qr.CONTENT_TYPES[fmt], image=image)
