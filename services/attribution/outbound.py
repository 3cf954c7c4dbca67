"""The outbound events attribution hands to postbacks (libs/postback_handoff):
one for each new install and conversion and each conversion status change,
built from the row and the touch / campaign fetched before the transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from libs import postback_handoff
from libs import quality as q
from libs.vocab.kinds import TRACKING_STATUS_NAMES
from services.attribution import quality as qual
from services.attribution.lookups import CLICK, CampaignInfo, Touch
from services.attribution.rules import REJECTED, STATUS_NAMES


def rfc3339(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value else ""


def money_text(value: Decimal | None) -> str:
    if value is None:
        return ""
    return format(value.normalize(), "f") if value != 0 else "0"


def quality_fields(event_id: str, verdict: int, reasons: int) -> dict[str, str]:
    """An outbound event's id, verdict and reasons. A rejected install or
    conversion goes out under its own event id, so that overruling it back
    later still fires its normal postback once (deliveries are unique per
    event id and template)."""
    return {
        "event_id": f"{event_id}:rejected" if verdict == q.INVALID else event_id,
        "verdict": q.verdict_name(verdict), "reasons": qual.codes_text(reasons),
    }  # fmt: skip


def att_status_of(row: Mapping[str, Any]) -> str:
    """{att_status} of an SDK event, or of the install or conversion row that kept it ("" when
    none: not sent, a conversion from an inbound postback, a row from before the column)."""
    return TRACKING_STATUS_NAMES.get(row.get("tracking_status") or 0, "")


def device_fields(ev: Mapping[str, Any]) -> dict[str, str]:
    """The outbound macros of the event's device: the Firebase app instance id, OS version and model,
    the app's version and the ad-tracking consent."""
    return {
        "app_instance_id": ev.get("app_instance_id") or "", "os_version": ev.get("os_version") or "",
        "device_model": ev.get("device_model") or "", "app_version": ev.get("app_version") or "",
        "att_status": att_status_of(ev),
    }  # fmt: skip


def outbound(kind: str, account_id: str, *, touch: Touch | None, campaign: CampaignInfo | None,
             **fields: Any) -> bytes:  # fmt: skip
    """The job payload of an outbound event for an install, conversion or status change."""
    event: dict[str, Any] = {"kind": kind, "account_id": account_id, "attributed": campaign is not None}
    if campaign is not None:
        event.update(campaign_id=campaign.campaign_id, campaign_name=campaign.name, partner_id=campaign.partner_id)
    if touch is not None:
        event.update(
            link_id=touch.link_id, partner_click_id=touch.partner_click_id, country=touch.country, os=touch.os,
            **({"click_id": touch.touch_id} if touch.kind == CLICK else {}),
            **{f"sub{i + 1}": v for i, v in enumerate(touch.subs)},
        )  # fmt: skip
    event.update({k: v for k, v in fields.items() if v is not None})
    return postback_handoff.encode(postback_handoff.outbound_event(**event))


def conversion_outbound(account_id: str, row: Mapping[str, Any], kind: str, touch: Touch | None,
                        campaign: CampaignInfo | None, event_id: str = "", **extra: str) -> bytes:  # fmt: skip
    """The outbound event of a new conversion or a status change (with the row's verdict).
    ``event_id`` names a change that is not a move of status (a partial refund)."""
    ids = quality_fields(row["conversion_id"], row["verdict"], row["reasons"])
    if kind != "conversion":
        ids["event_id"] = event_id or f"{row['conversion_id']}:{STATUS_NAMES[row['status']]}"
    payout = money_text(row["payout"]) if row["payout"] is not None else ""
    return outbound(
        kind, account_id, touch=touch, campaign=campaign, app_id=row["app_id"] or "",
        event=row["goal"] or "conversion", goal_id=row["goal_id"], goal=row["goal"],
        status=STATUS_NAMES[row["status"]], payout=payout, revenue=payout if row["status"] != REJECTED else "0",
        currency=row["currency"] or "", txid=row["txid"] or "", event_time=rfc3339(row["event_time"]),
        att_status=att_status_of(row), **ids, **extra,
    )  # fmt: skip


def install_outbound(account_id: str, row: Mapping[str, Any], touch: Touch | None,
                     campaign: CampaignInfo | None) -> bytes:  # fmt: skip
    """An install's outbound event as the engine makes it, with the row's current verdict."""
    at = rfc3339(row["install_time"])
    return outbound(
        "install", account_id, touch=touch, campaign=campaign, app_id=row["app_id"], event="install",
        idfa=row["idfa"] or "", gaid=row["gaid"] or "", ip=str(row["ip"]) if row["ip"] is not None else "",
        install_time=at, event_time=at, att_status=att_status_of(row),
        **quality_fields(row["install_id"], row["verdict"], row["reasons"]),
    )  # fmt: skip
