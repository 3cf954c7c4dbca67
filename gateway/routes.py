"""The gateway's public routes, declared once: what gateway/app.py dispatches
(each route's ``label`` is its metrics label and names its handler) and what
the OpenAPI document says (gateway/openapi.py builds /openapi.json from this
table; bodies and answers are the pydantic models of gateway/schemas.py).

A path with ``{slug}`` is served by prefix (the part before ``{``); the others
exactly. HEAD, where served, is documented by the GET. /console/... is
the operator console's own site (forwarded to its process), not part of the
public API, so it is not in the table.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import BaseModel

from gateway import schemas
from gateway.deeplink_routes import AASA_PATH, ASSETLINKS_PATH, DEEPLINK_PATH, DeepLinkBody, DeepLinkReply
from gateway.skan_schema_routes import SKAN_SCHEMA_PATH
from libs.vocab.subids import PARTNER_CLICK_KEYS, SUB_IDS


@dataclasses.dataclass(frozen=True, slots=True)
class Answer:
    """One documented response."""

    description: str
    model: type[BaseModel] | None = None
    content_type: str = "application/json"
    schema: dict[str, Any] | None = None  # a raw schema, when the body is no JSON model
    headers: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class Route:
    label: str  # the metrics label ("route") and what gateway/app.py dispatches on
    path: str  # as OpenAPI writes it
    methods: tuple[str, ...]  # served; HEAD (answered as GET, without the body) is documented by the GET
    summary: str
    description: str = ""
    parameters: tuple[dict[str, Any], ...] = ()
    body: type[BaseModel] | None = None
    body_types: tuple[str, ...] = ("application/json",)
    answers: dict[str, Answer] = dataclasses.field(default_factory=dict)
    # Per method: summary / description overrides (POST /postback says where its parameters go).
    per_method: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)

    @property
    def prefix(self) -> str | None:
        """The path prefix a templated route is served by (``/c/``), None for an exact path."""
        return self.path.split("{", 1)[0] if "{" in self.path else None


def param(name: str, where: str = "query", description: str = "", *, required: bool = False) -> dict[str, Any]:
    return {
        "name": name, "in": where, "required": required, "schema": {"type": "string"},
        **({"description": description} if description else {}),
    }  # fmt: skip


TEXT = {"type": "string"}
REQUEST_ID = {
    "X-Request-Id": {
        "description": "The request id (the caller's X-Request-Id, or a new one), carried to every service.",
        "schema": {"type": "string"},
    }
}
NO_STORE = {"Cache-Control": {"schema": {"type": "string", "const": "no-store"}}}

SLUG = {
    **param("slug", "path", "The tracking link's slug.", required=True),
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
}
_partner = sorted(PARTNER_CLICK_KEYS - {"clickid"})
TOUCH_QUERY = (
    *(
        param(s, description=f"Sub-id {s[3:]}, stored with the touch and available as the {{{s}}} macro.")
        for s in SUB_IDS
    ),
    param("clickid", description=f"The network's own click id (aliases {', '.join(_partner)})."),
    param("idfa", description="iOS advertising id, when the network passes it (also gaid for Android)."),
)


def touch_errors() -> dict[str, Answer]:
    return {
        "404": Answer(
            "Malformed or unknown slug; or a paused/archived campaign without a fallback URL.", schemas.Error
        ),
        "405": Answer("A method the route does not serve (see Allow).", schemas.Error),
        "414": Answer("Query string longer than the configured limit.", content_type="text/plain", schema=TEXT),
        "429": Answer(
            "Over the client address's rate limit (IPv6: per /64); see Retry-After. Nothing was recorded.",
            schemas.Error,
        ),
        "503": Answer(
            "The links service did not answer in time; nothing was recorded. Retry.",
            content_type="text/plain", schema=TEXT,
        ),
    }  # fmt: skip


POSTBACK_PARAMS = {
    "click_id": "Our click id (aliases clickid, subid). Required.",
    "status": "pending (lead, hold), approved (sale, confirmed, 1; the default) or rejected "
    "(reject, trash, cancelled, declined). Unknown words are a 400.",
    "payout": "A non-negative decimal with a point, e.g. 7.50 (not 7,50, -1 or 1e309); becomes revenue.",
    "currency": "ISO 4217 code of the payout; default the account's currency.",
    "goal": "A goal id or name (else kept as a label); default the campaign's target goal.",
    "txid": "The network's transaction id: the same txid for the same click updates that conversion; "
    "without one there is one conversion per click and goal.",
    "token": "The account's postback token (also accepted as the X-Postback-Token header).",
    "partner": "The partner (partner id) whose postback format reads the parameters; default the click's "
    "campaign's partner.",
    "format": "gif: answer a 1x1 GIF (a postback fired as an image pixel).",
}


def postback_route(label: str, path: str, extra: tuple[dict[str, Any], ...] = ()) -> Route:
    """/postback and its path form /postback/{partner_id}: the same parameters and answers."""
    return Route(
        label,
        path,
        ("GET", "POST"),
        "Inbound S2S postback (conversion)",
        "A network's server-to-server conversion. The partner's postback format (aliases, status words) "
        "reads the parameters. Fetched as an image (Accept: image/*, Sec-Fetch-Dest: image, or format=gif) "
        "it is answered a 1x1 GIF (200, image/gif) instead of JSON.",
        parameters=(
            *extra,
            *(param(k, description=d) for k, d in POSTBACK_PARAMS.items()),
            param("sub1..sub10", description="Kept with the logged request."),
            param("X-Postback-Token", "header"),
        ),
        body_types=("application/x-www-form-urlencoded", "application/json", "text/plain"),
        per_method={
            "POST": {
                "summary": "Inbound S2S postback (conversion), parameters in a form or JSON body",
                "description": "The same parameters as GET, in the query string, an "
                "application/x-www-form-urlencoded body or a JSON object (text/plain: a beacon's body, read as "
                "a form or a JSON object).",
            }
        },
        answers={
            "200": Answer("Recorded (created, updated, or unchanged when resent).", schemas.PostbackReply),
            "400": Answer("Bad input; `field` names the parameter.", schemas.Error),
            "401": Answer("Missing or invalid postback token.", schemas.Error),
            "404": Answer("Unknown click (also another account's click).", schemas.Error),
            "405": Answer("Method other than GET or POST.", schemas.Error),
            "408": Answer("The body did not arrive in time (CLICKTRAIL_GATEWAY_BODY_TIMEOUT_S).", schemas.Error),
            "409": Answer(
                "A status move that is not allowed (only pending -> approved, pending -> rejected, "
                "approved -> rejected).",
                schemas.Error,
            ),
            "413": Answer("Body over 64 KiB.", schemas.Error),
            "414": Answer("Query string longer than the configured limit.", schemas.Error),
            "415": Answer("A body that is neither a form nor a JSON object.", schemas.Error),
            "429": Answer(
                "Over the rate limit of the client address or of the postback token; see Retry-After.",
                schemas.Error,
            ),
            "503": Answer("The attribution service is unavailable; resend later.", schemas.Error),
        },
    )


SKAN_REPLY = {
    "type": "object",
    "properties": {
        "status": {"type": "string", "enum": ["stored", "duplicate"]},
        "postback_id": TEXT, "transaction_id": TEXT,
        "kind": {"type": "string", "enum": ["skadnetwork", "adattributionkit"]},
        "version": TEXT, "campaign_id": TEXT, "installs": {"type": "integer"}, "conversions": {"type": "integer"},
    },
}  # fmt: skip


def skan_route(label: str, path: str, summary: str, description: str, token: bool = False) -> Route:
    """The SKAdNetwork / AdAttributionKit postback routes (gateway/skan_routes.py)."""
    return Route(
        label, path, ("POST",), summary,
        description + " Apple's signature is verified for every version (SKAdNetwork 1.0-4.0, "
        "AdAttributionKit's JWS); one row per transaction id.",
        parameters=(
            param("app", description="Optional: our app id; the postback must be for its App Store id."),
            *((param("token", description="The account's postback token."), param("X-Postback-Token", "header"))
              if token else ()),
        ),
        answers={
            "200": Answer('Stored (`"status": "stored"`), or a transaction id already stored '
                          '(`"status": "duplicate"`: nothing stored twice).', schema=SKAN_REPLY),
            "400": Answer('Not a postback, a field missing or malformed (`field` names it), or a signature '
                          'Apple\'s key does not verify (`"field": "signature"`).', schemas.Error),
            **({"401": Answer("Missing or invalid postback token.", schemas.Error)} if token else {}),
            "404": Answer("No app has the postback's App Store id (or several accounts' apps have it).",
                          schemas.Error),
            "405": Answer("Method other than POST.", schemas.Error),
            "408": Answer("The body did not arrive in time (CLICKTRAIL_GATEWAY_BODY_TIMEOUT_S).", schemas.Error),
            "413": Answer("Body over 64 KiB.", schemas.Error),
            "503": Answer("The attribution service is unavailable; Apple and networks resend.", schemas.Error),
        },
    )  # fmt: skip


ROUTES: tuple[Route, ...] = (
    Route(
        "click", "/c/{slug}", ("GET", "HEAD", "POST"), "Record a click and redirect",
        "Records a click (new click id, IP, geo, device, referrer, sub-ids, the partner's click id) and "
        "redirects to the link's destination with macros filled in. When the destination template has no "
        "{click_id} macro, click_id=<id> is appended. A paused or archived campaign redirects to its fallback "
        "URL without recording. Every click gets a traffic-quality verdict (clean, suspicious, invalid); an "
        "invalid click is recorded and then answered as its campaign's invalid_traffic_action says: redirected "
        "as usual, to the fallback URL, or blocked (200, no Location). Sec-Purpose / Purpose: prefetch marks "
        "the click suspicious. HEAD is answered the same way (and records the click). "
        "A campaign with streams sends the click through its flow (a lander, an offer, a URL); the answer "
        "then sets the flow's cookies (ctf_<campaign id>: the returning visitor's choice; ctc: the click, for "
        "/lp/click), Path=/, HttpOnly, SameSite=Lax, Secure over https. The request's Host picks the "
        "links served (a custom domain serves only its own links: another slug is a 404).",
        parameters=(SLUG, *TOUCH_QUERY),
        body_types=("text/plain", "application/x-www-form-urlencoded"),
        per_method={"POST": {
            "summary": "Record a click sent as a beacon (navigator.sendBeacon, ad platforms' parallel tracking)",
            "description": "The click is recorded as for GET (the same query string); the body (at most 64 KiB) "
            "is read and ignored. Answered 303 See Other to the same destination, so a client following the "
            "redirect chain (a beacon follows it) fetches it with GET and never re-sends the body; one that "
            "does not follow loses nothing. Redirect chains of parallel tracking (Google Ads, Microsoft "
            "Advertising) are plain server redirects, as these platforms require.",
        }},
        answers={
            "302": Answer(
                "Recorded (or the campaign's fallback URL). A link's redirect_status answers 301 or 307 instead "
                "(a fallback is always 302).", content_type="", headers={
                "Location": {"description": "The rendered destination.", "schema": {"type": "string"}},
                "Set-Cookie": {"description": "The flow's cookies, when links answers some.",
                               "schema": {"type": "string"}},
                **NO_STORE, **REQUEST_ID,
            }),
            "301": Answer("Recorded; the link asks for a permanent redirect.", content_type="",
                          headers={"Location": {"schema": {"type": "string"}}, **NO_STORE, **REQUEST_ID}),
            "307": Answer("Recorded; the link asks for a method-preserving redirect.", content_type="",
                          headers={"Location": {"schema": {"type": "string"}}, **NO_STORE, **REQUEST_ID}),
            "303": Answer("POST (a beacon): recorded; follow with GET.", content_type="",
                          headers={"Location": {"schema": {"type": "string"}}, **NO_STORE, **REQUEST_ID}),
            "408": Answer("POST: the body did not arrive in time.", schemas.Error),
            "413": Answer("POST: a body over 64 KiB.", schemas.Error),
            "200": Answer(
                "Recorded as invalid traffic on a campaign that blocks it: no redirect, empty body.",
                content_type="", headers={**NO_STORE, **REQUEST_ID},
            ),
            "400": Answer(
                "A touch field links refuses (`field` names it; a refused batch answers a text/plain "
                "`bad request:` line).", schemas.Error,
            ),
            **touch_errors(),
        },
    ),
    Route(
        "impression", "/i/{slug}", ("GET", "HEAD"), "Record an impression",
        "Records an impression (a view) and answers a 1x1 transparent GIF that must not be cached. "
        "HEAD is answered the same way.",
        parameters=(SLUG, *TOUCH_QUERY),
        answers={
            "200": Answer(
                "Recorded.", content_type="image/gif", schema={"type": "string", "format": "binary"},
                headers={
                    "Cache-Control": {"schema": {"type": "string", "const": "no-store, no-cache, must-revalidate"}},
                    **REQUEST_ID,
                },
            ),
            "400": Answer("A touch field links refuses (`field` names it).", schemas.Error),
            **touch_errors(),
        },
    ),
    Route(
        "lander_click", "/lp/click", ("GET", "HEAD"), "A lander's click-through to its offer",
        "Where a lander's call to action points ({lander_click_url} renders it for each click): records the "
        "lander click on the click (the first one counts) and redirects to the offer chosen for the click, "
        "with the same click id. The click is the `click_id` (or `cid`) parameter, else the `ctc` cookie the "
        "click set. An offer no longer eligible (paused, capped) is replaced by another of the stream, else "
        "the campaign's fallback URL.",
        parameters=(
            param("click_id", description="The click (from {lander_click_url}); alias cid."),
            param("cid", description="Alias of click_id."),
        ),
        answers={
            "302": Answer("Recorded: to the offer (or the fallback URL).", content_type="", headers={
                "Location": {"description": "The offer's rendered URL.", "schema": {"type": "string"}},
                **NO_STORE, **REQUEST_ID,
            }),
            "400": Answer("No click id: neither click_id / cid nor the ctc cookie (`field`: click_id).",
                          schemas.Error),
            "404": Answer("Unknown click, a click that went to no lander, or no offer and no fallback URL.",
                          schemas.Error),
            "405": Answer("Method other than GET or HEAD.", schemas.Error),
            "414": Answer("Query string longer than the configured limit.", schemas.Error),
            "429": Answer("Over the client address's rate limit (shared with /c and /i); see Retry-After.",
                          schemas.Error),
            "503": Answer("The links service did not answer; nothing was recorded. Retry.", schemas.Error),
        },
    ),
    Route(
        "qr", "/qr/{slug}.{format}", ("GET", "HEAD"), "A tracking link's QR code",
        "The link's click URL (on its custom domain when it has one) as a QR code: error correction M, a "
        "4-module quiet zone. Public, like the link; cacheable for a minute.",
        parameters=(
            SLUG,
            {**param("format", "path", "svg or png.", required=True), "schema": {"type": "string",
                                                                                 "enum": ["svg", "png"]}},
            {**param("scale", description="Pixels (PNG) or SVG units per module, 1..40; default 8."),
             "schema": {"type": "integer", "minimum": 1, "maximum": 40}},
        ),
        answers={
            "200": Answer("The image.", content_type="image/svg+xml", schema={"type": "string"}, headers={
                "Cache-Control": {"schema": {"type": "string", "const": "public, max-age=60"}}, **REQUEST_ID,
            }),
            "400": Answer("A scale outside 1..40 (`field`: scale).", schemas.Error),
            "404": Answer("Unknown slug, or a format other than svg / png.", schemas.Error),
            "405": Answer("Method other than GET or HEAD.", schemas.Error),
            "503": Answer("The links service did not answer. Retry.", schemas.Error),
        },
    ),
    Route(
        "domain_allowed", "/internal/domain-allowed", ("GET", "HEAD"), "Is a host a registered custom domain",
        "For the reverse proxy's on-demand TLS (Caddy's `ask`): 200 when `domain` is a custom tracking domain "
        "some account registered, else 404; the proxy obtains a certificate only for a 200.",
        parameters=(param("domain", description="The host name (as the TLS handshake's SNI).", required=True),),
        answers={
            "200": Answer("Registered.", schema={"type": "object"}),
            "400": Answer("No `domain`, or not a host name.", schemas.Error),
            "404": Answer("Not a registered domain.", schemas.Error),
            "405": Answer("Method other than GET or HEAD.", schemas.Error),
            "503": Answer("The links service did not answer.", schemas.Error),
        },
    ),
    Route(
        "events", "/v1/events", ("POST",), "Send a batch of SDK events",
        'Body `{"events": [...]}` (at most 1,000 events; gzip accepted with `Content-Encoding: gzip`), '
        "authenticated by the app key in `X-Api-Key`, which can only send events for its own app. Each event "
        "is answered accepted, duplicate (its uuid was stored before) or rejected with the field and reason; "
        "the valid part of a batch is always kept. Events are idempotent by uuid, so a request that failed "
        "with 503 can be resent.",
        parameters=(param("X-Api-Key", "header", "The app key (`clicktrail app create` prints it).", required=True),),
        body=schemas.EventsBody,
        answers={
            "202": Answer("The body parsed; one result per event.", schemas.EventsReply),
            "400": Answer('The body is not JSON or not `{"events": [...]}`.', schemas.Error),
            "401": Answer("Missing or invalid app key (checked before the body is read).", schemas.Error),
            "403": Answer("The key may not send these events.", schemas.Error),
            "405": Answer("Method other than POST.", schemas.Error),
            "408": Answer("The body did not arrive in time (CLICKTRAIL_GATEWAY_BODY_TIMEOUT_S).", schemas.Error),
            "413": Answer("Body over 8 MiB (also after gzip) or more than 1,000 events.", schemas.Error),
            "415": Answer("Content-Encoding other than gzip or identity.", schemas.Error),
            "429": Answer("Over the rate limit of the key or of the client address; see Retry-After.", schemas.Error),
            "503": Answer(
                "The ingest service is unavailable, or too many batches are in flight (Retry-After); "
                "nothing is lost by resending.", schemas.Error,
            ),
        },
    ),
    Route(
        "aasa", AASA_PATH, ("GET", "HEAD"), "Apple app site association (universal links)",
        "Per Host: the apps (Apple team id + bundle id) whose universal links are this host's tracking links "
        "(`/c/*`): a custom domain's account's apps; the tracker's own hosts serve "
        "CLICKTRAIL_ASSOCIATION_ACCOUNT's. JSON, never a redirect.",
        answers={
            "200": Answer('`{"applinks": {"details": [{"appIDs": [...], "components": [...]}]}}`',
                          schema={"type": "object"}),
            "404": Answer("No app of this host has an Apple team id (or the host serves no account).", schemas.Error),
            "405": Answer("Method other than GET or HEAD.", schemas.Error),
            "503": Answer("The links service did not answer.", schemas.Error),
        },
    ),
    Route(
        "assetlinks", ASSETLINKS_PATH, ("GET", "HEAD"), "Android Digital Asset Links (App Links)",
        "Per Host, like apple-app-site-association: one `delegate_permission/common.handle_all_urls` statement "
        "per app with signing certificate fingerprints.",
        answers={
            "200": Answer("The statement list.", schema={"type": "array"}),
            "404": Answer("No app of this host has signing fingerprints.", schemas.Error),
            "405": Answer("Method other than GET or HEAD.", schemas.Error),
            "503": Answer("The links service did not answer.", schemas.Error),
        },
    ),
    Route(
        "deeplink", DEEPLINK_PATH, ("POST",), "Deferred deep link (first launch)",
        "The app's first launch asks for the deep link of the click that led to the install: by the click id "
        "of the install referrer, else by the connection's address + User-Agent inside a short window "
        "(CLICKTRAIL_DEFERRED_DEEP_LINK_WINDOW_S, default 2 h). Answered once per click; later calls 404.",
        parameters=(param("X-Api-Key", "header", "The app key.", required=True),),
        body=DeepLinkBody,
        answers={
            "200": Answer("The deep link.", DeepLinkReply),
            "400": Answer("Not a JSON object, or a malformed click id (`field`).", schemas.Error),
            "401": Answer("Missing or invalid app key, or not an app key.", schemas.Error),
            "404": Answer("No deferred deep link (no matching click with one, or handed out before).",
                          schemas.Error),
            "429": Answer("Over the per-address events rate limit (shared with /v1/events); see Retry-After.",
                          schemas.Error),
            "405": Answer("Method other than POST.", schemas.Error),
            "503": Answer("The links service did not answer.", schemas.Error),
        },
    ),
    Route(
        "skan_schema", SKAN_SCHEMA_PATH, ("GET", "HEAD"), "The app's SKAN conversion-value schema (for its SDK)",
        "What the SDK applies to set SKAdNetwork / AdAttributionKit conversion values, per postback: its window "
        "(hours after install), the lock (lock_after_hours / lock_on_event, if any), the fine values (postback 1) "
        "and coarse values with their conditions (revenue bucket [revenue_min, revenue_max) in `currency`, "
        "events with counts). The SDK sets the highest fine value whose conditions all hold, and the first of "
        "high / medium / low whose conditions hold. `version` names the schema (also the ETag).",
        parameters=(
            param("X-Api-Key", "header", "The app key: a key reads its own app's schema.", required=True),
            param("If-None-Match", "header", 'The ETag of the schema the SDK has (`"v3"`): 304 when current.'),
        ),
        answers={
            "200": Answer("The schema, per postback.", schema={"type": "object"}, headers={
                "Cache-Control": {"schema": {"type": "string", "const": "private, max-age=300"}},
                "ETag": {"schema": {"type": "string"}}, **REQUEST_ID,
            }),
            "304": Answer("The SDK's schema (If-None-Match) is current.", content_type=""),
            "401": Answer("Missing or invalid app key, or not an app key.", schemas.Error),
            "404": Answer("The app has no schema yet (`clicktrail skan-schema set`).", schemas.Error),
            "405": Answer("Method other than GET or HEAD.", schemas.Error),
            "503": Answer("The attribution service did not answer; keep the schema you have.", schemas.Error),
        },
    ),
    postback_route("postback", "/postback"),
    postback_route("postback_partner", "/postback/{partner_id}", (
        param("partner_id", "path", "The partner whose postback format reads the parameters (same as ?partner=).",
              required=True),
    )),
    skan_route(
        "skan_copy", "/.well-known/skadnetwork/report-attribution/", "SKAdNetwork postback (Apple's developer copy)",
        "The copy of a winning SKAdNetwork postback Apple sends to the app's NSAdvertisingAttributionReportEndpoint "
        "(the path without the trailing slash too). The account: the custom tracking domain's, else the one "
        "account with an app of the postback's App Store id.",
    ),
    skan_route(
        "aak_copy", "/.well-known/appattribution/report-attribution/",
        "AdAttributionKit postback (Apple's developer copy)",
        "The copy of a winning AdAttributionKit postback (`{\"jws-string\": ...}`) Apple sends to the app's "
        "AttributionCopyEndpoint (the path without the trailing slash too); the account as for SKAdNetwork.",
    ),
    skan_route(
        "skan_postback", "/skan/postback", "SKAdNetwork / AdAttributionKit postback forwarded by a network",
        "A postback as Apple sent it to an ad network, forwarded server to server with the account's postback "
        "token; the network's copy and Apple's developer copy of one postback are one row.", token=True,
    ),
    Route(
        "/healthz", "/healthz", ("GET", "HEAD"), "Liveness",
        answers={"200": Answer("The process is up.", schemas.Status)},
    ),
    Route(
        "/readyz", "/readyz", ("GET", "HEAD"), "Readiness",
        answers={
            "200": Answer("Every service the gateway depends on answers.", schemas.Readiness),
            "503": Answer(
                "A dependency is down (named in `checks`), or the gateway is draining.", schemas.Readiness
            ),
        },
    ),
    Route(
        "/metrics", "/metrics", ("GET", "HEAD"), "Prometheus metrics",
        answers={"200": Answer("Prometheus text exposition format.", content_type="text/plain", schema=TEXT)},
    ),
    Route(
        "/openapi.json", "/openapi.json", ("GET", "HEAD"), "This document",
        answers={"200": Answer("OpenAPI 3.1", schema={"type": "object"})},
    ),
)  # fmt: skip

BY_LABEL: dict[str, Route] = {r.label: r for r in ROUTES}
