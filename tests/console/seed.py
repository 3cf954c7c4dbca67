"""Demo data for the console's page tests and `make screenshots`, made through
the services' public APIs with the account's API key."""

from __future__ import annotations

import dataclasses
import datetime as dt

import grpc
from clicktrail.analytics.v1 import rules_pb2, rules_pb2_grpc
from clicktrail.attribution.v1 import config_pb2 as cpb
from clicktrail.attribution.v1 import config_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc
from clicktrail.postbacks.v1 import postbacks_pb2 as ppb
from clicktrail.postbacks.v1 import postbacks_pb2_grpc
from clicktrail.type.v1 import money_pb2
from google.protobuf import duration_pb2


@dataclasses.dataclass
class World:
    app_id: str
    partner_id: str
    goal_id: str
    campaign_ids: list[str]
    slugs: list[str]
    rule_id: str


async def seed_world(
    links: grpc.aio.Channel, attribution: grpc.aio.Channel, postbacks: grpc.aio.Channel, analytics: grpc.aio.Channel
) -> World:
    """Channels carry the account's API key."""
    ls = links_pb2_grpc.LinksServiceStub(links)
    app = (await ls.CreateApp(lpb.CreateAppRequest(app=lpb.App(
        name="Space Game", platform=lpb.PLATFORM_ANDROID, bundle_id="com.example.space",
        store_url="https://play.google.com/store/apps/details?id=com.example.space",
    )))).app  # fmt: skip
    partner = (await ls.CreatePartner(lpb.CreatePartnerRequest(partner=lpb.Partner(name="AdNet")))).partner
    await ls.CreatePartner(lpb.CreatePartnerRequest(partner=lpb.Partner(name="SocialAds")))
    goal = (await config_pb2_grpc.GoalServiceStub(attribution).CreateGoal(cpb.CreateGoalRequest(
        goal=cpb.Goal(name="purchase", kind=cpb.GOAL_KIND_PURCHASE, event="purchase")))).goal  # fmt: skip
    campaign_ids, slugs = [], []
    for name, status in (("Spring Launch", lpb.CAMPAIGN_STATUS_ACTIVE), ("Retarget Q2", lpb.CAMPAIGN_STATUS_ACTIVE),
                         ("Draft idea", lpb.CAMPAIGN_STATUS_DRAFT)):  # fmt: skip
        c = (await ls.CreateCampaign(lpb.CreateCampaignRequest(campaign=lpb.Campaign(
            name=name, partner_id=partner.partner_id, app_id=app.app_id, type=lpb.CAMPAIGN_TYPE_APP_INSTALL,
            traffic_type=lpb.TRAFFIC_TYPE_SOCIAL, status=status, target_goal_id=goal.goal_id,
            budget=money_pb2.Money(amount="500.00", currency_code="USD"),
        )))).campaign  # fmt: skip
        campaign_ids.append(c.campaign_id)
        link = (await ls.CreateLink(lpb.CreateLinkRequest(link=lpb.Link(
            campaign_id=c.campaign_id, name=f"{name} banner", destination_url="https://shop.example/land?cid={click_id}",
        )))).link  # fmt: skip
        slugs.append(link.slug)
    tariffs = config_pb2_grpc.TariffServiceStub(attribution)
    first = (dt.datetime.now(dt.UTC) - dt.timedelta(days=30)).date().isoformat()
    await tariffs.CreateTariff(cpb.CreateTariffRequest(tariff=cpb.Tariff(
        campaign_id=campaign_ids[0], model=cpb.TARIFF_MODEL_CPC, effective_date=first,
        amount=money_pb2.Money(amount="0.05", currency_code="USD"),
    )))  # fmt: skip
    await postbacks_pb2_grpc.PostbackServiceStub(postbacks).CreateTemplate(ppb.CreateTemplateRequest(
        template=ppb.Template(
            partner_id=partner.partner_id, name="AdNet installs", trigger=ppb.TRIGGER_INSTALL,
            url_template="https://adnet.example/pb?click={partner_click_id}",
        )
    ))  # fmt: skip
    rules = rules_pb2_grpc.RuleServiceStub(analytics)
    rule = (await rules.CreateRule(rules_pb2.CreateRuleRequest(rule=rules_pb2.Rule(
        name="Stop losers", window=duration_pb2.Duration(seconds=86400), campaign_ids=campaign_ids[:2],
        conditions=[rules_pb2.Condition(metric="clicks", comparison=rules_pb2.COMPARISON_GREATER_OR_EQUAL,
                                        value="1000")],
        action=rules_pb2.RuleAction(pause_campaign=rules_pb2.PauseCampaign()), dry_run=True,
    )))).rule  # fmt: skip
    await rules.RunRule(rules_pb2.RunRuleRequest(rule_id=rule.rule_id, dry_run=True))
    return World(app.app_id, partner.partner_id, goal.goal_id, campaign_ids, slugs, rule.rule_id)
