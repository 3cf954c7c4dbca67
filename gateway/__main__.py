"""``python -m gateway``: serve the HTTP gateway with uvicorn (uvloop + httptools).

Listens on CLICKTRAIL_GATEWAY_HOST:CLICKTRAIL_GATEWAY_PORT; SIGTERM/SIGINT stop
taking connections, finish the requests in flight (their batches drain), then
close the gRPC channels.
"""

from __future__ import annotations

import uvicorn

from gateway.app import create_app
from libs.asgi import uvicorn_options
from libs.config import ConfigError, GatewaySettings, load_process_settings
from libs.logging import configure_logging, get_logger
from libs.process import tune_gc


def server_config(settings: GatewaySettings, **overrides: object) -> uvicorn.Config:
    """The one uvicorn configuration (also used by tests and the benchmark)."""
    options = uvicorn_options(**{  # overrides may name host and port too (tests, the bench's bare server)
        "host": settings.gateway_host, "port": settings.gateway_port,
        "backlog": 4096, "timeout_keep_alive": 30, "timeout_graceful_shutdown": 15, **overrides,
    })  # fmt: skip
    return uvicorn.Config(create_app(settings), **options)  # type: ignore[arg-type]


def main() -> None:
    try:
        settings = load_process_settings("gateway")  # only the gateway process's CLICKTRAIL_* variables
    except ConfigError as exc:  # one line naming the variable, as the services (libs/grpc_server.run_service)
        raise SystemExit(f"error: {exc}") from None
    configure_logging("gateway", settings.log_level, settings.log_format)
    if not settings.gateway_token:
        # Without it the links service refuses every click, while /readyz would say ready.
        raise SystemExit(
            "gateway: CLICKTRAIL_GATEWAY_TOKEN is not set: the links service records clicks only for it "
            "(make run generates .clicktrail/gateway-token; give the links and ingest services the same value)"
        )
    get_logger("gateway").info(
        "gateway_listening",
        host=settings.gateway_host,
        port=settings.gateway_port,
        links=settings.links_addr,
    )
    config = server_config(settings)
    tune_gc()
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
