"""The links process's AffiliateService (offers, landers, streams, domains, QR
codes, lander click-throughs, offer cap counts) as a typed client, on the
same channels-and-stubs base as the other clients. Calls raise ``CallError``."""

from __future__ import annotations

from clicktrail.links.v1 import affiliate_pb2_grpc

from libs.clients.services import LinksClient


class AffiliateClient(LinksClient):
    """``client.affiliate.ListOffers(req)``. AffiliateService is served by the
    links process (service "links": its address, CLICKTRAIL_LINKS_ADDR), so the
    client is a LinksClient too: ``client.links`` reaches the same process."""

    @property
    def affiliate(self) -> affiliate_pb2_grpc.AffiliateServiceStub:
        return self.stub(affiliate_pb2_grpc.AffiliateServiceStub)
