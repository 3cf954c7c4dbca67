"""Domain errors. Handlers raise these; the error interceptor maps them to gRPC
statuses with rich details (google.rpc.BadRequest field violations)."""

from __future__ import annotations

import grpc


class DomainError(Exception):
    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(DomainError):
    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, field: str, description: str) -> None:
        super().__init__(f"{field}: {description}")
        self.violations: list[tuple[str, str]] = [(field, description)]

    @classmethod
    def many(cls, violations: list[tuple[str, str]]) -> InvalidArgument:
        err = cls(*violations[0])
        err.violations = list(violations)
        err.message = "; ".join(f"{f}: {d}" for f, d in violations)
        err.args = (err.message,)
        return err


class NotFound(DomainError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(DomainError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(DomainError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Unauthenticated(DomainError):
    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(DomainError):
    code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhausted(DomainError):
    """Too large or too many: the request must be split."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(DomainError):
    code = grpc.StatusCode.UNAVAILABLE


class Validator:
    """Collects every field violation of a request, then raises them together."""

    def __init__(self) -> None:
        self.violations: list[tuple[str, str]] = []

    def check(self, ok: bool, field: str, description: str) -> None:
        if not ok:
            self.violations.append((field, description))

    def add(self, field: str, description: str) -> None:
        self.violations.append((field, description))

    def raise_if_any(self) -> None:
        if self.violations:
            raise InvalidArgument.many(self.violations)
