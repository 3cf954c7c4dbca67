"""The one client-side error of every call to a Clicktrail service.

Every channel from ``libs.grpc_client`` raises :class:`CallError` for a failed
call (it is a ``grpc.aio.AioRpcError``, so ``err.code()``, ``err.details()`` and
``err.trailing_metadata()`` keep working), with the google.rpc.BadRequest field
violations of the server's rich status already decoded. :func:`http_status` is
the one gRPC -> HTTP status mapping (the console's pages, the gateway's answers).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import grpc
from google.rpc import error_details_pb2, status_pb2

STATUS_DETAILS_KEY = "grpc-status-details-bin"

# gRPC status -> HTTP status of a page or an API answer.
HTTP_STATUS: Mapping[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}
# Anything else (INTERNAL, UNKNOWN, ABORTED, ...): the service behind failed.
DEFAULT_HTTP_STATUS = 502

# How gRPC words a failure to connect (as opposed to a service that answered UNAVAILABLE).
_CONNECT_WORDS = (
    "failed to connect",
    "connection refused",
    "connect failed",
    "dns resolution failed",
    "socket closed",
    "connection reset",
)


def status_details(metadata: Iterable[tuple[str, str | bytes]] | None) -> status_pb2.Status | None:
    """The google.rpc.Status a server put in the trailing metadata, if any."""
    for key, value in metadata or ():
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            try:
                return status_pb2.Status.FromString(value)
            except Exception:  # a malformed detail must not hide the error itself
                return None
    return None


def violations_of(status: status_pb2.Status | None) -> list[tuple[str, str]]:
    """The (field, description) pairs of every BadRequest detail of a status."""
    out: list[tuple[str, str]] = []
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            out.extend((v.field, v.description) for v in bad.field_violations)
    return out


class CallError(grpc.aio.AioRpcError):
    """A call to a service failed: its gRPC ``code()``, ``message`` (the status
    details) and ``violations`` (field, description) from a BadRequest detail."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str = "",
        violations: Iterable[tuple[str, str]] = (),
        *,
        initial_metadata: grpc.aio.Metadata | None = None,
        trailing_metadata: grpc.aio.Metadata | None = None,
        debug_error_string: str | None = None,
    ) -> None:
        super().__init__(
            code,
            initial_metadata if initial_metadata is not None else grpc.aio.Metadata(),
            trailing_metadata if trailing_metadata is not None else grpc.aio.Metadata(),
            message,
            debug_error_string,
        )
        self.message = message
        self.violations: list[tuple[str, str]] = list(violations)

    @classmethod
    def from_rpc_error(cls, err: grpc.aio.AioRpcError) -> CallError:
        """The CallError of any failed call (itself when it already is one)."""
        if isinstance(err, CallError):
            return err
        trailing = err.trailing_metadata()
        return cls(
            err.code(),
            err.details() or "",
            violations_of(status_details(trailing)),
            initial_metadata=err.initial_metadata(),
            trailing_metadata=trailing,
            debug_error_string=err.debug_error_string(),
        )

    @property
    def status(self) -> grpc.StatusCode:
        return self.code()

    @property
    def fields(self) -> dict[str, str]:
        """Field -> description (the first description of a field named twice)."""
        out: dict[str, str] = {}
        for field, description in self.violations:
            out.setdefault(field, description)
        return out

    @property
    def first_field(self) -> str:
        """The field of the first violation, "" when there is none."""
        return self.violations[0][0] if self.violations else ""

    @property
    def text(self) -> str:
        """One line for a person: the violations when there are some, else the
        message, else the code's name in words ("not found")."""
        if self.violations:
            return "; ".join(f"{f}: {d}" for f, d in self.violations)
        return self.message or self.code().name.lower().replace("_", " ")

    @property
    def unreachable(self) -> bool:
        """The service could not be reached at all (nothing answered)."""
        if self.code() != grpc.StatusCode.UNAVAILABLE:
            return False
        details = self.message.lower()
        return not details or any(w in details for w in _CONNECT_WORDS)

    def http_status(
        self, table: Mapping[grpc.StatusCode, int] | None = None, default: int = DEFAULT_HTTP_STATUS
    ) -> int:
        return http_status(self.code(), table, default)


def call_error(err: grpc.aio.AioRpcError) -> CallError:
    return CallError.from_rpc_error(err)


def http_status(
    code: grpc.StatusCode,
    table: Mapping[grpc.StatusCode, int] | None = None,
    default: int = DEFAULT_HTTP_STATUS,
) -> int:
    """The HTTP status of a gRPC status: from ``table`` when given (an endpoint's
    own answers, e.g. the gateway's), else :data:`HTTP_STATUS`; ``default`` for
    the rest."""
    return (HTTP_STATUS if table is None else table).get(code, default)


def field_violations(err: grpc.aio.AioRpcError) -> list[tuple[str, str]]:
    """The BadRequest field violations of any failed call."""
    return CallError.from_rpc_error(err).violations
