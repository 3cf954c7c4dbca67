"""Property tests for the engine's crediting rules (pure functions)."""

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from services.attribution.goals import Goal
from services.attribution.lookups import CLICK, IMPRESSION, Touch
from services.attribution.rules import InstallRef, choose_touch, credit, exhausted

NOW = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
CLICK_W, VIEW_W = dt.timedelta(days=7), dt.timedelta(hours=24)

touches = st.lists(
    st.builds(
        lambda i, kind, minutes, campaign, app: Touch(
            f"t{i}", kind, NOW - dt.timedelta(minutes=minutes), f"c{campaign}", "p", "l", app
        ),
        st.integers(0, 10**6),
        st.sampled_from([CLICK, IMPRESSION]),
        st.integers(-60, 12 * 24 * 60),
        st.integers(0, 3),
        st.sampled_from(["app", "", "other"]),
    ),
    max_size=12,
    unique_by=lambda t: t.touch_id,
)


@given(ts=touches)
def test_clicks_beat_impressions_and_the_last_touch_in_its_window_wins(ts):
    got = choose_touch(ts, NOW, NOW, "app", CLICK_W, VIEW_W)
    eligible = [t for t in ts if t.app_id in ("app", "") and t.time <= NOW]
    clicks = [t for t in eligible if t.kind == CLICK and t.time >= NOW - CLICK_W]
    views = [t for t in eligible if t.kind == IMPRESSION and t.time >= NOW - VIEW_W]
    if clicks:
        assert got is not None and got.kind == CLICK and got.time == max(c.time for c in clicks)
    elif views:
        assert got is not None and got.kind == IMPRESSION and got.time == max(v.time for v in views)
    else:
        assert got is None


def goal(kind: str, occurrence: str = "every", nth: int = 0) -> Goal:
    return Goal("g1", "a", "G", kind, "purchase", (), occurrence, nth, "", "")


installs = st.one_of(
    st.none(),
    st.builds(
        lambda campaign, minutes: InstallRef("i1", campaign, "t-install" if campaign else None,
                                             CLICK if campaign else 0,
                                             NOW - dt.timedelta(minutes=minutes) if campaign else None),
        st.sampled_from([None, "c9"]),
        st.integers(0, 40 * 24 * 60),
    ),
)  # fmt: skip


@given(ts=touches, install=installs, kind=st.sampled_from(["purchase", "custom"]))
def test_credit(ts, install, kind):
    window = dt.timedelta(days=30)
    clicks = [t for t in ts if t.kind == CLICK]
    install_touch = (
        Touch("t-install", CLICK, install.touch_time, "c9", "p", "l", "app")
        if install is not None and install.campaign_id
        else None
    )
    got = credit(goal(kind), clicks, install, install_touch, NOW, window)
    inside = [c for c in clicks if NOW - window <= c.time <= NOW]
    if install_touch is not None and NOW - window <= install_touch.time <= NOW:
        inside.append(install_touch)
    fallback = [install_touch] if install is not None and install.campaign_id else [None]
    if kind == "purchase":
        newer = [c for c in inside if install is None or install.touch_time is None or c.time >= install.touch_time]
        if newer:
            assert len(got) == 1 and got[0] is not None and got[0].time == max(c.time for c in newer)
        else:
            assert got == fallback
    else:
        if inside:
            assert sorted(t.campaign_id for t in got) == sorted({c.campaign_id for c in inside})
            for t in got:  # each campaign's latest click
                assert t.time == max(c.time for c in inside if c.campaign_id == t.campaign_id)
        else:
            assert got == fallback


@given(count=st.integers(0, 20), nth=st.integers(2, 10))
def test_exhausted(count, nth):
    assert exhausted(goal("custom", "every"), count) is False
    assert exhausted(goal("custom", "first"), count) is (count >= 1)
    assert exhausted(goal("custom", "nth", nth), count) is (count >= nth)
