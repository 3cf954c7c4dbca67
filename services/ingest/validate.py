"""Event validation: one function for both entry points (typed gRPC events
and JSON bodies), returning a row ready for COPY or the first problem found."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import functools
import ipaddress
import re
import uuid
from typing import Any

from libs import exactjson
from libs.text import json_problem, text_problem
from libs.vocab.kinds import EVENT_TYPE_CODES, EVENT_TYPE_NAMES, TRACKING_STATUS_CODES
from libs.vocab.kinds import PLATFORM_CODES as VOCAB_PLATFORM_CODES
from libs.vocab.kinds import PLATFORM_NAMES as VOCAB_PLATFORM_NAMES

# Event types and platforms: the protos' (libs.vocab), "install" <-> 1 ...; '' is an unset platform.
EVENT_CODES = EVENT_TYPE_CODES
EVENT_NAMES = {code: name for code, name in EVENT_TYPE_NAMES.items() if code}
PLATFORM_CODES = VOCAB_PLATFORM_CODES
PLATFORM_NAMES = VOCAB_PLATFORM_NAMES
ERROR_LEVELS = ("Info", "Debug", "Warning", "Error", "Critical")
DEVICE_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ZERO_ID = "00000000-0000-0000-0000-000000000000"
CURRENCY = re.compile(r"^[A-Z]{3}$")
TOKEN = re.compile(r"^(0x[0-9a-fA-F]{40}|[A-Za-z0-9]{2,16})$")
# The AdServices attribution token: printable ASCII (Apple's is Base64 text), at most 4096 characters.
ADSERVICES_TOKEN = re.compile(r"^[\x20-\x7e]{1,4096}$")
MAX_ADSERVICES_TOKEN = 4096
# The Firebase app instance id: 32 hex characters.
APP_INSTANCE_ID = re.compile(r"^[0-9a-fA-F]{32}$")

MAX_BATCH = 1000
MAX_PROPERTIES_BYTES = 16 * 1024
MAX_PROPERTIES_DEPTH = 6
MAX_PROPERTIES_KEYS = 200
MAX_AMOUNT_DIGITS = 18
MAX_WEB3_AMOUNT_DIGITS = 78
MAX_FUTURE = dt.timedelta(hours=24)
MAX_AGE = dt.timedelta(days=30)
# An app may be opened long after it was installed.
MAX_REFERRER_AGE = dt.timedelta(days=366)
STRING_LIMITS = {
    "session_id": 128, "user_id": 256, "ref": 512, "action": 128, "click_id": 64, "user_agent": 1024,
    "idfv": 64, "android_id": 64, "os_version": 64, "device_model": 128, "locale": 35, "app_version": 64,
}  # fmt: skip


class Rejected(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclasses.dataclass(slots=True)
class Context:
    """What the caller may do and what the request adds to each event."""

    account_id: str
    # Set for an app key: every event belongs to this app.
    key_app_id: str
    # The account's live apps (checked when events name their app).
    account_apps: frozenset[str]
    now: dt.datetime
    client_ip: str = ""
    client_user_agent: str = ""


def _str(ev: dict[str, Any], key: str, *, required: bool = False, prefix: str = "") -> str | None:
    value = ev.get(key)
    if value is None or value == "":
        if required:
            raise Rejected(prefix + key, "is required")
        return None
    if not isinstance(value, str):
        raise Rejected(prefix + key, "must be a string")
    limit = STRING_LIMITS.get(key, 256)
    if len(value) > limit:
        raise Rejected(prefix + key, f"must be at most {limit} characters")
    problem = text_problem(value)  # NUL or a lone surrogate: Postgres cannot store it
    if problem is not None:
        raise Rejected(prefix + key, problem)
    return value


def parse_time(value: Any) -> dt.datetime:
    """ISO 8601 / "YYYY-MM-DD HH:MM:SS" (UTC when no offset), or epoch
    seconds / milliseconds as a number."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int | float | decimal.Decimal):
        value = float(value)
        seconds = value / 1000 if value > 1e11 else value
        return dt.datetime.fromtimestamp(seconds, dt.UTC)
    if isinstance(value, str) and 10 <= len(value) <= 40:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return t if t.tzinfo else t.replace(tzinfo=dt.UTC)
    raise ValueError


