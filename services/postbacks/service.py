"""clicktrail.postbacks.v1.PostbackService: one servicer made of one module per
resource. Every query is scoped by the caller's account."""

from __future__ import annotations

from clicktrail.postbacks.v1 import postbacks_pb2_grpc

from services.postbacks.catalog_service import CatalogRpcs
from services.postbacks.delivery_service import DeliveryRpcs
from services.postbacks.template_service import TemplateRpcs


class PostbackService(TemplateRpcs, DeliveryRpcs, CatalogRpcs, postbacks_pb2_grpc.PostbackServiceServicer):
    """template_service.py, delivery_service.py and catalog_service.py; their
    shared state is base.PostbacksBase."""
