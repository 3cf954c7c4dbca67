"""The Apple Ads resolver's own process (services/attribution/apple_ads.py): the attribution
process starts it when ``CLICKTRAIL_APPLE_ADS_PROCESS`` is true (the default), with the
settings it needs in its environment, and stops it with SIGTERM.

    python -m services.attribution.apple_ads_worker
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

import uvloop

from libs.config import ConfigError, load_process_settings
from libs.logging import configure_logging, get_logger
from libs.process import tune_gc
from libs.queue import Consumer
from services.attribution.apple_ads import run_resolver

log = get_logger("attribution.apple_ads")


def main() -> None:
    try:
        settings = load_process_settings("attribution")
    except ConfigError as exc:
        raise SystemExit(f"error: {exc}") from None
    configure_logging("attribution-apple-ads", settings.log_level, settings.log_format)
    tune_gc()

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        running: list[Consumer] = []
        task = asyncio.ensure_future(run_resolver(settings, running))
        done, _ = await asyncio.wait([task, asyncio.ensure_future(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
        if task in done:  # the resolver ended on its own: an error (the parent starts a new process)
            task.result()
            return
        for worker in running:
            await worker.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 30)
        log.info("stopped", service="attribution-apple-ads")

    uvloop.run(run())


if __name__ == "__main__":
    main()
