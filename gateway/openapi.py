"""The gateway's public HTTP contract as an OpenAPI 3.1 document (hand-written:
it describes only the endpoints that exist)."""

from __future__ import annotations

from typing import Any

import orjson

_SLUG = {
    "name": "slug",
    "in": "path",
    "required": True,
    "description": "The tracking link's slug.",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
}

_TOUCH_QUERY = [
    *(
        {
            "name": f"sub{i}",
            "in": "query",
            "required": False,
            "description": f"Sub-id {i}, stored with the touch and available as the {{sub{i}}} macro.",
            "schema": {"type": "string"},
        }
        for i in range(1, 11)
    ),
    {
        "name": "clickid",
        "in": "query",
        "required": False,
        "description": "The network's own click id (aliases click_id, partner_click_id).",
        "schema": {"type": "string"},
    },
    {
        "name": "idfa",
        "in": "query",
        "required": False,
        "description": "iOS advertising id, when the network passes it (also gaid for Android).",
        "schema": {"type": "string"},
    },
]

_TEXT = {"text/plain": {"schema": {"type": "string"}}}
_ERROR = {
    "application/json": {
        "schema": {
            "type": "object",
            "properties": {"error": {"type": "string"}},
            "required": ["error"],
        }
    }
}
_REQUEST_ID = {
    "X-Request-Id": {
        "description": "The request id (the caller's X-Request-Id, or a new one), carried to every service.",
        "schema": {"type": "string"},
    }
}


def _touch_errors() -> dict[str, Any]:
    return {
        "404": {
            "description": "Malformed or unknown slug; or a paused/archived campaign without a fallback URL.",
            "content": _ERROR,
        },
        "405": {"description": "Method other than GET or HEAD.", "content": _ERROR},
        "414": {"description": "Query string longer than the configured limit.", "content": _TEXT},
        "429": {
            "description": "Over the client address's rate limit (IPv6: per /64); see Retry-After. "
            "Nothing was recorded.",
            "content": _ERROR,
        },
        "503": {
            "description": "The links service did not answer in time; nothing was recorded. Retry.",
            "content": _TEXT,
        },
    }


def _probe(summary: str, ok: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": {
            "description": ok,
            "content": {
                "application/json": {"schema": {"type": "object", "properties": {"status": {"type": "string"}}}}
            },
        }
    }
    responses.update(extra or {})
    return {"get": {"summary": summary, "responses": responses}}


_POSTBACK_PARAMS = {
    "click_id": "Our click id (aliases clickid, subid). Required.",
    "status": "pending (lead, hold), approved (sale, confirmed, 1; the default) or rejected "
    "(reject, trash, cancelled, declined). Unknown words are a 400.",
    "payout": "A non-negative decimal with a point, e.g. 7.50 (not 7,50, -1 or 1e309); becomes revenue.",
    "currency": "ISO 4217 code of the payout; default the account's currency.",
    "goal": "A goal id or name (else kept as a label); default the campaign's target goal.",
    "txid": "The network's transaction id: the same txid for the same click updates that conversion; "
    "without one there is one conversion per click and goal.",
    "token": "The account's postback token (also accepted as the X-Postback-Token header).",
}
_POSTBACK_OP = {
    "parameters": [
        *({"name": k, "in": "query", "required": False, "schema": {"type": "string"}, "description": d}
          for k, d in _POSTBACK_PARAMS.items()),
        {"name": "sub1..sub10", "in": "query", "required": False, "schema": {"type": "string"},
         "description": "Kept with the logged request."},
        {"name": "X-Postback-Token", "in": "header", "required": False, "schema": {"type": "string"}},
    ],
    "responses": {
        "200": {
            "description": "Recorded (created, updated, or unchanged when resent).",
            "content": {"application/json": {"schema": {"type": "object", "properties": {
                "conversion_id": {"type": "string"}, "status": {"enum": ["pending", "approved", "rejected"]},
                "previous_status": {"type": "string"}, "created": {"type": "boolean"},
                "changed": {"type": "boolean"}, "click_id": {"type": "string"},
                "campaign_id": {"type": "string"}, "goal": {"type": "string"}, "payout": {"type": "string"},
                "currency": {"type": "string"}, "txid": {"type": "string"}, "postback_id": {"type": "string"},
            }}}},
        },
        "400": {"description": "Bad input; `field` names the parameter.", "content": _ERROR},
        "401": {"description": "Missing or invalid postback token.", "content": _ERROR},
        "404": {"description": "Unknown click (also another account's click).", "content": _ERROR},
        "409": {"description": "A status move that is not allowed (only pending -> approved, "
                "pending -> rejected, approved -> rejected).", "content": _ERROR},
        "408": {"description": "The body did not arrive in time (CLICKTRAIL_GATEWAY_BODY_TIMEOUT_S).",
                "content": _ERROR},
        "429": {"description": "Over the rate limit of the client address or of the postback token; "
                "see Retry-After.", "content": _ERROR},
        "503": {"description": "The attribution service is unavailable; resend later.", "content": _ERROR},
    },
}  # fmt: skip
_POSTBACK = {
    "get": {"summary": "Inbound S2S postback (conversion)", **_POSTBACK_OP},
    "post": {
        "summary": "Inbound S2S postback (conversion), parameters in a form or JSON body",
        "description": "The same parameters as GET, in the query string, an "
        "application/x-www-form-urlencoded body or a JSON object.",
        **_POSTBACK_OP,
    },
}


DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Clicktrail gateway",
        "version": "1.0.0",
        "description": "Public HTTP endpoints of Clicktrail: tracking-link clicks and impressions, "
        "SDK event batches, plus health, readiness and metrics probes. Redirect targets come only from stored links.",
    },
    "paths": {
        "/c/{slug}": {
            "parameters": [_SLUG, *_TOUCH_QUERY],
            "get": {
                "summary": "Record a click and redirect",
                "description": "Records a click (new click id, IP, geo, device, referrer, sub-ids, "
                "the partner's click id) and redirects to the link's destination with macros filled in. "
                "When the destination template has no {click_id} macro, click_id=<id> is appended. "
                "A paused or archived campaign redirects to its fallback URL without recording. "
                "Every click gets a traffic-quality verdict (clean, suspicious, invalid); an invalid click "
                "is recorded and then answered as its campaign's invalid_traffic_action says: redirected "
                "as usual, to the fallback URL, or blocked (200, no Location). Sec-Purpose / Purpose: "
                "prefetch marks the click suspicious. HEAD is answered the same way (and records the click).",
                "responses": {
                    "302": {
                        "description": "Recorded (or the campaign's fallback URL).",
                        "headers": {
                            "Location": {"description": "The rendered destination.", "schema": {"type": "string"}},
                            "Cache-Control": {"schema": {"type": "string", "const": "no-store"}},
                            **_REQUEST_ID,
                        },
                    },
                    "200": {
                        "description": "Recorded as invalid traffic on a campaign that blocks it: no redirect, "
                        "empty body.",
                        "headers": {
                            "Cache-Control": {"schema": {"type": "string", "const": "no-store"}},
                            **_REQUEST_ID,
                        },
                    },
                    **_touch_errors(),
                },
            },
        },
        "/i/{slug}": {
            "parameters": [_SLUG, *_TOUCH_QUERY],
            "get": {
                "summary": "Record an impression",
                "description": "Records an impression (a view) and answers a 1x1 transparent GIF "
                "that must not be cached. HEAD is answered the same way.",
                "responses": {
                    "200": {
                        "description": "Recorded.",
                        "headers": {
                            "Cache-Control": {
                                "schema": {"type": "string", "const": "no-store, no-cache, must-revalidate"}
                            },
                            **_REQUEST_ID,
                        },
                        "content": {"image/gif": {"schema": {"type": "string", "format": "binary"}}},
                    },
                    **_touch_errors(),
                },
            },
        },
        "/v1/events": {
            "post": {
                "summary": "Send a batch of SDK events",
                "description": 'Body `{"events": [...]}` (at most 1,000 events; gzip accepted with '
                "`Content-Encoding: gzip`), authenticated by the app key in `X-Api-Key`, which can only "
                "send events for its own app. Each event is answered accepted, duplicate (its uuid was "
                "stored before) or rejected with the field and reason; the valid part of a batch is always "
                "kept. Events are idempotent by uuid, so a request that failed with 503 can be resent.",
                "parameters": [
                    {
                        "name": "X-Api-Key",
                        "in": "header",
                        "required": True,
                        "schema": {"type": "string"},
                        "description": "The app key (`clicktrail app create` prints it).",
                    },
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["events"],
                                "properties": {
                                    "events": {
                                        "type": "array",
                                        "maxItems": 1000,
                                        "items": {
                                            "type": "object",
                                            "required": ["uuid", "event", "timestamp"],
                                            "properties": {
                                                "uuid": {"type": "string", "format": "uuid"},
                                                "event": {
                                                    "enum": ["install", "identify", "track", "screen", "heartbeat"]
                                                },
                                                "timestamp": {
                                                    "description": "ISO 8601 (UTC when no offset) or epoch ms."
                                                },
                                                "session_id": {"type": "string"},
                                                "offset": {"type": "integer", "minimum": 0},
                                                "user_id": {"type": "string"},
                                                "ref": {"type": "string"},
                                                "app_id": {"type": "string"},
                                                "ip": {
                                                    "type": "string",
                                                    "description": "A claim: the connection's address is what "
                                                    "counts; a different claim is kept apart (claimed_ip) and "
                                                    "flags the event client_mismatch.",
                                                },
                                                "user_agent": {
                                                    "type": "string",
                                                    "description": "A claim, as ip (claimed_user_agent).",
                                                },
                                                "action": {
                                                    "type": "string",
                                                    "description": "track: the action; screen: the screen.",
                                                },
                                                "action_properties": {"type": "object"},
                                                "click_id": {
                                                    "type": "string",
                                                    "description": "install: from the store referrer.",
                                                },
                                                "install_begin_time": {
                                                    "description": "install: the Play install referrer's "
                                                    "install_begin_timestamp(_server)_seconds (epoch seconds or "
                                                    "ISO 8601; 0: unknown). A click after it was injected.",
                                                },
                                                "referrer_click_time": {
                                                    "description": "install: the Play install referrer's "
                                                    "referrer_click_timestamp(_server)_seconds, likewise.",
                                                },
                                                "device": {
                                                    "type": "object",
                                                    "properties": {
                                                        "idfa": {"type": "string"},
                                                        "gaid": {"type": "string"},
                                                        "idfv": {"type": "string"},
                                                        "android_id": {"type": "string"},
                                                        "platform": {"enum": ["ios", "android", "web", "other"]},
                                                        "os_version": {"type": "string"},
                                                        "device_model": {"type": "string"},
                                                        "locale": {"type": "string"},
                                                    },
                                                },
                                            },
                                        },
                                    }
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "202": {
                        "description": "The body parsed; one result per event.",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "accepted": {"type": "integer"},
                                        "duplicates": {"type": "integer"},
                                        "rejected": {"type": "integer"},
                                        "results": {
                                            "type": "array",
                                            "items": {
                                                "type": "object",
                                                "properties": {
                                                    "index": {"type": "integer"},
                                                    "uuid": {"type": "string"},
                                                    "status": {"enum": ["accepted", "duplicate", "rejected"]},
                                                    "field": {"type": "string"},
                                                    "reason": {"type": "string"},
                                                },
                                            },
                                        },
                                    },
                                }
                            }
                        },
                    },
                    "400": {"description": 'The body is not JSON or not `{"events": [...]}`.'},
                    "401": {"description": "Missing or invalid app key (checked before the body is read)."},
                    "408": {"description": "The body did not arrive in time (CLICKTRAIL_GATEWAY_BODY_TIMEOUT_S)."},
                    "413": {"description": "Body over 8 MiB (also after gzip) or more than 1,000 events."},
                    "429": {"description": "Over the rate limit of the key or of the client address; see Retry-After."},
                    "503": {
                        "description": "The ingest service is unavailable, or too many batches are in "
                        "flight (Retry-After); nothing is lost by resending."
                    },
                },
            }
        },
        "/postback": _POSTBACK,
        "/healthz": _probe("Liveness", "The process is up."),
        "/readyz": _probe(
            "Readiness",
            "Every service the gateway depends on answers.",
            {
                "503": {
                    "description": "A dependency is down (named in `checks`), or the gateway is draining.",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "status": {"type": "string"},
                                    "checks": {"type": "object", "additionalProperties": {"type": "string"}},
                                },
                            }
                        }
                    },
                }
            },
        ),
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "responses": {
                    "200": {
                        "description": "Prometheus text exposition format.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    },
}

DOCUMENT_BYTES = orjson.dumps(DOCUMENT)
