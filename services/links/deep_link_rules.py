"""Deep links' rules, pure: an app's Apple team id, App Store id and Android
signing fingerprints; a link's deep link. Values are normalized here (upper-case
team id, ``AA:BB:..`` fingerprints) before they are stored."""

from __future__ import annotations

import re

from libs.errors import Validator
from libs.macros import unknown_macros
from services.links.touches import DESTINATION_MACROS

APPLE_TEAM_ID = re.compile(r"[A-Z0-9]{10}")
APPLE_APP_ID = re.compile(r"[1-9][0-9]{0,19}")
FINGERPRINT = re.compile(r"[0-9A-F]{2}(:[0-9A-F]{2}){31}")
MAX_FINGERPRINTS = 10
MAX_DEEP_LINK = 2000
# A deep link is a URI with a scheme ("myapp://product/42", "https://...") or an absolute path.
SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
# Schemes no app opens as a deep link, which an SDK or web view would run or read locally instead.
FORBIDDEN_SCHEMES = frozenset({"javascript", "vbscript", "data", "file"})


def team_id(value: str) -> str:
    return value.strip().upper()


def fingerprint(value: str) -> str:
    """``aabb..`` (64 hex digits) or ``AA:BB:..`` -> ``AA:BB:..``."""
    v = value.strip().upper()
    if ":" not in v and len(v) == 64:
        v = ":".join(v[i : i + 2] for i in range(0, 64, 2))
    return v


def fingerprints(values: list[str]) -> list[str]:
    return list(dict.fromkeys(fingerprint(v) for v in values if v.strip()))


def check_app_identity(v: Validator, *, team: str | None, app_store_id: str | None, prints: list[str] | None) -> None:
    """Each argument None: not being set. Empty strings clear a field."""
    if team:
        v.check(
            bool(APPLE_TEAM_ID.fullmatch(team_id(team))),
            "app.apple_team_id",
            f"must be the 10-character Apple Developer Team ID (A-Z, 0-9), e.g. ABCDE12345; got {team!r}",
        )
    if app_store_id:
        v.check(
            bool(APPLE_APP_ID.fullmatch(app_store_id.strip())),
            "app.apple_app_id",
            f"must be the App Store id (digits only, e.g. 1234567890 from apps.apple.com/app/id1234567890); "
            f"got {app_store_id!r}",
        )
    if prints is not None:
        v.check(
            len(prints) <= MAX_FINGERPRINTS,
            "app.android_sha256_fingerprints",
            f"at most {MAX_FINGERPRINTS} fingerprints",
        )
        for i, p in enumerate(prints):
            v.check(
                bool(FINGERPRINT.fullmatch(fingerprint(p))),
                f"app.android_sha256_fingerprints[{i}]",
                "must be a SHA-256 certificate fingerprint: 32 hex pairs joined by colons (AA:BB:...:FF), "
                f"as `keytool -list -v` prints it; got {p!r}",
            )


def check_deep_link(v: Validator, field: str, deep_link: str) -> None:
    """A URI with a scheme or an absolute path, macros as in destination URLs."""
    if not deep_link:
        return
    d = deep_link.strip()
    v.check(len(d) <= MAX_DEEP_LINK, field, f"must be at most {MAX_DEEP_LINK} characters")
    if not (d.startswith("/") or SCHEME.match(d)):
        v.add(field, f"must be an in-app URI with a scheme (myapp://product/42) or a path (/product/42); got {d!r}")
        return
    if d.startswith("//"):  # a network-path reference (RFC 3986 4.2): another host, not a path of the app
        v.add(field, f"must be a path of the app (/product/42) or a URI with a scheme, not //host...; got {d!r}")
        return
    first = SCHEME.match(d)
    if first and first.group(0)[:-1].lower() in FORBIDDEN_SCHEMES:
        v.add(field, f"may not use the {first.group(0)} scheme: give the app's own scheme (myapp://) or https://")
        return
    if any(c.isspace() for c in d):
        v.add(field, "must not contain whitespace (percent-encode it)")
        return
    unknown = unknown_macros(d, DESTINATION_MACROS)
    if unknown:
        v.add(field, "has unknown macros: " + ", ".join("{" + u + "}" for u in unknown))
    scheme = SCHEME.match(d)
    if scheme and "{" in scheme.group(0):
        v.add(field, "may not use macros in the scheme")
