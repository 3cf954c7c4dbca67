"""Stored rows <-> PostbackService messages. The enum names are derived from
the proto enums (libs.vocab); the database keeps the short names."""

from __future__ import annotations

from typing import Any, cast

import asyncpg
from clicktrail.postbacks.v1 import postbacks_pb2 as pb

from libs.api import to_timestamp
from libs.vocab.enums import code_map, name_map
from libs.vocab.kinds import DELIVERY_STATUS_CODES, DELIVERY_STATUS_NAMES

TRIGGER = cast("dict[str, pb.Trigger]", code_map(pb.Trigger))  # "install" -> TRIGGER_INSTALL ...
TRIGGER_NAME: dict[int, str] = name_map(pb.Trigger)
MODE = cast("dict[str, pb.SendingMode]", code_map(pb.SendingMode))
MODE_NAME: dict[int, str] = name_map(pb.SendingMode)
# "GET" -> HTTP_METHOD_GET: methods are stored upper case.
METHOD = cast("dict[str, pb.HttpMethod]", {k.upper(): v for k, v in code_map(pb.HttpMethod).items()})
METHOD_NAME: dict[int, str] = {v: k for k, v in METHOD.items()}
STATUS = cast("dict[str, pb.DeliveryStatus]", DELIVERY_STATUS_CODES)  # "delivered" -> ..._DELIVERED
STATUS_NAME: dict[int, str] = {k: v for k, v in DELIVERY_STATUS_NAMES.items() if k}
UPDATABLE = ("name", "app_id", "trigger", "goal_id", "sending_mode", "method", "url_template", "body_template",
             "headers", "settings", "signature_header", "signing_secret", "enabled")  # fmt: skip


def template_pb(row: dict[str, Any]) -> pb.Template:
    return pb.Template(
        template_id=row["template_id"], partner_id=row["partner_id"], app_id=row["app_id"], name=row["name"],
        trigger=TRIGGER[row["trigger"]], goal_id=row["goal_id"], sending_mode=MODE[row["sending_mode"]],
        method=METHOD[row["method"]], url_template=row["url_template"], body_template=row["body_template"],
        headers=row["headers"], settings=row["settings"], signature_header=row["signature_header"],
        has_signing_secret=row["has_secret"], enabled=row["enabled"], catalog_key=row["catalog_key"],
        create_time=to_timestamp(row["create_time"]), update_time=to_timestamp(row["update_time"]),
    )  # fmt: skip


def from_pb(t: pb.Template) -> dict[str, Any]:
    """The stored columns a request's template sets (unset enums default: attributed, GET)."""
    return {
        "partner_id": t.partner_id.strip(), "app_id": t.app_id.strip(), "name": t.name.strip(),
        "trigger": TRIGGER_NAME.get(t.trigger, ""), "goal_id": t.goal_id.strip(),
        "sending_mode": MODE_NAME.get(t.sending_mode) or "attributed", "method": METHOD_NAME.get(t.method, "GET"),
        "url_template": t.url_template.strip(), "body_template": t.body_template, "headers": dict(t.headers),
        "settings": dict(t.settings), "signature_header": t.signature_header.strip(), "enabled": t.enabled,
        "catalog_key": t.catalog_key.strip(),
    }  # fmt: skip


def delivery_pb(row: asyncpg.Record) -> pb.Delivery:
    return pb.Delivery(
        delivery_id=row["delivery_id"], template_id=row["template_id"], partner_id=row["partner_id"],
        event_id=row["event_id"], event_kind=row["event_kind"], status=STATUS[row["status"]], method=row["method"],
        url=row["url"], body=bytes(row["body"]).decode("utf-8", "replace"), attempts=row["attempts"],
        last_status_code=row["last_status_code"], last_error=row["last_error"],
        next_attempt_time=to_timestamp(row["next_attempt_time"]), create_time=to_timestamp(row["create_time"]),
        update_time=to_timestamp(row["update_time"]), delivered_time=to_timestamp(row["delivered_time"]),
    )  # fmt: skip


def attempt_pb(a: asyncpg.Record) -> pb.Attempt:
    return pb.Attempt(attempt=a["attempt"], time=to_timestamp(a["time"]), status_code=a["status_code"],
                      latency_ms=a["latency_ms"], response_head=a["response_head"], error=a["error"])  # fmt: skip


def catalog_entry_pb(e: dict[str, Any]) -> pb.CatalogEntry:
    return pb.CatalogEntry(
        key=e["key"], name=e["name"], description=e.get("description", ""),
        settings=[pb.CatalogSetting(name=s["name"], description=s.get("description", ""),
                                    required=bool(s.get("required")), default_value=s.get("default", ""),
                                    example=s.get("example", "")) for s in e["settings"]],
        macros=e.get("macros", {}), click_params=e.get("click_params", {}),
        templates=[pb.CatalogTemplate(
            name=t["name"], trigger=TRIGGER[t["trigger"]], sending_mode=MODE[t["sending_mode"]],
            method=METHOD[t["method"]], url_template=t["url_template"],
            body_template=t.get("body_template", ""), headers=t.get("headers", {}),
        ) for t in e["templates"]],
        source=e.get("source", ""), verify=bool(e.get("verify")), notes=e.get("notes", ""),
    )  # fmt: skip
