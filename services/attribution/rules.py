"""The attribution rules: pure functions of events, touches and settings,
testable without Postgres or the links service (tests/services/attribution/test_rules_unit.py).

Installs: clicks beat impressions; inside the click lookback (or view lookback
for impressions) the last touch wins; an invalid touch never wins (the install
keeps the touches it passed over). Conversions: ``purchase`` goals credit the
last click inside the conversion window across campaigns, ``custom`` goals
every campaign clicked inside it; without a click newer than the install's
touch inside the window, the install's campaign. The install and conversion
checks give the reasons a verdict is made of (services/attribution/quality.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import orjson
from clicktrail.attribution.v1 import attribution_pb2 as apb
from clicktrail.ingest.v1 import ingest_pb2 as ipb

from libs import event_handoff, exactjson, privacy
from libs import quality as q
from libs.vocab.kinds import CONVERSION_STATUS_NAMES, MATCH_TYPE_NAMES
from services.attribution import quality as qual
from services.attribution.goals import Goal
from services.attribution.lookups import CLICK, Touch

# The numbers of the proto enums (clicktrail.ingest.v1.EventType, clicktrail.attribution.v1.*).
EVENT_INSTALL = ipb.EVENT_TYPE_INSTALL
MATCH_CLICK_ID, MATCH_DEVICE_ID = apb.MATCH_TYPE_CLICK_ID, apb.MATCH_TYPE_DEVICE_ID
MATCH_FINGERPRINT, MATCH_ORGANIC = apb.MATCH_TYPE_FINGERPRINT, apb.MATCH_TYPE_ORGANIC
MATCH_NAMES = {n: name for n, name in MATCH_TYPE_NAMES.items() if n}
PENDING, APPROVED = apb.CONVERSION_STATUS_PENDING, apb.CONVERSION_STATUS_APPROVED
REJECTED = apb.CONVERSION_STATUS_REJECTED
STATUS_NAMES = {n: name for n, name in CONVERSION_STATUS_NAMES.items() if n}
SOURCE_EVENT, SOURCE_POSTBACK = apb.CONVERSION_SOURCE_EVENT, apb.CONVERSION_SOURCE_POSTBACK
# Event conversions are approved at once; postbacks say their own status.
EVENT_CONVERSION_STATUS = APPROVED
# How far a device clock may run behind ours: touches up to this long after an event's time still count.
SKEW = dt.timedelta(minutes=10)
# A device or fingerprint look-up whose clicks all came back invalid and filled the
# limit is asked again further back, once, with this limit: a flood must not hide
# the touch before it.
REFILL_LIMIT = 100


# --------------------------------------------------------------------------- events


def parse_time(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    t = dt.datetime.fromisoformat(str(value))
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def prepare(event: dict[str, Any]) -> dict[str, Any]:
    """A hand-off dict as goals see it: parsed times and ``action_properties``."""
    props = event.get("properties")
    parsed: Any = {}
    if props:
        try:
            parsed = exactjson.loads(props)  # numbers exactly as stored: an amount is never a rounded float
        except exactjson.JSONDecodeError:
            parsed = {}
    event["action_properties"] = parsed if isinstance(parsed, dict) else {}
    event["_time"] = parse_time(event["event_time"])
    event["_received"] = parse_time(event["receive_time"])
    return event


def identity_keys(event: dict[str, Any]) -> list[str]:
    """Every identity of the event's device and user, most specific first."""
    keys = []
    for col in ("gaid", "idfa", "idfv", "android_id"):
        if event.get(col):
            keys.append(f"{col}:{event[col]}")
    if event.get("user_id"):
        keys.append(f"user:{event['user_id']}")
    return keys


def device_key(event: dict[str, Any]) -> str:
    """The device an install is of (one install per app and device)."""
    keys = identity_keys(event)
    return keys[0] if keys else f"event:{event['event_uuid']}"


def user_key(event: dict[str, Any]) -> str:
    """Whose occurrences a goal counts: the user id, else the device."""
    if event.get("user_id"):
        return f"user:{event['user_id']}"
    return device_key(event)


