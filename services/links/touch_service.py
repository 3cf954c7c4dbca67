"""LinksService: clicks and impressions — recording them (the gateway's batches),
listing them, and finding the touches an install or event is attributed to."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import asyncpg
from clicktrail.links.v1 import links_pb2 as pb

from libs import auth
from libs import quality as q
from libs.errors import InvalidArgument, NotFound, Validator
from libs.ids import id_time, is_valid_id
from libs.paging import Page
from services.links import rules, store
from services.links.base import LinksBase
from services.links.messages import touch_message
from services.links.subids import divert_blacklisted

ONE_MS = dt.timedelta(milliseconds=1)


def click_message(row: Mapping[str, Any]) -> pb.Click:
    """A links.clicks row selected with its lander click-through (store.LANDER_CLICK_COLS)
    as a Click: the offer the click-through sent the visitor to is the click's offer
    (coalesce(lander_clicks.offer_id, clicks.offer_id)), what attribution copies."""
    click: pb.Click = touch_message(row, pb.Click, "click_id")
    if row["through_offer_id"]:
        click.offer_id = row["through_offer_id"]
    if row["lander_click_time"] is not None:
        click.lander_click_time.FromDatetime(row["lander_click_time"].astimezone(dt.UTC))
    return click


def impression_message(row: asyncpg.Record) -> pb.Impression:
    impression: pb.Impression = touch_message(row, pb.Impression, "impression_id")
    return impression


# (table, id column, row -> message, response field) of each kind of touch.
CLICKS: tuple[str, str, Any, str] = ("clicks", "click_id", click_message, "clicks")
IMPRESSIONS: tuple[str, str, Any, str] = ("impressions", "impression_id", impression_message, "impressions")


class TouchRpcs(LinksBase):
    async def RecordClicks(self, request: pb.RecordClicksRequest, context: Any) -> pb.RecordClicksResponse:
        auth.require_gateway()
        if len(request.clicks) > rules.MAX_TOUCH_BATCH:
            raise InvalidArgument("clicks", f"at most {rules.MAX_TOUCH_BATCH} per call")
        results = await self.clicks.record(request.clicks)
        await divert_blacklisted(request.clicks, results, self.cache, self.sub_lists)
        return pb.RecordClicksResponse(results=results)

    async def RecordImpressions(
        self, request: pb.RecordImpressionsRequest, context: Any
    ) -> pb.RecordImpressionsResponse:
        auth.require_gateway()
        if len(request.impressions) > rules.MAX_TOUCH_BATCH:
            raise InvalidArgument("impressions", f"at most {rules.MAX_TOUCH_BATCH} per call")
        return pb.RecordImpressionsResponse(results=await self.impressions.record(request.impressions))

    async def GetClick(self, request: pb.GetClickRequest, context: Any) -> pb.GetClickResponse:
        account_id = auth.require_account()
        if not is_valid_id(request.click_id):
            raise NotFound(f"click {request.click_id!r} not found")
        t = id_time(request.click_id)
        row = await self._pool.fetchrow(store.GET_CLICK, account_id, request.click_id, t, t + ONE_MS)
        if row is None:
            raise NotFound(f"click {request.click_id!r} not found")
        return pb.GetClickResponse(click=click_message(row))

    async def _list_touches(
        self, account_id: str, request: Any, table: str, id_col: str
    ) -> tuple[list[asyncpg.Record], str]:
        page = Page.of(request, "before")
        start, end = rules.check_touch_filter(request)
        before = page.get("before", None, str)
        end = end or store.LATEST
        if before is not None and is_valid_id(before):  # ids are time-ordered: newer partitions are pruned
            end = min(end, id_time(before) + ONE_MS)
        rows = await self._pool.fetch(
            store.list_touches_sql(table, id_col, bool(request.verdict) and request.verdict != q.CLEAN),
            account_id, request.campaign_id or None, request.link_id or None, request.verdict or None,
            q.BY_CODE[request.reason].mask if request.reason else None, start or store.EARLIEST, end, before,
            page.limit,
        )  # fmt: skip
        return page.cut(rows, lambda r: {"before": r[id_col]})

    async def ListClicks(self, request: pb.ListClicksRequest, context: Any) -> pb.ListClicksResponse:
        account_id = auth.require_account()
        rows, token = await self._list_touches(account_id, request, "clicks", "click_id")
        return pb.ListClicksResponse(clicks=[click_message(r) for r in rows], next_page_token=token)

    async def ListImpressions(self, request: pb.ListImpressionsRequest, context: Any) -> pb.ListImpressionsResponse:
        account_id = auth.require_account()
        rows, token = await self._list_touches(account_id, request, "impressions", "impression_id")
        return pb.ListImpressionsResponse(
            impressions=[touch_message(r, pb.Impression, "impression_id") for r in rows], next_page_token=token
        )

    async def FindTouches(self, request: pb.FindTouchesRequest, context: Any) -> pb.FindTouchesResponse:
        account_id = auth.require_account()
        v = Validator()
        lookup = rules.check_lookup(v, "", request, request.WhichOneof("key"))
        if lookup is None:
            v.add("key", "set device_id or fingerprint")
        v.raise_if_any()
        assert lookup is not None
        return (await self._lookup(account_id, [lookup]))[0]

    async def LookupTouches(self, request: pb.LookupTouchesRequest, context: Any) -> pb.LookupTouchesResponse:
        account_id = auth.require_account()
        if len(request.lookups) > rules.MAX_LOOKUPS:
            raise InvalidArgument("lookups", f"at most {rules.MAX_LOOKUPS} per call")
        v = Validator()
        lookups: list[rules.Lookup | None] = []
        for i, req in enumerate(request.lookups):
            key = req.WhichOneof("key")
            lookup = rules.check_lookup(v, f"lookups[{i}].", req, key)
            if lookup is None and key is None:
                v.add(f"lookups[{i}].key", "set click_id, device_id or fingerprint")
            lookups.append(lookup)
        v.raise_if_any()
        return pb.LookupTouchesResponse(results=await self._lookup(account_id, lookups))

    async def _lookup(self, account_id: str, lookups: list[rules.Lookup | None]) -> list[pb.FindTouchesResponse]:
        """Answers validated look-ups (None: nothing to find) in order, with one
        query per kind of key and table."""
        out = [pb.FindTouchesResponse() for _ in lookups]
        by_kind: dict[str, list[tuple[int, rules.Lookup]]] = {}
        for n, lookup in enumerate(lookups):
            if lookup is not None:
                by_kind.setdefault(lookup.kind, []).append((n, lookup))
        for kind, items in by_kind.items():
            tables = [CLICKS]
            if kind != "click_id" and any(lk.impressions for _, lk in items):
                tables.append(IMPRESSIONS)
            for table, id_col, message, target in tables:
                chosen = items if table == "clicks" else [(n, lk) for n, lk in items if lk.impressions]
                rows = await self._pool.fetch(
                    store.lookup_sql(kind, table, id_col),
                    account_id,
                    *store.lookup_args(lk for _, lk in chosen),
                    [n for n, _ in chosen],
                )
                for r in rows:  # newest first within each look-up
                    getattr(out[r["lookup_n"]], target).append(message(r))
        return out
