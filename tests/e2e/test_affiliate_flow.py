"""Issue 21 end to end against the suite as `make run` starts it, set up only
with the `clicktrail` CLI and driven over HTTP the way browsers and a network
drive it: a campaign's flow (a safe page for bots, a country stream, a default
stream rotating two landers and two offers) -> the lander -> the lander's click
URL -> the offer with the same click id -> the network's postbacks in its own
parameters (Affise's preset), a reversal, an offer's total cap -> report rows
per stream, lander and offer that add up to the campaign totals; and the
link's QR code (HTTP SVG, CLI PNG)."""

from __future__ import annotations

import asyncio
import datetime as dt
import xml.etree.ElementTree as ET
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.cli.conftest import Cli, cli, cli_env  # noqa: F401 (fixtures: the in-process CLI on a links server)
from tests.e2e.conftest import Suite
from tests.e2e.test_pipeline import _setup_account, eventually, money, shared_suite, suite  # noqa: F401 (fixtures)

pytestmark = pytest.mark.e2e

# Browsers as they send their User-Agent, and Google's ad-landing-page crawler as Google documents it
# (developers.google.com/search/docs/crawling-indexing/google-special-case-crawlers).
PHONES = [
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile "
    "Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
    "Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Mobile "
    "Safari/537.36",
]
ADSBOT = "AdsBot-Google (+http://www.google.com/adsbot.html)"
JAPAN_IP = "126.0.0.1"  # a Japanese consumer address (geoip2fast's data); the visitors' 73.162.x.x are US homes
SAFE_PAGE = "https://safe.example/about"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Phase one keeps sending new visitors until the rotation has shown every lander and offer this often;
# at weights 1:1 a few dozen visitors never fall short in practice, and the figures below are what was sent.
MAX_VISITORS = 40


class Browser:
    """One visitor: its own cookie jar (the flow's cookies come back by themselves) and its address."""

    def __init__(self, gateway_url: str, ip: str, user_agent: str) -> None:
        self.ip = ip
        self.http = httpx.AsyncClient(timeout=10, headers={"User-Agent": user_agent, "X-Forwarded-For": ip})
        self.gateway_url = gateway_url

    async def get(self, url: str) -> httpx.Response:
        # The public URLs the suite prints are the gateway's; fetch their path on it.
        parts = urlsplit(url)
        return await self.http.get(f"{self.gateway_url}{parts.path}?{parts.query}".rstrip("?"))

    async def close(self) -> None:
        await self.http.aclose()


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def count(row: dict[str, Any], field: str) -> int:
    return int(row.get(field, 0))  # JSON leaves zero counts out


def revenue_of(row: dict[str, Any]) -> Decimal:
    return money(row.get("money", []), "revenue")


