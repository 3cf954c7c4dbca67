"""Storing events: one transaction per group commit that claims the uuids,
COPYs the new events, keeps first-seen times and enqueues the hand-off to
attribution. Requests are answered after it commits."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg
from clicktrail.ingest.v1 import ingest_pb2 as pb
from google.protobuf.timestamp_pb2 import Timestamp

from libs.groupcommit import GroupCommitter
from libs.queue import enqueue
from services.ingest.validate import COLUMNS

ATTRIBUTION_QUEUE = "attribution.events"
# Column positions in a row (see validate.COLUMNS).
C = {name: i for i, name in enumerate(COLUMNS)}

CLAIM_UUIDS = """
INSERT INTO ingest.event_ids (account_id, event_uuid, receive_time)
SELECT * FROM unnest($1::text[], $2::uuid[], $3::timestamptz[])
ON CONFLICT DO NOTHING
RETURNING account_id, event_uuid
"""

FIRST_SEEN = """
INSERT INTO ingest.first_seen AS f (account_id, app_id, kind, id, first_time)
SELECT * FROM unnest($1::text[], $2::text[], $3::smallint[], $4::text[], $5::timestamptz[])
ON CONFLICT (account_id, app_id, kind, id) DO UPDATE SET first_time = excluded.first_time
WHERE excluded.first_time < f.first_time
"""

Row = tuple[Any, ...]


def _ts(value: dt.datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def row_to_event(row: Row | asyncpg.Record) -> pb.Event:
    """The hand-off and ListEvents shape of a stored event."""
    r = (lambda k: row[k]) if isinstance(row, asyncpg.Record) else (lambda k: row[C[k]])
    device = pb.Device(
        idfa=r("idfa") or "", gaid=r("gaid") or "", idfv=r("idfv") or "", android_id=r("android_id") or "",
        platform=r("platform"), os_version=r("os_version") or "", device_model=r("device_model") or "",
        locale=r("locale") or "",
    )  # fmt: skip
    return pb.Event(
        uuid=str(r("event_uuid")), event=r("event"), timestamp=_ts(r("event_time")),
        receive_time=_ts(r("receive_time")), session_id=r("session_id") or "", offset=r("session_offset") or 0,
        user_id=r("user_id") or "", ref=r("ref") or "", app_id=r("app_id"), device=device,
        ip=str(r("ip")) if r("ip") else "", user_agent=r("user_agent") or "", action=r("action") or "",
        action_properties_json=r("properties") or "", click_id=r("click_id") or "", account_id=r("account_id"),
    )  # fmt: skip


def _first_seen(rows: list[Row]) -> list[list[Any]]:
    """Earliest time per (account, app, kind, id) in this flush."""
    earliest: dict[tuple[str, str, int, str], dt.datetime] = {}
    for row in rows:
        base = (row[C["account_id"]], row[C["app_id"]])
        t = row[C["event_time"]]
        keys = []
        if row[C["user_id"]]:
            keys.append((*base, 1, row[C["user_id"]]))
        for col in ("idfa", "gaid", "idfv", "android_id"):
            if row[C[col]]:
                keys.append((*base, 2, row[C[col]]))
        for key in keys:
            if key not in earliest or t < earliest[key]:
                earliest[key] = t
    cols: list[list[Any]] = [[], [], [], [], []]
    for (account_id, app_id, kind, ident), t in earliest.items():
        cols[0].append(account_id)
        cols[1].append(app_id)
        cols[2].append(kind)
        cols[3].append(ident)
        cols[4].append(t)
    return cols


class EventStore:
    def __init__(self, pool: asyncpg.Pool, *, max_inflight: int = 2) -> None:
        self._pool = pool
        self.committer: GroupCommitter[Row, set[tuple[str, uuid.UUID]]] = GroupCommitter(
            self._flush, name="ingest.events", max_items=20_000, max_inflight=max_inflight
        )

    async def store(self, rows: list[Row]) -> set[tuple[str, uuid.UUID]]:
        """Stores rows whose uuid is new; returns the (account, uuid) pairs it stored."""
        if not rows:
            return set()
        return await self.committer.submit(rows)

    async def _flush(self, submissions: list[list[Row]]) -> list[set[tuple[str, uuid.UUID]]]:
        everything = [r for rows in submissions for r in rows]
        async with self._pool.acquire() as conn, conn.transaction():
            claimed = await conn.fetch(
                CLAIM_UUIDS,
                [r[C["account_id"]] for r in everything],
                [r[C["event_uuid"]] for r in everything],
                [r[C["receive_time"]] for r in everything],
            )
            new = {(r["account_id"], r["event_uuid"]) for r in claimed}
            stored: list[Row] = []
            taken: set[tuple[str, uuid.UUID]] = set()
            per_submission: list[set[tuple[str, uuid.UUID]]] = []
            for rows in submissions:
                mine = set()
                for r in rows:
                    key = (r[C["account_id"]], r[C["event_uuid"]])
                    # Two submissions of one flush may carry the same uuid: first wins.
                    if key in new and key not in taken:
                        taken.add(key)
                        mine.add(key)
                        stored.append(r)
                per_submission.append(mine)
            if stored:
                await conn.copy_records_to_table("events", schema_name="ingest", columns=COLUMNS, records=stored)
                await conn.execute(FIRST_SEEN, *_first_seen(stored))
                by_account: dict[str, list[Row]] = {}
                for r in stored:
                    by_account.setdefault(r[C["account_id"]], []).append(r)
                await enqueue(
                    conn,
                    ATTRIBUTION_QUEUE,
                    [
                        pb.EventBatch(events=[row_to_event(r) for r in rows]).SerializeToString()
                        for rows in by_account.values()
                    ],
                    account_ids=list(by_account),
                )
        return per_submission
