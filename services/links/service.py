"""clicktrail.links.v1.LinksService and AffiliateService: one servicer object
made of one module per resource (both services registered on it, so the
affiliate writes clear the click path's caches in this process). Every query
is scoped by the caller's account."""

from __future__ import annotations

from clicktrail.links.v1 import affiliate_pb2_grpc, links_pb2_grpc

from services.links.apps import AppRpcs
from services.links.campaigns import CampaignRpcs
from services.links.deep_links import DeepLinkRpcs
from services.links.domain_check import DomainCheckRpcs
from services.links.domains import DomainRpcs
from services.links.lander_clicks import LanderClickRpcs
from services.links.landers import LanderRpcs
from services.links.offer_caps import OfferCapRpcs
from services.links.offers import OfferRpcs
from services.links.partners import PartnerRpcs
from services.links.qr_codes import QrRpcs
from services.links.quality_api import QualityRpcs
from services.links.streams import StreamRpcs
from services.links.sub_id_lists import SubIdListRpcs
from services.links.touch_service import TouchRpcs
from services.links.tracking_links import LinkRpcs


class LinksService(
    AppRpcs,
    PartnerRpcs,
    CampaignRpcs,
    LinkRpcs,
    SubIdListRpcs,
    TouchRpcs,
    QualityRpcs,
    OfferRpcs,
    LanderRpcs,
    StreamRpcs,
    DomainRpcs,
    DomainCheckRpcs,
    LanderClickRpcs,
    OfferCapRpcs,
    QrRpcs,
    DeepLinkRpcs,
    links_pb2_grpc.LinksServiceServicer,
    affiliate_pb2_grpc.AffiliateServiceServicer,
):
    """apps.py, partners.py, campaigns.py, tracking_links.py, sub_id_lists.py,
    touch_service.py and quality_api.py (LinksService); offers.py, landers.py,
    streams.py, domains.py, lander_clicks.py, offer_caps.py and qr_codes.py
    (AffiliateService); their shared state is base.LinksBase."""
