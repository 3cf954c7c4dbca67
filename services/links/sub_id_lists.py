"""LinksService: a campaign's sub-id black- and whitelists."""

from __future__ import annotations

from typing import Any

from clicktrail.links.v1 import links_pb2 as pb

from libs import auth
from libs.errors import FailedPrecondition, NotFound, Validator
from libs.paging import Page
from services.links import rules, store
from services.links.base import LinksBase
from services.links.messages import sub_id_entry_msg
from services.links.subids import BLACKLIST, MAX_ENTRIES_PER_LIST, MAX_REASON, WHITELIST


class SubIdListRpcs(LinksBase):
    async def _entry_key(
        self, v: Validator, prefix: str, account_id: str, campaign_id: str, list_: int, sub_field: str, value: str
    ) -> str:
        """Validates a list entry's key and that its campaign exists; returns the canonical sub field."""
        field = rules.check_entry_key(v, prefix, campaign_id, list_, sub_field, value)
        if not await store.exists(self._pool, store.CAMPAIGN_EXISTS, account_id, campaign_id):
            raise NotFound(f"campaign {campaign_id!r} not found")
        return field

    async def AddSubIdEntry(self, request: pb.AddSubIdEntryRequest, context: Any) -> pb.AddSubIdEntryResponse:
        account_id = auth.require_account()
        e = request.entry
        v = Validator()
        v.check(len(e.reason) <= MAX_REASON, "entry.reason", f"must be at most {MAX_REASON} characters")
        field = await self._entry_key(v, "entry.", account_id, e.campaign_id, e.list, e.sub_field, e.value)
        key = (account_id, e.campaign_id, e.list, field, e.value)
        async with self._pool.acquire() as conn, conn.transaction():
            # One writer per campaign at a time: the whitelist check and the limit hold.
            await conn.execute(store.LOCK_CAMPAIGN_ROW, account_id, e.campaign_id)
            existing = await conn.fetchrow(store.GET_SUB_ID_ENTRY, *key)
            if existing is not None:
                return pb.AddSubIdEntryResponse(entry=sub_id_entry_msg(existing), created=False)
            if e.list == BLACKLIST and await conn.fetchrow(
                store.GET_SUB_ID_ENTRY, account_id, e.campaign_id, WHITELIST, field, e.value
            ):
                raise FailedPrecondition(
                    f"{field}={e.value!r} is on campaign {e.campaign_id}'s whitelist; remove it there first"
                )
            count = await conn.fetchval(store.COUNT_SUB_ID_ENTRIES, account_id, e.campaign_id, e.list)
            if count >= MAX_ENTRIES_PER_LIST:
                raise FailedPrecondition(
                    f"campaign {e.campaign_id}'s {rules.list_name(e.list)} already holds {MAX_ENTRIES_PER_LIST} entries"
                )
            row = await conn.fetchrow(store.INSERT_SUB_ID_ENTRY, *key, e.reason.strip())
        self.sub_lists.clear()
        return pb.AddSubIdEntryResponse(entry=sub_id_entry_msg(row), created=True)

    async def RemoveSubIdEntry(self, request: pb.RemoveSubIdEntryRequest, context: Any) -> pb.RemoveSubIdEntryResponse:
        account_id = auth.require_account()
        r = request
        field = await self._entry_key(Validator(), "", account_id, r.campaign_id, r.list, r.sub_field, r.value)
        deleted = await self._pool.fetchval(
            store.DELETE_SUB_ID_ENTRY, account_id, r.campaign_id, r.list, field, r.value
        )
        if deleted is None:
            raise NotFound(f"{field}={r.value!r} is not on campaign {r.campaign_id}'s {rules.list_name(r.list)}")
        self.sub_lists.clear()
        return pb.RemoveSubIdEntryResponse()

    async def ListSubIdEntries(self, request: pb.ListSubIdEntriesRequest, context: Any) -> pb.ListSubIdEntriesResponse:
        account_id = auth.require_account()
        field = rules.check_entry_filter(request.campaign_id, request.list, request.sub_field)
        page = Page.of(request, "list", "field", "value")
        if not await store.exists(self._pool, store.CAMPAIGN_EXISTS, account_id, request.campaign_id):
            raise NotFound(f"campaign {request.campaign_id!r} not found")
        after = (page.get("list", 0), page.get("field", ""), page.get("value", ""))
        rows = await self._pool.fetch(
            store.LIST_SUB_ID_ENTRIES, account_id, request.campaign_id, request.list, field, *after, page.limit
        )
        rows, token = page.cut(rows, lambda r: {"list": r["list"], "field": r["sub_field"], "value": r["value"]})
        return pb.ListSubIdEntriesResponse(entries=[sub_id_entry_msg(r) for r in rows], next_page_token=token)
