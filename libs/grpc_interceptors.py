"""Server interceptors: request id, logging + Prometheus metrics, error mapping, auth.

Each wraps the unary handler of every method; state travels in contextvars,
so handlers read ``libs.auth.principal()`` and logs carry ``request_id``.
"""

from __future__ import annotations

import contextvars
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import grpc
import structlog
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from prometheus_client import Counter, Histogram

from libs.auth import KeyStore, check_allowed, current_principal
from libs.errors import DomainError, InvalidArgument
from libs.logging import get_logger
from libs.text import message_problem

log = get_logger("grpc")

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

RPC_SECONDS = Histogram(
    "clicktrail_grpc_server_handling_seconds",
    "gRPC server handling time",
    ["service", "method", "code"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
RPC_TOTAL = Counter("clicktrail_grpc_server_handled", "gRPC calls handled", ["service", "method", "code"])

Handler = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
UNAUTHENTICATED_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")


def _metadata(details: grpc.HandlerCallDetails) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in details.invocation_metadata or ():
        if isinstance(value, str):
            out[key] = value
    return out


class _UnaryWrapper(grpc.aio.ServerInterceptor):
    """Wraps the unary-unary behaviour of each method with ``around``."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner: Handler = handler.unary_unary

        async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
            return await self.around(inner, request, context, details)

        return handler._replace(unary_unary=wrapped)  # type: ignore[attr-defined,no-any-return]

    async def around(
        self, inner: Handler, request: Any, context: grpc.aio.ServicerContext, details: grpc.HandlerCallDetails
    ) -> Any:
        raise NotImplementedError  # pragma: no cover - abstract


class RequestIdInterceptor(_UnaryWrapper):
    async def around(self, inner: Handler, request: Any, context: Any, details: Any) -> Any:
        rid = _metadata(details).get("x-request-id") or uuid.uuid4().hex
        request_id_var.set(rid)
        structlog.contextvars.bind_contextvars(request_id=rid)
        return await inner(request, context)


class ObservabilityInterceptor(_UnaryWrapper):
    """Logs each call (debug when it succeeds, warning when it fails) and times it."""

    def __init__(self, service: str) -> None:
        self._service = service

    async def around(self, inner: Handler, request: Any, context: Any, details: Any) -> Any:
        method = details.method.rsplit("/", 1)[-1]
        start = time.perf_counter()
        code = "OK"
        try:
            return await inner(request, context)
        except BaseException:
            c = context.code()
            code = c.name if isinstance(c, grpc.StatusCode) else "UNKNOWN"
            raise
        finally:
            elapsed = time.perf_counter() - start
            RPC_SECONDS.labels(self._service, method, code).observe(elapsed)
            RPC_TOTAL.labels(self._service, method, code).inc()
            if code != "OK":
                log.warning("rpc", method=method, code=code, ms=round(elapsed * 1000, 2))
            else:
                log.debug("rpc", method=method, ms=round(elapsed * 1000, 2))


def _status_for(err: DomainError) -> status_pb2.Status:
    status = status_pb2.Status(code=err.code.value[0], message=err.message)
    if isinstance(err, InvalidArgument):
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=f, description=d) for f, d in err.violations
            ]
        )
        detail = any_pb2.Any()
        detail.Pack(bad)
        status.details.append(detail)
    return status


class ErrorInterceptor(_UnaryWrapper):
    """Domain errors become their gRPC status with rich details; a lost database
    becomes UNAVAILABLE; anything else INTERNAL, logged with its traceback."""

    async def around(self, inner: Handler, request: Any, context: Any, details: Any) -> Any:
        try:
            return await inner(request, context)
        except DomainError as err:
            await context.abort_with_status(rpc_status.to_status(_status_for(err)))
        except (
            asyncpg.exceptions.ConnectionDoesNotExistError,
            asyncpg.exceptions.CannotConnectNowError,
            asyncpg.exceptions.InterfaceError,
            ConnectionError,
            OSError,
        ) as err:
            log.error("database_unavailable", method=details.method, error=str(err))
            await context.abort(grpc.StatusCode.UNAVAILABLE, "database unavailable, retry")
        except asyncpg.exceptions.TransactionRollbackError as err:  # deadlock, serialization failure
            log.warning("transaction_rolled_back", method=details.method, error=str(err))
            await context.abort(grpc.StatusCode.ABORTED, "concurrent update conflict, retry")
        except asyncpg.exceptions.QueryCanceledError:
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "query took too long")
        except Exception:
            if context.code() not in (None, grpc.StatusCode.OK):
                raise  # already aborted by the handler
            log.exception("rpc_internal_error", method=details.method)
            await context.abort_with_status(
                rpc_status.to_status(status_pb2.Status(code=code_pb2.INTERNAL, message="internal error"))
            )


class AuthInterceptor(_UnaryWrapper):
    """Sets ``current_principal`` from ``authorization: Bearer …``. A missing
    token leaves it unset (handlers decide); a bad one is UNAUTHENTICATED; a
    service token (internal, gateway) calling a method not on its allow-list
    is PERMISSION_DENIED before the handler runs."""

    def __init__(self, keys: KeyStore) -> None:
        self._keys = keys

    async def around(self, inner: Handler, request: Any, context: Any, details: Any) -> Any:
        if details.method.startswith(UNAUTHENTICATED_PREFIXES):
            return await inner(request, context)
        md = _metadata(details)
        header = md.get("authorization", "")
        if header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token:
                from libs.errors import Unauthenticated

                raise Unauthenticated("authorization must be 'Bearer <key>'")
            principal = await self._keys.verify(token.strip(), account_id_hint=md.get("x-account-id", ""))
            check_allowed(principal, details.method)
            current_principal.set(principal)
        else:
            current_principal.set(None)
        return await inner(request, context)


# Methods that take text Postgres cannot store item by item (clean it or refuse one item),
# so one bad value never costs the rest of a batch; every other method is refused whole.
TEXT_CHECKED_INSIDE = frozenset({
    "/clicktrail.links.v1.LinksService/RecordClicks",
    "/clicktrail.links.v1.LinksService/RecordImpressions",
    "/clicktrail.ingest.v1.IngestService/SendEvents",
    "/clicktrail.attribution.v1.AttributionService/RecordPostback",
    "/clicktrail.attribution.v1.AttributionService/LogRefusedPostback",
})  # fmt: skip


class TextInterceptor(_UnaryWrapper):
    """A request whose text holds a NUL (Postgres text and jsonb cannot store it) is
    INVALID_ARGUMENT naming the field, before the handler runs: console forms, the CLI
    and any client get a clear error instead of an internal one (libs/text.py)."""

    async def around(self, inner: Handler, request: Any, context: Any, details: Any) -> Any:
        if details.method not in TEXT_CHECKED_INSIDE:
            found = message_problem(request)
            if found is not None:
                raise InvalidArgument(*found)
        return await inner(request, context)


def server_interceptors(service: str, keys: KeyStore) -> list[grpc.aio.ServerInterceptor]:
    # Outermost first: the error mapper sits outside auth so auth failures are mapped too.
    return [
        RequestIdInterceptor(), ObservabilityInterceptor(service), ErrorInterceptor(), AuthInterceptor(keys),
        TextInterceptor(),
    ]  # fmt: skip
