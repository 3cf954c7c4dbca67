"""clicktrail.attribution.v1.ReattributionService: the re-engagements and
re-attributions the engine recorded (services/attribution/reengagement.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import grpc
from clicktrail.attribution.v1 import reengagement_pb2 as pb
from clicktrail.attribution.v1 import reengagement_pb2_grpc as pb_grpc

from libs import auth
from libs.api import to_timestamp
from libs.errors import InvalidArgument
from libs.paging import Page

END = dt.datetime.max.replace(tzinfo=dt.UTC)
LIST = """
SELECT * FROM attribution.reattributions
WHERE account_id = $1
  AND ($2::smallint = 0 OR kind = $2) AND ($3 = '' OR install_id = $3)
  AND ($4 = '' OR campaign_id = $4) AND ($5 = '' OR app_id = $5)
  AND (event_time, reattribution_id) < ($6::timestamptz, $7)
ORDER BY event_time DESC, reattribution_id DESC
LIMIT $8
"""


def reattribution_msg(r: Any) -> pb.Reattribution:
    return pb.Reattribution(
        reattribution_id=r["reattribution_id"], kind=r["kind"], install_id=r["install_id"], app_id=r["app_id"],
        event_uuid=str(r["event_uuid"]), event_time=to_timestamp(r["event_time"]), match_type=r["match_type"],
        click_id=r["click_id"] or "", touch_time=to_timestamp(r["touch_time"]), campaign_id=r["campaign_id"],
        partner_id=r["partner_id"] or "", link_id=r["link_id"] or "", window_end=to_timestamp(r["window_end"]),
        create_time=to_timestamp(r["create_time"]),
    )  # fmt: skip


class ReattributionService(pb_grpc.ReattributionServiceServicer):
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def ListReattributions(
        self, request: pb.ListReattributionsRequest, context: Any
    ) -> pb.ListReattributionsResponse:
        account_id = auth.require_account()
        if request.kind not in pb.ReattributionKind.values():
            raise InvalidArgument("kind", f"must be one of {', '.join(pb.ReattributionKind.keys()[1:])}")
        page = Page.of(request, "t", "id")
        rows = await self._pool.fetch(
            LIST, account_id, request.kind, request.install_id.strip(), request.campaign_id.strip(),
            request.app_id.strip(), page.get("t", END, dt.datetime.fromisoformat), page.get("id", "", str),
            page.limit,
        )  # fmt: skip
        rows, token = page.cut(rows, lambda r: {"t": r["event_time"].isoformat(), "id": r["reattribution_id"]})
        return pb.ListReattributionsResponse(reattributions=[reattribution_msg(r) for r in rows], next_page_token=token)


def register(server: grpc.aio.Server, pool: asyncpg.Pool) -> list[str]:
    pb_grpc.add_ReattributionServiceServicer_to_server(ReattributionService(pool), server)
    return [pb.DESCRIPTOR.services_by_name["ReattributionService"].full_name]
