"""Enum choices the CLI flags take: the proto enum values' short lowercase
names (``CAMPAIGN_STATUS_ACTIVE`` is ``active``). tests/cli checks they match
the protos, so a new proto value fails a test until it is added here."""

from __future__ import annotations

import enum


class Platform(enum.StrEnum):
    ios = "ios"
    android = "android"
    web = "web"


class CampaignType(enum.StrEnum):
    app_install = "app_install"
    web = "web"
    retargeting = "retargeting"
    preinstall = "preinstall"


class TrafficType(enum.StrEnum):
    display = "display"
    search = "search"
    social = "social"
    video = "video"
    native = "native"
    incentivized = "incentivized"
    email = "email"
    other = "other"


class CampaignStatus(enum.StrEnum):
    draft = "draft"
    active = "active"
    paused = "paused"
    archived = "archived"


class EventType(enum.StrEnum):
    install = "install"
    identify = "identify"
    track = "track"
    screen = "screen"
    heartbeat = "heartbeat"


class GoalKind(enum.StrEnum):
    purchase = "purchase"
    custom = "custom"


class Occurrence(enum.StrEnum):
    first = "first"
    every = "every"
    nth = "nth"


class TariffModel(enum.StrEnum):
    cpc = "cpc"
    cpm = "cpm"
    cpi = "cpi"
    cpa = "cpa"
    revshare = "revshare"


class InvalidTrafficAction(enum.StrEnum):
    redirect = "redirect"
    fallback = "fallback"
    block = "block"


class Verdict(enum.StrEnum):
    clean = "clean"
    suspicious = "suspicious"
    invalid = "invalid"
