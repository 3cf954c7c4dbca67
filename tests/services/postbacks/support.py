"""Helpers for the postbacks tests: partners, templates, outbound events."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import asyncpg
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc
from clicktrail.postbacks.v1 import postbacks_pb2 as pb
from clicktrail.postbacks.v1 import postbacks_pb2_grpc

from libs import queue
from libs.postback_handoff import POSTBACK_QUEUE, encode
from tests.support.wait import wait_until


async def new_partner(links: links_pb2_grpc.LinksServiceStub, name: str = "Net") -> str:
    resp = await links.CreatePartner(lpb.CreatePartnerRequest(partner=lpb.Partner(name=name)))
    return str(resp.partner.partner_id)


async def new_template(
    stub: postbacks_pb2_grpc.PostbackServiceStub, partner_id: str, url: str, **kw: Any
) -> pb.Template:
    t = pb.Template(
        partner_id=partner_id, url_template=url, trigger=kw.pop("trigger", pb.TRIGGER_INSTALL),
        sending_mode=kw.pop("sending_mode", pb.SENDING_MODE_ATTRIBUTED), **kw,
    )  # fmt: skip
    return (await stub.CreateTemplate(pb.CreateTemplateRequest(template=t))).template


def event(account_id: str, partner_id: str, **kw: Any) -> dict[str, Any]:
    ev = {
        "event_id": kw.pop("event_id", uuid.uuid4().hex), "kind": "install", "account_id": account_id,
        "app_id": "app_1", "partner_id": partner_id, "campaign_id": "cmp_1", "click_id": "clk_1",
        "event": "install", "attributed": True, "country": "DE",
    }  # fmt: skip
    ev.update(kw)
    return ev


async def enqueue_events(dsn: str, events: Sequence[dict[str, Any]], chunk: int = 2000) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for i in range(0, len(events), chunk):
            part = events[i : i + chunk]
            async with conn.transaction():
                await queue.enqueue(
                    conn, POSTBACK_QUEUE, [encode(e) for e in part], account_ids=[e["account_id"] for e in part]
                )
    finally:
        await conn.close()


async def wait_for(check: Callable[[], Any], timeout: float = 30.0, every: float = 0.05) -> None:  # noqa: ASYNC109
    """tests.support.wait.wait_until, naming the check by its file and line."""
    code = getattr(check, "__code__", None)
    where = f"{Path(code.co_filename).name}:{code.co_firstlineno}" if code is not None else repr(check)
    await wait_until(check, f"the condition at {where}", timeout_s=timeout, every_s=every)
