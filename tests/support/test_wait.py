"""The wait helpers themselves (unit tier: no database)."""

from __future__ import annotations

import itertools
import time

import pytest

from tests.support.wait import WaitTimeout, wait_until, wait_until_sync


async def test_returns_the_first_truthy_value() -> None:
    counter = itertools.count()
    assert await wait_until(lambda: next(counter) >= 3 and "done", "three calls", every_s=0.001) == "done"


async def test_async_checks_and_assertions_mean_not_yet() -> None:
    calls = 0

    async def check() -> int:
        nonlocal calls
        calls += 1
        assert calls > 2, "not yet"
        return calls

    assert await wait_until(check, "the third call", every_s=0.001) == 3


async def test_timeout_names_what_and_the_last_value() -> None:
    start = time.monotonic()
    with pytest.raises(WaitTimeout, match=r"waited 0\.1s for the sink's hits; last value: 0"):
        await wait_until(lambda: 0, "the sink's hits", timeout_s=0.1, every_s=0.01)
    assert time.monotonic() - start < 5


async def test_timeout_keeps_the_last_assertion() -> None:
    def check() -> bool:
        raise AssertionError("2 rows, expected 3")

    with pytest.raises(WaitTimeout, match="last assertion: 2 rows, expected 3") as info:
        await wait_until(check, "three rows", timeout_s=0.05, every_s=0.01)
    assert isinstance(info.value.__cause__, AssertionError)


def test_sync_variant() -> None:
    counter = itertools.count()
    assert wait_until_sync(lambda: next(counter) == 2, "two calls", every_s=0.001) is True
    with pytest.raises(WaitTimeout, match=r"waited 0\.02s for never"):
        wait_until_sync(lambda: None, "never", timeout_s=0.02, every_s=0.01)
