"""PostbackService: the delivery RPCs (list, read with the attempt log, retry)."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson
from clicktrail.postbacks.v1 import postbacks_pb2 as pb

from libs import auth, queue
from libs.errors import FailedPrecondition, NotFound, Validator
from libs.paging import Page
from services.postbacks import delivery_store, rules
from services.postbacks.base import PostbacksBase
from services.postbacks.dispatcher import DELIVERY_QUEUE
from services.postbacks.messages import STATUS_NAME, attempt_pb, delivery_pb


class DeliveryRpcs(PostbacksBase):
    async def ListDeliveries(self, request: pb.ListDeliveriesRequest, context: Any) -> pb.ListDeliveriesResponse:
        account_id = auth.require_account()
        page = Page.of(request, "before")
        v = Validator()
        statuses = []
        for s in request.statuses:
            if s in STATUS_NAME:
                statuses.append(STATUS_NAME[s])
            else:
                v.add("statuses", f"{s} is not a delivery status")
        v.raise_if_any()
        rows = await delivery_store.page(
            self._pool, account_id, page.get("before", None, str), statuses or None, request.template_id or None,
            request.partner_id or None, page.limit,
        )  # fmt: skip
        items, token = page.cut(rows, lambda r: {"before": r["delivery_id"]})
        return pb.ListDeliveriesResponse(deliveries=[delivery_pb(r) for r in items], next_page_token=token)

    async def _delivery(self, conn: asyncpg.Connection, account_id: str, delivery_id: str) -> pb.Delivery:
        row = await delivery_store.get(conn, account_id, delivery_id)
        if row is None:
            raise NotFound(f"delivery {delivery_id} not found")
        d = delivery_pb(row)
        d.attempt_log.extend(attempt_pb(a) for a in await delivery_store.attempts(conn, account_id, delivery_id))
        return d

    async def GetDelivery(self, request: pb.GetDeliveryRequest, context: Any) -> pb.GetDeliveryResponse:
        account_id = auth.require_account()
        async with self._pool.acquire() as conn:
            return pb.GetDeliveryResponse(delivery=await self._delivery(conn, account_id, request.delivery_id))

    async def RetryDelivery(self, request: pb.RetryDeliveryRequest, context: Any) -> pb.RetryDeliveryResponse:
        account_id = auth.require_account()
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                row = await delivery_store.lock_for_retry(conn, account_id, request.delivery_id)
                if row is None:
                    raise NotFound(f"delivery {request.delivery_id} not found")
                if row["status"] not in (rules.FAILED, rules.DEAD):
                    raise FailedPrecondition(
                        f"delivery {request.delivery_id} is {row['status']}: only failed or dead deliveries are retried"
                    )
                # Sent as the row has it now (redacted by an erasure, say), never as the dead
                # letter's payload was first rendered: that job goes, a new one is queued.
                if row["job_id"] is not None:
                    await queue.cancel(conn, DELIVERY_QUEUE, account_id, [row["job_id"]])
                headers = orjson.loads(row["headers"]) if isinstance(row["headers"], str) else row["headers"]
                payload = orjson.dumps({"d": row["delivery_id"], "m": row["method"], "u": row["url"],
                                        "h": list(headers.items()), "b": bytes(row["body"]).decode()})  # fmt: skip
                (job_id,) = await queue.enqueue(
                    conn, DELIVERY_QUEUE, [payload], account_ids=[account_id],
                    max_attempts=self._settings.postback_max_attempts, returning=True,
                )  # fmt: skip
                await delivery_store.requeued(conn, account_id, request.delivery_id, job_id, rules.PENDING)
            return pb.RetryDeliveryResponse(delivery=await self._delivery(conn, account_id, request.delivery_id))
