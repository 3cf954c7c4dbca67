"""Stored rows -> LinksService messages (apps, partners, campaigns, links,
sub-id list entries; clicks and impressions render beside the click path)."""

from __future__ import annotations

from urllib.parse import urlsplit

import asyncpg
from clicktrail.links.v1 import links_pb2 as pb
from clicktrail.type.v1 import money_pb2
from google.protobuf import duration_pb2

from libs.api import format_money, to_timestamp
from services.links.touches import touch_message

__all__ = ["app_msg", "campaign_msg", "link_base_url", "link_msg", "partner_msg", "sub_id_entry_msg", "touch_message"]


def app_msg(row: asyncpg.Record) -> pb.App:
    return pb.App(
        app_id=row["app_id"], name=row["name"], platform=row["platform"], bundle_id=row["bundle_id"],
        store_url=row["store_url"], create_time=to_timestamp(row["create_time"]),
        update_time=to_timestamp(row["update_time"]), apple_team_id=row["apple_team_id"],
        apple_app_id=row["apple_app_id"], android_sha256_fingerprints=row["android_sha256_fingerprints"],
    )  # fmt: skip


def partner_msg(row: asyncpg.Record) -> pb.Partner:
    return pb.Partner(
        partner_id=row["partner_id"], name=row["name"], catalog_key=row["catalog_key"],
        create_time=to_timestamp(row["create_time"]), update_time=to_timestamp(row["update_time"]),
    )  # fmt: skip


def campaign_msg(row: asyncpg.Record) -> pb.Campaign:
    c = pb.Campaign(
        campaign_id=row["campaign_id"], name=row["name"], type=row["type"],
        traffic_type=row["traffic_type"], partner_id=row["partner_id"], app_id=row["app_id"] or "",
        status=row["status"], fallback_url=row["fallback_url"], target_goal_id=row["target_goal_id"],
        create_time=to_timestamp(row["create_time"]), update_time=to_timestamp(row["update_time"]),
        publish_time=to_timestamp(row["publish_time"]), invalid_traffic_action=row["invalid_traffic_action"],
        visitor_window=duration_pb2.Duration(seconds=row["visitor_window_s"]),
    )  # fmt: skip
    if row["budget_amount"] is not None:
        c.budget.CopyFrom(
            money_pb2.Money(amount=format_money(row["budget_amount"]), currency_code=row["budget_currency"])
        )
    return c


def link_base_url(public_url: str, domain: str | None) -> str:
    """Where a link's public URLs start: its custom domain (with the public URL's
    scheme: TLS is the reverse proxy's on either), else the public URL."""
    if not domain:
        return public_url
    return f"{urlsplit(public_url).scheme or 'https'}://{domain}"


def link_msg(row: asyncpg.Record, public_url: str) -> pb.Link:
    base = link_base_url(public_url, row["domain"])
    return pb.Link(
        link_id=row["link_id"], campaign_id=row["campaign_id"], app_id=row["app_id"] or "",
        name=row["name"], slug=row["slug"], destination_url=row["destination_url"],
        ios_url=row["ios_url"], android_url=row["android_url"], desktop_url=row["desktop_url"],
        click_url=f"{base}/c/{row['slug']}", impression_url=f"{base}/i/{row['slug']}",
        qr_url=f"{base}/qr/{row['slug']}.svg",
        create_time=to_timestamp(row["create_time"]), update_time=to_timestamp(row["update_time"]),
        domain=row["domain"] or "", expire_time=to_timestamp(row["expire_time"]), max_clicks=row["max_clicks"],
        redirect_status=row["redirect_status"], deep_link=row["deep_link"],
    )  # fmt: skip


def sub_id_entry_msg(row: asyncpg.Record) -> pb.SubIdEntry:
    return pb.SubIdEntry(
        campaign_id=row["campaign_id"], list=row["list"], sub_field=row["sub_field"], value=row["value"],
        reason=row["reason"], create_time=to_timestamp(row["create_time"]),
    )  # fmt: skip
