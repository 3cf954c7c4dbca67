"""Fixtures the attribution tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.apple_ads_standin import AppleAdsStandin


@pytest.fixture
async def standin() -> AsyncIterator[AppleAdsStandin]:
    """A local stand-in of Apple's attribution API (tests/support/apple_ads_standin.py); each
    test file points the attribution service at it with its own ``settings``."""
    s = await AppleAdsStandin().start()
    yield s
    await s.stop()
