"""Typed clients of the Clicktrail services and the one error of a failed call.

from libs.clients import LinksClient, CallError, for_account

links = LinksClient.internal(settings, channels=2)          # as a service
try:
    resp = await links.links.GetCampaign(req, metadata=for_account(account_id))
except CallError as err:                                     # err.code(), .message, .violations
    ...
"""

from libs.clients.affiliate import AffiliateClient
from libs.clients.base import ServiceClient, credentials, for_account
from libs.clients.errors import (
    DEFAULT_HTTP_STATUS,
    HTTP_STATUS,
    CallError,
    call_error,
    field_violations,
    http_status,
)
from libs.clients.services import (
    CLIENTS,
    AccountsClient,
    AnalyticsClient,
    AttributionClient,
    IngestClient,
    LinksClient,
    PostbacksClient,
)

__all__ = [
    "CLIENTS",
    "DEFAULT_HTTP_STATUS",
    "HTTP_STATUS",
    "AccountsClient",
    "AffiliateClient",
    "AnalyticsClient",
    "AttributionClient",
    "CallError",
    "IngestClient",
    "LinksClient",
    "PostbacksClient",
    "ServiceClient",
    "call_error",
    "credentials",
    "field_violations",
    "for_account",
    "http_status",
]
