"""libs/useragent: device types (no database).

Phones whose model contains "bot" are people, not bots. The UAs are as published in
public User-Agent test lists: Crawler-Detect's exclusions (the `crawlerdetect` package
this project uses: "cubot", "; M bot", "; B bot", ...) and the isbot test list
(XBot Senior / XBot Junior, M bot, B BOT, VR BOT phones noted as "bot" false positives).
"""

from __future__ import annotations

import pytest

from libs.useragent import BOT, MOBILE, TABLET, parse_user_agent

PHONES = [
    "Mozilla/5.0 (Linux; Android 11; CUBOT NOTE 20 PRO) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/140.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 9; CUBOT_X19 Build/PPR1.180610.011) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/100.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 8.1.0; XBot_Senior) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/90.0.4430.82 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 8.1.0; XBot Junior Build/O11019; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Version/4.0 Chrome/65.0.3325.109 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 7.0; M bot 60) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/74.0.3729.157 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 6.0; B BOT 550) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/79.0.3945.93 Mobile Safari/537.36",
]
BOTS = [
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/80.0.3987.122 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36 "
    "(compatible; PetalBot; +https://webmaster.petalsearch.com/site/petalbot)",
]


@pytest.mark.parametrize("ua", PHONES)
def test_phones_with_bot_in_the_model_are_phones(ua: str) -> None:
    agent = parse_user_agent(ua)
    assert agent.device_type in (MOBILE, TABLET)
    assert agent.os == "Android"


@pytest.mark.parametrize("ua", BOTS)
def test_bots_are_still_bots(ua: str) -> None:
    assert parse_user_agent(ua).device_type == BOT
