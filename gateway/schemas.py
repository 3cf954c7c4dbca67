"""The JSON bodies of the gateway's public endpoints as small pydantic models:
the OpenAPI document's schemas are generated from them (gateway/openapi.py),
and the tests check real answers against them. Enum values come from the
protos (libs.vocab), never from a list kept here."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from libs.vocab.kinds import CONVERSION_STATUS_CODES, EVENT_TYPE_CODES, PLATFORM_CODES, TRACKING_STATUS_CODES


def _enum(values: Any, description: str = "") -> Any:
    extra: dict[str, Any] = {"enum": [v for v in values if v]}
    return Field(default=None, description=description or None, json_schema_extra=extra)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Error(_Model):
    error: str
    field: str | None = Field(default=None, description="The parameter or field at fault, when there is one.")


class Status(_Model):
    status: str


class Readiness(_Model):
    status: str
    checks: dict[str, str] = Field(default_factory=dict, description="Each dependency: ok, or down: <why>.")


# -- POST /v1/events -----------------------------------------------------------


class Device(BaseModel):
    idfa: str | None = None
    gaid: str | None = None
    idfv: str | None = None
    android_id: str | None = None
    platform: str | None = _enum(PLATFORM_CODES)
    os_version: str | None = None
    device_model: str | None = None
    locale: str | None = None
    tracking_status: str | None = _enum(
        TRACKING_STATUS_CODES,
        "Ad-tracking consent: iOS ATTrackingManager.trackingAuthorizationStatus; Android limit ad tracking "
        "off = authorized, on = denied. Sent to partners on postbacks ({att_status}, {lat}, {tracking_enabled}).",
    )


class Event(BaseModel):
    uuid: str = Field(json_schema_extra={"format": "uuid"})
    event: str = Field(json_schema_extra={"enum": list(EVENT_TYPE_CODES)})
    timestamp: str | int = Field(description="ISO 8601 (UTC when no offset) or epoch ms.")
    session_id: str | None = None
    offset: int | None = Field(default=None, ge=0)
    user_id: str | None = None
    ref: str | None = None
    app_id: str | None = None
    ip: str | None = Field(
        default=None,
        description="A claim: the connection's address is what counts; a different claim is kept apart "
        "(claimed_ip) and flags the event client_mismatch.",
    )
    user_agent: str | None = Field(default=None, description="A claim, as ip (claimed_user_agent).")
    action: str | None = Field(
        default=None,
        description='track: the action ("deeplink_open" or "reengage" with action_properties.click_id: '
        "the app opened through a retargeting link, a re-engagement); screen: the screen.",
    )
    action_properties: dict[str, Any] | None = None
    click_id: str | None = Field(default=None, description="install: from the store referrer.")
    install_begin_time: str | int | None = Field(
        default=None,
        description="install: the Play install referrer's install_begin_timestamp(_server)_seconds (epoch "
        "seconds or ISO 8601; 0: unknown). A click after it was injected.",
    )
    referrer_click_time: str | int | None = Field(
        default=None,
        description="install: the Play install referrer's referrer_click_timestamp(_server)_seconds, likewise.",
    )
    adservices_token: str | None = Field(
        default=None,
        max_length=4096,
        description="install on iOS 14.3+: the AdServices attribution token (AAAttribution.attributionToken()), "
        "as the SDK got it (printable text, at most 4096 characters). Attribution resolves it with Apple's "
        "attribution API: an Apple Ads install outranks a device id or fingerprint match, never a click id.",
    )
    app_instance_id: str | None = Field(
        default=None,
        pattern="^[0-9a-fA-F]{32}$",
        description="The Firebase app instance id (FirebaseAnalytics.appInstanceID): 32 hex characters; "
        "partners such as Google Ads through Firebase need it on postbacks.",
    )
    app_version: str | None = Field(
        default=None,
        max_length=64,
        description="The app's version (iOS CFBundleShortVersionString, Android versionName); partners such as "
        "Google Ads need it on postbacks.",
    )
    device: Device | None = None


class EventsBody(BaseModel):
    events: list[Event] = Field(max_length=1000)


class EventResult(_Model):
    index: int
    uuid: str
    status: str = Field(json_schema_extra={"enum": ["accepted", "duplicate", "rejected"]})
    field: str | None = None
    reason: str | None = None


class EventsReply(_Model):
    accepted: int
    duplicates: int
    rejected: int
    results: list[EventResult]


# -- /postback -----------------------------------------------------------------


class PostbackReply(_Model):
    conversion_id: str
    status: str = Field(json_schema_extra={"enum": list(CONVERSION_STATUS_CODES)})
    previous_status: str = Field(description="The status before this postback; empty when it created the conversion.")
    created: bool
    changed: bool
    click_id: str
    campaign_id: str
    goal: str
    payout: str = Field(description="A decimal string, exactly as stored.")
    currency: str
    txid: str
    postback_id: str
