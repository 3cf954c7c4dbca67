"""Bot, crawler and automation verdicts on a User-Agent, for the click path.

``classify_user_agent(ua)`` returns a bitmask of libs.quality reason codes
(0 = clean). Sources, in the order they are asked:

1. ``missing_user_agent``: empty or whitespace only.
2. ``headless_browser``: headless / automation markers (HeadlessChrome,
   PhantomJS, Puppeteer, Playwright, Selenium, Lighthouse, jsdom, ...).
3. ``http_library``: HTTP libraries and command-line tools (curl, Wget,
   python-requests, aiohttp, Go-http-client, Java/, Apache-HttpClient, axios,
   node-fetch, libwww-perl, PostmanRuntime, ...).
4. ``bot_user_agent``: the maintained pattern list of the ``crawlerdetect``
   package (port of JayBizzle/Crawler-Detect, its browser-token exclusions
   applied first as it does), ua-parser's spider detection (device family
   "Spider", same device regexes and order as ``ua_parser.parse``), a short
   list of our own for ad-platform / ad-verification / link-preview robots the
   list misses, and any URL, e-mail address or bare domain name in the string
   (no browser or app puts one in its User-Agent; self-declared robots do).
5. ``implausible_user_agent`` (suspicious, not invalid): far too short,
   control characters, template or injection garbage, or no device, platform
   or browser engine named at all ("Abcd", "Mozilla/5.0 Keydrop",
   "Grafana/11.1.0", "Mozilla/5.0 (compatible; Thing/1.0)").

2 and 3 replace the generic bot code (a curl click says ``http_library``, not
``bot_user_agent``); 5 is only asked when nothing else matched.

Deliberately clean: app SDK User-Agents (``Dalvik/``, ``CFNetwork/ ...
Darwin/``, ``okhttp/``) and in-app webviews (Instagram, FBAN/FBAV, Line,
TikTok, ...). Ad SDKs pre-resolve a tapped ad's click URL in the background
with the platform's HTTP stack before opening the store, and fetch impression
pixels the same way, so these are people's devices; OkHttp is the stock HTTP
client of Android apps as Dalvik (HttpURLConnection) and CFNetwork are of the
platforms, which is why OkHttp's token is stripped before Crawler-Detect's patterns
(server code that is not an app shows up as Java/, Apache-HttpClient, Go,
Python, ...). ``Dart/`` (Flutter's default) is left to Crawler-Detect, which
lists it. Electron is not a headless marker: Slack, Teams, Discord and VS Code
are Electron apps with people behind them.

Speed: the pattern lists hold ~2,100 regexes; Python's ``re`` tries every
alternative at every position (~600 µs per User-Agent), so they run on
ua-parser-rs's extractor (Rust regex sets with literal prefilters, already a
dependency for libs/useragent.py): a few µs per User-Agent uncached, and each
distinct string is classified once (lru_cache) since traffic repeats a small
set of User-Agents.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from operator import attrgetter
from typing import NamedTuple

import ua_parser
import ua_parser_rs  # type: ignore[import-untyped]
from crawlerdetect.providers.crawlers import data as _CRAWLER_PATTERNS
from crawlerdetect.providers.exclusions import data as _EXCLUSION_PATTERNS

from libs import quality
from libs.useragent import ANDROID_MODEL

BOT = quality.BY_CODE["bot_user_agent"].mask
HEADLESS = quality.BY_CODE["headless_browser"].mask
HTTP_LIBRARY = quality.BY_CODE["http_library"].mask
MISSING = quality.BY_CODE["missing_user_agent"].mask
IMPLAUSIBLE = quality.BY_CODE["implausible_user_agent"].mask

# Longer strings are cut before matching: no browser sends more, and it bounds
# the work an attacker's 8 KB header can cause.
MAX_LENGTH = 1024

# (code, regex) in priority order: the first match names the reason, so the
# specific codes win over the generic bot one. All run in one Rust regex set.
_MARKERS: tuple[tuple[str, str], ...] = (
    ("headless_browser",
     r"headless|phantomjs|puppeteer|playwright|selenium|webdriver|slimerjs|htmlunit|nightmare|casperjs|zombie\.js"
     r"|jsdom/|chrome-lighthouse|lighthouse/|cypress/|awesomium|splash/|browserless"),
    # Anchored at the start where the library's default User-Agent leads with it.
    ("http_library",
     r"^(?:curl|wget|libcurl|pycurl|python-requests|python-urllib|python-httpx|python/[\d.]+|httpx|aiohttp"
     r"|go-http-client|java/|apache-httpclient|apache-httpasyncclient|jakarta|axios|node-fetch|undici|got "
     r"|node-superagent|superagent|node\.js|node/|deno/|bun/|libwww-perl|lwp::|lwp-request|mechanize"
     r"|postmanruntime|insomnia|httpie|guzzlehttp|php/|winhttp|ruby|faraday|rest-client|http\.rb|typhoeus"
     r"|reqwest|hyper/|ureq|dotnet|restsharp|powershell|httpclient|http_request|libsoup|gvfs|cpp-httplib"
     r"|boost\.beast|fasthttp|resty|k6/|ab/|apachebench|locust|jmeter|gatling|artillery|vegeta|hey/)"),
    # Anywhere: libraries that append themselves to another product token.
    ("http_library",
     r"\b(?:aiohttp/|python-requests/|python-urllib|httpx/|go-http-client/|apache-httpclient/|libwww-perl"
     r"|guzzlehttp/|postmanruntime/|axios/|node-fetch/|curl/|wget/|scrapy/|siege/)"),
    # Ad-platform, ad-verification and link-preview robots, some of which
    # Crawler-Detect misses (tests/libs/test_bots.py names each one).
    ("bot_user_agent",
     r"doubleverify|dv-crawler|\bias[_ -](?:crawler|va|wombles)|integralads|admantx|moatbot|moat\.com"
     r"|adsbot|mediapartners-google|google-adwords|google-ads-|googleadsense|google-shopping-quality"
     r"|storebot-google|google-read-aloud|google-pagerenderer|google web preview|google-inspectiontool"
     r"|googleother|google-extended|google-site-verification|google-assess|google-lens|google-pinpoint"
     r"|google-cloud-scheduler|google-sites-thumbnails|google-businesslinkverification|google-ilp|meta-external"
     r"|facebookexternalhit|facebookcatalog|facebot|snap url preview|skypeuripreview|iframely|embedly|redditbot"
     r"|linkedinbot|twitterbot|pinterestbot|discordbot|telegrambot|slackbot|slack-imgproxy|whatsapp/|vkshare"
     r"|bingpreview|applebot|yahooadmonitoring|adbeat|ads-?txt|scamadviser|cloudflare-|cloudflarediagnostics"
     r"|datadog|cohere-|anthropic-|character-ai|cardyb|amazon route 53|amazon-kendra|azure-logic-apps"
     r"|microsoft-flow"),
    # A URL or an e-mail address: a robot's contact details. No browser or app
    # puts one in its User-Agent.
    ("bot_user_agent", r"\bhttps?:|\bwww\.[a-z0-9-]+\.[a-z]|[\w.+-]+@[\w-]+\.[a-z]{2,}"),
    # A bare domain name ("(scanner.ducks.party)", "cypex.ai/scanning"), a robot's
    # contact too. Not a product named like a domain with its version
    # ("Amazon.com/24.12.6"), not a value ("FBCR/Telekom.de" in Facebook's
    # in-app browser), not a reverse-DNS app id ("com.tcl.browser").
    ("bot_user_agent",
     r"(?:^|[\s(;+,])(?:[a-z0-9-]+\.)+(?:com|net|org|io|ai|dev|xyz|party|ly|gy|fr|de|ch|nl|uk|us|info|biz)"
     r"(?:$|[\s);:,]|/[^\d])"),
)  # fmt: skip

# Names a device or platform: enough for an odd app User-Agent to pass as a person.
_PLATFORM = (
    r"windows|macintosh|mac ?os|mac_powerpc|linux|android|iphone|ipad|ipod|\bios\b|cpu os|x11|cros|bsd|sunos"
    r"|blackberry|bb10|symbian|series ?[46]0|j2me|midp|tizen|web0s|webos|smart-?tv|smart tv|hbbtv|netcast"
    r"|playstation|xbox|nintendo|roku|apple ?tv|tvos|watchos|kaios|firefox os|mobile|tablet|darwin|dalvik"
    r"|okhttp|cfnetwork|harmonyos|fuchsia|wear ?os|\bbada\b|palmos|palmsource|hp-?ux|\baix\b|irix|os/2|beos|haiku|amiga"
    r"|risc ?os|win(?:32|64|nt|9x)|symbos|nokia|maui|mre/|spreadtrum|up\.browser|mmp/|wap|obigo|dorado|netfront"
    r"|teleca|polaris|dolfin|xiino|opera mini|opera mobi|ucbrowser|ucweb|\biph\d|fban|fbav|fb4a|fbios|vizio"
    r"|sagemcom|nook|kindle|silk/|lephone|samsung|sony|huawei|xiaomi|motorola|docomo|\bwin\d+|crkey|webtv"
    r"|kreatv|omi/|\baft[a-z]|opr/|citrix"
    # A browser engine token: a (perhaps mangled) browser User-Agent.
    r"|applewebkit|gecko/|trident/|presto/|chrome/|firefox/|safari/|opera/"
)
# Template, injection or binary garbage that no browser or app sends.
_GARBAGE = r"\$\{|\{\{|\}\}|<\?|<script|</|\bunion\s+select\b|\bselect\b.+\bfrom\b|\.\./|[\x00-\x1f\x7f]"
# A product/version token ("Chrome/120", "okhttp/4.9.2") or a dotted version
# ("Instagram 298.0.0.31.110"): every browser and app User-Agent has one.
_VERSION = re.compile(r"/\s?v?\d|\d+\.\d+")
_COMPATIBLE_BROWSER = re.compile(r"compatible;\s*(?:msie|konqueror|icab|netfront|opera|mozilla)", re.IGNORECASE)
MIN_LENGTH = 5

# Stripped, on top of Crawler-Detect's own exclusions, before its patterns are
# asked: OkHttp (see the module docstring; it also hits "khttp/"), Chromium's
# network stack (Cronet, in TikTok's and Google's apps) that hits "cron",
# Yandex's apps, and phone and TV-box models ("XBot Junior", "M_bot_tab",
# "Zeus 10 Pro") that hit "bot" and friends: the model is what follows "Android N;".
_EXTRA_EXCLUSIONS = (
    r"\bokhttp(?:/[\d.]+)?",
    r"\bCronet(?:/[\d.]+)?",
    r"com\.yandex\.[\w.]+",
    r"yandexstation\w*",
)


class _Extractors(NamedTuple):
    markers: ua_parser_rs.DeviceExtractor
    platform: ua_parser_rs.DeviceExtractor
    garbage: ua_parser_rs.DeviceExtractor
    crawlers: ua_parser_rs.DeviceExtractor
    crawlers_python: re.Pattern[str] | None  # the few patterns Rust regex can't take (look-arounds)
    exclusions: re.Pattern[str]
    spiders: ua_parser_rs.DeviceExtractor  # ua-parser's spider regexes alone: a cheap "can't be one"
    devices: ua_parser_rs.DeviceExtractor


def _rust_compatible(pattern: str) -> bool:
    try:
        ua_parser_rs.DeviceExtractor([(pattern, "i", "x", None, None)])
    except Exception:  # the binding raises a plain exception with Rust's syntax error
        return False
    return True


def _set(patterns: list[tuple[str, str]]) -> ua_parser_rs.DeviceExtractor:
    """A Rust regex set, case-insensitive; extract() names the first pattern that matches."""
    return ua_parser_rs.DeviceExtractor([(regex, "i", name, None, None) for name, regex in patterns])


@functools.cache
def _extractors() -> _Extractors:
    rust = [p for p in _CRAWLER_PATTERNS if _rust_compatible(p)]
    python_only = [p for p in _CRAWLER_PATTERNS if p not in set(rust)]
    device_matchers = ua_parser.load_lazy_builtins()[2]
    spider_matchers = [m for m in device_matchers if getattr(m, "family", None) == "Spider"]
    return _Extractors(
        markers=_set(list(_MARKERS)),
        platform=_set([("platform", _PLATFORM)]),
        garbage=_set([("garbage", _GARBAGE)]),
        crawlers=_set([("bot", p) for p in rust]),
        crawlers_python=re.compile("|".join(python_only), re.IGNORECASE) if python_only else None,
        exclusions=re.compile("|".join([*_EXCLUSION_PATTERNS, *_EXTRA_EXCLUSIONS]), re.IGNORECASE),
        spiders=ua_parser_rs.DeviceExtractor(
            map(attrgetter("regex", "regex_flag", "family", "brand", "model"), spider_matchers)
        ),
        # The same device regexes, in the same order, as ua_parser.parse: a phone
        # model matched first (e.g. "Cubot") is not a spider.
        devices=ua_parser_rs.DeviceExtractor(
            map(attrgetter("regex", "regex_flag", "family", "brand", "model"), device_matchers)
        ),
    )


def load() -> None:
    """Build the matchers now (≈0.5 s) rather than on the first click."""
    _extractors()


def _crawler_match(ex: _Extractors, agent: str) -> bool:
    return ex.crawlers.extract(agent) is not None or bool(ex.crawlers_python and ex.crawlers_python.search(agent))


def _crawler_detect(ua: str) -> bool:
    """Crawler-Detect's verdict: strip browser tokens (theirs and ours), then look for a crawler pattern."""
    ex = _extractors()
    # Stripping only removes text, so a UA without any match cannot gain one;
    # skipping the strip (≈20 µs) for the common clean case changes nothing.
    if not _crawler_match(ex, ua):
        return False
    agent = ex.exclusions.sub("", ANDROID_MODEL.sub(r"\1", ua))
    return bool(agent.strip()) and _crawler_match(ex, agent)


