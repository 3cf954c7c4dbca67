"""clicktrail.attribution.v1.AttributionSettingsService: the attribution windows
and their history of breakpoints (services/attribution/settings.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
from clicktrail.attribution.v1 import config_pb2 as pb
from clicktrail.attribution.v1 import config_pb2_grpc as pb_grpc
from google.protobuf import duration_pb2

from libs import auth
from libs.api import (
    from_timestamp,
    to_timestamp,
    update_paths,
)
from libs.errors import Validator
from libs.paging import Page
from services.attribution import settings as st
from services.attribution.goal_service import lock_key

# Every window of st.FIELDS is a column <name>_s (seconds).
INSERT_BREAKPOINT = (
    "INSERT INTO attribution.settings_history (account_id, effective_time, changed, "
    + ", ".join(f"{f}_s" for f in st.FIELDS)
    + ") VALUES ($1, clock_timestamp(), $2, "
    + ", ".join(f"${n + 3}" for n in range(len(st.FIELDS)))
    + ") RETURNING *"
)


def _duration(td: dt.timedelta) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromTimedelta(td)
    return d


def settings_to_pb(w: st.Windows, effective: dt.datetime | None) -> pb.AttributionSettings:
    s = pb.AttributionSettings(effective_time=to_timestamp(effective))
    for f in st.FIELDS:
        getattr(s, f).CopyFrom(_duration(getattr(w, f)))
    return s


def _human(td: dt.timedelta) -> str:
    secs = int(td.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs % size == 0:
            return f"{secs // size}{unit}"
    return f"{secs}s"


class SettingsService(pb_grpc.AttributionSettingsServiceServicer):
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def GetSettings(self, request: pb.GetSettingsRequest, context: Any) -> pb.GetSettingsResponse:
        account_id = auth.require_account()
        at = from_timestamp(request.time) if request.HasField("time") else None
        history = await st.breakpoints(self._pool, account_id, fresh=True)
        at = at or dt.datetime.now(dt.UTC)
        current = None
        for bp in history:
            if bp.effective_time > at:
                break
            current = bp
        if current is None:
            return pb.GetSettingsResponse(settings=settings_to_pb(st.DEFAULT_WINDOWS, None))
        return pb.GetSettingsResponse(settings=settings_to_pb(current.windows, current.effective_time))

    async def UpdateSettings(self, request: pb.UpdateSettingsRequest, context: Any) -> pb.UpdateSettingsResponse:
        account_id = auth.require_account()
        paths = update_paths(request.update_mask, request.settings, st.FIELDS)
        v = Validator()
        new: dict[str, dt.timedelta] = {}
        for p in paths:
            d = getattr(request.settings, p)
            lo, hi = st.BOUNDS[p]
            if d.nanos:
                v.add(f"settings.{p}", "must be whole seconds")
                continue
            value = dt.timedelta(seconds=d.seconds)
            if not lo <= value <= hi:
                v.add(f"settings.{p}", f"must be from {_human(lo)} to {_human(hi)}; got {_human(value)}")
            new[p] = value
        v.raise_if_any()
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", lock_key("settings", account_id))
            row = await conn.fetchrow(
                "SELECT * FROM attribution.settings_history WHERE account_id = $1"
                " ORDER BY effective_time DESC, breakpoint_id DESC LIMIT 1",
                account_id,
            )
            current = st.breakpoint_from_row(row) if row else None
            base = current.windows if current else st.DEFAULT_WINDOWS
            changed = [p for p in paths if getattr(base, p) != new[p]]
            if not changed:
                return pb.UpdateSettingsResponse(
                    settings=settings_to_pb(base, current.effective_time if current else None), changed=False
                )
            merged = st.Windows(**{f: new.get(f, getattr(base, f)) for f in st.FIELDS})
            # clock_timestamp(), not now(): taken under the lock, so breakpoints are in order.
            row = await conn.fetchrow(INSERT_BREAKPOINT, account_id, changed,
                                      *[int(getattr(merged, f).total_seconds()) for f in st.FIELDS])  # fmt: skip
        st.invalidate_settings(account_id)
        bp = st.breakpoint_from_row(row)
        return pb.UpdateSettingsResponse(settings=settings_to_pb(bp.windows, bp.effective_time), changed=True)

    async def ListSettingsHistory(
        self, request: pb.ListSettingsHistoryRequest, context: Any
    ) -> pb.ListSettingsHistoryResponse:
        account_id = auth.require_account()
        page = Page.of(request, "before")
        rows = await self._pool.fetch(
            "SELECT * FROM attribution.settings_history WHERE account_id = $1 AND breakpoint_id < $2"
            " ORDER BY breakpoint_id DESC LIMIT $3",
            account_id,
            page.get("before", 2**62, int),
            page.limit,
        )
        rows, token = page.cut(rows, lambda r: {"before": r["breakpoint_id"]})
        out = []
        for r in rows:
            bp = st.breakpoint_from_row(r)
            out.append(
                pb.SettingsBreakpoint(
                    breakpoint_id=str(bp.breakpoint_id),
                    effective_time=to_timestamp(bp.effective_time),
                    settings=settings_to_pb(bp.windows, bp.effective_time),
                    changed_fields=list(bp.changed),
                )
            )
        return pb.ListSettingsHistoryResponse(breakpoints=out, next_page_token=token)
