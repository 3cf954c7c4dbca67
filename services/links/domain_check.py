"""AffiliateService.CheckDomain: is a host name a registered custom domain (of any
account), and where does its root go? The reverse proxy asks it (through the
gateway) before it obtains a certificate on demand, so only registered domains
get one; the gateway answers `/` on a custom domain with its root_url."""

from __future__ import annotations

from typing import Any

from clicktrail.links.v1 import affiliate_pb2 as pb

from libs import auth
from services.links.base import LinksBase

DOMAIN_ROOT = "SELECT root_url FROM links.domains WHERE name = $1"
MAX_NAME = 253


class DomainCheckRpcs(LinksBase):
    async def CheckDomain(self, request: pb.CheckDomainRequest, context: Any) -> pb.CheckDomainResponse:
        auth.require_gateway()
        name = request.name.strip().lower().rstrip(".")
        if not name or len(name) > MAX_NAME:
            return pb.CheckDomainResponse(registered=False)
        root_url = await self._pool.fetchval(DOMAIN_ROOT, name)
        return pb.CheckDomainResponse(registered=root_url is not None, root_url=root_url or "")
