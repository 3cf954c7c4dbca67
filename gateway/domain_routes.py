"""GET|HEAD / on a custom domain: 302 to its Domain.root_url (404 when it has
none; the gateway's own hosts keep the plain 404).

GET|HEAD /internal/domain-allowed?domain=X: whether X is a registered custom
tracking domain (of any account): 200, else 404. The ``ask`` endpoint of Caddy's
on-demand TLS (a certificate is obtained, at the first TLS handshake, only for a
name this answers 200 for), so a stranger pointing a name at the gateway cannot
make the proxy request certificates for it. It tells nothing but yes or no,
which DNS already tells (a registered domain points here). Answers are kept
for a few seconds: a burst of handshakes costs one AffiliateService.CheckDomain."""

from __future__ import annotations

import grpc
from clicktrail.links.v1 import affiliate_pb2

from gateway.base import GatewayBase, log
from gateway.responses import (
    JSON_CT,
    LINKS_UNAVAILABLE,
    NOT_FOUND_BODY,
    Scope,
    Sender,
    forwarded_host,
    header_safe,
    json_body,
    json_error,
    normal_host,
    query_param,
    text_headers,
)
from libs.cache import TTLCache
from libs.clients import AffiliateClient, CallError

CHECK_TTL_S = 10.0
ALLOWED_BODY = json_body({"registered": True})
UNKNOWN_BODY = json_body({"error": "not a registered domain", "field": "domain"})


class DomainRoutes(GatewayBase):
    _affiliate: AffiliateClient | None
    # host -> (registered, its root_url)
    _domain_checks: TTLCache[str, tuple[bool, str]]

    def _init_domains(self) -> None:
        self._domain_checks = TTLCache(CHECK_TTL_S, maxsize=10_000)

    async def _domain_allowed(self, scope: Scope, sender: Sender, method: str) -> int:
        if method != "GET" and method != "HEAD":
            return await self._not_allowed(sender)
        raw = query_param(scope["query_string"], ("domain",))
        name = normal_host(raw.encode("latin-1", "replace")) if raw else ""
        if not name:
            return await json_error(sender, 400, "is required: a host name (?domain=track.example.com)", "domain")
        try:
            registered = await self._domain_registered(name)
        except CallError as err:
            log.warning("domain_check_unavailable", domain=name, code=err.code().name, detail=err.message)
            return await json_error(sender, 503, LINKS_UNAVAILABLE)
        if registered:
            return await sender.send(200, text_headers(JSON_CT, ALLOWED_BODY), ALLOWED_BODY)
        return await sender.send(404, text_headers(JSON_CT, UNKNOWN_BODY), UNKNOWN_BODY)

    async def _domain_root(self, scope: Scope, sender: Sender, method: str, host: bytes, fwd_host: bytes) -> int:
        """GET|HEAD /: a custom domain's root_url (302), else the plain 404."""
        name = forwarded_host(scope, host, fwd_host, self._trusted)
        root_url = ""
        if name and (method == "GET" or method == "HEAD"):
            try:
                root_url = (await self._domain_checks.get_or_load(name, lambda: self._check_domain(name)))[1]
            except CallError as err:
                log.warning("domain_check_unavailable", domain=name, code=err.code().name, detail=err.message)
                return await json_error(sender, 503, LINKS_UNAVAILABLE)
        if not root_url:
            return await sender.send(404, text_headers(JSON_CT, NOT_FOUND_BODY), NOT_FOUND_BODY)
        return await sender.send(302, [(b"location", header_safe(root_url)), (b"content-length", b"0")], b"")

    async def _domain_registered(self, name: str) -> bool:
        """Whether ``name`` (a normalised host) is some account's custom domain (cached
        CHECK_TTL_S); CallError when links cannot say."""
        return (await self._domain_checks.get_or_load(name, lambda: self._check_domain(name)))[0]

    async def _check_domain(self, name: str) -> tuple[bool, str]:
        if self._affiliate is None:
            await self._ensure_started()
        client = self._affiliate
        if client is None:  # draining
            raise CallError(grpc.StatusCode.UNAVAILABLE, "the gateway is shutting down")
        try:
            reply = await client.affiliate.CheckDomain(affiliate_pb2.CheckDomainRequest(name=name))
        except grpc.aio.AioRpcError as rpc_err:
            raise CallError.from_rpc_error(rpc_err) from None
        return bool(reply.registered), reply.root_url if reply.registered else ""
