"""What every PostbackService servicer module shares: the database pool, the
settings, the outbound HTTP client and the links client. The servicer modules
(template_service, delivery_service, catalog_service) are mixins over this;
service.py puts them together."""

from __future__ import annotations

import asyncpg
import grpc
from clicktrail.links.v1 import links_pb2

from libs.clients import CallError, LinksClient, for_account
from libs.config import PostbacksSettings
from libs.errors import Unavailable
from services.postbacks.http import HttpClient


class PostbacksBase:
    def __init__(self, pool: asyncpg.Pool, settings: PostbacksSettings, client: HttpClient, links: LinksClient) -> None:
        self._pool = pool
        self._settings = settings
        self._client = client
        self._links = links  # called as the service, for the caller's account

    async def _partner_exists(self, account_id: str, partner_id: str) -> bool:
        """Asks the links service (partners are its resource)."""
        try:
            await self._links.links.GetPartner(
                links_pb2.GetPartnerRequest(partner_id=partner_id), metadata=for_account(account_id)
            )
        except CallError as err:
            if err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                return False
            raise Unavailable(f"cannot check the partner with the links service: {err.details()}") from None
        return True