@pytest.mark.asyncio(loop_scope="module")  # test_pipeline's suite: one per module, in the module's event loop
async def test_streams_lander_offer_postbacks_caps_and_reports(suite: Suite, tmp_path: Path) -> None:  # noqa: F811
    env, account = await _setup_account(suite, "Nutra Media")

    async def clicktrail(*args: object) -> Any:
        return (await suite.cli(*args, "--json", env=env)).json()

    # -- setup, CLI only (independent commands run side by side: each is a process of its own) ---------
    network, source = [
        p["partner_id"]
        for p in await asyncio.gather(
            clicktrail("partner", "create", "--name", "Affise Network"),
            clicktrail("partner", "create", "--name", "Push Traffic"),
        )
    ]
    _format, capped, uncapped, quiz, story, campaign = await asyncio.gather(
        clicktrail("postback-format", "set", network, "--preset", "affise"),
        clicktrail(
            "offer", "create", "--name", "Keto A", "--partner", network,
            "--url", "https://offer-a.example/go?sub1={click_id}&src={sub1}", "--payout-type", "fixed",
            "--payout", "10", "--currency", "USD", "--total-cap", "2", "--cap-action", "next_offer",
        ),
        clicktrail(
            "offer", "create", "--name", "Keto B", "--partner", network, "--url", "https://offer-b.example/aff?o=7",
            "--payout-type", "postback", "--currency", "USD",
        ),
        clicktrail(
            "lander", "create", "--name", "Quiz", "--type", "prelander",
            "--url", "https://lp-quiz.example/q?next={lander_click_url}&h={headline}&c={click_id}",
            "--macro", "headline=Win big",
        ),
        clicktrail("lander", "create", "--name", "Story", "--url", "https://lp-story.example/s?next={lander_click_url}"),
        clicktrail("campaign", "create", "--name", "Keto flow", "--partner", source,
            "--fallback-url", "https://fallback.example/"),
    )  # fmt: skip
    offer_a, offer_b = capped["offer_id"], uncapped["offer_id"]
    offer_host = {offer_a: "offer-a.example", offer_b: "offer-b.example"}
    lander_host = {quiz["lander_id"]: "lp-quiz.example", story["lander_id"]: "lp-story.example"}
    cid = campaign["campaign_id"]
    # The catch-all first, as an operator often starts; the default stream is tried last wherever it sits.
    _published, rotate = await asyncio.gather(
        clicktrail("campaign", "publish", cid),
        clicktrail(
            "stream", "create", "--campaign", cid, "--name", "Default",
            "--lander", f"{quiz['lander_id']}:1", "--lander", f"{story['lander_id']}:1",
            "--offer", f"{offer_a}:1", "--offer", f"{offer_b}:1",
        ),
    )  # fmt: skip
    bots, japan, link, banner = await asyncio.gather(
        clicktrail(
            "stream", "create", "--campaign", cid, "--name", "Bots", "--filter", "verdict=invalid",
            "--action", "safe_page", "--url", SAFE_PAGE, "--position", "1",
        ),
        clicktrail(
            "stream", "create", "--campaign", cid, "--name", "Japan", "--filter", "country=JP",
            "--action", "url", "--url", "https://jp.example/?c={click_id}", "--position", "2",
        ),
        clicktrail("link", "create", "--campaign", cid, "--url", "https://unused.example/"),
        clicktrail("link", "create", "--campaign", cid, "--url", "https://unused.example/", "--name", "Banner"),
    )  # fmt: skip
    assert rotate["is_default"] and not bots["is_default"] and not japan["is_default"]
    click_url = link["click_url"]
    public = "{0.scheme}://{0.netloc}".format(urlsplit(click_url))

    browsers: list[Browser] = []

    def browser(ip: str, ua: str = PHONES[0]) -> Browser:
        browsers.append(Browser(suite.gateway_url, ip, ua))
        return browsers[-1]

    # What the test saw per click id: its lander, and for those that clicked through, its offer.
    lander_of: dict[str, str] = {}
    offer_seen: dict[str, str] = {}
    host_lander = {h: lnd for lnd, h in lander_host.items()}
    host_offer = {h: o for o, h in offer_host.items()}

    async def land(visitor: Browser, url: str = click_url) -> str:
        """A click through the link: the flow sends a browser to a lander carrying its click URL."""
        r = await visitor.get(url)
        assert r.status_code == 302, r.text
        location = r.headers["location"]
        lander = host_lander[urlsplit(location).netloc]
        lander_click = query(location)["next"]
        assert lander_click.startswith(f"{public}/lp/click?click_id="), lander_click
        click_id = query(lander_click)["click_id"]
        # The flow cookies: the click (ctc) and the campaign's choice (ctf_<campaign>).
        assert visitor.http.cookies.get("ctc") == click_id
        assert (visitor.http.cookies.get(f"ctf_{cid}") or "").startswith(f"{rotate['stream_id']}.{lander}.")
        if lander == quiz["lander_id"]:
            assert (query(location)["h"], query(location)["c"]) == ("Win big", click_id)  # the lander's own macro
        lander_of[click_id] = lander
        return click_id

    async def click_through(visitor: Browser, click_id: str, *, by_cookie: bool = False) -> str:
        """The lander's call to action: /lp/click (or, by the ctc cookie, without the click id) -> the offer."""
        r = await visitor.get(f"{public}/lp/click" if by_cookie else f"{public}/lp/click?click_id={click_id}")
        assert r.status_code == 302, r.text
        location = r.headers["location"]
        offer = host_offer[urlsplit(location).netloc]
        # The same click id: in the template's {click_id}, else appended as click_id=.
        assert query(location)["sub1" if offer == offer_a else "click_id"] == click_id, location
        offer_seen[click_id] = offer
        return offer

    try:
        # -- the flow over HTTP ---------------------------------------------------------------------
        # A crawler gets the safe page; a Japanese visitor the country stream's URL.
        r = await browser("73.162.30.1", ADSBOT).get(click_url)
        assert (r.status_code, r.headers["location"]) == (302, SAFE_PAGE)
        r = await browser(JAPAN_IP).get(click_url)
        assert r.status_code == 302 and urlsplit(r.headers["location"]).netloc == "jp.example"

        # The first visitor comes back from another address with its cookies: the same lander and offer.
        first = browser("73.162.20.1")
        first_click = await land(first)
        first.http.headers["X-Forwarded-For"] = first.ip = "73.162.21.1"
        again = await land(first)
        assert again != first_click and lander_of[again] == lander_of[first_click]
        assert await click_through(first, again) == await click_through(first, first_click)

        # New visitors until each lander was shown and each offer taken at least twice. Every other one
        # clicks through by the ctc cookie alone, every third never clicks through (a lander view only).
        n = 1
        while len(set(lander_of.values())) < 2 or min(Counter(offer_seen.values()).get(o, 0) for o in offer_host) < 2:
            n += 1
            assert n <= MAX_VISITORS, (lander_of, offer_seen)
            visitor = browser(f"73.162.20.{n}", PHONES[n % len(PHONES)])
            click_id = await land(visitor)
            if n % 3:
                await click_through(visitor, click_id, by_cookie=n % 2 == 0)
            if n == 2:
                second_click = click_id
        # The second visitor again, its cookies gone, from the same address and browser, on the campaign's
        # other link (the same link again within seconds would be a duplicate click): the same choice.
        returning = browser("73.162.20.2", PHONES[2 % len(PHONES)])
        back = await land(returning, banner["click_url"])
        assert back != second_click and lander_of[back] == lander_of[second_click]
        assert await click_through(returning, back) == offer_seen[second_click]

        # -- the network's postbacks, in Affise's parameters ----------------------------------------
        token = account["postback_token"]
        on_a = [c for c, o in offer_seen.items() if o == offer_a][:2]
        on_b = [c for c, o in offer_seen.items() if o == offer_b][:2]
        postbacks = [  # (click, transactionid, Affise status, sum): 1 approved, 2 pending, 3 declined
            (on_b[0], "TB-1", "1", "4.50"),
            (on_b[1], "TB-2", "2", "3.00"),
            (on_a[0], "TA-1", "1", "99"),  # a fixed payout: 10 whatever the network says
            (on_a[1], "TA-2", "2", "99"),  # reaches the total cap of 2 (pending counts)
        ]
        async with httpx.AsyncClient(timeout=10) as network_http:
            for click_id, txid, status, amount in postbacks:
                r = await network_http.get(
                    f"{suite.gateway_url}/postback",
                    params={"partner": network, "sub1": click_id, "transactionid": txid, "status": status,
                            "sum": amount, "currency": "USD", "token": token},
                )  # fmt: skip
                assert r.status_code == 200, r.text
                assert r.json()["status"] == {"1": "approved", "2": "pending"}[status], r.text
            # A reversal of TB-2 to /postback/<partner id>, the other form of the network in the URL.
            r = await network_http.get(
                f"{suite.gateway_url}/postback/{network}",
                params={"sub1": on_b[1], "transactionid": "TB-2", "status": "3", "token": token},
            )
            assert r.status_code == 200 and r.json()["status"] == "rejected", r.text

        shown_a, shown_b = await asyncio.gather(
            clicktrail("offer", "get", offer_a), clicktrail("offer", "get", offer_b)
        )
        assert shown_a["capped"] and count(shown_a, "conversions_total") == 2, shown_a
        assert not shown_b.get("capped"), shown_b
        # Once the capping postback was answered, no visitor goes to the capped offer any more.
        for m in range(1, 5):
            visitor = browser(f"73.162.22.{m}", PHONES[m % len(PHONES)])
            click_id = await land(visitor)
            assert await click_through(visitor, click_id, by_cookie=m % 2 == 0) == offer_b
        # A postback with no partner in the URL: the click's offer's network (Affise) decides how it reads.
        postbacks.append((click_id, "TB-3", "1", "2.25"))
        async with httpx.AsyncClient(timeout=10) as network_http:
            r = await network_http.get(
                f"{suite.gateway_url}/postback",
                params={"sub1": click_id, "transactionid": "TB-3", "status": "1", "sum": "2.25", "token": token},
            )
        assert r.status_code == 200 and r.json()["status"] == "approved", r.text
    finally:
        for b in browsers:
            await b.close()

    listed_conversions, listed_clicks = await asyncio.gather(
        clicktrail("conversion", "list", "--campaign", cid),
        clicktrail("click", "list", "--campaign", cid, "--limit", "500"),
    )
    conversions = listed_conversions["conversions"]
    by_txid = {c["txid"]: c for c in conversions}
    assert {t: (c["status"], Decimal(c.get("payout", "0"))) for t, c in by_txid.items()} == {
        "TB-1": ("approved", Decimal("4.50")),
        "TB-2": ("rejected", Decimal("3.00")),
        "TA-1": ("approved", Decimal(10)),
        "TA-2": ("pending", Decimal(10)),
        "TB-3": ("approved", Decimal("2.25")),
    }, conversions
    assert all(by_txid[t]["offer_id"] == offer_seen[c] for c, t, _, _ in postbacks)
    assert all(by_txid[t]["lander_id"] == lander_of[c] for c, t, _, _ in postbacks)

    # -- the clicks as recorded, and what the report must say about them --------------------------------
    clicks = listed_clicks["clicks"]
    counted = [c for c in clicks if c.get("verdict") != "invalid"]
    [bot] = [c for c in clicks if c.get("verdict") == "invalid"]
    assert bot.get("stream_id") == bots["stream_id"] and not bot.get("lander_id")
    assert len(counted) == len(lander_of) + 1  # the landed clicks and the Japanese one
    for c in counted:
        assert c.get("lander_id", "") == lander_of.get(c["click_id"], ""), c
        if c["click_id"] in offer_seen:
            assert c["offer_id"] == offer_seen[c["click_id"]], c
    through = set(offer_seen)
    converted = {c: (t, s) for c, t, s, _ in postbacks if t != "TB-2"}
    # Revenue: the approved payouts (TA-2 is pending, TB-2 reversed).
    paid = {"TB-1": Decimal("4.50"), "TA-1": Decimal(10), "TB-3": Decimal("2.25")}
    revenue = sum(paid.values(), Decimal(0))
    today = dt.datetime.now(dt.UTC).date().isoformat()

    async def report(dimension: str) -> dict[str, Any]:
        return dict(await clicktrail("report", "campaigns", "--from", today, "--group-by", dimension,
                              "--filter", f"campaign={cid}"))  # fmt: skip

    async def folded() -> dict[str, Any]:
        [row] = (await report("campaign"))["rows"]
        figures = (count(row, "clicks"), count(row, "lander_views"), count(row, "lander_clicks"))
        assert figures == (len(counted), len(lander_of), len(through)), row
        assert (count(row, "conversions"), revenue_of(row)) == (len(converted), revenue), row
        return row

    total = await eventually(folded)
    assert count(total["click_verdicts"], "invalid") == 1  # the crawler, beside the counted clicks

    def expected(key: str, value: str) -> tuple[int, int, int, int, Decimal]:
        mine = [c for c in counted if c.get(key, "") == value]
        ids = {c["click_id"] for c in mine}
        conv = [t for c, (t, _) in converted.items() if c in ids]
        return (
            len(mine), len([c for c in ids if c in lander_of]), len(ids & through), len(conv),
            sum((paid.get(t, Decimal(0)) for t in conv), Decimal(0)),
        )  # fmt: skip

    def figures(row: dict[str, Any]) -> tuple[int, int, int, int, Decimal]:
        return (
            count(row, "clicks"), count(row, "lander_views"), count(row, "lander_clicks"), count(row, "conversions"),
            revenue_of(row),
        )  # fmt: skip

    png = tmp_path / "link.png"
    grouped = await asyncio.gather(
        report("stream"), report("lander"), report("offer"),
        suite.cli("link", "qr", link["link_id"], "--format", "png", "-o", png, env=env),
    )  # fmt: skip
    for (dimension, key, values), reported in zip(
        (
            ("stream", "stream_id", [bots["stream_id"], japan["stream_id"], rotate["stream_id"]]),
            ("lander", "lander_id", [*lander_host, ""]),
            ("offer", "offer_id", [offer_a, offer_b, ""]),
        ),
        grouped,
        strict=False,
    ):
        rows = {r["dimensions"][dimension]: r for r in reported["rows"]}
        for value in values:
            want = expected(key, value)
            assert figures(rows.get(value, {})) == want, (dimension, value, rows.get(value))
        # The rows add up to the campaign totals.
        sums = [sum(figures(r)[i] for r in rows.values()) for i in range(5)]
        assert tuple(sums) == figures(total), (dimension, rows)
        for value in lander_host if dimension == "lander" else ():
            row = rows[value]
            assert (
                abs(float(row.get("lander_ctr", 0)) - count(row, "lander_clicks") / count(row, "lander_views")) < 1e-9
            )
        for value in (offer_a, offer_b) if dimension == "offer" else ():  # both earned: TA-1; TB-1 and TB-3
            row = rows[value]
            epc = next(Decimal(f["epc"]["amount"]) for f in row["money"] if f["currency_code"] == "USD")
            assert epc == (revenue_of(row) / count(row, "clicks")).quantize(Decimal("0.000001")), row

    # -- QR codes: the public SVG and the CLI's PNG ---------------------------------------------------
    assert link["qr_url"] == f"{public}/qr/{link['slug']}.svg"
    async with httpx.AsyncClient(timeout=10) as http:
        svg = await http.get(f"{suite.gateway_url}/qr/{link['slug']}.svg")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert ET.fromstring(svg.content).tag.endswith("svg")  # noqa: S314 (our own gateway's image)
    assert png.read_bytes().startswith(PNG_SIGNATURE)


async def test_stream_list_shows_the_flow_order_with_the_default_stream_last(cli: Cli) -> None:  # noqa: F811
    """`clicktrail stream list`: "A campaign's streams in the order the flow tries them" — a default stream
    created first (position 0) is still tried last (the test above: the crawler gets the safe page)."""
    partner = (await cli("partner", "create", "--name", "Net", "--json")).json()["partner_id"]
    cid = (await cli("campaign", "create", "--name", "Flow", "--partner", partner, "--json")).json()["campaign_id"]
    offer = (
        await cli("offer", "create", "--name", "O", "--partner", partner, "--url", "https://o.example/", "--json")
    ).json()["offer_id"]
    default = (await cli("stream", "create", "--campaign", cid, "--name", "Rest", "--offer", offer, "--json")).json()
    bots = (
        await cli(
            "stream", "create", "--campaign", cid, "--name", "Bots", "--filter", "verdict=invalid",
            "--action", "safe_page", "--url", SAFE_PAGE, "--json",
        )
    ).json()  # fmt: skip
    listed = (await cli("stream", "list", "--campaign", cid, "--json")).json()["streams"]
    assert [s["stream_id"] for s in listed] == [bots["stream_id"], default["stream_id"]]
