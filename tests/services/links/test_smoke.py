from clicktrail.links.v1 import links_pb2 as pb


async def test_create_campaign_link_and_record_click(links_stub, internal_links_stub):
    app = (await links_stub.CreateApp(pb.CreateAppRequest(app=pb.App(name="Game", platform=pb.PLATFORM_ANDROID, bundle_id="com.acme.game")))).app
    partner = (await links_stub.CreatePartner(pb.CreatePartnerRequest(partner=pb.Partner(name="AdNet")))).partner
    camp = (await links_stub.CreateCampaign(pb.CreateCampaignRequest(campaign=pb.Campaign(name="C1", app_id=app.app_id, partner_id=partner.partner_id)))).campaign
    link = (await links_stub.CreateLink(pb.CreateLinkRequest(link=pb.Link(campaign_id=camp.campaign_id, destination_url="https://play.example/{click_id}?s={sub1}")))).link
    res = await internal_links_stub.RecordClicks(pb.RecordClicksRequest(clicks=[pb.TouchInput(slug=link.slug, raw_query=b"sub1=hello", ip="8.8.8.8", user_agent="Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36")]))
    r = res.results[0]
    assert r.outcome == pb.TOUCH_OUTCOME_RECORDED
    assert r.location == f"https://play.example/{r.touch_id}?s=hello"
    clicks = (await links_stub.ListClicks(pb.ListClicksRequest(campaign_id=camp.campaign_id))).clicks
    assert [c.click_id for c in clicks] == [r.touch_id]
    assert clicks[0].country == "US" and clicks[0].os == "Android" and clicks[0].sub1 == "hello"
