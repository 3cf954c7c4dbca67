"""``python -m console``: the operator console in its own process.

It listens on CLICKTRAIL_CONSOLE_HOST:CLICKTRAIL_CONSOLE_PORT (loopback by
default); the public URL stays the gateway's /console, which forwards there
(gateway/console_proxy.py). The console's own event loop (page renders, CSV
exports, form parsing) is never the gateway's: a slow or heavy console request
cannot hold up a click or an impression. ``GET /healthz`` answers 200 once the
session store is open.
"""

from __future__ import annotations

from typing import Any

import uvicorn

from console.app import Console
from libs.asgi import uvicorn_options
from libs.config import Settings, load_settings
from libs.logging import configure_logging, get_logger

log = get_logger("console")


class ConsoleServer:
    """The ASGI application of the console process: lifespan opens and closes the console."""

    def __init__(self, settings: Settings) -> None:
        self.console = Console(settings)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            if scope["path"] == "/healthz":
                body = b"ok\n"
                headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"3")]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
            else:
                await self.console(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.console.start()
                except Exception as exc:
                    log.exception("console_startup_failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self.console.close()
                finally:
                    await send({"type": "lifespan.shutdown.complete"})
                return


def server_config(settings: Settings, **overrides: object) -> uvicorn.Config:
    """The console's uvicorn configuration (also used by the tests)."""
    options = uvicorn_options(**{  # overrides may name host and port too
        "host": settings.console_host, "port": settings.console_port, "timeout_graceful_shutdown": 10, **overrides,
    })  # fmt: skip
    return uvicorn.Config(ConsoleServer(settings), **options)  # type: ignore[arg-type]


def main() -> None:
    settings = load_settings()
    configure_logging("console", settings.log_level, settings.log_format)
    log.info("console_listening", host=settings.console_host, port=settings.console_port)
    uvicorn.Server(server_config(settings)).run()


if __name__ == "__main__":
    main()
