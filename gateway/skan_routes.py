"""SKAdNetwork / AdAttributionKit postbacks, forwarded to attribution
(SkanService.RecordSkanPostback), which verifies Apple's signature and stores
them once per transaction id.

  POST /.well-known/skadnetwork/report-attribution/    Apple's developer copy (SKAdNetwork)
  POST /.well-known/appattribution/report-attribution/ Apple's developer copy (AdAttributionKit)
  POST /skan/postback                                  a copy an ad network forwards, with the
                                                       account's postback token (token= or X-Postback-Token)

A developer copy goes to the account of the custom tracking domain it was sent
to (the app's NSAdvertisingAttributionReportEndpoint / AttributionCopyEndpoint),
else to the one account with an app of the postback's App Store id (``?app=<app_id>``
narrows to one app). Answers: 200 ``{"status": "stored", ...}`` once stored, 200
``{"status": "duplicate", ...}`` for a transaction id already stored (Apple retries
until it gets a 200), 400 naming the field (``"field": "signature"`` when Apple's key
does not verify it), 401 for a bad token, 404 when no app matches."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from clicktrail.attribution.v1 import skan_pb2, skan_pb2_grpc
from clicktrail.links.v1 import links_pb2

from gateway.base import ErrorAnswers, GatewayBase, log
from gateway.responses import (
    JSON_CT,
    NO_STORE,
    Receive,
    Scope,
    Sender,
    forwarded_host,
    json_body,
    json_error,
    query_param,
    read_json_route_body,
    text_headers,
)
from libs.cache import TTLCache
from libs.clients import AffiliateClient, CallError

SKAN_COPY = "/.well-known/skadnetwork/report-attribution"
AAK_COPY = "/.well-known/appattribution/report-attribution"
SKAN_POSTBACK = "/skan/postback"
SKAN_PATHS = {
    SKAN_COPY: skan_pb2.SKAN_KIND_SKADNETWORK, SKAN_COPY + "/": skan_pb2.SKAN_KIND_SKADNETWORK,
    AAK_COPY: skan_pb2.SKAN_KIND_ADATTRIBUTIONKIT, AAK_COPY + "/": skan_pb2.SKAN_KIND_ADATTRIBUTIONKIT,
    SKAN_POSTBACK: skan_pb2.SKAN_KIND_UNSPECIFIED,
}  # fmt: skip
MAX_SKAN_BODY = 64 * 1024
HOST_ACCOUNT_TTL_S = 10.0
SKAN_ERRORS = ErrorAnswers(
    {
        grpc.StatusCode.INVALID_ARGUMENT: (400, ""),
        grpc.StatusCode.UNAUTHENTICATED: (401, "invalid postback token"),
        grpc.StatusCode.PERMISSION_DENIED: (401, "invalid postback token: send the account's postback token (ctp_...)"),
        grpc.StatusCode.NOT_FOUND: (404, ""),
    }
)
UNAVAILABLE = "attribution service unavailable; resend the postback later"
KIND_NAMES = {skan_pb2.SKAN_KIND_SKADNETWORK: "skadnetwork", skan_pb2.SKAN_KIND_ADATTRIBUTIONKIT: "adattributionkit"}


class SkanRoutes(GatewayBase):
    _affiliate: AffiliateClient | None
    _host_accounts: TTLCache[str, str]

    _domain_registered: Callable[[str], Awaitable[bool]]  # DomainRoutes: is a host some account's custom domain

    def _init_skan(self) -> None:
        self._host_accounts = TTLCache(HOST_ACCOUNT_TTL_S, maxsize=10_000)

    async def _host_account(self, name: str) -> str:
        """The account a custom domain belongs to ("" for the tracker's own hosts, or
        when links cannot name it); CallError when links cannot say."""
        if not name or not await self._domain_registered(name):
            return ""
        request_cls = getattr(links_pb2, "GetAssociatedAppsRequest", None)
        client = self._affiliate
        if request_cls is None or client is None:
            return ""

        async def load() -> str:
            try:
                reply = await client.links.GetAssociatedApps(request_cls(host=name))  # type: ignore[attr-defined]
            except grpc.aio.AioRpcError as rpc_err:
                raise CallError.from_rpc_error(rpc_err) from None
            return str(reply.account_id)

        return await self._host_accounts.get_or_load(name, load)

    async def _skan(
        self, scope: Scope, receive: Receive, sender: Sender, method: str, host: bytes, fwd_host: bytes,
        token_header: bytes,
    ) -> int:  # fmt: skip
        path: str = scope["path"]
        kind = SKAN_PATHS[path]
        if method != "POST":
            body = json_body({"error": "method not allowed: POST the postback's JSON"})
            return await sender.send(405, [*text_headers(JSON_CT, body), (b"allow", b"POST")], body)
        too_large = f"body larger than {MAX_SKAN_BODY // 1024} KiB"
        raw = await read_json_route_body(receive, sender, MAX_SKAN_BODY, self._body_timeout_s, too_large)
        if isinstance(raw, int):
            return raw
        if not raw.strip():
            return await json_error(sender, 400, "is required: the postback's JSON object", "body")
        query: bytes = scope["query_string"]
        app_id = query_param(query, ("app",))[:64]
        await self._ensure_started()
        if self._attribution is None:
            return await json_error(sender, 503, UNAVAILABLE)
        stub: Any = self._attribution.stub(skan_pb2_grpc.SkanServiceStub)
        if path == SKAN_POSTBACK:  # a network's copy: the account's own token
            token = (query_param(query, ("token",)) or token_header.decode("latin-1")).strip()
            if not token:
                return await json_error(sender, 401, "missing postback token: send token=... or X-Postback-Token")
            req = skan_pb2.RecordSkanPostbackRequest(
                body=raw, kind=kind, channel=skan_pb2.SKAN_CHANNEL_NETWORK, app_id=app_id
            )
            reply = await self._forward(sender, stub.RecordSkanPostback, req, token, SKAN_ERRORS, UNAVAILABLE)
        else:  # Apple's developer copy: the gateway's own token, the account by Host / App Store id
            name = forwarded_host(scope, host, fwd_host, self._trusted)
            try:
                account_id = await self._host_account(name)
            except CallError as err:
                log.warning("skan_host_unavailable", host=name, code=err.code().name, detail=err.message)
                return await json_error(sender, 503, "links service unavailable; resend the postback later")
            req = skan_pb2.RecordSkanPostbackRequest(
                body=raw, kind=kind, channel=skan_pb2.SKAN_CHANNEL_DEVELOPER_COPY, account_id=account_id,
                app_id=app_id,
            )  # fmt: skip
            reply = await self._forward(
                sender, stub.RecordSkanPostback, req, self.settings.gateway_token, SKAN_ERRORS, UNAVAILABLE
            )
        if isinstance(reply, int):
            return reply
        p = reply.postback
        body = json_body({
            "status": "duplicate" if reply.duplicate else "stored", "postback_id": p.postback_id,
            "transaction_id": p.transaction_id, "kind": KIND_NAMES.get(p.kind, ""), "version": p.version,
            "campaign_id": p.campaign_id, "installs": p.installs, "conversions": p.conversions,
        })  # fmt: skip
        return await sender.send(200, [*text_headers(JSON_CT, body), NO_STORE], body)
