"""GET|HEAD /qr/{slug}.svg and /qr/{slug}.png: a tracking link's QR code
(its click URL, on the link's custom domain when it has one), public like the
link itself. A custom domain serves only the QR codes of its own links (as it
serves only their clicks): another account's domain never vouches for a link;
the gateway's own hosts serve every link's. Rendered by links (AffiliateService.GetLinkQrCode with the
gateway's token, by slug); the answer may be cached for a minute (by the
browser, a CDN, and this process), so a printed code's page costs one call a
minute per size."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import grpc
from clicktrail.links.v1 import affiliate_pb2

from gateway.base import log
from gateway.domain_routes import DomainRoutes
from gateway.responses import (
    JSON_CT,
    LINKS_UNAVAILABLE,
    Scope,
    Sender,
    forwarded_host,
    json_body,
    json_error,
    query_param,
    text_headers,
)
from libs import qr
from libs.cache import TTLCache
from libs.clients import AffiliateClient, CallError
from libs.grpc_interceptors import request_id_var

QR_FILE_RE = re.compile(r"([A-Za-z0-9_-]{1,64})\.(svg|png)")
FORMATS = {"svg": affiliate_pb2.QR_FORMAT_SVG, "png": affiliate_pb2.QR_FORMAT_PNG}
CACHE_S = 60.0
QR_CACHE_CONTROL = (b"cache-control", f"public, max-age={int(CACHE_S)}".encode())
LINK_NOT_FOUND_BODY = json_body({"error": "link not found"})


class QrRoutes(DomainRoutes):
    _affiliate: AffiliateClient | None
    # (slug, format, scale) -> (content type, image, the host the code points at); None: no such link.
    _qr_cache: TTLCache[tuple[str, str, int], tuple[bytes, bytes, str] | None]

    def _init_qr(self) -> None:
        self._qr_cache = TTLCache(CACHE_S, maxsize=10_000)

    async def _qr(
        self, scope: Scope, sender: Sender, name: str, method: str, host: bytes = b"", fwd_host: bytes = b""
    ) -> int:
        if method != "GET" and method != "HEAD":
            return await self._not_allowed(sender)
        match = QR_FILE_RE.fullmatch(name)
        if match is None:
            return await sender.send(404, text_headers(JSON_CT, LINK_NOT_FOUND_BODY), LINK_NOT_FOUND_BODY)
        slug, fmt = match.group(1), match.group(2)
        scale = _scale(scope["query_string"])
        if scale is None:
            return await json_error(sender, 400, f"must be a whole number {qr.MIN_SCALE}..{qr.MAX_SCALE}", "scale")
        key = (slug, fmt, scale)
        host_name = forwarded_host(scope, host, fwd_host, self._trusted)
        try:
            image = await self._qr_cache.get_or_load(key, lambda: self._load_qr(slug, fmt, scale))
            if image is not None and host_name and image[2] != host_name and await self._domain_registered(host_name):
                image = None  # another custom domain than the link's: not its link
        except CallError as err:
            if err.code() == grpc.StatusCode.INVALID_ARGUMENT:
                return await json_error(sender, 400, err.text, err.first_field)
            log.warning("qr_unavailable", slug=slug, code=err.code().name, detail=err.message,
                        request_id=request_id_var.get())  # fmt: skip
            return await json_error(sender, 503, LINKS_UNAVAILABLE)
        if image is None:
            return await sender.send(404, text_headers(JSON_CT, LINK_NOT_FOUND_BODY), LINK_NOT_FOUND_BODY)
        content_type, body, _ = image
        return await sender.send(200, [*text_headers(content_type, body), QR_CACHE_CONTROL], body)

    async def _load_qr(self, slug: str, fmt: str, scale: int) -> tuple[bytes, bytes, str] | None:
        if self._affiliate is None:
            await self._ensure_started()
        client = self._affiliate
        if client is None:  # draining
            raise CallError(grpc.StatusCode.UNAVAILABLE, "the gateway is shutting down")
        request = affiliate_pb2.GetLinkQrCodeRequest(slug=slug, format=FORMATS[fmt], scale=scale)
        try:
            reply: Any = await client.affiliate.GetLinkQrCode(request)
        except grpc.aio.AioRpcError as rpc_err:
            err = CallError.from_rpc_error(rpc_err)
            if err.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise err from None
        return reply.content_type.encode("ascii"), reply.image, urlsplit(reply.url).hostname or ""


def _scale(query: bytes) -> int | None:
    """``?scale=`` (default qr.DEFAULT_SCALE); None when it is not a whole number 1..40."""
    raw = query_param(query, ("scale",))
    if not raw:
        return qr.DEFAULT_SCALE
    if not raw.isdigit() or len(raw) > 3:
        return None
    scale = int(raw)
    return scale if qr.MIN_SCALE <= scale <= qr.MAX_SCALE else None