def _device_id(device: dict[str, Any], key: str) -> str | None:
    value = device.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not DEVICE_ID.fullmatch(value.lower()):
        raise Rejected(f"device.{key}", "must be a UUID like 6d92078a-8246-4ba4-ae5b-76104861e7dc")
    value = value.lower()
    return None if value == ZERO_ID else value


@functools.lru_cache(maxsize=65_536)
def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


def _connection_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return _parse_ip(text) if text else None
    except (ValueError, TypeError):
        return None


def _referrer_time(ev: dict[str, Any], key: str, ctx: Context) -> dt.datetime | None:
    """An install-referrer timestamp (epoch seconds as Play gives them, or any
    ``timestamp`` form); 0 / empty is what Play answers when it does not know."""
    value = ev.get(key)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if value in (None, "", 0):
        return None
    try:
        t = parse_time(value)
    except (ValueError, OverflowError, OSError):
        raise Rejected(key, "must be ISO 8601 or epoch seconds (Play's install referrer timestamps)") from None
    if t > ctx.now + MAX_FUTURE:
        raise Rejected(key, "is more than 24 hours in the future")
    if t < ctx.now - MAX_REFERRER_AGE:
        raise Rejected(key, "is more than a year old")
    return t


def _adservices_token(ev: dict[str, Any]) -> str | None:
    """The AdServices attribution token of an install (only installs carry one; others' is ignored)."""
    value = ev.get("adservices_token")
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise Rejected("adservices_token", "must be a string (AAAttribution.attributionToken())")
    value = value.strip()
    if len(value) > MAX_ADSERVICES_TOKEN:
        raise Rejected("adservices_token", f"must be at most {MAX_ADSERVICES_TOKEN} characters")
    if not ADSERVICES_TOKEN.fullmatch(value):
        raise Rejected("adservices_token", "must be printable text, as AAAttribution.attributionToken() gives it")
    return value


def _app_instance_id(ev: dict[str, Any]) -> str | None:
    value = ev.get("app_instance_id")
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not APP_INSTANCE_ID.fullmatch(value):  # fullmatch: "$" lets a "\n" through
        raise Rejected("app_instance_id", "must be 32 hex characters (the Firebase app instance id)")
    return value.lower()


def _tracking_status(device: dict[str, Any]) -> int | None:
    """device.tracking_status as its code (None when not sent)."""
    value = device.get("tracking_status")
    if value is None or value == "":
        return None
    code = TRACKING_STATUS_CODES.get(value.strip().lower()) if isinstance(value, str) else None
    if not code:
        raise Rejected(
            "device.tracking_status",
            "must be authorized, denied, restricted or not_determined (iOS ATT; Android: limit ad tracking "
            "off = authorized, on = denied)",
        )
    return code


def _require(props: dict[str, Any], key: str, kinds: tuple[type, ...], what: str) -> Any:
    if key not in props or props[key] is None:
        raise Rejected(f"action_properties.{key}", "is required")
    value = props[key]
    if not isinstance(value, kinds) or isinstance(value, bool):
        raise Rejected(f"action_properties.{key}", f"must be {what}")
    return value


def check_error(props: dict[str, Any]) -> None:
    level = _require(props, "error_level", (str,), "a string")
    if level not in ERROR_LEVELS:
        raise Rejected("action_properties.error_level", f"must be one of {', '.join(ERROR_LEVELS)}")
    _require(props, "error_code", (str,), "a string")
    _require(props, "error_message", (str,), "a string")
    _require(props, "error_stacktrace", (str, dict, list), "a string or an object")
    _require(props, "metadata", (dict,), "an object")


