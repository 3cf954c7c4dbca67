"""One typed client per service: its generated stubs as typed attributes, on
channels round robin. Calls raise ``CallError``."""

from __future__ import annotations

from clicktrail.accounts.v1 import accounts_pb2_grpc
from clicktrail.analytics.v1 import metrics_pb2_grpc, reports_pb2_grpc, rules_pb2_grpc
from clicktrail.attribution.v1 import attribution_pb2_grpc, config_pb2_grpc
from clicktrail.ingest.v1 import ingest_pb2_grpc
from clicktrail.links.v1 import links_pb2_grpc
from clicktrail.postbacks.v1 import postbacks_pb2_grpc
from clicktrail.privacy.v1 import privacy_pb2_grpc

from libs.clients.base import ServiceClient


class _Erasable(ServiceClient):
    @property
    def privacy(self) -> privacy_pb2_grpc.PrivacyServiceStub:
        """Every service serves the privacy (erasure) service."""
        return self.stub(privacy_pb2_grpc.PrivacyServiceStub)


class LinksClient(_Erasable):
    """The links service (apps, partners, campaigns, links, sub-id lists, touches,
    traffic quality). ``client.links.GetCampaign(req)``."""

    service = "links"

    @property
    def links(self) -> links_pb2_grpc.LinksServiceStub:
        return self.stub(links_pb2_grpc.LinksServiceStub)


class AccountsClient(_Erasable):
    """The account service (served by the links process). ``client.accounts.GetAccount(req)``."""

    service = "accounts"

    @property
    def accounts(self) -> accounts_pb2_grpc.AccountServiceStub:
        return self.stub(accounts_pb2_grpc.AccountServiceStub)


class IngestClient(_Erasable):
    service = "ingest"

    @property
    def ingest(self) -> ingest_pb2_grpc.IngestServiceStub:
        return self.stub(ingest_pb2_grpc.IngestServiceStub)


class AttributionClient(_Erasable):
    service = "attribution"

    @property
    def attribution(self) -> attribution_pb2_grpc.AttributionServiceStub:
        return self.stub(attribution_pb2_grpc.AttributionServiceStub)

    @property
    def goals(self) -> config_pb2_grpc.GoalServiceStub:
        return self.stub(config_pb2_grpc.GoalServiceStub)

    @property
    def attribution_settings(self) -> config_pb2_grpc.AttributionSettingsServiceStub:
        return self.stub(config_pb2_grpc.AttributionSettingsServiceStub)

    @property
    def tariffs(self) -> config_pb2_grpc.TariffServiceStub:
        return self.stub(config_pb2_grpc.TariffServiceStub)

    @property
    def corrections(self) -> config_pb2_grpc.CorrectionServiceStub:
        return self.stub(config_pb2_grpc.CorrectionServiceStub)

    @property
    def quality(self) -> config_pb2_grpc.AttributionQualityServiceStub:
        return self.stub(config_pb2_grpc.AttributionQualityServiceStub)


class PostbacksClient(_Erasable):
    service = "postbacks"

    @property
    def postbacks(self) -> postbacks_pb2_grpc.PostbackServiceStub:
        return self.stub(postbacks_pb2_grpc.PostbackServiceStub)


class AnalyticsClient(_Erasable):
    service = "analytics"

    @property
    def reports(self) -> reports_pb2_grpc.ReportServiceStub:
        return self.stub(reports_pb2_grpc.ReportServiceStub)

    @property
    def metrics(self) -> metrics_pb2_grpc.MetricsServiceStub:
        return self.stub(metrics_pb2_grpc.MetricsServiceStub)

    @property
    def rules(self) -> rules_pb2_grpc.RuleServiceStub:
        return self.stub(rules_pb2_grpc.RuleServiceStub)


# Service name (as in settings.addr_of / CLICKTRAIL_<SERVICE>_ADDR) -> its client.
CLIENTS: dict[str, type[ServiceClient]] = {
    c.service: c
    for c in (LinksClient, AccountsClient, IngestClient, AttributionClient, PostbacksClient, AnalyticsClient)
}