def device_ids(event: dict[str, Any]) -> list[str]:
    return [event[c] for c in ("gaid", "idfa") if event.get(c)]


def erased_pseudonym(event: dict[str, Any], stones: dict[str, privacy.Tombstone]) -> str | None:
    """The pseudonym of an erasure that came after this event was queued and
    names one of its ids (None: nothing to erase, or already anonymised)."""
    queued = event.get("_queued")
    if queued is None or str(event.get("user_id") or "").startswith("erased:"):
        return None
    hits = [t for k in event_handoff.person_keys(event) if (t := stones.get(k)) and t.erase_time > queued]
    return max(hits, key=lambda t: t.erase_time).pseudonym if hits else None


# --------------------------------------------------------------------------- install matching


def choose_touch(
    touches: Sequence[Touch], anchor: dt.datetime, upper: dt.datetime, app_id: str,
    click_window: dt.timedelta, view_window: dt.timedelta, passed: list[Touch] | None = None,
) -> Touch | None:  # fmt: skip
    """Clicks beat impressions; the newest inside its window wins. Touches of
    another app never get the credit; invalid touches never win, and those
    that would have are added to ``passed``."""
    best_click: Touch | None = None
    best_view: Touch | None = None
    invalid: list[Touch] = []
    for t in touches:
        if t.app_id and t.app_id != app_id:
            continue
        if t.time > upper or t.time < anchor - (click_window if t.kind == CLICK else view_window):
            continue
        if t.verdict == q.INVALID:
            invalid.append(t)
        elif t.kind == CLICK:
            if best_click is None or t.time > best_click.time:
                best_click = t
        elif best_view is None or t.time > best_view.time:
            best_view = t
    winner = best_click or best_view
    if passed is not None:
        passed.extend(t for t in invalid if _outranks(t, winner))
    return winner


def _outranks(t: Touch, winner: Touch | None) -> bool:
    if winner is None:
        return True
    if t.kind != winner.kind:
        return t.kind == CLICK
    return t.time > winner.time


def flooded(touches: list[Touch], limit: int) -> bool:
    clicks = [t for t in touches if t.kind == CLICK]
    return len(clicks) >= limit and all(t.verdict == q.INVALID for t in clicks)


def passed_json(passed: list[Touch]) -> str | None:
    """installs.passed_over: the passed-over touches, newest first, each once."""
    if not passed:
        return None
    seen: set[str] = set()
    out = []
    for t in sorted(passed, key=lambda t: t.time, reverse=True):
        if t.touch_id in seen:
            continue
        seen.add(t.touch_id)
        out.append({"touch_id": t.touch_id, "kind": "click" if t.kind == CLICK else "impression",
                    "reasons": q.codes_of(t.reasons)})  # fmt: skip
        if len(out) == qual.MAX_PASSED_OVER:
            break
    return orjson.dumps(out).decode() if out else None


@dataclasses.dataclass
class Attributed:
    event: dict[str, Any]
    match_type: int
    touch: Touch | None
    install_id: str = ""
    # The install's time as the windows see it (the event's, capped at our receive time).
    anchor: dt.datetime | None = None
    # Invalid touches that would have won.
    passed: list[Touch] = dataclasses.field(default_factory=list)
    reasons: int = 0

    @property
    def verdict(self) -> int:
        return qual.verdict(self.reasons)


