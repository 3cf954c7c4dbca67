"""Calling the services from the console: one channel pool per service, stubs
cached per channel, every call carrying the signed-in account's API key, and
the gRPC failures turned into what a page shows (ServiceError) or into a new
sign-in (SignInRequired)."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.message import Message

from cli.common import field_violations
from libs.config import Settings
from libs.grpc_client import ChannelPool
from libs.tls import channel_credentials

# The HTTP status of a page whose service call failed.
HTTP_OF = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}
KEY_REFUSED = "Your API key is no longer accepted (rotated?): sign in again."


class ServiceError(Exception):
    """A service refused or failed a call: what to tell the operator."""

    def __init__(self, err: grpc.aio.AioRpcError) -> None:
        self.code = err.code()
        self.message = err.details() or self.code.name
        self.fields = dict(field_violations(err))
        super().__init__(self.message)


class SignInRequired(Exception):
    """The session is missing, expired, or its API key stopped working."""

    def __init__(self, message: str = "") -> None:
        self.message = message
        super().__init__(message)


def bearer(api_key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {api_key}"),)


class Services:
    """The console's connections to the services (two channels each, opened on first use)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pools: dict[str, ChannelPool] = {}
        self._stubs: dict[tuple[type, int], Any] = {}

    def stub(self, cls: type, service: str) -> Any:
        pool = self._pools.get(service)
        if pool is None:
            pool = self._pools[service] = ChannelPool(
                self.settings.addr_of(service), 2, deadline_s=self.settings.grpc_deadline_s,
                tls=channel_credentials(self.settings),
            )  # fmt: skip
        channel = pool.next()
        key = (cls, id(channel))
        stub = self._stubs.get(key)
        if stub is None:
            stub = self._stubs[key] = cls(channel)
        return stub

    async def close(self) -> None:
        for pool in self._pools.values():
            await pool.close()
        self._pools.clear()
        self._stubs.clear()


async def call(api_key: str, method: Any, request: Message) -> Any:
    """One RPC with the account's API key; UNAUTHENTICATED (or a refused key) means sign in again."""
    try:
        return await method(request, metadata=bearer(api_key))
    except grpc.aio.AioRpcError as err:
        if err.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED) and (
            "api key" in (err.details() or "").lower() or err.code() == grpc.StatusCode.UNAUTHENTICATED
        ):
            raise SignInRequired(KEY_REFUSED) from err
        raise ServiceError(err) from err
