"""Offer caps without a database: what counts, the account's day, the in-memory
state's answers between refreshes, and the Host names of lander click-throughs."""

import datetime as dt
import time
import zoneinfo

import pytest

from services.links.caps import AccountCaps, OfferCap, OfferCaps, day_bounds, is_capped, zone_of
from services.links.lander_store import normalise_host
from services.links.offer_caps import count_change

UTC = dt.UTC
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def test_count_change_of_returned_rows():
    assert count_change(inserted=True, rejected=False) == 1  # a new conversion counts
    assert count_change(inserted=True, rejected=True) == 0  # a new, already rejected one does not
    assert count_change(inserted=False, rejected=True) == -1  # a reversal takes it back
    assert count_change(inserted=False, rejected=False) == 1  # approved again after a reversal


@pytest.mark.parametrize(
    ("daily_cap", "total_cap", "today", "total", "capped"),
    [
        (0, 0, 10**6, 10**6, False),  # no caps
        (5, 0, 4, 100, False),
        (5, 0, 5, 100, True),
        (0, 10, 9, 9, False),
        (0, 10, 3, 10, True),
        (5, 10, 0, 12, True),  # over a lowered cap
    ],
)
def test_is_capped(daily_cap, total_cap, today, total, capped):
    assert is_capped(daily_cap, total_cap, today, total) is capped


def test_day_bounds_follow_the_zone_and_its_daylight_saving():
    # 2026-03-29: Berlin goes from UTC+1 to UTC+2, a 23-hour day.
    day, start, end = day_bounds(dt.datetime(2026, 3, 29, 12, 0, tzinfo=UTC), BERLIN)
    assert day == dt.date(2026, 3, 29)
    assert start == dt.datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    assert end == dt.datetime(2026, 3, 29, 22, 0, tzinfo=UTC)
    # 23:30 UTC is already the next day in Berlin.
    assert day_bounds(dt.datetime(2026, 1, 5, 23, 30, tzinfo=UTC), BERLIN)[0] == dt.date(2026, 1, 6)


def test_an_unknown_zone_name_is_utc():
    assert zone_of("Mars/Olympus") is UTC
    assert zone_of(None) == zoneinfo.ZoneInfo("UTC")


def held(caps: OfferCaps, account_id: str, now: dt.datetime, **offers: OfferCap) -> AccountCaps:
    """Puts an account's state in ``caps`` as a load at ``now`` would."""
    day, start, end = day_bounds(now, UTC)
    state = AccountCaps(UTC, day, start, end, dict(offers), time.monotonic())
    caps._accounts[account_id] = state
    return state


NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_recorded_conversions_cap_the_offer_at_once():
    caps = OfferCaps(pool=None, refresh_s=3600)  # type: ignore[arg-type]
    held(caps, "acc", NOW, off_a=OfferCap(daily_cap=0, total_cap=2, today=0, total=1), off_b=OfferCap(2, 0, 1, 50))
    assert not caps.capped("acc", "off_a", NOW)
    caps.record("acc", [("off_a", NOW.date(), 1)])
    assert caps.capped("acc", "off_a", NOW)
    # The daily cap counts only conversions of the day held.
    caps.record("acc", [("off_b", NOW.date() - dt.timedelta(days=1), 1)])
    assert not caps.capped("acc", "off_b", NOW)
    caps.record("acc", [("off_b", NOW.date(), 1)])
    assert caps.capped("acc", "off_b", NOW)
    # On another day (not loaded yet) the daily count does not hold; the total does.
    tomorrow = NOW + dt.timedelta(days=1)
    assert not caps.capped("acc", "off_b", tomorrow)
    assert caps.capped("acc", "off_a", tomorrow)


def test_a_reversal_lowers_nothing_before_the_next_refresh():
    """Memory errs on the capped side: a rejection waits for the table's count."""
    caps = OfferCaps(pool=None, refresh_s=3600)  # type: ignore[arg-type]
    state = held(caps, "acc", NOW, off_a=OfferCap(0, 2, 0, 2))
    caps.record("acc", [("off_a", NOW.date(), -1)])
    assert caps.capped("acc", "off_a", NOW)
    assert state.loaded_at == float("-inf")  # refreshed at the next ensure()


def test_offers_without_caps_are_not_capped():
    caps = OfferCaps(pool=None, refresh_s=3600)  # type: ignore[arg-type]
    held(caps, "acc", NOW, off_a=OfferCap(0, 1, 0, 1))
    assert not caps.capped("acc", "off_uncapped", NOW)


def test_an_offer_change_keeps_the_caps_answering_until_the_reload():
    """Between a batch's ensure() and its decisions an offer write may come:
    the state held still answers (the next ensure() waits for the reload)."""
    caps = OfferCaps(pool=None, refresh_s=3600)  # type: ignore[arg-type]
    state = held(caps, "acc", NOW, off_a=OfferCap(0, 1, 0, 1))
    caps.invalidate("acc")
    assert caps.capped("acc", "off_a", NOW)
    assert state.changed
    caps.clear()
    assert caps.capped("acc", "off_a", NOW)


@pytest.mark.parametrize(
    ("header", "host"),
    [
        ("Track.Example.COM", "track.example.com"),
        ("track.example.com:8443", "track.example.com"),
        ("track.example.com.", "track.example.com"),
        ("[2001:db8::1]:8080", "2001:db8::1"),
        ("", ""),
    ],
)
def test_normalise_host(header, host):
    assert normalise_host(header) == host


def test_capped_offers_is_the_set_capped_answers_and_follows_every_change():
    """The click path asks once per click for the set (services/links/flow_cache.py):
    it must say what capped() says of each offer, after records, reloads and the
    day's end, never an answer kept from before."""
    caps = OfferCaps(pool=None, refresh_s=3600)  # type: ignore[arg-type]

    def answers(now: dt.datetime) -> frozenset[str]:
        offers = caps._accounts["acc"].offers
        return frozenset(o for o in offers if caps.capped("acc", o, now))

    held(caps, "acc", NOW, off_a=OfferCap(0, 2, 0, 1), off_b=OfferCap(2, 0, 1, 50), off_c=OfferCap(0, 9, 0, 0))
    assert caps.capped_offers("acc", NOW) == answers(NOW) == frozenset()
    caps.record("acc", [("off_a", NOW.date(), 1)])
    assert caps.capped_offers("acc", NOW) == answers(NOW) == {"off_a"}
    caps.record("acc", [("off_b", NOW.date(), 1)])
    assert caps.capped_offers("acc", NOW) == answers(NOW) == {"off_a", "off_b"}
    # The day held has ended: its daily counts no longer hold, the totals do.
    tomorrow = NOW + dt.timedelta(days=1)
    assert caps.capped_offers("acc", tomorrow) == answers(tomorrow) == {"off_a"}
    assert caps.capped_offers("acc", NOW) == {"off_a", "off_b"}
    # A reload (a new state) is read anew.
    held(caps, "acc", NOW, off_c=OfferCap(0, 1, 0, 1))
    assert caps.capped_offers("acc", NOW) == answers(NOW) == {"off_c"}
    held(caps, "acc", NOW)  # no offer with a cap
    assert caps.capped_offers("acc", NOW) == frozenset()


def test_capped_offers_of_an_account_not_held_is_empty_and_starts_its_load():
    caps = OfferCaps(pool=None, refresh_s=3600)  # type: ignore[arg-type]
    started: list[str] = []
    caps._start_load = started.append  # type: ignore[method-assign,assignment]
    assert caps.capped_offers("acc", NOW) == frozenset()
    assert started == ["acc"]
