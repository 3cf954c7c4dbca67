"""/c/{slug} with the affiliate options, over HTTP through the real gateway and
links: the link's redirect status, the flow's cookies set and honoured (Set-Cookie
round trip), the request's Host (custom domains) and Accept-Language reaching the
flow, and clicks fetched the way ad platforms and browsers fetch them in the
background (beacons, parallel tracking)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

import grpc
import httpx
import pytest
from clicktrail.links.v1 import affiliate_pb2 as apb
from clicktrail.links.v1 import affiliate_pb2_grpc, links_pb2_grpc
from clicktrail.links.v1 import links_pb2 as pb
from google.protobuf import field_mask_pb2

from tests.conftest import AccountInfo
from tests.gateway.conftest import MakeLink, RunningGateway, Tracked, all_clicks

PHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)"
    " Version/17.1 Mobile/15E148 Safari/604.1"
)
HOME = "73.162.10.20"  # a home connection: a clean click


@pytest.fixture
def affiliate_stub(
    links_server: Any, account: AccountInfo, channels: Callable[..., grpc.aio.Channel]
) -> affiliate_pb2_grpc.AffiliateServiceStub:
    return affiliate_pb2_grpc.AffiliateServiceStub(channels(links_server.addr, token=account.api_key))


@dataclasses.dataclass
class Flow:
    """A tracked link whose campaign has one rotating stream: landers and offers."""

    t: Tracked
    stream_id: str
    landers: list[str]
    offers: list[str]


async def make_flow(
    make_link: MakeLink, affiliate: affiliate_pb2_grpc.AffiliateServiceStub, *, landers: int = 2, offers: int = 2
) -> Flow:
    t = await make_link(fallback_url="https://fallback.example/")
    offer_ids = []
    for i in range(offers):
        offer = apb.Offer(name=f"Offer {i}", partner_id=t.partner_id, url=f"https://offer{i}.example/?c={{click_id}}")
        offer_ids.append((await affiliate.CreateOffer(apb.CreateOfferRequest(offer=offer))).offer.offer_id)
    lander_ids = []
    for i in range(landers):
        lander = apb.Lander(name=f"LP {i}", url=f"https://lp{i}.example/?go={{lander_click_url}}")
        lander_ids.append((await affiliate.CreateLander(apb.CreateLanderRequest(lander=lander))).lander.lander_id)
    stream = apb.Stream(
        campaign_id=t.campaign_id, action=apb.STREAM_ACTION_ROTATE,
        landers=[apb.WeightedLander(lander_id=i, weight=1) for i in lander_ids],
        offers=[apb.WeightedOffer(offer_id=i, weight=1) for i in offer_ids],
    )  # fmt: skip
    created = (await affiliate.CreateStream(apb.CreateStreamRequest(stream=stream))).stream
    return Flow(t, created.stream_id, lander_ids, offer_ids)


def set_cookies(r: httpx.Response) -> dict[str, str]:
    """name -> the whole Set-Cookie line, as the browser gets it."""
    return {line.split("=", 1)[0]: line for line in r.headers.get_list("set-cookie")}


def cookie_attrs(line: str) -> dict[str, str]:
    morsel = next(iter(SimpleCookie(line).values()))
    return {k: str(v) for k, v in morsel.items() if v}


async def set_link(links: links_pb2_grpc.LinksServiceStub, link_id: str, **fields: Any) -> None:
    await links.UpdateLink(pb.UpdateLinkRequest(
        link=pb.Link(link_id=link_id, **fields), update_mask=field_mask_pb2.FieldMask(paths=list(fields)),
    ))  # fmt: skip


# -- redirect status --------------------------------------------------------------


async def test_the_link_redirect_status_is_answered_and_a_fallback_stays_302(
    client: httpx.AsyncClient, make_link: MakeLink, links_stub: links_pb2_grpc.LinksServiceStub
) -> None:
    t = await make_link(fallback_url="https://fallback.example/")
    r = await client.get(f"/c/{t.slug}")
    assert r.status_code == 302  # redirect_status 0: the default
    for status in (301, 307, 302):
        await set_link(links_stub, t.link_id, redirect_status=status)
        r = await client.get(f"/c/{t.slug}")
        assert (r.status_code, urlsplit(r.headers["location"]).netloc) == (status, "shop.example")
    # At max_clicks the link goes to the campaign's fallback: temporary, never a cacheable 301.
    await set_link(links_stub, t.link_id, redirect_status=301, max_clicks=len(await all_clicks(links_stub, t.link_id)))
    r = await client.get(f"/c/{t.slug}")
    assert (r.status_code, r.headers["location"]) == (302, "https://fallback.example/")


# -- the flow's cookies -------------------------------------------------------------


async def test_flow_cookies_are_set_and_sent_back_keep_the_choice(
    proxied_gateway: RunningGateway, make_link: MakeLink, affiliate_stub: affiliate_pb2_grpc.AffiliateServiceStub,
    links_stub: links_pb2_grpc.LinksServiceStub,
) -> None:  # fmt: skip
    flow = await make_flow(make_link, affiliate_stub)
    flow_cookie = f"ctf_{flow.t.campaign_id}"
    async with proxied_gateway.client() as client:
        r = await client.get(f"/c/{flow.t.slug}", headers={"x-forwarded-for": HOME, "user-agent": PHONE})
        assert r.status_code == 302
        cookies = set_cookies(r)
        assert set(cookies) == {flow_cookie, "ctc"}
        for line in cookies.values():
            attrs = cookie_attrs(line)
            assert attrs == {"path": "/", "max-age": "86400", "httponly": "True", "samesite": "Lax"}, line
        click_id = SimpleCookie(cookies["ctc"])["ctc"].value
        assert click_id and click_id in r.headers["location"]
        # A returning visitor from another address: only the cookie can say so. Each forged choice
        # (lander, offer of the stream) is kept, which no random rotation would do three times.
        for lander, offer, ip in ((1, 1, "73.162.10.41"), (0, 1, "73.162.10.42"), (1, 0, "73.162.10.43")):
            choice = f"{flow.stream_id}.{flow.landers[lander]}.{flow.offers[offer]}"
            header = f"_ga=GA1.1.5; broken; {flow_cookie}={choice}; theme=dark"  # other sites' cookies too
            r = await client.get(
                f"/c/{flow.t.slug}", headers={"x-forwarded-for": ip, "user-agent": PHONE, "cookie": header}
            )
            assert urlsplit(r.headers["location"]).netloc == f"lp{lander}.example"
            click = next(c for c in await all_clicks(links_stub, flow.t.link_id) if c.ip == ip)
            assert (click.lander_id, click.offer_id) == (flow.landers[lander], flow.offers[offer])


async def test_cookies_are_secure_over_https_as_a_trusted_proxy_says(
    proxied_gateway: RunningGateway, gateway: RunningGateway, make_link: MakeLink,
    affiliate_stub: affiliate_pb2_grpc.AffiliateServiceStub,
) -> None:  # fmt: skip
    flow = await make_flow(make_link, affiliate_stub, landers=1, offers=1)
    https = {"x-forwarded-proto": "https", "user-agent": PHONE}
    async with proxied_gateway.client() as client:
        r = await client.get(f"/c/{flow.t.slug}", headers={**https, "x-forwarded-for": HOME})
    assert len(r.headers.get_list("set-cookie")) == 2 and all(  # the flow's and the click's (ctc)
        "secure" in cookie_attrs(line) for line in r.headers.get_list("set-cookie")
    )
    async with gateway.client() as client:  # nobody trusted: a client's own X-Forwarded-Proto is not believed
        r = await client.get(f"/c/{flow.t.slug}", headers=https)
    assert r.headers.get_list("set-cookie") and not any(
        "secure" in cookie_attrs(line) for line in r.headers.get_list("set-cookie")
    )


async def test_a_link_without_a_flow_sets_no_cookie(client: httpx.AsyncClient, make_link: MakeLink) -> None:
    t = await make_link()
    r = await client.get(f"/c/{t.slug}", headers={"cookie": "ctc=whatever; ctf_x=y"})
    assert r.status_code == 302 and "set-cookie" not in r.headers


# -- request facts: Host and Accept-Language ----------------------------------------


async def test_accept_language_reaches_the_flow(
    client: httpx.AsyncClient, make_link: MakeLink, affiliate_stub: affiliate_pb2_grpc.AffiliateServiceStub
) -> None:
    flow = await make_flow(make_link, affiliate_stub, landers=0, offers=1)
    german = apb.Stream(
        campaign_id=flow.t.campaign_id, position=0, action=apb.STREAM_ACTION_URL, url="https://de.example/",
        filters=[apb.StreamFilter(field="language", values=["de"])],
    )  # fmt: skip
    await affiliate_stub.CreateStream(apb.CreateStreamRequest(stream=german))
    r = await client.get(f"/c/{flow.t.slug}", headers={"accept-language": "de-DE,de;q=0.9,en;q=0.5"})
    assert r.headers["location"] == "https://de.example/"
    r = await client.get(f"/c/{flow.t.slug}", headers={"accept-language": "en-US,en;q=0.9"})
    assert urlsplit(r.headers["location"]).netloc == "offer0.example"


async def test_host_picks_the_links_of_a_custom_domain(
    gateway: RunningGateway, proxied_gateway: RunningGateway, make_link: MakeLink,
    affiliate_stub: affiliate_pb2_grpc.AffiliateServiceStub, links_stub: links_pb2_grpc.LinksServiceStub,
    new_account: Any, links_server: Any, channels: Callable[..., grpc.aio.Channel],
) -> None:  # fmt: skip
    domain = "track.acme.example"
    await affiliate_stub.CreateDomain(apb.CreateDomainRequest(domain=apb.Domain(name=domain)))
    on_domain = await make_link()
    await set_link(links_stub, on_domain.link_id, domain=domain)
    plain = await make_link()
    other = await new_account("Other Co")  # another account's link, on no domain
    other_links = links_pb2_grpc.LinksServiceStub(channels(links_server.addr, token=other.api_key))
    partner = (await other_links.CreatePartner(pb.CreatePartnerRequest(partner=pb.Partner(name="N")))).partner
    campaign = (await other_links.CreateCampaign(pb.CreateCampaignRequest(campaign=pb.Campaign(
        name="C", partner_id=partner.partner_id, status=pb.CAMPAIGN_STATUS_ACTIVE,
    )))).campaign  # fmt: skip
    foreign = (await other_links.CreateLink(pb.CreateLinkRequest(link=pb.Link(
        campaign_id=campaign.campaign_id, destination_url="https://other.example/",
    )))).link  # fmt: skip
    async with gateway.client() as client:
        on = {"host": "Track.Acme.Example:443"}  # any case, any port: the same host
        assert (await client.get(f"/c/{on_domain.slug}", headers=on)).status_code == 302
        assert (await client.get(f"/c/{on_domain.slug}")).status_code == 404  # only on its domain
        assert (await client.get(f"/c/{plain.slug}")).status_code == 302  # the gateway's own host
        for slug in (plain.slug, foreign.slug):  # the domain serves only its own links
            r = await client.get(f"/c/{slug}", headers=on)
            assert (r.status_code, r.json()) == (404, {"error": "link not found"})
        # X-Forwarded-Host from an untrusted client is not believed.
        assert (await client.get(f"/c/{on_domain.slug}", headers={"x-forwarded-host": domain})).status_code == 404
    async with proxied_gateway.client() as client:  # a trusted proxy's X-Forwarded-Host is
        r = await client.get(f"/c/{on_domain.slug}", headers={"x-forwarded-host": domain})
        assert r.status_code == 302


# -- clicks fetched in the background -----------------------------------------------


async def test_beacon_post_records_the_click_and_answers_303(
    client: httpx.AsyncClient, make_link: MakeLink, links_stub: links_pb2_grpc.LinksServiceStub
) -> None:
    """navigator.sendBeacon(url, data) is a POST (W3C Beacon, w3c.github.io/beacon; MDN
    "Navigator: sendBeacon() method"): a small body, a string sent as
    text/plain;charset=UTF-8, no body without data; credentials included, redirect mode
    "follow" (w3c/beacon#32: beacons bounce through redirect chains), the answer ignored.
    So the click is recorded as for GET and answered with a redirect a follower fetches
    with GET (303), never re-posting the body to the destination."""
    t = await make_link()
    beacon = {"sec-fetch-mode": "no-cors", "sec-fetch-dest": "empty", "sec-fetch-site": "cross-site"}
    r = await client.post(
        f"/c/{t.slug}?sub1=beacon", content=b'{"ev":"click"}',
        headers={**beacon, "content-type": "text/plain;charset=UTF-8"},
    )  # fmt: skip
    assert r.status_code == 303
    location = r.headers["location"]
    assert location.startswith("https://shop.example/land?cid=") and location.endswith("&s1=beacon")
    r = await client.post(f"/c/{t.slug}?sub1=empty", headers=beacon)  # sendBeacon(url): no data, no Content-Type
    assert r.status_code == 303
    clicks = {c.sub1: c for c in await all_clicks(links_stub, t.link_id)}
    assert sorted(clicks) == ["beacon", "empty"]
    assert location == f"https://shop.example/land?cid={clicks['beacon'].click_id}&s1=beacon"


async def test_a_beacon_body_over_64_kib_is_refused_and_not_recorded(
    client: httpx.AsyncClient, make_link: MakeLink, links_stub: links_pb2_grpc.LinksServiceStub
) -> None:
    """The Beacon spec caps what a page may queue (the Fetch keepalive quota, 64 KiB):
    more is no beacon."""
    t = await make_link()
    r = await client.post(f"/c/{t.slug}", content=b"x" * (64 * 1024 + 1), headers={"content-type": "text/plain"})
    assert r.status_code == 413 and "64" in r.json()["error"]
    assert await all_clicks(links_stub, t.link_id) == []
    r = await client.put(f"/c/{t.slug}")
    assert (r.status_code, r.headers["allow"]) == (405, "GET, HEAD, POST")


async def test_parallel_tracking_background_get_is_redirected_and_recorded_clean(
    proxied_gateway: RunningGateway, make_link: MakeLink, links_stub: links_pb2_grpc.LinksServiceStub
) -> None:
    """Parallel tracking (Google: support.google.com/css-center/answer/9133743 and the AdWords
    API guide developers.google.com/adwords/api/docs/guides/click-tracking; Microsoft
    Advertising: help.ads.microsoft.com/apex/index/3/en/56918) sends the visitor
    to the final URL and loads the tracking URL in the background (sendBeacon / a fetch
    that follows server-side 3xx redirects only, over HTTPS, {lpurl} in the template).
    Such a request carries Fetch Metadata (Sec-Fetch-Mode: no-cors, Sec-Fetch-Dest: empty)
    but no prefetch hint: it is a real click, redirected as usual and recorded clean."""
    t = await make_link()
    background = {
        "x-forwarded-for": HOME, "user-agent": PHONE, "sec-fetch-mode": "no-cors", "sec-fetch-dest": "empty",
        "sec-fetch-site": "cross-site", "referer": "https://www.google.com/",
    }  # fmt: skip
    async with proxied_gateway.client() as client:
        r = await client.get(f"/c/{t.slug}?gclid=abc&sub1=kw", headers=background)
    assert r.status_code == 302 and r.headers["location"].startswith("https://shop.example/land?cid=")
    (click,) = await all_clicks(links_stub, t.link_id)
    assert (click.ip, click.sub1, list(click.reasons)) == (HOME, "kw", [])
