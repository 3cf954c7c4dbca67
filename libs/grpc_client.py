"""The one client-channel factory: every call gets a deadline, the caller's
request id and (when given) a bearer token; ``tls`` (from
``libs.tls.channel_credentials(settings)``) makes the channel TLS / mutual TLS.
A failed call raises ``libs.clients.errors.CallError`` (an ``AioRpcError`` with
the server's field violations decoded). The typed clients of each service are
in ``libs.clients``."""

from __future__ import annotations

import itertools
from typing import Any

import grpc

from libs.clients.errors import CallError
from libs.grpc_interceptors import request_id_var

CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    # Separate connections per channel, so several channels spread over replicas.
    ("grpc.use_local_subchannel_pool", 1),
    # A target naming several replicas (dns:///ingest:50052 resolving to several
    # addresses under docker compose --scale, or ipv4:host:p1,host:p2) gets its
    # calls spread over all of them, not pinned to the first.
    ("grpc.lb_policy_name", "round_robin"),
]


class _DefaultsInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, deadline_s: float, token: str, account_id: str) -> None:
        self._deadline = deadline_s
        self._static: list[tuple[str, str]] = []
        if token:
            self._static.append(("authorization", f"Bearer {token}"))
        if account_id:
            self._static.append(("x-account-id", account_id))

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        md = list(details.metadata or ())
        keys = {k for k, _ in md}
        md.extend(kv for kv in self._static if kv[0] not in keys)
        rid = request_id_var.get()
        if rid and "x-request-id" not in keys:
            md.append(("x-request-id", rid))
        new = grpc.aio.ClientCallDetails(
            method=details.method,
            timeout=details.timeout if details.timeout is not None else self._deadline,
            metadata=grpc.aio.Metadata(*md),
            credentials=details.credentials,
            wait_for_ready=details.wait_for_ready,
        )
        call = await continuation(new, request)
        try:
            return await call
        except grpc.aio.AioRpcError as err:
            raise CallError.from_rpc_error(err) from None


def make_channel(
    target: str,
    *,
    token: str = "",
    account_id: str = "",
    deadline_s: float = 5.0,
    tls: grpc.ChannelCredentials | None = None,
) -> grpc.aio.Channel:
    interceptors = [_DefaultsInterceptor(deadline_s, token, account_id)]
    if tls is not None:
        return grpc.aio.secure_channel(target, tls, options=CHANNEL_OPTIONS, interceptors=interceptors)
    return grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS, interceptors=interceptors)


class ChannelPool:
    """Several channels to one target, used round robin: a grpc.aio server uses
    one core, and SO_REUSEPORT replicas balance connections, not calls."""

    def __init__(self, target: str, size: int = 2, **kwargs: Any) -> None:
        self.channels = [make_channel(target, **kwargs) for _ in range(max(1, size))]
        self._next = itertools.cycle(self.channels)

    def next(self) -> grpc.aio.Channel:
        return next(self._next)

    async def close(self) -> None:
        for ch in self.channels:
            await ch.close()
