"""Postback templates: the macros they may use, their validation, and turning
one template plus one outbound event into a signed HTTP request."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

import orjson
from clicktrail.postbacks.v1 import postbacks_pb2 as pb

from libs.errors import Validator
from libs.macros import MACRO_RE, check_url_template, expand, unknown_macros
from libs.postback_handoff import FIELDS
from libs.vocab.enums import choices
from libs.vocab.kinds import TRACKING_LIMITED, TRACKING_STATUS_NAMES

# Every outbound-event field is a macro, plus {timestamp} (unix seconds when the
# delivery was made) and {event_timestamp} (unix seconds of the event's own
# event_time: what a partner asking "when the event occurred" wants, e.g. Meta's
# event_time; the delivery's time when the event has none) and {revenue_number}
# (the revenue as a bare JSON number, 0 when the event has none: for JSON bodies
# whose partner wants a number, e.g. GA4's and Meta's "value", written unquoted)
# and, from {att_status}, {lat} ("1" when the person limits ad tracking: denied,
# restricted or not determined; when the status is unknown, "0" if the event has
# an advertising id (iOS gives the IDFA only once tracking is authorized, Android
# zeroes the GAID when ad tracking is limited) and "1" if it has none, so consent
# is never claimed without a sign of it: Google Ads `lat`, AppLovin `dnt`) and
# {tracking_enabled} (its opposite: Meta's advertiser_tracking_enabled)
# and {install_timestamp} (unix seconds of install_time: an install's own, a
# conversion's install's; "" when unknown, e.g. a conversion from an inbound
# postback: Unity's install_ts).
# Template settings (e.g. {sdk_key}) add their own names.
EVENT_MACROS: tuple[str, ...] = (
    *FIELDS, "timestamp", "event_timestamp", "revenue_number", "lat", "tracking_enabled", "install_timestamp",
)  # fmt: skip
LIMITED_TRACKING = frozenset(TRACKING_STATUS_NAMES[code] for code in TRACKING_LIMITED)
# Event macros a template setting of the same name stands in for when the event has
# none (the Google Ads catalog entry had an app_version setting before events carried
# the app's version: it stays, as the value for events from SDKs that do not send it).
SETTING_DEFAULTS = frozenset({"app_version"})
_NUMBER = re.compile(r"^-?[0-9]{1,30}(\.[0-9]{1,30})?$")
# The stored names, from the proto enums.
# install, goal, conversion, status_change, rejected, reengagement
TRIGGERS: tuple[str, ...] = tuple(choices(pb.Trigger))
MODES: tuple[str, ...] = tuple(choices(pb.SendingMode))  # attributed, all
METHODS: tuple[str, ...] = tuple(m.upper() for m in choices(pb.HttpMethod))  # GET, POST
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$")
_SETTING = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Headers the client writes itself.
RESERVED_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "user-agent"}
MAX_HEADERS = 30
MAX_BODY_TEMPLATE = 64 * 1024

SAMPLE_EVENT: dict[str, Any] = {
    "event_id": "test-event", "kind": "install", "account_id": "", "app_id": "app_test", "partner_id": "",
    "campaign_id": "cmp_test", "campaign_name": "Test campaign", "link_id": "lnk_test",
    "click_id": "01test0click0id0000000000", "partner_click_id": "partner-click-123",
    **{f"sub{i}": f"sub{i}" for i in range(1, 11)},
    "event": "install", "goal_id": "", "goal": "", "status": "approved", "payout": "1.50", "revenue": "1.50",
    "currency": "USD", "txid": "test-tx", "idfa": "00000000-0000-0000-0000-000000000000",
    "gaid": "00000000-0000-0000-0000-000000000000", "country": "US", "os": "android", "ip": "203.0.113.7",
    "install_time": "2026-01-01T00:00:00Z", "event_time": "2026-01-01T00:00:00Z", "verdict": "clean",
    "reasons": "", "attributed": True, "app_instance_id": "0123456789abcdef0123456789abcdef",
    "os_version": "14", "device_model": "Pixel 8", "att_status": "authorized",
}  # fmt: skip
# What a `rejected` template is tested with.
SAMPLE_REJECTED: dict[str, Any] = {"verdict": "invalid", "reasons": "click_injection"}
# ... and a `reengagement` template.
SAMPLE_REENGAGEMENT: dict[str, Any] = {"kind": "reengagement", "event": "re_engagement"}
SAMPLES_BY_TRIGGER: dict[str, dict[str, Any]] = {"rejected": SAMPLE_REJECTED, "reengagement": SAMPLE_REENGAGEMENT}


@dataclasses.dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes

    def payload(self, delivery_id: str) -> bytes:
        """The delivery job's payload: everything the dispatcher needs to send it."""
        return orjson.dumps(
            {"d": delivery_id, "m": self.method, "u": self.url, "h": self.headers, "b": self.body.decode()}
        )


