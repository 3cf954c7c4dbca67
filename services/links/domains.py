"""AffiliateService: the account's custom tracking domains (one account per name)."""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from clicktrail.links.v1 import affiliate_pb2 as apb

from libs import auth
from libs.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, Validator
from services.links import affiliate_store as astore
from services.links.affiliate_messages import domain_msg
from services.links.affiliate_rules import HOST_LABEL
from services.links.affiliate_store import clear_flows
from services.links.base import LinksBase
from services.links.rules import check_plain_url

MAX_DOMAIN = 253


def normalise_domain(name: str) -> str:
    """A tracking domain's host name as stored: lower case, no trailing dot, IDN
    labels in their xn-- form; ValueError for ports, paths, IP addresses,
    wildcards, single labels and names over 253 characters."""
    text = name.strip().rstrip(".").lower()
    if not text:
        raise ValueError("is required")
    if any(c in text for c in ":/?#@\\ *"):
        raise ValueError(f"{name[:80]!r} must be a bare host name like track.example.com (no scheme, port, path or *)")
    try:
        ipaddress.ip_address(text)
    except ValueError:
        pass
    else:
        raise ValueError(f"{name!r} is an IP address; a tracking domain is a host name")
    try:
        text = text.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"{name[:80]!r} is not a valid host name") from None
    labels = text.split(".")
    if len(labels) < 2:
        raise ValueError(f"{name[:80]!r} has no dot: use a full host name like track.example.com")
    if len(text) > MAX_DOMAIN or not all(HOST_LABEL.match(label) and "_" not in label for label in labels):
        raise ValueError(f"{name[:80]!r} is not a valid host name")
    if labels[-1].isdigit():
        raise ValueError(f"{name[:80]!r} is not a valid host name (numeric top-level label)")
    return text


def _name_or_not_found(name: str) -> str:
    """A Get / Delete of a name that cannot be a domain finds nothing."""
    try:
        return normalise_domain(name)
    except ValueError:
        raise NotFound(f"domain {name[:80]!r} not found") from None


class DomainRpcs(LinksBase):
    def _domains_changed(self) -> None:
        clear_flows(self)
        self.cache.clear()  # links resolve with the account's domains

    async def CreateDomain(self, request: apb.CreateDomainRequest, context: Any) -> apb.CreateDomainResponse:
        account_id = auth.require_account()
        d = request.domain
        v = Validator()
        name = ""
        try:
            name = normalise_domain(d.name)
        except ValueError as e:
            v.add("domain.name", str(e))
        # The tracker's own host serves every account's links: no account may take it over.
        v.check(
            not name or (name != urlsplit(self._public_url).hostname and name not in (self.own_hosts or ())),
            "domain.name",
            f"{name} is one of the tracker's own hosts (CLICKTRAIL_PUBLIC_URL, CLICKTRAIL_TRACKER_HOSTS)",
        )
        check_plain_url(v, "domain.root_url", d.root_url)
        v.raise_if_any()
        try:
            row = await self._pool.fetchrow(astore.INSERT_DOMAIN, account_id, name, d.root_url)
        except asyncpg.UniqueViolationError:
            # Whose it is stays private: another account's name answers the same as ours.
            raise AlreadyExists(f"domain {name} is already registered") from None
        self._domains_changed()
        return apb.CreateDomainResponse(domain=domain_msg(row))

    async def GetDomain(self, request: apb.GetDomainRequest, context: Any) -> apb.GetDomainResponse:
        account_id = auth.require_account()
        row = await self._get(astore.GET_DOMAIN, "domain", account_id, _name_or_not_found(request.name))
        return apb.GetDomainResponse(domain=domain_msg(row))

    async def ListDomains(self, request: apb.ListDomainsRequest, context: Any) -> apb.ListDomainsResponse:
        account_id = auth.require_account()
        rows, token = await self._page_after(request, astore.LIST_DOMAINS, "name", account_id)
        return apb.ListDomainsResponse(domains=[domain_msg(r) for r in rows], next_page_token=token)

    async def DeleteDomain(self, request: apb.DeleteDomainRequest, context: Any) -> apb.DeleteDomainResponse:
        account_id = auth.require_account()
        if not request.name:
            raise InvalidArgument("name", "is required")
        name = _name_or_not_found(request.name)
        async with self._pool.acquire() as conn, conn.transaction():
            if await conn.fetchval(astore.LOCK_DOMAIN, account_id, name) is None:
                raise NotFound(f"domain {name!r} not found")
            link_id = await conn.fetchval(astore.LINK_ON_DOMAIN, account_id, name)
            if link_id is not None:
                raise FailedPrecondition(
                    f"domain {name} serves link {link_id}: move its links to another domain (or none) first"
                )
            await conn.execute(astore.DELETE_DOMAIN, account_id, name)
        self._domains_changed()
        return apb.DeleteDomainResponse()
