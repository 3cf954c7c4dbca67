"""What every typed client shares: channels to one service (``libs.grpc_client``:
deadline, request id, bearer token, TLS), its stubs round robin over them, and
per-call credentials."""

from __future__ import annotations

import itertools
from typing import Any, ClassVar, Protocol, Self, TypeVar

import grpc

# Imported as a module (not its names): libs.grpc_client imports libs.clients.errors,
# so this package may be loading while libs.grpc_client is half-way through.
from libs import grpc_client
from libs.tls import ChannelTlsSettings, channel_credentials

S = TypeVar("S")


class _ClientSettings(ChannelTlsSettings, Protocol):
    """What a client reads of a process's settings. Read-only properties, so every
    frozen settings class (libs.config) is one."""

    @property
    def internal_token(self) -> str: ...
    @property
    def grpc_deadline_s(self) -> float: ...

    def addr_of(self, service: str) -> str: ...


def credentials(token: str = "", account_id: str = "") -> tuple[tuple[str, str], ...]:
    """Per-call metadata: a bearer ``token`` (an account API key, the console
    session's key, the admin or the internal token) and/or the account a
    service or admin token acts for. Overrides what the client was made with."""
    md: list[tuple[str, str]] = []
    if token:
        md.append(("authorization", f"Bearer {token}"))
    if account_id:
        md.append(("x-account-id", account_id))
    return tuple(md)


def for_account(account_id: str) -> tuple[tuple[str, str], ...]:
    """Per-call metadata of a call made for one account (``x-account-id``)."""
    return credentials(account_id=account_id)


class ServiceClient:
    """Channels to one service and its stubs. Make one per process (or per
    caller identity) and keep it; ``close()`` (or ``async with``) when done."""

    service: ClassVar[str] = ""

    def __init__(
        self,
        target: str,
        *,
        token: str = "",
        account_id: str = "",
        deadline_s: float = 5.0,
        tls: grpc.ChannelCredentials | None = None,
        channels: int = 1,
    ) -> None:
        self.target = target
        self._pool = grpc_client.ChannelPool(
            target, channels, token=token, account_id=account_id, deadline_s=deadline_s, tls=tls
        )
        self._stubs: dict[type, Any] = {}

    @classmethod
    def connect(
        cls,
        settings: _ClientSettings,
        *,
        token: str = "",
        account_id: str = "",
        deadline_s: float | None = None,
        channels: int = 1,
        target: str = "",
    ) -> Self:
        """A client of ``cls.service`` at its configured address, TLS as configured,
        the configured deadline (or ``deadline_s``)."""
        return cls(
            target or settings.addr_of(cls.service),
            token=token,
            account_id=account_id,
            deadline_s=settings.grpc_deadline_s if deadline_s is None else deadline_s,
            tls=channel_credentials(settings),
            channels=channels,
        )

    @classmethod
    def internal(
        cls,
        settings: _ClientSettings,
        *,
        account_id: str = "",
        deadline_s: float | None = None,
        channels: int = 1,
        target: str = "",
    ) -> Self:
        """A client calling as a service (the internal token), for ``account_id``
        when given (else name the account per call: ``metadata=for_account(id)``)."""
        return cls.connect(
            settings,
            token=settings.internal_token,
            account_id=account_id,
            deadline_s=deadline_s,
            channels=channels,
            target=target,
        )

    @property
    def channels(self) -> list[grpc.aio.Channel]:
        return self._pool.channels

    def channel(self) -> grpc.aio.Channel:
        """The next channel (round robin), for raw or health calls."""
        return self._pool.next()

    def stub(self, cls: type[S]) -> S:
        """A ``cls`` stub on the next channel (stubs are made once per channel)."""
        stubs = self._stubs.get(cls)
        if stubs is None:
            stubs = self._stubs[cls] = itertools.cycle([cls(ch) for ch in self._pool.channels])  # type: ignore[call-arg]
        return next(stubs)  # type: ignore[no-any-return]

    async def close(self) -> None:
        await self._pool.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