def allowed_macros(settings: Mapping[str, str]) -> list[str]:
    return [*EVENT_MACROS, *settings]


def check_template(t: Mapping[str, Any], v: Validator, prefix: str = "template.") -> None:
    """Every field violation of a template (a dict of the stored columns)."""
    settings: Mapping[str, str] = t.get("settings") or {}
    for key, value in settings.items():
        if not _SETTING.match(key):
            v.add(f"{prefix}settings", f"{key!r} is not a setting name like app_key (lowercase, digits, _)")
        elif key in EVENT_MACROS and key not in SETTING_DEFAULTS:
            v.add(f"{prefix}settings", f"{key!r} is the name of a built-in macro")
        if _CONTROL.search(value) or len(value) > 1024:
            v.add(f"{prefix}settings", f"the value of {key!r} has control characters or is too long")
    allowed = allowed_macros(settings)
    v.check(bool(t.get("partner_id")), f"{prefix}partner_id", "is required")
    v.check(len(t.get("partner_id", "")) <= 64, f"{prefix}partner_id", "must be at most 64 characters")
    v.check(len(t.get("name", "")) <= 200, f"{prefix}name", "must be at most 200 characters")
    v.check(t.get("trigger") in TRIGGERS, f"{prefix}trigger",
            "is required: " + ", ".join(TRIGGERS[:-1]) + " or " + TRIGGERS[-1])  # fmt: skip
    if t.get("trigger") == "goal":
        v.check(bool(t.get("goal_id")), f"{prefix}goal_id", "is required when the trigger is a goal")
    elif t.get("goal_id"):
        v.add(f"{prefix}goal_id", "is only for the goal trigger")
    v.check(t.get("sending_mode") in MODES, f"{prefix}sending_mode", "must be attributed or all")
    method = t.get("method")
    v.check(method in METHODS, f"{prefix}method", "must be GET or POST")
    why = check_url_template(t.get("url_template", ""), allowed)
    if why:
        v.add(f"{prefix}url_template", why)
    body = t.get("body_template", "")
    if body:
        if method != "POST":
            v.add(f"{prefix}body_template", "is only sent with POST")
        if len(body) > MAX_BODY_TEMPLATE:
            v.add(f"{prefix}body_template", f"is longer than {MAX_BODY_TEMPLATE} characters")
        unknown = unknown_macros(body, allowed)
        if unknown:
            v.add(f"{prefix}body_template", "has unknown macros: " + ", ".join("{" + u + "}" for u in unknown))
    headers: Mapping[str, str] = t.get("headers") or {}
    if len(headers) > MAX_HEADERS:
        v.add(f"{prefix}headers", f"at most {MAX_HEADERS} headers")
    for name, value in headers.items():
        if not _TOKEN.match(name):
            v.add(f"{prefix}headers", f"{name!r} is not a valid header name")
        elif name.lower() in RESERVED_HEADERS:
            v.add(f"{prefix}headers", f"{name} is set by the dispatcher")
        if _CONTROL.search(value) or len(value) > 4096:
            v.add(f"{prefix}headers", f"the value of {name!r} has control characters (CR/LF) or is too long")
        unknown = unknown_macros(value, allowed)
        if unknown:
            v.add(f"{prefix}headers", f"{name}: unknown macros: " + ", ".join("{" + u + "}" for u in unknown))
    sig = t.get("signature_header", "")
    if sig:
        if not _TOKEN.match(sig) or sig.lower() in RESERVED_HEADERS:
            v.add(f"{prefix}signature_header", f"{sig!r} is not a usable header name")


