"""The baseline: a bare ASGI app answering a constant 302, served on exactly the
gateway's server stack (``gateway.__main__.server_config``: uvicorn + uvloop +
httptools, same options). ``python -m bench.bare302 <port> [starlette]``:
with ``starlette``, the same 302 through a Starlette route (``/c/{slug}``) instead,
to measure what a framework on the click path would cost."""

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


def starlette_app() -> Any:
    """The same 302 answered by a Starlette route (its router, request and response objects)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    headers = {"location": "https://shop.example/land?cid=bare", "cache-control": "no-store"}

    async def click(request: Request) -> Response:
        if not request.path_params["slug"]:  # read, as the gateway's route would
            return Response(status_code=404)
        return Response(status_code=302, headers=headers)

    return Starlette(routes=[Route("/c/{slug}", click, methods=["GET", "HEAD"])])


def main() -> None:
    port = int(sys.argv[1])
    config = server_config(load_settings(env={}), host="127.0.0.1", port=port)
    config.app = starlette_app() if sys.argv[2:] == ["starlette"] else app
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
