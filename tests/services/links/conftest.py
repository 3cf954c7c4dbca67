import dataclasses

import pytest
from clicktrail.links.v1 import links_pb2 as pb

ANDROID_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36"
)
IPHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)"
    " Version/17.1 Mobile/15E148 Safari/604.1"
)
DESKTOP_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
)


@dataclasses.dataclass
class Setup:
    app: pb.App
    partner: pb.Partner
    campaign: pb.Campaign
    link: pb.Link


async def make_setup(stub, destination="https://play.example/store?id=com.acme&cid={click_id}&s1={sub1}", **link_kw):
    app = (
        await stub.CreateApp(
            pb.CreateAppRequest(app=pb.App(name="Game", platform=pb.PLATFORM_ANDROID, bundle_id="com.acme.game"))
        )
    ).app
    partner = (await stub.CreatePartner(pb.CreatePartnerRequest(partner=pb.Partner(name="AdNet")))).partner
    campaign = (
        await stub.CreateCampaign(
            pb.CreateCampaignRequest(
                campaign=pb.Campaign(
                    name="Spring",
                    app_id=app.app_id,
                    partner_id=partner.partner_id,
                    fallback_url="https://acme.example/fallback",
                )
            )
        )
    ).campaign
    link = (
        await stub.CreateLink(
            pb.CreateLinkRequest(link=pb.Link(campaign_id=campaign.campaign_id, destination_url=destination, **link_kw))
        )
    ).link
    return Setup(app, partner, campaign, link)


@pytest.fixture
async def setup(links_stub):
    return await make_setup(links_stub)
