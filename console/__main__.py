"""``python -m console``: the operator console in its own process.

It listens on CLICKTRAIL_CONSOLE_HOST:CLICKTRAIL_CONSOLE_PORT (loopback by
default); the public URL stays the gateway's /console, which forwards there
(gateway/console_proxy.py). The console's own event loop (page renders, CSV
exports, form parsing) is never the gateway's: a slow or heavy console request
cannot hold up a click or an impression. ``GET /healthz`` answers 200 once the
session store is open.
"""

from __future__ import annotations

import uvicorn

from console.app import create_app
from libs.asgi import uvicorn_options
from libs.config import ConfigError, ConsoleSettings, load_process_settings
from libs.logging import configure_logging, get_logger

log = get_logger("console")


def server_config(settings: ConsoleSettings, **overrides: object) -> uvicorn.Config:
    """The console's uvicorn configuration (also used by the tests)."""
    options = uvicorn_options(**{  # overrides may name host and port too
        "host": settings.console_host, "port": settings.console_port, "timeout_graceful_shutdown": 10, **overrides,
    })  # fmt: skip
    return uvicorn.Config(create_app(settings), **options)  # type: ignore[arg-type]


def main() -> None:
    try:
        settings = load_process_settings("console")  # only the console process's CLICKTRAIL_* variables
    except ConfigError as exc:  # one line naming the variable, as the services (libs/grpc_server.run_service)
        raise SystemExit(f"error: {exc}") from None
    configure_logging("console", settings.log_level, settings.log_format)
    log.info("console_listening", host=settings.console_host, port=settings.console_port)
    uvicorn.Server(server_config(settings)).run()


if __name__ == "__main__":
    main()
