"""Reading an ASGI request body: one way for the gateway, its console proxy and
the console."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

Receive = Callable[[], Awaitable[dict[str, Any]]]


class BodyTooLarge(Exception):
    """The body passed its limit; reading stopped there."""


async def read_body(receive: Receive, limit: int, timeout_s: float = 0.0) -> bytes | None:
    """The whole request body, or None when the client went away. Stops reading
    (BodyTooLarge) as soon as it passes ``limit`` bytes, and (TimeoutError) when
    the whole body has not arrived within ``timeout_s`` (0: no limit), so a slow
    client cannot hold the reader."""
    chunks: list[bytes] = []
    size = 0
    async with asyncio.timeout(timeout_s if timeout_s > 0 else None):
        while True:
            message = await receive()
            if message["type"] != "http.request":  # http.disconnect
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)
