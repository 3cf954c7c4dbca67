"""Headless chromium for the console tests and `make screenshots`: Debian's
/usr/bin/chromium driven by playwright (no browser download)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

CHROMIUM = os.environ.get("CLICKTRAIL_CHROMIUM", "/usr/bin/chromium")
INSTALL_HINT = (
    f"chromium is not installed at {CHROMIUM}: the console's browser tests need it. "
    "Install it with `apt-get update && apt-get install -y chromium` (Debian), "
    "or set CLICKTRAIL_CHROMIUM to a chromium binary. Do not run `playwright install`."
)


def chromium_path() -> str | None:
    if os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    return shutil.which("chromium")


@asynccontextmanager
async def browser_page(width: int = 1360, height: int = 900) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    path = chromium_path()
    if path is None:
        raise RuntimeError(INSTALL_HINT)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=path, headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            context = await browser.new_context(viewport={"width": width, "height": height})
            page = await context.new_page()
            page.set_default_timeout(60_000)  # a loaded 2-core CI machine is slow, not broken
            yield page
        finally:
            await browser.close()
