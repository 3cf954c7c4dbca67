"""AffiliateService.CheckDomain: is a host name a registered custom domain (of any
account)? The reverse proxy asks it (through the gateway) before it obtains a
certificate on demand, so only registered domains get one."""

from __future__ import annotations

from typing import Any

from clicktrail.links.v1 import affiliate_pb2 as pb

from libs import auth
from services.links.base import LinksBase

DOMAIN_REGISTERED = "SELECT EXISTS (SELECT 1 FROM links.domains WHERE name = $1)"
MAX_NAME = 253


class DomainCheckRpcs(LinksBase):
    async def CheckDomain(self, request: pb.CheckDomainRequest, context: Any) -> pb.CheckDomainResponse:
        auth.require_gateway()
        name = request.name.strip().lower().rstrip(".")
        if not name or len(name) > MAX_NAME:
            return pb.CheckDomainResponse(registered=False)
        return pb.CheckDomainResponse(registered=bool(await self._pool.fetchval(DOMAIN_REGISTERED, name)))
