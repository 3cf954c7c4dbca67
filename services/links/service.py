"""clicktrail.links.v1.LinksService: one servicer made of one module per resource.
Every query is scoped by the caller's account."""

from __future__ import annotations

from clicktrail.links.v1 import links_pb2_grpc

from services.links.apps import AppRpcs
from services.links.campaigns import CampaignRpcs
from services.links.partners import PartnerRpcs
from services.links.quality_api import QualityRpcs
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
    links_pb2_grpc.LinksServiceServicer,
):
    """apps.py, partners.py, campaigns.py, tracking_links.py, sub_id_lists.py,
    touch_service.py and quality_api.py; their shared state is base.LinksBase."""
