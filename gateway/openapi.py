"""The gateway's public HTTP contract as an OpenAPI 3.1 document, generated
from the route table (gateway/routes.py) and the body models
(gateway/schemas.py): it describes exactly the routes the gateway serves."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel

from gateway.routes import ROUTES, Answer, Route

INFO = {
    "title": "Clicktrail gateway",
    "version": "1.0.0",
    "description": "Public HTTP endpoints of Clicktrail: tracking-link clicks and impressions (also as "
    "beacons), lander click-throughs, QR codes of links, "
    "SDK event batches, inbound postbacks, plus health, readiness and metrics probes. Redirect targets come "
    "only from stored links.",
}
REF = "#/components/schemas/{model}"


def build(routes: tuple[Route, ...] = ROUTES) -> dict[str, Any]:
    """The OpenAPI document of ``routes``."""
    components: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    for route in routes:
        item = paths.setdefault(route.path, {})
        for method in route.methods:
            if method == "HEAD":  # answered as GET is (without the body): the GET documents it
                continue
            op: dict[str, Any] = {"summary": route.summary}
            if route.description:
                op["description"] = route.description
            op.update(route.per_method.get(method, {}))
            if route.parameters:
                op["parameters"] = list(route.parameters)
            if method == "POST" and route.body_types:
                content: dict[str, Any] = {}
                for ctype in route.body_types:
                    if route.body:
                        schema = _schema(route.body, components)
                    else:  # no model: a form's fields, or text (a beacon's body, ignored)
                        schema = {"type": "string"} if ctype.startswith("text/") else {"type": "object"}
                    content[ctype] = {"schema": schema}
                op["requestBody"] = {"required": route.body is not None, "content": content}
            op["responses"] = {status: _answer(a, components) for status, a in route.answers.items()}
            item[method.lower()] = op
    return {"openapi": "3.1.0", "info": INFO, "paths": paths, "components": {"schemas": components}}


def _answer(answer: Answer, components: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"description": answer.description}
    if answer.headers:
        out["headers"] = answer.headers
    if answer.model is not None:
        out["content"] = {answer.content_type: {"schema": _schema(answer.model, components)}}
    elif answer.schema is not None and answer.content_type:
        out["content"] = {answer.content_type: {"schema": answer.schema}}
    return out


def _schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    """A $ref to ``model``'s schema, which goes (with the models it uses) into components."""
    schema = model.model_json_schema(ref_template=REF)
    components.update(schema.pop("$defs", {}))
    components[model.__name__] = schema
    return {"$ref": REF.format(model=model.__name__)}


DOCUMENT: dict[str, Any] = build()
DOCUMENT_BYTES = orjson.dumps(DOCUMENT)
