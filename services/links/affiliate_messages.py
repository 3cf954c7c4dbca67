"""Stored rows -> AffiliateService messages (offers, landers, streams, custom
domains). jsonb columns arrive as text (the pool has no json codec)."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson
from clicktrail.links.v1 import affiliate_pb2 as apb
from clicktrail.type.v1 import money_pb2

from libs.api import format_money, to_timestamp


def json_of(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def offer_msg(row: asyncpg.Record) -> apb.Offer:
    offer = apb.Offer(
        offer_id=row["offer_id"], name=row["name"], partner_id=row["partner_id"], url=row["url"],
        payout_type=row["payout_type"], countries=list(row["countries"]), daily_cap=row["daily_cap"],
        total_cap=row["total_cap"], cap_action=row["cap_action"], cap_url=row["cap_url"], status=row["status"],
        create_time=to_timestamp(row["create_time"]), update_time=to_timestamp(row["update_time"]),
    )  # fmt: skip
    if row["payout_amount"] is not None or row["payout_currency"]:
        offer.payout.CopyFrom(
            money_pb2.Money(
                amount=format_money(row["payout_amount"]) if row["payout_amount"] is not None else "",
                currency_code=row["payout_currency"] or "",
            )
        )
    return offer


def lander_msg(row: asyncpg.Record) -> apb.Lander:
    return apb.Lander(
        lander_id=row["lander_id"], name=row["name"], url=row["url"], type=row["type"],
        macros=json_of(row["macros"]), create_time=to_timestamp(row["create_time"]),
        update_time=to_timestamp(row["update_time"]),
    )  # fmt: skip


def stream_msg(row: asyncpg.Record) -> apb.Stream:
    filters = json_of(row["filters"])
    return apb.Stream(
        stream_id=row["stream_id"], campaign_id=row["campaign_id"], name=row["name"], position=row["position"],
        filters=[apb.StreamFilter(field=f["field"], exclude=f["exclude"], values=f["values"]) for f in filters],
        action=row["action"],
        landers=[apb.WeightedLander(lander_id=w["lander_id"], weight=w["weight"]) for w in json_of(row["landers"])],
        offers=[apb.WeightedOffer(offer_id=w["offer_id"], weight=w["weight"]) for w in json_of(row["offers"])],
        url=row["url"], paused=row["paused"], is_default=not filters,
        create_time=to_timestamp(row["create_time"]), update_time=to_timestamp(row["update_time"]),
    )  # fmt: skip


def domain_msg(row: asyncpg.Record) -> apb.Domain:
    return apb.Domain(name=row["name"], root_url=row["root_url"], create_time=to_timestamp(row["create_time"]))
