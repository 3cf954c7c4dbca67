"""User-Agent parsing with ua-parser (Rust regex backend), cached per distinct
string: traffic repeats a small set of User-Agents, and a parse costs ~20 µs."""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

import ua_parser
from clicktrail.links.v1 import links_pb2

# Values of clicktrail.links.v1.DeviceType.
UNKNOWN: int = links_pb2.DEVICE_TYPE_UNSPECIFIED
DESKTOP: int = links_pb2.DEVICE_TYPE_DESKTOP
MOBILE: int = links_pb2.DEVICE_TYPE_MOBILE
TABLET: int = links_pb2.DEVICE_TYPE_TABLET
BOT: int = links_pb2.DEVICE_TYPE_BOT
OTHER: int = links_pb2.DEVICE_TYPE_OTHER
_MOBILE_OS = {"iOS", "Android", "iPadOS", "Windows Phone", "BlackBerry OS", "KaiOS", "HarmonyOS"}
_DESKTOP_OS = {"Windows", "Mac OS X", "Linux", "Ubuntu", "Chrome OS", "ChromeOS", "Fedora", "FreeBSD", "macOS"}
# The device model an Android UA names after "Android N;" (and an optional locale): phone
# models such as "CUBOT_X19", "XBot_Senior" or "M bot 60" contain "bot" and are people,
# so the bot words are looked for in the UA without it (libs/bots.py strips it the same way).
ANDROID_MODEL = re.compile(r"(Android [\d.]+;(?: [a-z]{2,3}[-_][a-z]{2,3};)?)[^;)]*", re.IGNORECASE)
_BOT_WORDS = ("bot", "crawler", "spider")


def _bot_words(lowered: str) -> bool:
    if not any(w in lowered for w in _BOT_WORDS):
        return False
    without_model = ANDROID_MODEL.sub(r"\1", lowered)
    return any(w in without_model for w in _BOT_WORDS)


class Agent(NamedTuple):
    device_type: int
    os: str
    os_version: str
    browser: str
    browser_version: str
    device_model: str


def _version(*parts: str | None) -> str:
    return ".".join(p for p in parts if p)


@functools.lru_cache(maxsize=50_000)
def parse_user_agent(ua: str) -> Agent:
    if not ua:
        return Agent(UNKNOWN, "", "", "", "", "")
    r = ua_parser.parse(ua[:1024])
    os_family = r.os.family if r.os and r.os.family != "Other" else ""
    os_version = _version(r.os.major, r.os.minor, r.os.patch) if r.os else ""
    browser = r.user_agent.family if r.user_agent and r.user_agent.family != "Other" else ""
    browser_version = _version(r.user_agent.major, r.user_agent.minor) if r.user_agent else ""
    device = r.device
    model = device.model or "" if device and device.family != "Other" else ""
    lowered = ua.lower()
    if (device and device.family == "Spider") or _bot_words(lowered):
        kind = BOT
    elif os_family in _MOBILE_OS:
        brand = (device.brand or "") if device else ""
        tablet = (
            "ipad" in lowered
            or "tablet" in lowered
            or "Tablet" in brand
            # Android phones say "Mobile"; Android tablets do not.
            or (os_family == "Android" and "mobile" not in lowered)
        )
        kind = TABLET if tablet else MOBILE
    elif os_family in _DESKTOP_OS:
        kind = DESKTOP
    else:
        kind = OTHER
    return Agent(kind, os_family, os_version, browser, browser_version, model)
