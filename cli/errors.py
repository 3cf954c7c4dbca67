"""The CLI's errors: one ``error: ...`` line on stderr, exit 2 for bad usage or
an invalid argument, 1 for anything else; a failed call mapped from the one
gRPC error type (libs.clients.CallError)."""

from __future__ import annotations

import grpc

from libs.clients import CallError
from libs.clients import field_violations as field_violations


class CliError(Exception):
    """Printed as one ``error: <message>`` line on stderr; exits ``exit_code``."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class UsageError(CliError):
    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=2)


def rpc_error(err: grpc.aio.AioRpcError, service: str, addr: str, *, admin: bool = False) -> CliError:
    """One clear line for a failed call."""
    e = CallError.from_rpc_error(err)
    code = e.code()
    details = e.message.strip()
    if code == grpc.StatusCode.UNAVAILABLE:
        if e.unreachable:
            return CliError(f"cannot reach the {service} service at {addr} — is `make run` running?")
        return CliError(f"the {service} service at {addr} is unavailable: {details}")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return CliError(f"the {service} service at {addr} did not answer in time")
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return CliError(e.text if e.violations or details else "invalid argument", exit_code=2)
    if code == grpc.StatusCode.UNAUTHENTICATED:
        hint = (
            "check CLICKTRAIL_ADMIN_TOKEN or .clicktrail/admin-token"
            if admin
            else "check --api-key or CLICKTRAIL_API_KEY"
        )
        return CliError(f"{details or 'unauthenticated'} ({hint})")
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return CliError(f"the service at {addr} does not implement this call ({details or 'unimplemented'})")
    return CliError(details or code.name.lower().replace("_", " "))
