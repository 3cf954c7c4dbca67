"""The traffic-quality RPCs of LinksService: click-time check settings, the
account's block / allow lists, operator overrules of touch verdicts and the
flagged sub-ids the analytics job sends. Mixed into LinksService."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import orjson
from clicktrail.links.v1 import links_pb2 as pb

from libs import auth
from libs import quality as q
from libs.api import from_timestamp, to_timestamp
from libs.bots import validate_user_agent_pattern
from libs.errors import FailedPrecondition, InvalidArgument, NotFound, Validator
from libs.ids import id_time, is_valid_id, new_resource_id
from libs.networks import parse_network_entry
from libs.paging import Page
from libs.quality_settings import SettingsFields
from libs.vocab.enums import code_map, names
from services.links import quality_store as store
from services.links import store as links_store
from services.links.quality import CHECKS, DEFAULT_SETTINGS, LIMITS, QualityCache, apply
from services.links.subids import canonical_sub_field, sub_field_choices
from services.links.touch_service import click_message
from services.links.touches import touch_message

MAX_NOTE = 500
MAX_SUB_VALUE = 256
MAX_FLAGS_PER_CALL = 1000
MAX_FLAG_AHEAD = dt.timedelta(days=90)
KEEP_EXPIRED_FLAGS = dt.timedelta(days=7)
# Entries per (list, kind): User-Agent patterns are tried one by one on every click.
MAX_LIST_ENTRIES = {"user_agent": 1_000, "network": 5_000}
# Stored names of the lists and kinds (the enums' short names) and back.
LIST_NAMES: dict[int, str] = dict(names(pb.QualityList))
LIST_VALUES: dict[str, Any] = code_map(pb.QualityList)
KIND_NAMES: dict[int, str] = dict(names(pb.QualityListKind))
KIND_VALUES: dict[str, Any] = code_map(pb.QualityListKind)
# Proto field -> stored key, for the thresholds and windows.
INT_FIELDS = ("flood_ip_clicks", "flood_device_clicks", "flood_ip_user_agent_clicks")
DURATION_FIELDS = {"flood_window": "flood_window_s", "duplicate_window": "duplicate_window_s"}
FIELDS = SettingsFields(pb.QualitySettings, INT_FIELDS, DURATION_FIELDS)
SETTINGS_PATHS = FIELDS.paths
TABLES = {"click_id": ("clicks", "c"), "impression_id": ("impressions", "i")}


def _list_entry(row: asyncpg.Record) -> pb.QualityListEntry:
    return pb.QualityListEntry(
        list=LIST_VALUES[row["list"]], kind=KIND_VALUES[row["kind"]], value=row["value"], note=row["note"],
        create_time=to_timestamp(row["create_time"]),
    )  # fmt: skip


def _flag(row: asyncpg.Record) -> pb.FlaggedSubId:
    return pb.FlaggedSubId(
        campaign_id=row["campaign_id"], sub_field=row["sub_field"], value=row["value"], reason=row["reason"],
        create_time=to_timestamp(row["create_time"]), expire_time=to_timestamp(row["expire_time"]),
    )  # fmt: skip


def _overrule(row: asyncpg.Record) -> pb.TouchOverrule:
    o = pb.TouchOverrule(
        overrule_id=row["overrule_id"], touch_time=to_timestamp(row["touch_time"]),
        previous_verdict=row["previous_verdict"], verdict=row["verdict"], note=row["note"],
        create_time=to_timestamp(row["create_time"]),
    )  # fmt: skip
    if row["kind"] == b"c":  # "char" comes back as bytes
        o.click_id = row["touch_id"]
    else:
        o.impression_id = row["touch_id"]
    return o


def _normalise_list_value(v: Validator, field: str, kind: str, value: str) -> str:
    """The stored form of a list value; a violation on ``field`` when malformed."""
    if not value.strip():
        v.add(field, "is required")
        return ""
    try:
        return validate_user_agent_pattern(value) if kind == "user_agent" else parse_network_entry(value)
    except ValueError as exc:
        v.add(field, str(exc))
        return ""


class QualityRpcs:
    """Needs ``_pool`` (asyncpg.Pool) and ``quality`` (QualityCache) from LinksService."""

    _pool: asyncpg.Pool
    quality: QualityCache

    async def _campaign_exists(self, account_id: str, campaign_id: str) -> bool:
        return await links_store.exists(self._pool, links_store.CAMPAIGN_EXISTS, account_id, campaign_id)

    # ----- settings ---------------------------------------------------------------

    async def _settings_reply(
        self, conn: asyncpg.Connection | asyncpg.Pool, account_id: str, campaign_id: str
    ) -> tuple[pb.QualitySettings, pb.QualitySettings]:
        rows = await conn.fetch(store.GET_SETTINGS, account_id, campaign_id)
        docs = {r["campaign_id"]: (orjson.loads(r["settings"]), r["update_time"]) for r in rows}
        account_doc = docs.get("", ({}, None))[0]
        effective = apply(DEFAULT_SETTINGS, account_doc)
        if campaign_id:
            effective = apply(effective, docs.get(campaign_id, ({}, None))[0])
        own, updated = docs.get(campaign_id, ({}, None))
        return FIELDS.stored_pb(campaign_id, own, updated), FIELDS.effective_pb(campaign_id, effective)

    async def GetQualitySettings(
        self, request: pb.GetQualitySettingsRequest, context: Any
    ) -> pb.GetQualitySettingsResponse:
        account_id = auth.require_account()
        if request.campaign_id and not await self._campaign_exists(account_id, request.campaign_id):
            raise NotFound(f"campaign {request.campaign_id!r} not found")
        own, effective = await self._settings_reply(self._pool, account_id, request.campaign_id)
        return pb.GetQualitySettingsResponse(settings=own, effective=effective)

    async def UpdateQualitySettings(
        self, request: pb.UpdateQualitySettingsRequest, context: Any
    ) -> pb.UpdateQualitySettingsResponse:
        account_id = auth.require_account()
        s = request.settings
        paths = list(dict.fromkeys(request.update_mask.paths))
        v = Validator()
        if not paths:
            paths = [
                p for p in SETTINGS_PATHS
                if (p == "checks" and len(s.checks)) or (p != "checks" and s.HasField(p))
            ]  # fmt: skip
            if not paths:
                raise InvalidArgument("update_mask", "nothing to update: set fields or an update_mask")
        for p in paths:
            if p in SETTINGS_PATHS:
                continue
            if p.startswith("checks.") and p[7:] in CHECKS:
                continue
            v.add(
                "update_mask",
                f"cannot update {p!r}; updatable: {', '.join(SETTINGS_PATHS)}, checks.<check>"
                + (f" (checks: {', '.join(CHECKS)})" if p.startswith("checks.") else ""),
            )
        for code in s.checks:
            v.check(code in CHECKS, f"settings.checks[{code}]", f"{code!r} is not a check; checks: {', '.join(CHECKS)}")
        for f in INT_FIELDS:
            if f in paths and s.HasField(f):
                lo, hi = LIMITS[f]
                value = getattr(s, f)
                v.check(lo <= value <= hi, f"settings.{f}", f"must be between {lo:,} and {hi:,} clicks (got {value})")
        for f, key in DURATION_FIELDS.items():
            if f in paths and s.HasField(f):
                d = getattr(s, f)
                lo, hi = LIMITS[key]
                if d.nanos:
                    v.add(f"settings.{f}", "must be whole seconds")
                v.check(
                    lo <= d.seconds <= hi, f"settings.{f}", f"must be between {lo:,} s and {hi:,} s (got {d.seconds} s)"
                )
        v.raise_if_any()
        async with self._pool.acquire() as conn, conn.transaction():
            if s.campaign_id and not await self._campaign_exists(account_id, s.campaign_id):
                raise NotFound(f"campaign {s.campaign_id!r} not found")
            await conn.execute(store.ENSURE_SETTINGS, account_id, s.campaign_id)
            raw = await conn.fetchval(store.LOCK_SETTINGS, account_id, s.campaign_id)
            doc = FIELDS.apply(orjson.loads(raw), s, paths)
            await conn.execute(store.PUT_SETTINGS, account_id, s.campaign_id, orjson.dumps(doc).decode())
            own, effective = await self._settings_reply(conn, account_id, s.campaign_id)
        self.quality.clear()
        return pb.UpdateQualitySettingsResponse(settings=own, effective=effective)

    # ----- block and allow lists ----------------------------------------------------

    def _list_key(self, v: Validator, prefix: str, list_: int, kind: int, value: str) -> tuple[str, str, str]:
        v.check(list_ in LIST_NAMES, f"{prefix}list", "is required: block or allow")
        v.check(kind in KIND_NAMES, f"{prefix}kind", "is required: user_agent or network")
        v.raise_if_any()
        k = KIND_NAMES[kind]
        normal = _normalise_list_value(v, f"{prefix}value", k, value)
        v.raise_if_any()
        return LIST_NAMES[list_], k, normal

    async def AddQualityListEntry(
        self, request: pb.AddQualityListEntryRequest, context: Any
    ) -> pb.AddQualityListEntryResponse:
        account_id = auth.require_account()
        e = request.entry
        v = Validator()
        v.check(len(e.note) <= MAX_NOTE, "entry.note", f"must be at most {MAX_NOTE} characters")
        v.check("\x00" not in e.note, "entry.note", "must not contain NUL characters")
        list_, kind, value = self._list_key(v, "entry.", e.list, e.kind, e.value)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(store.LOCK_LISTS, account_id)
            existing = await conn.fetchrow(store.GET_LIST_ENTRY, account_id, list_, kind, value)
            if existing is not None:
                return pb.AddQualityListEntryResponse(entry=_list_entry(existing), created=False)
            count = await conn.fetchval(store.COUNT_LIST_ENTRIES, account_id, list_, kind)
            if count >= MAX_LIST_ENTRIES[kind]:
                raise FailedPrecondition(
                    f"the {list_} list already holds {MAX_LIST_ENTRIES[kind]:,} {kind} entries; remove some first"
                )
            row = await conn.fetchrow(store.INSERT_LIST_ENTRY, account_id, list_, kind, value, e.note.strip())
        self.quality.clear()
        return pb.AddQualityListEntryResponse(entry=_list_entry(row), created=True)

    async def RemoveQualityListEntry(
        self, request: pb.RemoveQualityListEntryRequest, context: Any
    ) -> pb.RemoveQualityListEntryResponse:
        account_id = auth.require_account()
        list_, kind, value = self._list_key(Validator(), "", request.list, request.kind, request.value)
        deleted = await self._pool.fetchval(store.DELETE_LIST_ENTRY, account_id, list_, kind, value)
        if deleted is None:
            raise NotFound(f"{kind} {value!r} is not on the {list_} list")
        self.quality.clear()
        return pb.RemoveQualityListEntryResponse()

    async def ListQualityListEntries(
        self, request: pb.ListQualityListEntriesRequest, context: Any
    ) -> pb.ListQualityListEntriesResponse:
        account_id = auth.require_account()
        v = Validator()
        v.check(request.list == 0 or request.list in LIST_NAMES, "list", "is not a list: block, allow or unset")
        v.check(request.kind == 0 or request.kind in KIND_NAMES, "kind", "is not a kind: user_agent, network or unset")
        v.raise_if_any()
        page = Page.of(request, "list", "kind", "value")
        after = (page.get("list", ""), page.get("kind", ""), page.get("value", ""))
        rows = await self._pool.fetch(
            store.LIST_LIST_ENTRIES, account_id, LIST_NAMES.get(request.list, ""), KIND_NAMES.get(request.kind, ""),
            *after, page.limit,
        )  # fmt: skip
        rows, token = page.cut(rows, lambda r: {"list": r["list"], "kind": r["kind"], "value": r["value"]})
        return pb.ListQualityListEntriesResponse(entries=[_list_entry(r) for r in rows], next_page_token=token)

    # ----- overrules ------------------------------------------------------------------

    async def OverruleTouchVerdict(
        self, request: pb.OverruleTouchVerdictRequest, context: Any
    ) -> pb.OverruleTouchVerdictResponse:
        account_id = auth.require_account()
        which = request.WhichOneof("touch")
        v = Validator()
        if which is None:
            v.add("touch", "set click_id or impression_id")
        v.check(
            request.verdict in (q.CLEAN, q.SUSPICIOUS, q.INVALID),
            "verdict",
            "is required: clean, suspicious or invalid",
        )
        v.check(len(request.note) <= MAX_NOTE, "note", f"must be at most {MAX_NOTE} characters")
        v.check("\x00" not in request.note, "note", "must not contain NUL characters")
        v.raise_if_any()
        assert which is not None
        touch_id = getattr(request, which)
        noun = which.removesuffix("_id")
        if not is_valid_id(touch_id):
            raise NotFound(f"{noun} {touch_id!r} not found")
        table, kind = TABLES[which]
        t = id_time(touch_id)
        async with self._pool.acquire() as conn, conn.transaction():
            window = (t, t + dt.timedelta(milliseconds=1))
            previous = await conn.fetchval(store.lock_touch_verdict_sql(table, which), account_id, touch_id, *window)
            if previous is None:
                raise NotFound(f"{noun} {touch_id!r} not found")
            touch = await conn.fetchrow(
                store.set_touch_verdict_sql(table, which), account_id, touch_id, *window, request.verdict, q.OPERATOR
            )
            through = None
            if kind == "c":
                through = await conn.fetchrow(store.SET_LANDER_CLICK_VERDICT, account_id, touch_id, request.verdict)
            row = await conn.fetchrow(
                store.INSERT_OVERRULE, account_id, new_resource_id("ovr"), kind.encode(), touch_id,
                touch["create_time"], previous, request.verdict, request.note.strip(),
            )  # fmt: skip
        reply = pb.OverruleTouchVerdictResponse(overrule=_overrule(row))
        if kind == "c":
            lander_click = (
                dict(through) if through is not None else {"through_offer_id": None, "lander_click_time": None}
            )
            reply.click.CopyFrom(click_message({**dict(touch), **lander_click}))
        else:
            reply.impression.CopyFrom(touch_message(touch, pb.Impression, "impression_id"))
        return reply

    # ----- flagged sub-ids -------------------------------------------------------------

    async def FlagSubIds(self, request: pb.FlagSubIdsRequest, context: Any) -> pb.FlagSubIdsResponse:
        account_id = auth.require_account()
        if len(request.sub_ids) > MAX_FLAGS_PER_CALL:
            raise InvalidArgument("sub_ids", f"at most {MAX_FLAGS_PER_CALL:,} per call")
        v = Validator()
        now = dt.datetime.now(dt.UTC)
        rows: dict[tuple[str, str, str], tuple[str, dt.datetime]] = {}
        for i, f in enumerate(request.sub_ids):
            p = f"sub_ids[{i}]."
            v.check(bool(f.campaign_id), f"{p}campaign_id", "is required")
            field = canonical_sub_field(f.sub_field)
            v.check(
                field is not None, f"{p}sub_field", f"{f.sub_field!r} is not a sub-id field; use {sub_field_choices()}"
            )
            v.check(bool(f.value), f"{p}value", "is required")
            v.check(len(f.value) <= MAX_SUB_VALUE, f"{p}value", f"must be at most {MAX_SUB_VALUE} characters")
            v.check("\x00" not in f.value + f.reason, f"{p}value", "must not contain NUL characters")
            v.check(len(f.reason) <= MAX_NOTE, f"{p}reason", f"must be at most {MAX_NOTE} characters")
            expire = from_timestamp(f.expire_time)
            v.check(expire is not None, f"{p}expire_time", "is required")
            if expire is not None:
                v.check(expire <= now + MAX_FLAG_AHEAD, f"{p}expire_time", "must be at most 90 days ahead")
            if field is not None and expire is not None:
                rows[(f.campaign_id, field, f.value)] = (f.reason.strip(), expire)  # the last one wins
        v.raise_if_any()
        if not rows:
            return pb.FlagSubIdsResponse()
        campaigns = sorted({k[0] for k in rows})
        known = {r["campaign_id"] for r in await self._pool.fetch(store.KNOWN_CAMPAIGNS, account_id, campaigns)}
        for i, f in enumerate(request.sub_ids):
            if f.campaign_id not in known:
                v.add(f"sub_ids[{i}].campaign_id", f"campaign {f.campaign_id!r} not found")
        v.raise_if_any()
        keys = list(rows)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                store.PUT_FLAGS, account_id, [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys],
                [rows[k][0] for k in keys], [rows[k][1] for k in keys],
            )  # fmt: skip
            await conn.execute(store.DROP_EXPIRED_FLAGS, account_id, now - KEEP_EXPIRED_FLAGS)
        self.quality.clear()
        return pb.FlagSubIdsResponse(flagged=len(keys))

    async def ListFlaggedSubIds(
        self, request: pb.ListFlaggedSubIdsRequest, context: Any
    ) -> pb.ListFlaggedSubIdsResponse:
        account_id = auth.require_account()
        page = Page.of(request, "c", "f", "v")
        after = (page.get("c", ""), page.get("f", ""), page.get("v", ""))
        rows = await self._pool.fetch(
            store.LIST_FLAGS, account_id, request.campaign_id, request.include_expired, *after, page.limit
        )
        rows, token = page.cut(rows, lambda r: {"c": r["campaign_id"], "f": r["sub_field"], "v": r["value"]})
        return pb.ListFlaggedSubIdsResponse(sub_ids=[_flag(r) for r in rows], next_page_token=token)
