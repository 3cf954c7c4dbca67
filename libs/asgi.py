"""What the gateway and the console share as ASGI servers: their uvicorn
options and one way to read a request body (also the gateway's console proxy)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

Receive = Callable[[], Awaitable[dict[str, Any]]]


def uvicorn_options(**overrides: object) -> dict[str, object]:
    """uvicorn's options for our HTTP processes (uvloop + httptools, our own logging);
    ``overrides`` name at least host and port."""
    options: dict[str, object] = {
        "loop": "uvloop",
        "http": "httptools",
        "lifespan": "on",
        "access_log": False,  # errors are logged by the app; per-request lines would dominate cost
        "log_config": None,  # keep the process's structlog/stdlib setup
        "proxy_headers": False,  # the app decides which X-Forwarded-For to believe
        "server_header": False,
    }
    options.update(overrides)
    return options


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
