"""The one logger: structlog, JSON lines, with the request id bound per call."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

_configured = False


class _StderrLogger:
    """Writes each rendered line to whatever sys.stderr is at that moment."""

    def msg(self, message: str) -> None:
        sys.stderr.write(message + "\n")

    log = debug = info = warn = warning = err = error = critical = exception = fatal = failure = msg


def _stderr_logger(*_args: Any) -> _StderrLogger:
    return _StderrLogger()


def configure_logging(service: str, level: str = "info", fmt: str = "json") -> None:
    global _configured
    lvl = getattr(logging, level.upper(), logging.INFO)
    logging.basicConfig(stream=sys.stderr, level=lvl, format="%(message)s")
    # httpx logs every request at INFO (the gateway's console proxy would log each page);
    # its warnings still show.
    logging.getLogger("httpx").setLevel(max(lvl, logging.WARNING))
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)
    _configured = True


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)
