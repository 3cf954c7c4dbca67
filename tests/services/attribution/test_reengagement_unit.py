"""The pure parts of services/attribution/reengagement.py: which events are app
opens through a link, which row is open at a time, and how a conversion is
credited while one is (the rule the engine tests check end to end)."""

from __future__ import annotations

import datetime as dt

from libs import quality as q
from services.attribution.goals import EVENT_TRACK, Goal
from services.attribution.lookups import CLICK, Touch
from services.attribution.reengagement import RE_ENGAGEMENT, Active, Row, click_id_of, recredit
from services.attribution.rules import EVENT_INSTALL, InstallRef

T0 = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)


def click(touch_id: str, campaign: str, at: dt.datetime, verdict: int = q.CLEAN) -> Touch:
    return Touch(touch_id, CLICK, at, campaign, "prt", "lnk", "app", verdict=verdict)


def goal(kind: str) -> Goal:
    return Goal(goal_id="g", account_id="acc", name="Purchase", kind=kind, event="purchase", conditions=(),
                occurrence="every", nth=0, value_path="", currency_path="")  # fmt: skip


def row(rid: str, at: dt.datetime, click_id: str, campaign: str, window: dt.timedelta = 30 * 24 * H) -> Row:
    return Row(rid, RE_ENGAGEMENT, "ins", rid, at, click_id, at, campaign, at + window)


def test_an_app_open_through_a_link_names_its_click():
    opened = {"event": EVENT_TRACK, "action": "deeplink_open", "action_properties": {"click_id": " abc "}}
    assert click_id_of(opened) == "abc"
    assert click_id_of({**opened, "action": "reengage", "action_properties": {"clickid": "x1"}}) == "x1"
    assert click_id_of({**opened, "action": "purchase"}) is None  # another action's properties say nothing
    assert click_id_of({**opened, "action_properties": {"click_id": 42}}) is None
    assert click_id_of({"event": EVENT_TRACK, "action": "purchase", "click_id": "top"}) == "top"
    assert click_id_of({"event": EVENT_INSTALL, "click_id": "referrer"}) is None  # an install is matched apart


def test_the_latest_row_open_at_a_time_counts():
    a = row("a", T0, "c1", "rt1", window=2 * H)
    b = row("b", T0 + H, "c2", "rt2", window=H)
    found = Active(rows={"ins": [a, b]})
    assert found.at("ins", T0 - dt.timedelta(seconds=1)) is None
    assert found.at("ins", T0 + 30 * dt.timedelta(minutes=1)) is a
    assert found.at("ins", T0 + 90 * dt.timedelta(minutes=1)) is b  # the newer one replaces it
    assert found.at("ins", T0 + 2 * H) is None  # both closed (window_end is exclusive)
    assert found.at("other", T0 + 30 * dt.timedelta(minutes=1)) is None


def test_a_conversion_inside_the_window_goes_to_the_row_unless_a_newer_click_wins():
    install_click = click("ic", "ua", T0 - 10 * 24 * H)
    ref = InstallRef("ins", "ua", "ic", CLICK, install_click.time)
    rt = click("rc", "rt", T0)
    found = Active(rows={"ins": [row("r", T0, "rc", "rt")]}, clicks={"rc": rt})
    at, window = T0 + 5 * H, 30 * 24 * H
    assert recredit(goal("purchase"), [], ref, at, window, at, found) == [rt]
    # A click newer than the row's (of another campaign, matched by device id) wins the purchase.
    newer = click("nc", "other", T0 + H)
    assert recredit(goal("purchase"), [newer], ref, at, window, at, found) == [newer]
    # An older click does not.
    older = click("oc", "other", T0 - H)
    assert recredit(goal("purchase"), [older], ref, at, window, at, found) == [rt]
    # A custom goal credits the clicked campaigns and the row's.
    assert {t.campaign_id for t in recredit(goal("custom"), [newer], ref, at, window, at, found) or []} == {
        "other", "rt",
    }  # fmt: skip
    # The row's click outside the conversion window: the row still holds (its own window governs).
    short = 2 * H
    assert recredit(goal("purchase"), [], ref, at, short, at, found) == [rt]
    # After the window, or with the row's click since overruled invalid: the install's rule (None).
    late = T0 + 31 * 24 * H
    assert recredit(goal("purchase"), [], ref, late, window, late, found) is None
    bad = Active(rows=found.rows, clicks={"rc": click("rc", "rt", T0, verdict=q.INVALID)})
    assert recredit(goal("purchase"), [], ref, at, window, at, bad) is None
    assert recredit(goal("purchase"), [], None, at, window, at, found) is None
