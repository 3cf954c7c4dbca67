"""AffiliateService: a campaign's streams (its flow: filters, then an action)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import asyncpg
import orjson
from clicktrail.links.v1 import affiliate_pb2 as apb
from google.protobuf import field_mask_pb2

from libs import auth
from libs.api import update_paths
from libs.errors import FailedPrecondition, InvalidArgument, NotFound, Validator
from libs.ids import new_resource_id
from libs.paging import Page
from services.links import affiliate_store as astore
from services.links.affiliate_messages import stream_msg
from services.links.affiliate_rules import check_filters
from services.links.affiliate_store import clear_flows
from services.links.base import LinksBase
from services.links.rules import MAX_NAME, check_template, enum_ok

STREAM_UPDATABLE = ("name", "position", "filters", "action", "landers", "offers", "url", "paused")
ROTATE = apb.STREAM_ACTION_ROTATE
WITH_URL = (apb.STREAM_ACTION_URL, apb.STREAM_ACTION_SAFE_PAGE)
MAX_ROTATION = 100
MAX_WEIGHT = 1_000_000

# A stream created at a position another stream of the campaign holds goes before
# it: that one and those after it move one place down (their order kept), so
# position 0 puts the new stream first. Under the campaign's row lock.
MAKE_ROOM_AT = (
    "UPDATE links.streams SET position = position + 1, update_time = now()"
    " WHERE account_id = $1 AND campaign_id = $2 AND position >= $3"
    " AND EXISTS (SELECT 1 FROM links.streams WHERE account_id = $1 AND campaign_id = $2 AND position = $3)"
)


@dataclasses.dataclass(frozen=True)
class StreamValues:
    """A stream's columns as stored (jsonb as text), after validation."""

    name: str
    position: int
    filters: list[dict[str, Any]]
    action: int
    landers: list[dict[str, Any]]
    offers: list[dict[str, Any]]
    url: str
    paused: bool

    def row(self) -> tuple[Any, ...]:
        dump = lambda value: orjson.dumps(value).decode()  # noqa: E731
        return (
            self.name, self.position, dump(self.filters), self.action, dump(self.landers),
            dump(self.offers), self.url, self.paused,
        )  # fmt: skip


