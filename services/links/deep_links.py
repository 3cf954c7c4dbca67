"""LinksService: deep links. GetAssociatedApps (the apps a tracking host serves
association files for: apple-app-site-association, assetlinks.json) and
ClaimDeferredDeepLink (the app's first launch gets the deep link of the click
that led to the install, by click id or by IP + User-Agent fingerprint inside a
short window, once per click: a claim row, unique per click)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import unquote

from clicktrail.links.v1 import links_pb2 as pb

from libs import auth
from libs.errors import InvalidArgument, NotFound, PermissionDenied, Unauthenticated
from libs.ids import id_time, is_valid_id
from libs.macros import expand
from services.links.base import LinksBase
from services.links.flow import click_values
from services.links.messages import app_msg

NO_DEEP_LINK = "no deferred deep link"
MAX_HOST = 253
MAX_ASSOCIATED_APPS = 100
ONE_MS = dt.timedelta(milliseconds=1)
# The fingerprint look-up's upper bound (prunes the day partitions made ahead; replicas' clocks differ a little).
CLOCK_SKEW = dt.timedelta(minutes=1)

DOMAIN_ACCOUNT = "SELECT account_id FROM links.domains WHERE name = $1"
# The apps an account's association files name: iOS ones need a team id and a bundle id,
# Android ones a package name (bundle_id) and at least one signing fingerprint.
ASSOCIATED_APPS = (
    "SELECT * FROM links.apps WHERE account_id = $1 AND bundle_id <> ''"
    " AND (apple_team_id <> '' OR cardinality(android_sha256_fingerprints) > 0)"
    f" ORDER BY app_id LIMIT {MAX_ASSOCIATED_APPS}"
)
APP_OF_ACCOUNT = "SELECT 1 FROM links.apps WHERE account_id = $1 AND app_id = $2"
_CLICK_COLS = "c.*, l.deep_link"
_CLICK_JOIN = "FROM links.clicks c JOIN links.links l ON l.account_id = c.account_id AND l.link_id = c.link_id"
# $3/$4: the click id's millisecond (prunes to one day partition).
CLICK_BY_ID = (
    f"SELECT {_CLICK_COLS} {_CLICK_JOIN} WHERE c.account_id = $1 AND c.click_id = $2"
    " AND c.create_time >= $3 AND c.create_time < $4"
)
# The newest click of the app's links from this address + User-Agent inside the window
# ($3..$6; index clicks_ip): its link must then have a deep link.
NEWEST_CLICK_BY_FINGERPRINT = (
    f"SELECT {_CLICK_COLS} {_CLICK_JOIN} WHERE c.account_id = $1 AND c.ip = $2::inet AND c.create_time >= $3"
    " AND c.create_time < $6 AND c.user_agent = $4 AND c.app_id = $5 ORDER BY c.create_time DESC LIMIT 1"
)
INSERT_CLAIM = (
    "INSERT INTO links.deep_link_claims (account_id, click_id, app_id, link_id, match) VALUES ($1, $2, $3, $4, $5)"
    " ON CONFLICT (account_id, click_id) DO NOTHING RETURNING click_id"
)


def _peer_address(peer: str) -> str:
    """The address of a gRPC peer (``ipv4:1.2.3.4:5678``, ``ipv6:[::1]:5678``); "" for others."""
    kind, _, rest = peer.partition(":")
    if kind not in ("ipv4", "ipv6"):
        return ""
    host = rest.rsplit(":", 1)[0]
    return unquote(host[1:-1] if host.startswith("[") else host)


class DeepLinkRpcs(LinksBase):
    async def GetAssociatedApps(
        self, request: pb.GetAssociatedAppsRequest, context: Any
    ) -> pb.GetAssociatedAppsResponse:
        auth.require_gateway()
        host = request.host.strip().lower().rstrip(".")
        if not host or len(host) > MAX_HOST:
            return pb.GetAssociatedAppsResponse()
        account_id = await self._pool.fetchval(DOMAIN_ACCOUNT, host)
        if account_id is None:
            own = self.own_hosts
            if (own is None or host in own) and self._association_account:
                account_id = self._association_account
        if account_id is None:
            return pb.GetAssociatedAppsResponse()
        rows = await self._pool.fetch(ASSOCIATED_APPS, account_id)
        return pb.GetAssociatedAppsResponse(account_id=account_id, apps=[app_msg(r) for r in rows])

    async def ClaimDeferredDeepLink(
        self, request: pb.ClaimDeferredDeepLinkRequest, context: Any
    ) -> pb.ClaimDeferredDeepLinkResponse:
        account_id, app_id = await self._asking_app(request.app_id.strip())
        click_id = request.click_id.strip()
        if click_id:
            if not is_valid_id(click_id):
                raise InvalidArgument("click_id", f"is not a Clicktrail click id: {click_id[:64]!r}")
            t = id_time(click_id)
            row = await self._pool.fetchrow(CLICK_BY_ID, account_id, click_id, t, t + ONE_MS)
            match = pb.DEEP_LINK_MATCH_CLICK_ID
        else:
            ip, ua = self._client(request, context)
            if not ip or not ua:
                raise InvalidArgument(
                    "click_id", "is required when the client address or User-Agent is unknown (no fingerprint)"
                )
            now = dt.datetime.now(dt.UTC)
            since, until = now - dt.timedelta(seconds=self._deep_link_window_s), now + CLOCK_SKEW
            try:
                row = await self._pool.fetchrow(NEWEST_CLICK_BY_FINGERPRINT, account_id, ip, since, ua, app_id, until)
            except ValueError:  # not an address asyncpg can send as inet
                row = None
            match = pb.DEEP_LINK_MATCH_FINGERPRINT
        if row is None or row["app_id"] != app_id or not row["deep_link"]:
            raise NotFound(NO_DEEP_LINK)
        claimed = await self._pool.fetchval(INSERT_CLAIM, account_id, row["click_id"], app_id, row["link_id"], match)
        if claimed is None:  # handed out before: once per click
            raise NotFound(NO_DEEP_LINK)
        return pb.ClaimDeferredDeepLinkResponse(
            deep_link=expand(row["deep_link"], click_values(row)), click_id=row["click_id"],
            link_id=row["link_id"], match=match, campaign_id=row["campaign_id"],
        )  # fmt: skip

    async def _asking_app(self, app_id: str) -> tuple[str, str]:
        """(account, app) of the caller: an app key's own app, or (account API key,
        service tokens with x-account-id) the app the request names."""
        p = auth.principal()
        if p.kind == "app":
            if app_id and app_id != p.app_id:
                raise Unauthenticated(f"this app key is not for app {app_id!r}")
            return p.account_id, p.app_id
        if p.kind == "postback":
            raise PermissionDenied("a postback token cannot ask for deep links: use the app key")
        account_id = auth.require_account()
        if not app_id:
            raise InvalidArgument("app_id", "is required with an account key (an app key names its own app)")
        if not await self._pool.fetchval(APP_OF_ACCOUNT, account_id, app_id):
            raise Unauthenticated(f"app {app_id!r} is not an app of this account")
        return account_id, app_id

    def _client(self, request: pb.ClaimDeferredDeepLinkRequest, context: Any) -> tuple[str, str]:
        """The device's address and User-Agent: the request's when the gateway vouches
        for them, else the gRPC peer's own."""
        metadata = dict(context.invocation_metadata() or ())
        vouch = metadata.get(auth.GATEWAY_VOUCH_HEADER, "")
        if vouch and self._keys.is_gateway(str(vouch)):
            return request.client_ip.strip(), request.client_user_agent
        return _peer_address(context.peer() or ""), str(metadata.get("user-agent", ""))
