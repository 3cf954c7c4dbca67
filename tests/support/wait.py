"""Waiting for a condition instead of sleeping a guessed time.

A test that sleeps "long enough" for something asynchronous to happen fails on a
loaded machine (two xdist workers and the servers they start share 2 cores); a
test that polls for the condition passes as soon as it holds and fails only
after a generous deadline, saying what it waited for and what it last saw.

    await wait_until(lambda: sink.hits == 3, "three postbacks at the sink")
    rows = await wait_until(fetch_rows, "the click's row", timeout_s=60)
    await wait_until(check_report, "the report to count the install")  # check raises AssertionError until then
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")

# Long enough for a busy 2-core machine; a condition that holds returns at once.
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_EVERY_S = 0.05


class WaitTimeout(AssertionError):
    """The condition did not hold within the deadline."""


@overload
async def wait_until(
    check: Callable[[], Awaitable[T]], what: str, *, timeout_s: float = ..., every_s: float = ...
) -> T: ...
@overload
async def wait_until(check: Callable[[], T], what: str, *, timeout_s: float = ..., every_s: float = ...) -> T: ...
async def wait_until(
    check: Callable[[], Any],
    what: str,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    every_s: float = DEFAULT_EVERY_S,
) -> Any:
    """Calls ``check`` (plain or async) every ``every_s`` until it returns a truthy
    value, which it returns. An AssertionError raised by ``check`` counts as "not
    yet"; after ``timeout_s`` the wait fails naming ``what``, with the last value
    or the last assertion as its cause."""
    deadline = time.monotonic() + timeout_s
    last: object = None
    last_error: AssertionError | None = None
    while True:
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await result
        except AssertionError as exc:
            last_error = exc
        else:
            last_error = None
            if result:
                return result
            last = result
        if time.monotonic() >= deadline:
            seen = f"last assertion: {last_error}" if last_error is not None else f"last value: {last!r}"
            raise WaitTimeout(f"waited {timeout_s:g}s for {what}; {seen}") from last_error
        await asyncio.sleep(every_s)


def wait_until_sync(
    check: Callable[[], T],
    what: str,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    every_s: float = DEFAULT_EVERY_S,
) -> T:
    """`wait_until` for code outside an event loop."""
    deadline = time.monotonic() + timeout_s
    last: object = None
    last_error: AssertionError | None = None
    while True:
        try:
            result = check()
        except AssertionError as exc:
            last_error = exc
        else:
            last_error = None
            if result:
                return result
            last = result
        if time.monotonic() >= deadline:
            seen = f"last assertion: {last_error}" if last_error is not None else f"last value: {last!r}"
            raise WaitTimeout(f"waited {timeout_s:g}s for {what}; {seen}") from last_error
        time.sleep(every_s)