def unix_seconds(rfc3339: str) -> str:
    """An RFC 3339 time (the outbound event's event_time) as unix seconds; "" when it is not one."""
    try:
        t = dt.datetime.fromisoformat(rfc3339.strip().replace("Z", "+00:00"))
    except ValueError:
        return ""
    return str(int(t.timestamp())) if t.tzinfo is not None else ""


def macro_values(event: Mapping[str, Any], settings: Mapping[str, str], now_s: float) -> dict[str, str]:
    values = {f: str(event.get(f, "") or "") for f in FIELDS}
    values["attributed"] = "1" if event.get("attributed") else "0"
    values["timestamp"] = str(int(now_s))
    values["event_timestamp"] = unix_seconds(values.get("event_time", "")) or values["timestamp"]
    values["install_timestamp"] = unix_seconds(values.get("install_time", ""))
    revenue = values.get("revenue", "").strip()
    values["revenue_number"] = revenue if _NUMBER.match(revenue) else "0"
    status = values.get("att_status", "")
    limited = status in LIMITED_TRACKING or (not status and not values.get("idfa") and not values.get("gaid"))
    values["lat"], values["tracking_enabled"] = ("1", "0") if limited else ("0", "1")
    for key, value in settings.items():
        if key not in SETTING_DEFAULTS or not values.get(key):
            values[key] = value
    return values


def _expand_json(template: str, values: Mapping[str, str]) -> str:
    """Macros inside a JSON body: values escaped as JSON string contents."""

    def repl(m: re.Match[str]) -> str:
        return orjson.dumps(values.get(m.group(1)) or "").decode()[1:-1]

    return MACRO_RE.sub(repl, template)


def _expand_raw(template: str, values: Mapping[str, str]) -> str:
    """Header values: macros as they are, with control characters dropped (no CR/LF injection)."""

    def repl(m: re.Match[str]) -> str:
        return _CONTROL.sub("", values.get(m.group(1)) or "")

    return MACRO_RE.sub(repl, template)


def sign(secret: str, timestamp: str, method: str, url: str, body: bytes) -> str:
    """``t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<METHOD>.<url>." + body>``."""
    message = f"{timestamp}.{method}.{url}.".encode() + body
    return f"t={timestamp},v1={hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()}"


def render(t: Mapping[str, Any], event: Mapping[str, Any], secret: str, now_s: float) -> Request:
    settings: Mapping[str, str] = t.get("settings") or {}
    values = macro_values(event, settings, now_s)
    method = t["method"]
    url = expand(t["url_template"], values)
    headers_t: Mapping[str, str] = t.get("headers") or {}
    headers = [(k, _expand_raw(v, values)) for k, v in headers_t.items()]
    body = b""
    if method == "POST" and t.get("body_template"):
        ctype = next((v for k, v in headers if k.lower() == "content-type"), "")
        if "json" in ctype.lower():
            body = _expand_json(t["body_template"], values).encode()
        else:
            body = expand(t["body_template"], values).encode()
        if not ctype:
            headers.append(("Content-Type", "application/x-www-form-urlencoded"))
    sig = t.get("signature_header", "")
    if sig and secret:
        headers.append((sig, sign(secret, values["timestamp"], method, url, body)))
    return Request(method, url, headers, body)


def fires(t: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """Does this template send for this outbound event? A rejected (invalid)
    install or conversion fires `rejected` templates only."""
    if not t["enabled"]:
        return False
    kind, trigger = event.get("kind"), t["trigger"]
    if (event.get("verdict") == "invalid") != (trigger == "rejected"):
        return False
    if t["app_id"] and t["app_id"] != event.get("app_id"):
        return False
    own = bool(event.get("attributed")) and event.get("partner_id") == t["partner_id"]
    if t["sending_mode"] == "attributed" and not own:
        return False
    if trigger == "rejected":
        return kind in ("install", "conversion")
    if trigger == "install":
        return kind == "install"
    if trigger == "conversion":
        return kind == "conversion"
    if trigger == "goal":
        return kind == "conversion" and bool(t["goal_id"]) and event.get("goal_id") == t["goal_id"]
    if trigger == "status_change":
        return kind == "status_change"
    if trigger == "reengagement":
        return kind == "reengagement"
    return False
