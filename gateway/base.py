"""What every route of the gateway shares: the typed service clients, the client
address (X-Forwarded-For from trusted proxies only), starting on first use,
and forwarding a public request to a service with its caller's own secret."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping
from typing import Any

import grpc

from gateway.responses import (
    GET_HEAD,
    JSON_CT,
    Scope,
    Sender,
    canonical_ip,
    json_body,
    json_error,
    parse_ip,
    text_headers,
)
from libs.clients import AttributionClient, CallError, IngestClient, LinksClient
from libs.config import GatewaySettings
from libs.logging import get_logger

log = get_logger("gateway")

LINKS_SERVICE = "clicktrail.links.v1.LinksService"
INGEST_SERVICE = "clicktrail.ingest.v1.IngestService"
ATTRIBUTION_SERVICE = "clicktrail.attribution.v1.AttributionService"


@dataclasses.dataclass(frozen=True)
class ErrorAnswers:
    """How a route answers a forwarded call's gRPC error: its own HTTP status
    and text per code (libs.clients.http_status; anything else is 503, the
    service unavailable)."""

    table: Mapping[grpc.StatusCode, tuple[int, str]]
    status: Mapping[grpc.StatusCode, int] = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", {code: status for code, (status, _) in self.table.items()})

    def of(self, err: CallError) -> tuple[int, str]:
        """The HTTP status and the text to answer ("" when the service's own message says it)."""
        return err.http_status(self.status, default=503), self.table.get(err.code(), (503, ""))[1]

    def text(self, code: grpc.StatusCode) -> str:
        return self.table[code][1]


async def answer_call_error(sender: Sender, err: CallError, errors: ErrorAnswers, unavailable: str, method: str) -> int:
    """A service's error as the route's HTTP answer (503 with ``unavailable``, logged, when
    the service cannot be reached); the status answered."""
    status, text = errors.of(err)
    if status == 503:
        log.warning("downstream_unavailable", method=method, code=err.code().name, detail=err.message)
        text = unavailable
    return await json_error(sender, status, text or err.message, err.first_field)


class GatewayBase:
    """The state and helpers the route groups (touch_routes, event_routes,
    postback_routes, health) share; ``gateway.app.Gateway`` puts them together."""

    settings: GatewaySettings
    _trusted: Any  # settings.trusted_proxies: the networks whose X-Forwarded-For is believed
    _max_query: int
    _links: LinksClient | None  # with the gateway's own token: touches only
    _ingest: IngestClient | None  # the callers' own keys, per call (_forward)
    _attribution: AttributionClient | None
    _draining: bool
    _vouch: tuple[tuple[str, str], ...]
    _body_timeout_s: float

    async def startup(self) -> None:
        raise NotImplementedError

    def client_ip(self, scope: Scope, xff: bytes) -> str:
        client = scope.get("client")
        peer_text = client[0] if client else ""
        if not (xff and self._trusted):
            return canonical_ip(peer_text)
        peer = parse_ip(peer_text) if peer_text else None
        if peer is None:
            return peer_text[:64]
        if self._is_trusted(peer):
            # Walk right to left: the first address that is not a trusted proxy is the client.
            for part in reversed(xff.decode("latin-1").split(",")):
                hop = parse_ip(part)
                if hop is None:
                    break  # garbage: believe nothing to its left
                peer = hop
                if not self._is_trusted(hop):
                    break
        return str(peer)

    def _is_trusted(self, addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(addr.version == net.version and addr in net for net in self._trusted)

    async def _ensure_started(self) -> None:
        if self._links is None and not self._draining:
            await self.startup()

    async def _forward(
        self,
        sender: Sender,
        call: Any,
        request: Any,
        secret: str,
        errors: ErrorAnswers,
        unavailable: str,
        vouch: bool = False,
    ) -> Any:
        """Call a service's method (``call``: a typed client's stub method) for a
        public request, authenticated by the caller's own
        secret (``vouch``: with the gateway's token beside it, so the service believes
        the client address and User-Agent the request names). On a gRPC error, answer
        the mapped HTTP status (503 when the service cannot be reached) and return
        that status instead of a reply."""
        if not (secret.isascii() and secret.isprintable()):  # a NUL, %-decoded bytes: no header can carry it
            status, text = errors.table.get(grpc.StatusCode.UNAUTHENTICATED, (401, "invalid key"))
            return await json_error(sender, status, text)
        sender.forwarded = True
        try:
            return await call(
                request, metadata=(("authorization", f"Bearer {secret}"), *(self._vouch if vouch else ()))
            )
        except grpc.aio.AioRpcError as rpc_err:
            method = type(request).DESCRIPTOR.name.removesuffix("Request")
            return await answer_call_error(sender, CallError.from_rpc_error(rpc_err), errors, unavailable, method)

    async def _not_allowed(self, sender: Sender) -> int:
        body = json_body({"error": "method not allowed"})
        return await sender.send(405, [*text_headers(JSON_CT, body), (b"allow", GET_HEAD)], body)
