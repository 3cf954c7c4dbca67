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


DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Clicktrail gateway",
        "version": "1.0.0",
        "description": "Public HTTP endpoints of Clicktrail: tracking-link clicks and impressions, "
        "plus health, readiness and metrics probes. Redirect targets come only from stored links.",
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
                "HEAD is answered the same way (and records the click).",
                "responses": {
                    "302": {
                        "description": "Recorded (or the campaign's fallback URL).",
                        "headers": {
                            "Location": {"description": "The rendered destination.", "schema": {"type": "string"}},
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
