"""Deep links on the gateway.

GET|HEAD /.well-known/apple-app-site-association and /.well-known/assetlinks.json:
the association files iOS (universal links) and Android (App Links) fetch to
let an installed app open the tracking links of this host (`/c/*`). Per Host: a
custom tracking domain serves its account's apps; the tracker's own hosts serve
the apps of the account CLICKTRAIL_ASSOCIATION_ACCOUNT names (links setting),
else 404. JSON, 200, never a redirect (Apple fetches the file over HTTPS without
following redirects: developer.apple.com/documentation/xcode/supporting-associated-domains;
Android: developer.android.com/training/app-links/verify-android-applinks).
The apps come from links (GetAssociatedApps, the gateway's token), kept CACHE_S.

POST /v1/deeplink: the deferred deep link. The app's first launch sends its app
key (X-Api-Key) and {"click_id": "..."} (from the Play install referrer) or {}
(iOS: matched by the connection's address + User-Agent, the gateway vouching
for them as for events); links answers the click's deep link once
(ClaimDeferredDeepLink), later calls 404."""

from __future__ import annotations

from typing import Any

import grpc
import orjson
from clicktrail.links.v1 import links_pb2
from pydantic import BaseModel, ConfigDict, Field

from gateway.base import ErrorAnswers, GatewayBase, log
from gateway.responses import (
    JSON_CT,
    LINKS_UNAVAILABLE,
    NO_STORE,
    Receive,
    Scope,
    Sender,
    decode_header,
    forwarded_host,
    json_body,
    json_error,
    read_json_route_body,
    text_headers,
)
from libs.cache import TTLCache
from libs.clients import CallError

AASA_PATH = "/.well-known/apple-app-site-association"
ASSETLINKS_PATH = "/.well-known/assetlinks.json"
DEEPLINK_PATH = "/v1/deeplink"
CACHE_S = 30.0
ASSOCIATION_CACHE_CONTROL = (b"cache-control", f"public, max-age={int(CACHE_S)}".encode())
# The tracking link paths the OS hands to the app (the click URL /c/{slug}).
TRACKING_COMPONENTS = [{"/": "/c/*", "comment": "Clicktrail tracking links"}]
MAX_DEEPLINK_BODY = 4096
APP_KEY_PREFIX = "cta_"
DEEPLINK_ERRORS = ErrorAnswers(
    {
        grpc.StatusCode.INVALID_ARGUMENT: (400, ""),
        grpc.StatusCode.UNAUTHENTICATED: (401, "invalid app key: send the app key in X-Api-Key"),
        grpc.StatusCode.PERMISSION_DENIED: (401, "send the app key in X-Api-Key"),
        grpc.StatusCode.NOT_FOUND: (404, "no deferred deep link"),
    }
)
MATCH_NAMES = {links_pb2.DEEP_LINK_MATCH_CLICK_ID: "click_id", links_pb2.DEEP_LINK_MATCH_FINGERPRINT: "fingerprint"}


class DeepLinkBody(BaseModel):
    """POST /v1/deeplink (documented in /openapi.json)."""

    model_config = ConfigDict(extra="allow")
    click_id: str | None = Field(
        default=None, description="The click id from the install referrer (Android). Omit: match by fingerprint."
    )


class DeepLinkReply(BaseModel):
    deep_link: str = Field(description="The link's deep link, macros filled with the click's values.")
    click_id: str
    link_id: str
    campaign_id: str
    match: str = Field(description="click_id or fingerprint.")


def aasa_body(apps: list[links_pb2.App]) -> bytes | None:
    """apple-app-site-association for the apps with a team id (None: none has one)."""
    app_ids = [f"{a.apple_team_id}.{a.bundle_id}" for a in apps if a.apple_team_id and a.bundle_id]
    if not app_ids:
        return None
    return json_body({"applinks": {"details": [{"appIDs": app_ids, "components": TRACKING_COMPONENTS}]}})


def assetlinks_body(apps: list[links_pb2.App]) -> bytes | None:
    """assetlinks.json: one statement per app with signing fingerprints (None: none has)."""
    statements = [
        {
            "relation": ["delegate_permission/common.handle_all_urls"],
            "target": {
                "namespace": "android_app",
                "package_name": a.bundle_id,
                "sha256_cert_fingerprints": list(a.android_sha256_fingerprints),
            },
        }
        for a in apps
        if a.android_sha256_fingerprints and a.bundle_id
    ]
    return json_body(statements) if statements else None