def _spider(ua: str) -> bool:
    ex = _extractors()
    if ex.spiders.extract(ua) is None:
        return False  # no spider regex matches: the full device parse can't say Spider
    device = ex.devices.extract(ua)
    return device is not None and device.family == "Spider"


def _implausible(ua: str) -> bool:
    ex = _extractors()
    if len(ua) < MIN_LENGTH or ex.garbage.extract(ua) is not None:
        return True
    if ex.platform.extract(ua) is not None:
        # Some apps send just a device ("iPhone13") or a browser UA whose
        # parentheses a proxy stripped ("Mozilla/5.0 Linux; Android 9; ..."):
        # odd, but people.
        return False
    # No device or platform named: "Abcd", "Mozilla/5.0 Keydrop", "Grafana/11.1.0",
    # "Mozilla/5.0 (compatible; Thing/1.0)". Browsers and app SDKs always say
    # what they run on.
    return True


@functools.lru_cache(maxsize=50_000)
def classify_user_agent(ua: str) -> int:
    """Bitmask of libs.quality reason codes for a User-Agent (0 = clean)."""
    ua = ua.strip()[:MAX_LENGTH]
    if not ua:
        return MISSING
    marker = _extractors().markers.extract(ua)
    if marker is not None:
        return quality.BY_CODE[marker.family].mask
    if _crawler_detect(ua) or _spider(ua):
        return BOT
    if _implausible(ua):
        return IMPLAUSIBLE
    return 0


