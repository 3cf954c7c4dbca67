"""The click path's in-memory flood and duplicate counters (services/links/quality.py)."""

from libs import quality as q
from services.links.quality import AccountQuality, Counters, Facts, RecentSet, Settings, SlidingCounter, apply, assess


def test_a_burst_inside_one_window_is_counted_exactly() -> None:
    c = SlidingCounter()
    assert [c.hit("ip", 100.0 + i, 3600) for i in range(5)] == [1, 2, 3, 4, 5]


def test_the_window_slides() -> None:
    c = SlidingCounter()
    for i in range(10):
        c.hit("ip", float(i), 100)  # 10 hits in the first window [0, 100)
    # Half-way through the next window, half of the previous one still counts.
    assert c.hit("ip", 150.0, 100) == 1 + 10 * 0.5
    # Two windows later nothing old counts.
    assert c.hit("ip", 400.0, 100) == 1


def test_memory_is_bounded_and_the_least_recent_go_first() -> None:
    c = SlidingCounter(max_keys=3)
    for key in ("a", "b", "c"):
        c.hit(key, 0.0, 60)
    c.hit("a", 1.0, 60)  # a is recent again
    c.hit("d", 2.0, 60)  # evicts b, the least recently hit
    assert len(c) == 3
    assert c.hit("a", 3.0, 60) == 3
    assert c.hit("b", 3.0, 60) == 1  # forgotten


def test_duplicates() -> None:
    r = RecentSet()
    assert r.seen("k", 0.0, 10) is False
    assert r.seen("k", 5.0, 10) is True
    assert r.seen("k", 16.0, 10) is False  # 11 s after the last sighting


def test_switched_off_checks_give_no_reasons() -> None:
    facts = Facts("acc", "cmp", "lnk", "73.162.10.20", "", 0, "prefetch")
    on = assess(facts, Settings(), AccountQuality(), Counters(), 0.0)
    assert on & q.BY_CODE["missing_user_agent"].mask and on & q.BY_CODE["prefetch"].mask
    off = apply(Settings(), {"checks": {"missing_user_agent": False, "prefetch": False}})
    assert assess(facts, off, AccountQuality(), Counters(), 1.0) == 0
