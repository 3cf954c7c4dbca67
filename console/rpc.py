"""Calling the services from the console: one typed client per service
(libs.clients, opened on first use), every call carrying the signed-in
account's API key, and a failed call (libs.clients.CallError) turned into what
a page shows (ServiceError) or into a new sign-in (SignInRequired)."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.message import Message

from libs.clients import CLIENTS, CallError, ServiceClient, credentials, http_status
from libs.config import ConsoleSettings

KEY_REFUSED = "Your API key is no longer accepted (rotated?): sign in again."


class ServiceError(Exception):
    """A service refused or failed a call: what to tell the operator."""

    def __init__(self, err: grpc.aio.AioRpcError) -> None:
        call = CallError.from_rpc_error(err)
        self.code = call.code()
        self.message = call.details() or self.code.name
        self.fields = dict(call.violations)
        super().__init__(self.message)

    def http_status(self, default: int = 502) -> int:
        """The page's status (libs.clients' one gRPC -> HTTP mapping)."""
        return http_status(self.code, default=default)


class SignInRequired(Exception):
    """The session is missing, expired, or its API key stopped working."""

    def __init__(self, message: str = "") -> None:
        self.message = message
        super().__init__(message)


class Services:
    """The console's clients of the services (two channels each, opened on first use)."""

    def __init__(self, settings: ConsoleSettings) -> None:
        self.settings = settings
        self._clients: dict[str, ServiceClient] = {}

    def stub(self, cls: type, service: str) -> Any:
        client = self._clients.get(service)
        if client is None:
            client = self._clients[service] = CLIENTS[service].connect(self.settings, channels=2)  # type: ignore[arg-type]
        return client.stub(cls)

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()


async def call(api_key: str, method: Any, request: Message) -> Any:
    """One RPC with the account's API key; UNAUTHENTICATED (or a refused key) means sign in again."""
    try:
        return await method(request, metadata=credentials(token=api_key))
    except grpc.aio.AioRpcError as err:
        if err.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED) and (
            "api key" in (err.details() or "").lower() or err.code() == grpc.StatusCode.UNAUTHENTICATED
        ):
            raise SignInRequired(KEY_REFUSED) from err
        raise ServiceError(err) from err