MAX_PATTERN_LENGTH = 256


def validate_user_agent_pattern(pattern: str) -> str:
    """An account's blocked User-Agent entry, normalised (trimmed), or ValueError saying what to fix.

    Entries are case-insensitive substrings, not regexes: "headlesschrome"
    matches "Mozilla/5.0 ... HeadlessChrome/120.0 ...".
    """
    p = pattern.strip()
    if not p:
        raise ValueError("an empty User-Agent pattern would match every click: give a substring to block")
    if len(p) > MAX_PATTERN_LENGTH:
        raise ValueError(f"User-Agent pattern is {len(p)} characters long: at most {MAX_PATTERN_LENGTH}")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in p):
        raise ValueError("User-Agent pattern has control characters (NUL, tab, newline, ...): remove them")
    return p


class UserAgentList:
    """An account's blocked User-Agents: case-insensitive substrings.

    Built once per version of the account's settings; ``matches`` is one
    search of a single compiled regex of the escaped entries, and repeated
    User-Agents are answered from a small per-list cache.
    """

    __slots__ = ("_matches", "_pattern", "patterns")

    def __init__(self, patterns: Iterable[str]) -> None:
        cleaned = sorted({validate_user_agent_pattern(p).lower() for p in patterns}, key=lambda p: (-len(p), p))
        self.patterns: tuple[str, ...] = tuple(cleaned)
        self._pattern = re.compile("|".join(re.escape(p) for p in cleaned)) if cleaned else None
        self._matches = functools.lru_cache(maxsize=4096)(self._search)

    def _search(self, ua: str) -> bool:
        assert self._pattern is not None
        return self._pattern.search(ua[:MAX_LENGTH].lower()) is not None

    def matches(self, ua: str) -> bool:
        if self._pattern is None or not ua:
            return False
        return self._matches(ua)

    def __len__(self) -> int:
        return len(self.patterns)

    def __bool__(self) -> bool:
        return bool(self.patterns)