def _weighted(v: Validator, field: str, items: Sequence[Any], key: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    v.check(len(items) <= MAX_ROTATION, field, f"at most {MAX_ROTATION} in one rotation")
    for i, item in enumerate(items[:MAX_ROTATION]):
        ident = getattr(item, key)
        if not ident:
            v.add(f"{field}[{i}].{key}", "is required")
        elif any(o[key] == ident for o in out):
            v.add(f"{field}[{i}].{key}", f"{ident} is listed twice; give it one weight")
        if item.weight <= 0:
            v.add(f"{field}[{i}].weight", f"must be positive (a share of the rotation), not {item.weight}")
        elif item.weight > MAX_WEIGHT:
            v.add(f"{field}[{i}].weight", f"must be at most {MAX_WEIGHT}")
        out.append({key: ident, "weight": item.weight})
    return out


def check_stream(s: apb.Stream) -> tuple[Validator, StreamValues]:
    """Validates a whole stream's own fields (a new one, or the current one with an
    update merged in); the store adds the existence of its landers and offers."""
    v = Validator()
    v.check(len(s.name) <= MAX_NAME, "stream.name", f"must be at most {MAX_NAME} characters")
    v.check(s.position >= 0, "stream.position", "must not be negative")
    action = s.action
    v.check(enum_ok(apb.StreamAction, action), "stream.action", "is required: rotate, url, fallback or safe_page")
    filters = check_filters(v, "stream.filters", s.filters)
    landers = _weighted(v, "stream.landers", s.landers, "lander_id")
    offers = _weighted(v, "stream.offers", s.offers, "offer_id")
    if action == ROTATE:
        v.check(bool(s.offers), "stream.offers", "a ROTATE stream needs at least one offer")
    elif action:
        v.check(not s.landers, "stream.landers", "only a ROTATE stream has landers")
        v.check(not s.offers, "stream.offers", "only a ROTATE stream has offers")
    if action in WITH_URL:
        check_template(v, "stream.url", s.url, required=True)
    elif action and s.url:
        v.add("stream.url", "only URL and SAFE_PAGE streams have a url")
    values = StreamValues(s.name.strip(), s.position, filters, action, landers, offers, s.url, s.paused)
    return v, values


class StreamRpcs(LinksBase):
    async def _check_stream_refs(
        self, v: Validator, conn: asyncpg.Connection, account_id: str, s: StreamValues
    ) -> None:
        """Every lander and offer must be the account's (locked until the write commits)."""
        for field, key, sql, items in (
            ("stream.landers", "lander_id", astore.EXISTING_LANDERS, s.landers),
            ("stream.offers", "offer_id", astore.EXISTING_OFFERS, s.offers),
        ):
            if not items:
                continue
            found = {r[0] for r in await conn.fetch(sql, account_id, [i[key] for i in items])}
            for i, item in enumerate(items):
                if item[key] and item[key] not in found:
                    v.add(f"{field}[{i}].{key}", f"{key.removesuffix('_id')} {item[key]!r} not found")

    async def _check_default_stream(self, conn: asyncpg.Connection, account_id: str, campaign_id: str,
                             stream_id: str, s: StreamValues) -> None:  # fmt: skip
        if s.filters:
            return
        other = await conn.fetchval(astore.OTHER_DEFAULT_STREAM, account_id, campaign_id, stream_id)
        if other:
            raise FailedPrecondition(
                f"campaign {campaign_id} already has a default stream (no filters): {other};"
                " give this stream filters, or change that one"
            )

    async def CreateStream(self, request: apb.CreateStreamRequest, context: Any) -> apb.CreateStreamResponse:
        account_id = auth.require_account()
        s = request.stream
        v, values = check_stream(s)
        if not s.campaign_id:
            raise InvalidArgument("stream.campaign_id", "is required")
        stream_id = new_resource_id("str")
        async with self._pool.acquire() as conn, conn.transaction():
            if await conn.fetchval(astore.LOCK_CAMPAIGN, account_id, s.campaign_id) is None:
                v.add("stream.campaign_id", f"campaign {s.campaign_id!r} not found")
                v.raise_if_any()
            await self._check_stream_refs(v, conn, account_id, values)
            v.raise_if_any()
            await self._check_default_stream(conn, account_id, s.campaign_id, stream_id, values)
            if not s.HasField("position"):  # unset: after the last (0 is a position: the first)
                position = await conn.fetchval(astore.NEXT_POSITION, account_id, s.campaign_id)
                values = dataclasses.replace(values, position=position)
            else:
                await conn.execute(MAKE_ROOM_AT, account_id, s.campaign_id, values.position)
            row = await conn.fetchrow(astore.INSERT_STREAM, account_id, stream_id, s.campaign_id, *values.row())
        clear_flows(self)
        return apb.CreateStreamResponse(stream=stream_msg(row))

    async def GetStream(self, request: apb.GetStreamRequest, context: Any) -> apb.GetStreamResponse:
        account_id = auth.require_account()
        row = await self._get(astore.GET_STREAM, "stream", account_id, request.stream_id)
        return apb.GetStreamResponse(stream=stream_msg(row))

    async def ListStreams(self, request: apb.ListStreamsRequest, context: Any) -> apb.ListStreamsResponse:
        account_id = auth.require_account()
        if not request.campaign_id:
            raise InvalidArgument("campaign_id", "is required")
        page = Page.of(request, "default", "position", "after", "campaign_id")
        page.expect("campaign_id", request.campaign_id, "the page token belongs to another campaign's list")
        rows = await self._pool.fetch(
            astore.LIST_STREAMS, account_id, request.campaign_id, page.get("default", False, bool),
            page.get("position", -1, int), page.get("after", "", str), page.limit,
        )  # fmt: skip
        rows, token = page.cut(
            rows,
            lambda r: {
                "default": r["filters"] in ("[]", []), "position": r["position"], "after": r["stream_id"],
                "campaign_id": r["campaign_id"],
            },
        )  # fmt: skip
        return apb.ListStreamsResponse(streams=[stream_msg(r) for r in rows], next_page_token=token)

    async def UpdateStream(self, request: apb.UpdateStreamRequest, context: Any) -> apb.UpdateStreamResponse:
        account_id = auth.require_account()
        paths = update_paths(request.update_mask, request.stream, STREAM_UPDATABLE)
        stream_id = request.stream.stream_id
        async with self._pool.acquire() as conn, conn.transaction():
            campaign_id = await conn.fetchval(astore.GET_STREAM_CAMPAIGN, account_id, stream_id)
            if campaign_id is None:
                raise NotFound(f"stream {stream_id!r} not found")
            await conn.execute(astore.LOCK_CAMPAIGN, account_id, campaign_id)
            cur = await conn.fetchrow(astore.LOCK_STREAM, account_id, stream_id)
            if cur is None:  # deleted meanwhile
                raise NotFound(f"stream {stream_id!r} not found")
            merged = stream_msg(cur)
            field_mask_pb2.FieldMask(paths=paths).MergeMessage(
                request.stream, merged, replace_message_field=True, replace_repeated_field=True
            )
            v, values = check_stream(merged)
            await self._check_stream_refs(v, conn, account_id, values)
            v.raise_if_any()
            await self._check_default_stream(conn, account_id, campaign_id, stream_id, values)
            row = await conn.fetchrow(astore.UPDATE_STREAM, account_id, stream_id, *values.row())
        clear_flows(self)
        return apb.UpdateStreamResponse(stream=stream_msg(row))

    async def DeleteStream(self, request: apb.DeleteStreamRequest, context: Any) -> apb.DeleteStreamResponse:
        account_id = auth.require_account()
        if await self._pool.fetchval(astore.DELETE_STREAM, account_id, request.stream_id) is None:
            raise NotFound(f"stream {request.stream_id!r} not found")
        clear_flows(self)
        return apb.DeleteStreamResponse()