def install_reasons(a: Attributed, s: qual.Settings) -> int:
    """The install checks one install's match and event tell (install_burst,
    which needs the stored installs, is counted apart: services/attribution/bursts.py)."""
    ev, t = a.event, a.touch
    m = 0
    if t is not None and t.kind == CLICK and a.anchor is not None:
        ctit = a.anchor - t.time
        if s.on("click_injection") and ctit < qual.seconds(s.click_injection_s):
            m |= qual.CLICK_INJECTION
        if (
            (ev.get("install_begin_time") or ev.get("referrer_click_time"))
            and s.on("install_before_click") and qual.install_began_before(ev, t.time)
        ):  # fmt: skip
            m |= qual.INSTALL_BEFORE_CLICK
        if (
            (t.reasons & qual.FLOOD_SIGNS or any(p.reasons & qual.FLOOD_SIGNS for p in a.passed))
            and s.on("click_flooding") and ctit > qual.seconds(s.click_flooding_s)
        ):  # fmt: skip
            m |= qual.CLICK_FLOODING
    if (ev.get("claimed_ip") or ev.get("claimed_user_agent")) and s.on("client_mismatch"):
        if qual.client_mismatch(ev):
            m |= qual.CLIENT_MISMATCH
    return m


# --------------------------------------------------------------------------- conversions


@dataclasses.dataclass
class InstallRef:
    install_id: str
    campaign_id: str | None
    click_id: str | None
    touch_type: int
    touch_time: dt.datetime | None
    verdict: int = q.CLEAN
    install_time: dt.datetime | None = None


@dataclasses.dataclass
class Hit:
    event: dict[str, Any]
    goal: Goal
    user_key: str
    credits: list[Touch | None] = dataclasses.field(default_factory=list)
    install: InstallRef | None = None


def credit(goal: Goal, clicks: Sequence[Touch], install: InstallRef | None, install_touch: Touch | None,
           at: dt.datetime, window: dt.timedelta) -> list[Touch | None]:  # fmt: skip
    """The touches a conversion is credited to (None: organic).

    purchase: the last click inside the window, across campaigns; custom:
    the last click of every campaign clicked inside the window. Without a
    click newer than the install's touch inside the window: the install's.
    Invalid clicks are never credited (nor an install's touch an operator has
    since overruled to invalid)."""
    if install_touch is not None and install_touch.verdict == q.INVALID:
        install_touch = None
    inside = [c for c in clicks if c.kind == CLICK and c.verdict != q.INVALID and at - window <= c.time <= at]
    if install_touch is not None and install_touch.kind == CLICK and at - window <= install_touch.time <= at:
        if all(c.touch_id != install_touch.touch_id for c in inside):
            inside.append(install_touch)
    inside.sort(key=lambda c: c.time, reverse=True)
    if goal.kind == "purchase":
        install_time = install.touch_time if install is not None else None
        newer = [c for c in inside if install_time is None or c.time >= install_time]
        if newer:
            return [newer[0]]
    elif inside:
        per_campaign: dict[str, Touch] = {}
        for c in inside:
            per_campaign.setdefault(c.campaign_id, c)
        return list(per_campaign.values())
    if install is not None and install.campaign_id:
        return [install_touch]
    return [None]


def conversion_reasons(s: qual.Settings, cfg: qual.Config, h: Hit, amount: Decimal | None, currency: str,
                       mismatch: bool) -> int:  # fmt: skip
    """The conversion checks of one credited conversion."""
    m = 0
    if mismatch and s.on("client_mismatch"):
        m |= qual.CLIENT_MISMATCH
    ref = h.install
    if ref is not None:
        if ref.verdict == q.INVALID and s.on("rejected_install"):
            m |= qual.REJECTED_INSTALL
        # Device times on both sides (one clock); a goal on the install event itself is its own install.
        if ref.install_time is not None and h.goal.event != "install" and s.on("too_soon_after_install"):
            after = h.event["_time"] - ref.install_time
            if dt.timedelta(0) <= after < qual.seconds(s.too_soon_after_install_s):
                m |= qual.TOO_SOON
    if amount is not None and s.on("revenue_out_of_range"):
        allowed = cfg.revenue_range(h.goal.goal_id, currency)
        if allowed is not None and allowed.outside(amount):
            m |= qual.REVENUE_OUT_OF_RANGE
    return m


def exhausted(goal: Goal, count: int) -> bool:
    """A "first" / "nth" goal whose user already had this many matching events counts no more."""
    if goal.occurrence == "every":
        return False
    return count >= (goal.nth if goal.occurrence == "nth" else 1)
