"""Re-engagements under concurrency (review of issue 22): the engine's consumers
handle jobs of one account at the same time, so two app opens through the same
retargeting click (the SDK resending the open under a new event id, or opening
twice) can be stored by two transactions at once. "One click re-engages an
install once" must hold then too: one row, one re-engagement in the reports.

The rows are stored with the engine's own function (reengagement.store) in two
real Postgres transactions that overlap: the first has inserted, not committed,
when the second stores."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import asyncpg

from libs.ids import new_id
from services.attribution import reengagement

T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def _found(install_id: str, click_id: str, kind: int, at: dt.datetime) -> reengagement.Found:
    row = reengagement.Row(
        new_id(), kind, install_id, str(uuid.uuid4()), at, click_id, T0 - dt.timedelta(minutes=5), "cmp-rt",
        at + dt.timedelta(days=30), "app-1", "gaid:6d92078a-8246-4ba4-ae5b-76104861e7dc",
    )  # fmt: skip
    return reengagement.Found(rows=[row])


async def _overlapping_stores(db_url: str, first: reengagement.Found, second: reengagement.Found) -> int:
    a = await asyncpg.connect(db_url)
    b = await asyncpg.connect(db_url)
    try:
        ta = a.transaction()
        await ta.start()
        assert await reengagement.store(a, "acc-1", first, {}) == 1
        tb = b.transaction()
        await tb.start()
        later = asyncio.ensure_future(reengagement.store(b, "acc-1", second, {}))
        await asyncio.sleep(0.5)  # the second transaction stores while the first is still open
        await ta.commit()
        await asyncio.wait_for(later, 10)
        await tb.commit()
        return int(
            await a.fetchval(
                "SELECT count(*) FROM attribution.reattributions WHERE account_id = 'acc-1' AND install_id = $1",
                first.rows[0].install_id,
            )
        )
    finally:
        await a.close()
        await b.close()


async def test_two_opens_of_one_click_stored_at_once_are_one_re_engagement(db_url: str) -> None:
    install_id, click_id = new_id(), new_id()
    first = _found(install_id, click_id, reengagement.RE_ENGAGEMENT, T0)
    second = _found(install_id, click_id, reengagement.RE_ENGAGEMENT, T0 + dt.timedelta(seconds=3))
    assert await _overlapping_stores(db_url, first, second) == 1


async def test_two_reinstalls_through_one_click_stored_at_once_are_one_re_attribution(db_url: str) -> None:
    install_id, click_id = new_id(), new_id()
    first = _found(install_id, click_id, reengagement.RE_ATTRIBUTION, T0)
    second = _found(install_id, click_id, reengagement.RE_ATTRIBUTION, T0 + dt.timedelta(seconds=1))
    assert await _overlapping_stores(db_url, first, second) == 1


async def test_other_installs_are_not_held_up(db_url: str) -> None:
    """Two installs' rows stored at once both land (the serialisation is per install)."""
    click_id = new_id()
    first = _found(new_id(), click_id, reengagement.RE_ENGAGEMENT, T0)
    second = _found(new_id(), click_id, reengagement.RE_ENGAGEMENT, T0)
    a = await asyncpg.connect(db_url)
    b = await asyncpg.connect(db_url)
    try:
        async with a.transaction():
            assert await reengagement.store(a, "acc-1", first, {}) == 1
            async with b.transaction():  # would wait forever (timeout) if installs shared a lock
                assert await asyncio.wait_for(reengagement.store(b, "acc-1", second, {}), 5) == 1
    finally:
        await a.close()
        await b.close()
