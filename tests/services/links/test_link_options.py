"""Link options (custom domain, expiry, click limit, redirect status) and the
campaign's visitor window: stored, answered, validated naming the field."""

import datetime as dt
from urllib.parse import urlsplit

from clicktrail.links.v1 import affiliate_pb2 as apb
from clicktrail.links.v1 import links_pb2 as pb
from google.protobuf import duration_pb2, timestamp_pb2

from tests.services.links import test_offers as shared
from tests.services.links.test_offers import invalid, mask

world = shared.world  # the fixture


def ts(when):
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(when)
    return out


async def create_link(w, **kw):
    link = pb.Link(campaign_id=w.campaign.campaign_id, destination_url="https://a.example/?c={click_id}", **kw)
    return (await w.links.CreateLink(pb.CreateLinkRequest(link=link))).link


async def test_link_options_round_trip_and_urls_on_the_domain(world, settings):
    await world.affiliate.CreateDomain(apb.CreateDomainRequest(domain=apb.Domain(name="go.acme.example")))
    scheme = urlsplit(settings.public_url).scheme
    expire = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=3)
    link = await create_link(
        world, domain="GO.acme.example", expire_time=ts(expire), max_clicks=100, redirect_status=307
    )
    assert (link.domain, link.max_clicks, link.redirect_status) == ("go.acme.example", 100, 307)
    assert link.expire_time.ToDatetime(tzinfo=dt.UTC) == expire
    assert link.click_url == f"{scheme}://go.acme.example/c/{link.slug}"
    assert link.impression_url == f"{scheme}://go.acme.example/i/{link.slug}"
    assert link.qr_url == f"{scheme}://go.acme.example/qr/{link.slug}.svg"
    assert (await world.links.GetLink(pb.GetLinkRequest(link_id=link.link_id))).link == link
    # Off the domain, without expiry or limit: back on the public URL.
    plain = (
        await world.links.UpdateLink(
            pb.UpdateLinkRequest(
                link=pb.Link(link_id=link.link_id, redirect_status=301),
                update_mask=mask("domain", "expire_time", "max_clicks", "redirect_status"),
            )
        )
    ).link
    public = settings.public_url.rstrip("/")
    assert (plain.domain, plain.max_clicks, plain.redirect_status, plain.HasField("expire_time")) == ("", 0, 301, False)
    assert (plain.click_url, plain.qr_url) == (f"{public}/c/{link.slug}", f"{public}/qr/{link.slug}.svg")
    # An update may set a past expiry (expire it now); a new link may not.
    past = ts(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    expired = (
        await world.links.UpdateLink(
            pb.UpdateLinkRequest(link=pb.Link(link_id=link.link_id, expire_time=past), update_mask=mask("expire_time"))
        )
    ).link
    assert expired.expire_time == past


async def test_default_link_has_no_options(world, settings):
    link = await create_link(world)
    assert (link.domain, link.max_clicks, link.redirect_status, link.HasField("expire_time")) == ("", 0, 0, False)
    assert link.qr_url == f"{settings.public_url.rstrip('/')}/qr/{link.slug}.svg"


async def test_bad_link_options_name_the_field(world):
    past = ts(dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    v = await invalid(
        world.links.CreateLink,
        pb.CreateLinkRequest(
            link=pb.Link(
                campaign_id=world.campaign.campaign_id,
                destination_url="https://a.example/",
                domain="unknown.example.com",
                expire_time=past,
                max_clicks=-1,
                redirect_status=303,
            )
        ),
    )
    assert set(v) == {"link.domain", "link.expire_time", "link.max_clicks", "link.redirect_status"}
    link = await create_link(world)
    v = await invalid(
        world.links.UpdateLink,
        pb.UpdateLinkRequest(
            link=pb.Link(link_id=link.link_id, domain="bad domain", max_clicks=-5, redirect_status=200),
            update_mask=mask("domain", "max_clicks", "redirect_status"),
        ),
    )
    assert set(v) == {"link.domain", "link.max_clicks", "link.redirect_status"}


async def test_campaign_visitor_window(world):
    assert world.campaign.visitor_window.seconds == 86400
    made = (
        await world.links.CreateCampaign(
            pb.CreateCampaignRequest(
                campaign=pb.Campaign(
                    name="Short", partner_id=world.partner.partner_id, visitor_window=duration_pb2.Duration(seconds=600)
                )
            )
        )
    ).campaign
    assert made.visitor_window.seconds == 600
    updated = (
        await world.links.UpdateCampaign(
            pb.UpdateCampaignRequest(
                campaign=pb.Campaign(campaign_id=made.campaign_id, visitor_window=duration_pb2.Duration(seconds=7200))
            )
        )
    ).campaign
    assert updated.visitor_window.seconds == 7200
    got = (await world.links.GetCampaign(pb.GetCampaignRequest(campaign_id=made.campaign_id))).campaign
    assert got.visitor_window.seconds == 7200
    reset = (
        await world.links.UpdateCampaign(
            pb.UpdateCampaignRequest(
                campaign=pb.Campaign(campaign_id=made.campaign_id), update_mask=mask("visitor_window")
            )
        )
    ).campaign
    assert reset.visitor_window.seconds == 86400
    for seconds in (59, 90 * 86400 + 1):
        window = duration_pb2.Duration(seconds=seconds)
        v = await invalid(
            world.links.CreateCampaign,
            pb.CreateCampaignRequest(
                campaign=pb.Campaign(name="x", partner_id=world.partner.partner_id, visitor_window=window)
            ),
        )
        assert set(v) == {"campaign.visitor_window"}
        v = await invalid(
            world.links.UpdateCampaign,
            pb.UpdateCampaignRequest(campaign=pb.Campaign(campaign_id=made.campaign_id, visitor_window=window)),
        )
        assert set(v) == {"campaign.visitor_window"}
