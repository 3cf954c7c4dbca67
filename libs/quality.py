"""Traffic quality: the verdicts and the reason codes every service shares.

A verdict is stored as a smallint (the values of clicktrail.type.v1.Verdict)
and its reasons as a bigint bitmask, one bit per code below, so the click path
writes two numbers and reports can count by reason with a bit test. The codes
(names) are what the APIs, the CLI, the console and the README show; their bit
numbers are fixed forever (append new codes, never renumber).

Each reason has the verdict it gives on its own; a row's verdict is the worst
of its reasons' (clean when it has none), unless an operator overruled it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

# clicktrail.type.v1.Verdict, from the vocabulary (derived from the proto enum).
from libs.vocab.kinds import CLEAN, INVALID, SUSPICIOUS, UNSPECIFIED, VERDICT_NAMES, VERDICTS_BY_NAME


@dataclasses.dataclass(frozen=True, slots=True)
class Reason:
    code: str
    bit: int
    verdict: int
    applies_to: str  # "touch", "install", "conversion" or "any"
    text: str

    @property
    def mask(self) -> int:
        return 1 << self.bit


REASONS: tuple[Reason, ...] = (
    # ---- touches (clicks and impressions), decided on the click path
    Reason("bot_user_agent", 0, INVALID, "touch",
           "User-Agent of a known bot, crawler, link-preview fetcher, ad-platform or verification robot"),
    Reason("headless_browser", 1, INVALID, "touch", "User-Agent of a headless or automated browser"),
    Reason("http_library", 2, INVALID, "touch", "User-Agent of an HTTP library or command-line tool"),
    Reason("missing_user_agent", 3, INVALID, "touch", "no User-Agent header"),
    Reason("implausible_user_agent", 4, SUSPICIOUS, "touch", "a User-Agent no browser or app sends"),
    Reason("prefetch", 5, SUSPICIOUS, "touch", "a prefetch or prerender request (Purpose / Sec-Purpose header)"),
    Reason("datacenter", 6, INVALID, "touch", "an address of a data-centre, hosting, VPN or proxy network"),
    Reason("blocked_network", 7, INVALID, "touch", "an address on the account's blocked CIDR / ASN list"),
    Reason("blocked_user_agent", 8, INVALID, "touch", "a User-Agent on the account's blocked list"),
    Reason("flood_ip", 9, INVALID, "touch", "too many clicks from one IP on the campaign inside the window"),
    Reason("flood_device", 10, INVALID, "touch",
           "too many clicks from one device id on the campaign inside the window"),
    Reason("flood_ip_user_agent", 11, INVALID, "touch",
           "too many clicks from one IP + User-Agent on the campaign inside the window"),
    Reason("duplicate", 12, INVALID, "touch", "the same IP + User-Agent on the same link inside the duplicate window"),
    Reason("flood_sub_id", 13, SUSPICIOUS, "touch",
           "a sub-id whose click volume is far out of line with its installs"),
    Reason("tor", 14, INVALID, "touch", "a Tor exit address"),
    # ---- installs, decided by attribution
    Reason("click_injection", 24, INVALID, "install", "click-to-install time below the injection threshold"),
    Reason("install_before_click", 25, INVALID, "install",
           "the install began (install-referrer timestamp) before its click"),
    Reason("click_flooding", 26, SUSPICIOUS, "install", "a long click-to-install time from a flooding source"),
    Reason("install_burst", 27, SUSPICIOUS, "install", "many installs from one address or subnet"),
    Reason("client_mismatch", 28, SUSPICIOUS, "any",
           "the event's claimed IP or User-Agent disagrees with its connection's (app-key events)"),
    # ---- conversions, decided by attribution
    Reason("too_soon_after_install", 36, INVALID, "conversion", "the goal came implausibly soon after the install"),
    Reason("revenue_out_of_range", 37, INVALID, "conversion", "revenue outside the goal's allowed range"),
    Reason("rejected_install", 38, INVALID, "conversion", "the install it belongs to was rejected"),
    Reason("invalid_click", 39, INVALID, "conversion", "the click an inbound postback reports it for is invalid"),
    # ---- anyone
    Reason("operator", 62, UNSPECIFIED, "any", "an operator overruled the verdict"),
)  # fmt: skip

BY_CODE = {r.code: r for r in REASONS}
BY_BIT = {r.bit: r for r in REASONS}
OPERATOR = BY_CODE["operator"].mask
assert len(BY_BIT) == len(REASONS) and all(0 <= r.bit < 63 for r in REASONS)


def mask_of(codes: Iterable[str]) -> int:
    """Bitmask of reason codes; KeyError names an unknown code."""
    m = 0
    for c in codes:
        m |= BY_CODE[c].mask
    return m


def codes_of(mask: int) -> list[str]:
    """Reason codes of a bitmask, in bit order (unknown bits are skipped)."""
    out = []
    bit = 0
    while mask:
        if mask & 1 and bit in BY_BIT:
            out.append(BY_BIT[bit].code)
        mask >>= 1
        bit += 1
    return out


def verdict_of(mask: int) -> int:
    """The worst verdict the reasons give on their own (CLEAN for none)."""
    worst = CLEAN
    for code in codes_of(mask):
        worst = max(worst, BY_CODE[code].verdict)
    return worst


def verdict_name(verdict: int) -> str:
    return VERDICT_NAMES.get(verdict, "")


def parse_verdict(name: str) -> int:
    """'clean' | 'suspicious' | 'invalid' (any case) -> its value; 0 for ''. ValueError otherwise."""
    key = name.strip().lower()
    if not key:
        return UNSPECIFIED
    if key not in VERDICTS_BY_NAME:
        raise ValueError(f"{name!r} is not a verdict: clean, suspicious or invalid")
    return VERDICTS_BY_NAME[key]