def check_monetization(props: dict[str, Any], web3: bool) -> None:
    _require(props, "bundle_id", (str,), "a string")
    items = _require(props, "bundle_package_items", (list,), "a list of [item, amount] lists")
    if not all(isinstance(i, list) and i and all(isinstance(x, str | int | float | decimal.Decimal) for x in i)
               for i in items):  # fmt: skip
        raise Rejected("action_properties.bundle_package_items", "must be a list of [item, amount] lists")
    _require(props, "bundle_paid_id", (str,), "a string")
    amount = _require(props, "bundle_paid_amount", (str, int, float, decimal.Decimal), "a decimal amount")
    # web3 amounts are whole token units (wei: up to a uint256, 78 digits); money has at most 18.
    digits = MAX_WEB3_AMOUNT_DIGITS if web3 else MAX_AMOUNT_DIGITS
    try:
        value = amount if isinstance(amount, decimal.Decimal) else decimal.Decimal(str(amount).strip())
        if not value.is_finite() or value < 0:
            raise decimal.InvalidOperation
    except decimal.InvalidOperation:
        raise Rejected(
            "action_properties.bundle_paid_amount", f"{str(amount)[:40]!r} is not a decimal amount like 9.99"
        ) from None
    if value.adjusted() >= digits:
        raise Rejected("action_properties.bundle_paid_amount", f"must have at most {digits} digits before the point")
    currency = _require(props, "bundle_paid_currency", (str,), "a string")
    if not web3:  # a code typed in either case: "usd" is USD, and is kept as USD
        currency = props["bundle_paid_currency"] = currency.strip().upper()
    if not (TOKEN.fullmatch(currency) if web3 else CURRENCY.fullmatch(currency)):
        raise Rejected(
            "action_properties.bundle_paid_currency",
            "must be a token symbol or contract address" if web3 else "must be an ISO 4217 code like USD",
        )
    _require(props, "platform", (str, dict), "a string or an object")
    _require(props, "tx_ref", (str,), "a string")


ACTION_SCHEMAS = {
    "error": check_error,
    "monetization_web2": lambda p: check_monetization(p, web3=False),
    "monetization_web3": lambda p: check_monetization(p, web3=True),
}