class DeepLinkRoutes(GatewayBase):
    # host -> (apple-app-site-association, assetlinks.json); None where the host serves none.
    _associations: TTLCache[str, tuple[bytes | None, bytes | None]]

    def _init_deeplinks(self) -> None:
        self._associations = TTLCache(CACHE_S, maxsize=10_000)

    async def _association(
        self, scope: Scope, sender: Sender, method: str, path: str, host: bytes, fwd_host: bytes
    ) -> int:
        if method != "GET" and method != "HEAD":
            return await self._not_allowed(sender)
        name = forwarded_host(scope, host, fwd_host, self._trusted)
        apple = path == AASA_PATH
        if not name:
            return await json_error(sender, 404, "no host: association files are served per tracking domain")
        try:
            files = await self._associations.get_or_load(name, lambda: self._load_association(name))
        except CallError as err:
            log.warning("association_unavailable", host=name, code=err.code().name, detail=err.message)
            return await json_error(sender, 503, LINKS_UNAVAILABLE)
        body = files[0] if apple else files[1]
        if body is None:
            what = "an Apple team id" if apple else "Android signing fingerprints"
            return await json_error(sender, 404, f"no app with {what} is associated with {name}")
        return await sender.send(200, [*text_headers(JSON_CT, body), ASSOCIATION_CACHE_CONTROL], body)

    async def _load_association(self, name: str) -> tuple[bytes | None, bytes | None]:
        await self._ensure_started()
        client = self._links
        if client is None:  # draining
            raise CallError(grpc.StatusCode.UNAVAILABLE, "the gateway is shutting down")
        try:
            reply = await client.links.GetAssociatedApps(links_pb2.GetAssociatedAppsRequest(host=name))
        except grpc.aio.AioRpcError as rpc_err:
            raise CallError.from_rpc_error(rpc_err) from None
        apps = list(reply.apps)
        return aasa_body(apps), assetlinks_body(apps)

    async def _deeplink(
        self, scope: Scope, receive: Receive, sender: Sender, method: str, api_key: bytes, ua: bytes, xff: bytes
    ) -> int:
        if method != "POST":
            body = json_body({"error": "method not allowed: POST a JSON body"})
            return await sender.send(405, [*text_headers(JSON_CT, body), (b"allow", b"POST")], body)
        key = api_key.decode("latin-1").strip()
        if not key:
            return await json_error(sender, 401, "missing X-Api-Key: send the app key (`clicktrail app create`)")
        if not key.startswith(APP_KEY_PREFIX):
            return await json_error(sender, 401, "X-Api-Key must be the app key (cta_...), not an account key")
        too_large = f"body larger than {MAX_DEEPLINK_BODY} bytes"
        raw = await read_json_route_body(receive, sender, MAX_DEEPLINK_BODY, self._body_timeout_s, too_large)
        if isinstance(raw, int):
            return raw
        parsed = _parse_body(raw)
        if isinstance(parsed, tuple):
            return await json_error(sender, 400, parsed[1], parsed[0])
        await self._ensure_started()
        if self._links is None:
            return await json_error(sender, 503, LINKS_UNAVAILABLE)
        request = links_pb2.ClaimDeferredDeepLinkRequest(
            click_id=parsed.get("click_id", ""), app_id=parsed.get("app_id", ""),
            client_ip=self.client_ip(scope, xff), client_user_agent=decode_header(ua),
        )  # fmt: skip
        reply = await self._forward(
            sender, self._links.links.ClaimDeferredDeepLink, request, key, DEEPLINK_ERRORS, LINKS_UNAVAILABLE,
            vouch=True,
        )  # fmt: skip
        if isinstance(reply, int):
            return reply
        body = json_body({
            "deep_link": reply.deep_link, "click_id": reply.click_id, "link_id": reply.link_id,
            "campaign_id": reply.campaign_id, "match": MATCH_NAMES.get(reply.match, ""),
        })  # fmt: skip
        return await sender.send(200, [*text_headers(JSON_CT, body), NO_STORE], body)


def _parse_body(raw: bytes) -> dict[str, str] | tuple[str, str]:
    """{"click_id"?, "app_id"?} as strings, else (field, what is wrong)."""
    if not raw.strip():
        return {}
    try:
        doc: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return "body", 'must be a JSON object: {} or {"click_id": "..."}'
    if not isinstance(doc, dict):
        return "body", 'must be a JSON object: {} or {"click_id": "..."}'
    out: dict[str, str] = {}
    for field in ("click_id", "app_id"):
        value = doc.get(field)
        if value is None or value == "":
            continue
        if not isinstance(value, str) or len(value) > 128:
            return field, "must be a string of at most 128 characters"
        out[field] = value.strip()
    return out
