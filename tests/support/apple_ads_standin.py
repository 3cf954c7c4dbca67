"""A local stand-in for Apple's attribution API (AdServices), for tests: a real
HTTP server on loopback that answers ``POST /api/v1/`` (the token as the
text/plain body) with Apple's documented shapes, per token.

Apple's documentation of the API (AAAttribution.attributionToken(), "Apple Ads
attribution API"): https://developer.apple.com/documentation/adservices/aaattribution/attributiontoken()
— quoted at https://pub-web-s1.flutter-io.cn/documentation/pp_asa_attribution/latest
(POST https://api-adservices.apple.com/api/v1/, Content-Type text/plain, one token
in the body; the token has a 24-hour TTL; "A 404 response can occur if you make an
API call too quickly after receiving a valid token ... retries at intervals of 5
seconds, with a maximum of three attempts") and at
https://asapilot.com/glossary/ad-services-api (the 200 payload: attribution,
orgId, campaignId, adGroupId, keywordId, countryOrRegion, clickDate; attribution
false: not an Apple Ads install). The field names and the sample ids below are
Apple's sample payload's (orgId 40669820, campaignId 542370539, adGroupId
542317095, keywordId 87675432, adId 542317136, conversionType "Download").

Each token has a list of replies, answered in order (the last one repeats); a
token the table does not know gets 400, as Apple answers a malformed token.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
from aiohttp import web

ORG_ID = 40669820
CAMPAIGN_ID = 542370539
AD_GROUP_ID = 542317095
KEYWORD_ID = 87675432
AD_ID = 542317136


@dataclasses.dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json"


def attributed(campaign_id: int = CAMPAIGN_ID, *, click_date: str | None = "2026-12-06T10:17Z",
               conversion_type: str = "Download", keyword_id: int | None = KEYWORD_ID) -> Reply:  # fmt: skip
    """attribution true: the detailed payload (clickDate only when the user allowed tracking)."""
    doc: dict[str, Any] = {
        "attribution": True, "orgId": ORG_ID, "campaignId": campaign_id, "conversionType": conversion_type,
        "claimType": "Click", "adGroupId": AD_GROUP_ID, "countryOrRegion": "US", "adId": AD_ID,
    }  # fmt: skip
    if keyword_id is not None:
        doc["keywordId"] = keyword_id
    if click_date is not None:
        doc["clickDate"] = click_date
    return Reply(200, orjson.dumps(doc))


NOT_ATTRIBUTED = Reply(200, orjson.dumps({"attribution": False}))
NOT_READY = Reply(404, b"", "text/plain")
INVALID = Reply(400, b"The attribution token is invalid or expired.", "text/plain")
DOWN = Reply(500, b"Internal Server Error", "text/plain")


class AppleAdsStandin:
    """Serves Apple's attribution API on 127.0.0.1; ``url`` is what CLICKTRAIL_APPLE_ADS_URL takes."""

    def __init__(self) -> None:
        self.replies: dict[str, list[Reply]] = {}
        # Every request: (token, Content-Type).
        self.calls: list[tuple[str, str]] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    def answer(self, token: str, *replies: Reply) -> str:
        self.replies[token] = list(replies)
        return token

    def calls_of(self, token: str) -> int:
        return sum(1 for t, _ in self.calls if t == token)

    async def _handle(self, request: web.Request) -> web.Response:
        token = (await request.read()).decode("utf-8", "replace")
        self.calls.append((token, request.headers.get("Content-Type", "")))
        queue = self.replies.get(token)
        reply = (queue.pop(0) if len(queue) > 1 else queue[0]) if queue else INVALID
        return web.Response(status=reply.status, body=reply.body, content_type=reply.content_type)

    async def start(self) -> AppleAdsStandin:
        app = web.Application()
        app.router.add_post("/api/v1/", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/api/v1/"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
