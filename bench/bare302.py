"""The baseline: a bare ASGI app answering a constant 302, served on exactly the
gateway's server stack (``gateway.__main__.server_config``: uvicorn + uvloop +
httptools, same options). ``python -m bench.bare302 <port>``."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn

from gateway.__main__ import server_config
from libs.config import load_settings

START = {
    "type": "http.response.start",
    "status": 302,
    "headers": [
        (b"location", b"https://shop.example/land?cid=bare"),
        (b"cache-control", b"no-store"),
        (b"content-length", b"0"),
    ],
}
BODY = {"type": "http.response.body", "body": b""}


async def app(
    scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
) -> None:
    if scope["type"] == "http":
        await send(START)
        await send(BODY)
    elif scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


def main() -> None:
    port = int(sys.argv[1])
    config = server_config(load_settings(env={}), host="127.0.0.1", port=port)
    config.app = app
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
