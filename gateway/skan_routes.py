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
from clicktrail.attribution.v1 import skan_pb2
from clicktrail.links.v1 import links_pb2

from gateway.base import ErrorAnswers, GatewayBase, answer_call_error, log
from gateway.batcher import BatchError, TouchBatcher
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
from libs.clients import AffiliateClient, AttributionClient, CallError

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
STATUS_CODES = {code.value[0]: code for code in grpc.StatusCode}
# The postbacks that arrive within SKAN_GATHER_S of the first go in one call (at most SKAN_BATCH_MAX).
SKAN_GATHER_S = 0.05
SKAN_BATCH_MAX = 256
# A batch call's deadline: a postback is not urgent (Apple's devices and the networks wait
# for the answer), and a 503 makes the sender come back with it, which costs more than
# waiting; the service's usual deadline (CLICKTRAIL_GRPC_DEADLINE_S, 5 s) answered 161 of
# 7,057 postbacks 503 while make bench's app mix held attribution busy.
SKAN_CALL_TIMEOUT_S = 30.0
# One postback of a BatchRecordSkanPostbacks call: (body, kind, channel, account_id, app_id, postback_token).
SkanItem = tuple[bytes, int, int, str, str, str]


def add_skan(add: Any, item: SkanItem) -> None:
    """One RecordSkanPostbackRequest of a BatchRecordSkanPostbacks request."""
    body, kind, channel, account_id, app_id, token = item
    add(body=body, kind=kind, channel=channel, account_id=account_id, app_id=app_id, postback_token=token)


class SkanRoutes(GatewayBase):
    _affiliate: AffiliateClient | None
    _host_accounts: TTLCache[str, str]
    # The postbacks received at about the same time go to attribution in one call (a gRPC
    # call each cost the gateway and attribution more CPU than the rest of a postback's path:
    # make bench, ~1 ms each side per call).
    _skan_client: AttributionClient | None = None
    _skan_batcher: TouchBatcher | None = None

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

    def _start_skan(self, timeout_s: float) -> None:
        """The SKAN batcher, on a channel with the gateway's token: a plain timer (SKAN_GATHER_S),
        not the touches' eager batching: Apple and the networks wait for the answer without
        hurry, and postbacks come a few at a time, so eager calls would carry one each."""
        s = self.settings
        self._skan_client = AttributionClient.connect(s, token=s.gateway_token)
        self._skan_batcher = TouchBatcher(
            self._skan_client, kind="skan", method=f"/{skan_pb2.DESCRIPTOR.services_by_name['SkanService'].full_name}"
            "/BatchRecordSkanPostbacks", request_cls=skan_pb2.BatchRecordSkanPostbacksRequest,
            response_cls=skan_pb2.BatchRecordSkanPostbacksResponse, field="requests", fill=add_skan,
            max_items=SKAN_BATCH_MAX, delay_s=SKAN_GATHER_S, max_inflight=0,
            timeout_s=max(timeout_s, SKAN_CALL_TIMEOUT_S),
        )  # fmt: skip

    async def _stop_skan(self, grace_s: float) -> None:
        batcher, client = self._skan_batcher, self._skan_client
        self._skan_batcher = self._skan_client = None
        if batcher is not None:
            await batcher.drain(grace_s)
        if client is not None:
            await client.close()

    async def _record_skan(self, sender: Sender, item: SkanItem) -> Any:
        """One postback through the batcher: its RecordSkanPostbackResponse, or the HTTP status answered."""
        batcher = self._skan_batcher
        if batcher is None:
            return await json_error(sender, 503, UNAVAILABLE)
        sender.forwarded = True
        try:
            result = await batcher.submit(item)
        except BatchError as err:
            log.warning("downstream_unavailable", method="BatchRecordSkanPostbacks",
                        code=err.code.name if err.code else "", detail=err.detail)  # fmt: skip
            return await json_error(sender, 503, UNAVAILABLE)
        if not result.code:
            return result.response
        code = STATUS_CODES.get(result.code, grpc.StatusCode.UNKNOWN)
        refused = CallError(code, result.message, [(result.field, result.message)] if result.field else ())
        return await answer_call_error(sender, refused, SKAN_ERRORS, UNAVAILABLE, "BatchRecordSkanPostbacks")

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
        if path == SKAN_POSTBACK:  # a network's copy: the account's own token (checked by attribution)
            token = (query_param(query, ("token",)) or token_header.decode("latin-1")).strip()
            if not token:
                return await json_error(sender, 401, "missing postback token: send token=... or X-Postback-Token")
            if not (token.isascii() and token.isprintable()) or len(token) > 200:
                return await json_error(sender, 401, SKAN_ERRORS.text(grpc.StatusCode.UNAUTHENTICATED))
            item: SkanItem = (raw, kind, skan_pb2.SKAN_CHANNEL_NETWORK, "", app_id, token)
        else:  # Apple's developer copy: the gateway's own token, the account by Host / App Store id
            name = forwarded_host(scope, host, fwd_host, self._trusted)
            try:
                account_id = await self._host_account(name)
            except CallError as err:
                log.warning("skan_host_unavailable", host=name, code=err.code().name, detail=err.message)
                return await json_error(sender, 503, "links service unavailable; resend the postback later")
            item = (raw, kind, skan_pb2.SKAN_CHANNEL_DEVELOPER_COPY, account_id, app_id, "")
        reply = await self._record_skan(sender, item)
        if isinstance(reply, int):
            return reply
        p = reply.postback
        body = json_body({
            "status": "duplicate" if reply.duplicate else "stored", "postback_id": p.postback_id,
            "transaction_id": p.transaction_id, "kind": KIND_NAMES.get(p.kind, ""), "version": p.version,
            "campaign_id": p.campaign_id, "installs": p.installs, "conversions": p.conversions,
        })  # fmt: skip
        return await sender.send(200, [*text_headers(JSON_CT, body), NO_STORE], body)
