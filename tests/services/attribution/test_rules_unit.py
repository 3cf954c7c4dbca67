"""Unit tier: the engine's pure rules (services/attribution/rules.py) and the
outbound events it builds (services/attribution/outbound.py), without Postgres."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import orjson

from libs import event_handoff, postback_handoff
from libs import quality as q
from libs.privacy import Tombstone
from services.attribution import quality as qual
from services.attribution import rules
from services.attribution.lookups import CLICK, IMPRESSION, CampaignInfo, Touch
from services.attribution.outbound import conversion_outbound, money_text, outbound, quality_fields, rfc3339

NOW = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)


def _event(**kw: object) -> dict[str, object]:
    ev: dict[str, object] = {c: None for c in event_handoff.COLUMNS}
    ev.update(app_id="app_1", event_uuid="e-1", event=1, event_time=NOW.isoformat(), receive_time=NOW.isoformat())
    ev.update(kw)
    return rules.prepare(ev)


def _click(at: dt.datetime, **kw: object) -> Touch:
    return Touch(str(kw.pop("touch_id", "c-1")), CLICK, at, "cmp_1", "prt_1", "lnk_1", "app_1", **kw)  # type: ignore[arg-type]


def test_the_rule_constants_are_the_proto_enums() -> None:
    assert (rules.MATCH_CLICK_ID, rules.MATCH_DEVICE_ID, rules.MATCH_FINGERPRINT, rules.MATCH_ORGANIC) == (1, 2, 3, 4)
    assert rules.MATCH_NAMES == {1: "click_id", 2: "device_id", 3: "fingerprint", 4: "organic", 5: "apple_ads"}
    assert rules.STATUS_NAMES == {1: "pending", 2: "approved", 3: "rejected"}
    assert (rules.SOURCE_EVENT, rules.SOURCE_POSTBACK, rules.EVENT_INSTALL) == (1, 2, 1)


def test_identities_devices_and_users() -> None:
    ev = _event(gaid="g-1", idfv="v-1", user_id="u-1")
    assert rules.identity_keys(ev) == ["gaid:g-1", "idfv:v-1", "user:u-1"]
    assert rules.device_key(ev) == "gaid:g-1" and rules.user_key(ev) == "user:u-1"
    assert rules.device_ids(ev) == ["g-1"]
    bare = _event()
    assert rules.device_key(bare) == "event:e-1" == rules.user_key(bare)


def test_prepare_parses_times_and_properties_exactly() -> None:
    ev = _event(properties='{"amount": 0.1, "n": 123456789012345678901234567890}')
    assert ev["_time"] == NOW and ev["_received"] == NOW
    assert str(ev["action_properties"]["amount"]) == "0.1"  # type: ignore[index]
    assert _event(properties="not json")["action_properties"] == {}


def test_an_erasure_reaches_only_events_queued_before_it() -> None:
    stone = Tombstone(pseudonym="erased:p", erase_time=NOW)
    ev = _event(user_id="u-1")
    ev["_queued"] = NOW - dt.timedelta(seconds=1)
    assert rules.erased_pseudonym(ev, {"u-1": stone}) == "erased:p"
    ev["_queued"] = NOW + dt.timedelta(seconds=1)
    assert rules.erased_pseudonym(ev, {"u-1": stone}) is None


def test_install_checks_of_one_install() -> None:
    s = qual.Settings()
    click = _click(NOW - dt.timedelta(seconds=2))
    a = rules.Attributed(_event(), rules.MATCH_CLICK_ID, click, anchor=NOW)
    assert rules.install_reasons(a, s) & qual.CLICK_INJECTION  # two seconds from click to install
    assert not rules.install_reasons(a, qual.Settings(off=frozenset({"click_injection"})))
    organic = rules.Attributed(_event(claimed_ip="8.8.8.8", ip="81.2.69.142"), rules.MATCH_ORGANIC, None)
    assert rules.install_reasons(organic, s) == qual.CLIENT_MISMATCH
    late = rules.Attributed(_event(), rules.MATCH_CLICK_ID, _click(NOW - dt.timedelta(hours=1)), anchor=NOW)
    assert rules.install_reasons(late, s) == 0


def test_passed_over_touches_newest_first_each_once() -> None:
    older, newer = _click(NOW - dt.timedelta(hours=2), touch_id="a"), _click(NOW - dt.timedelta(hours=1), touch_id="b")
    view = Touch("i", IMPRESSION, NOW, "cmp_1", "", "", "")
    doc = orjson.loads(rules.passed_json([older, newer, older, view]) or "")
    assert [(d["touch_id"], d["kind"]) for d in doc] == [("i", "impression"), ("b", "click"), ("a", "click")]
    assert rules.passed_json([]) is None


def test_outbound_events_are_typed_hand_offs() -> None:
    assert rfc3339(NOW) == "2026-03-01T12:00:00Z" and rfc3339(None) == ""
    assert (money_text(None), money_text(Decimal("0.000")), money_text(Decimal("7.50"))) == ("", "0", "7.5")
    assert quality_fields("ins_1", q.INVALID, qual.CLICK_INJECTION)["event_id"] == "ins_1:rejected"
    campaign = CampaignInfo("cmp_1", "Spring", "prt_1", "")
    touch = _click(NOW, subs=("s1",) + ("",) * 9)
    ev = postback_handoff.decode(outbound("install", "acc_1", touch=touch, campaign=campaign, app_id="app_1"))
    assert (ev.kind, ev.campaign_name, ev.click_id, ev.sub1, ev.attributed) == ("install", "Spring", "c-1", "s1", True)
    row = {
        "conversion_id": "cv_1", "verdict": q.CLEAN, "reasons": 0, "status": rules.REJECTED, "payout": None,
        "app_id": "app_1", "goal": "purchase", "goal_id": "goal_1", "currency": None, "txid": None, "event_time": NOW,
    }  # fmt: skip
    ev = postback_handoff.decode(conversion_outbound("acc_1", row, "status_change", None, None))
    assert (ev.event_id, ev.status, ev.revenue, ev.attributed) == ("cv_1:rejected", "rejected", "0", False)