def validate(ev: Any, ctx: Context) -> tuple[tuple[Any, ...], uuid.UUID]:
    """A COPY row for ``ev`` and its uuid; raises Rejected naming the field."""
    if not isinstance(ev, dict):
        raise Rejected("event", "must be a JSON object")
    raw_uuid = ev.get("uuid")
    if not raw_uuid:
        raise Rejected("uuid", "is required")
    try:
        event_uuid = uuid.UUID(raw_uuid) if isinstance(raw_uuid, str) and len(raw_uuid) <= 40 else None
    except ValueError:
        event_uuid = None
    if event_uuid is None:
        raise Rejected("uuid", "must be a UUID")
    name = ev.get("event")
    code = EVENT_CODES.get(name) if isinstance(name, str) else None
    if code is None:
        raise Rejected("event", f"must be one of {', '.join(EVENT_CODES)}")
    if ev.get("timestamp") in (None, ""):
        raise Rejected("timestamp", "is required")
    try:
        event_time = parse_time(ev["timestamp"])
    except (ValueError, OverflowError, OSError):
        raise Rejected("timestamp", "must be ISO 8601 (2024-05-01T12:00:00Z) or epoch milliseconds") from None
    if event_time > ctx.now + MAX_FUTURE:
        raise Rejected("timestamp", "is more than 24 hours in the future")
    if event_time < ctx.now - MAX_AGE:
        raise Rejected("timestamp", "is more than 30 days old")
    app_id = ev.get("app_id") or ctx.key_app_id
    if not app_id:
        raise Rejected("app_id", "is required")
    if ctx.key_app_id and app_id != ctx.key_app_id:
        raise Rejected("app_id", "this key can only send events for its own app")
    if not isinstance(app_id, str) or app_id not in ctx.account_apps:
        raise Rejected("app_id", "no such app in this account")
    session_id = _str(ev, "session_id", required=code == 5)
    offset = ev.get("offset")
    if offset is not None and (not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset < 2**53):
        raise Rejected("offset", "must be a non-negative whole number of milliseconds")
    user_id = _str(ev, "user_id", required=code == 2)
    ref = _str(ev, "ref")
    device = ev.get("device") or {}
    if not isinstance(device, dict):
        raise Rejected("device", "must be an object")
    idfa = _device_id(device, "idfa")
    gaid = _device_id(device, "gaid")
    idfv = _str(device, "idfv", prefix="device.")
    android_id = _str(device, "android_id", prefix="device.")
    platform_name = device.get("platform") or ""
    platform = PLATFORM_CODES.get(platform_name.lower() if isinstance(platform_name, str) else None)  # type: ignore[arg-type]
    if platform is None:
        raise Rejected("device.platform", "must be ios, android, web or other")
    os_version = _str(device, "os_version", prefix="device.")
    device_model = _str(device, "device_model", prefix="device.")
    locale = _str(device, "locale", prefix="device.")
    tracking_status = _tracking_status(device)
    sent_ip = ev.get("ip")
    try:
        ip = _parse_ip(sent_ip) if sent_ip else None
    except (ValueError, TypeError):
        raise Rejected("ip", "must be an IPv4 or IPv6 address") from None
    sent_ua = _str(ev, "user_agent")
    connection_ua = ctx.client_user_agent[: STRING_LIMITS["user_agent"]] or None
    connection_ip = _connection_ip(ctx.client_ip)
    claimed_ip = claimed_ua = None
    if ctx.key_app_id and connection_ip is not None:
        # An SDK event (app key, through the gateway): an app key ships inside the
        # app, so anyone can send with it; matching uses what the connection shows,
        # and a different claim is kept apart for attribution's client_mismatch check.
        claimed_ip = ip if ip is not None and ip != connection_ip else None
        claimed_ua = sent_ua if sent_ua and sent_ua != connection_ua else None
        ip, user_agent = connection_ip, connection_ua
    else:
        ip = ip or connection_ip
        user_agent = sent_ua or connection_ua
    action = _str(ev, "action")
    if code == 4 and not action:
        action = _str(ev, "screen", required=True)
    properties_json = None
    if code == 3:
        if not action:
            raise Rejected("action", "is required for track events")
        props = ev.get("action_properties")
        if props is None:
            props = {}
        if not isinstance(props, dict):
            raise Rejected("action_properties", "must be a JSON object")
        # Too deep, or a NUL / lone surrogate in a key or string: refused, naming where (one walk).
        found = json_problem(props, "action_properties", MAX_PROPERTIES_DEPTH)
        if found is not None:
            raise Rejected(*found)
        check = ACTION_SCHEMAS.get(action)
        if check:
            check(props)
        if props:
            try:
                properties_json = exactjson.dumps(props).decode()  # numbers exactly as sent (Decimal)
            except TypeError as exc:  # orjson.JSONEncodeError: e.g. a lone surrogate in a string
                raise Rejected("action_properties", f"cannot be stored as JSON ({exc})") from None
            if len(properties_json) > MAX_PROPERTIES_BYTES:
                raise Rejected("action_properties", f"must be at most {MAX_PROPERTIES_BYTES} bytes as JSON")
            if len(props) > MAX_PROPERTIES_KEYS:
                raise Rejected("action_properties", f"must have at most {MAX_PROPERTIES_KEYS} keys")
    click_id = _str(ev, "click_id") if code == 1 else None
    install_begin = _referrer_time(ev, "install_begin_time", ctx) if code == 1 else None
    referrer_click = _referrer_time(ev, "referrer_click_time", ctx) if code == 1 else None
    adservices_token = _adservices_token(ev) if code == 1 else None
    app_instance_id = _app_instance_id(ev)
    app_version = _str(ev, "app_version")
    row = (
        ctx.account_id, app_id, event_uuid, code, event_time, ctx.now, session_id, offset, user_id, ref,
        idfa, gaid, idfv, android_id, platform, os_version, device_model, locale, ip, user_agent, action,
        properties_json, click_id, claimed_ip, claimed_ua, install_begin, referrer_click, adservices_token,
        app_instance_id, tracking_status, app_version,
    )  # fmt: skip
    return row, event_uuid
