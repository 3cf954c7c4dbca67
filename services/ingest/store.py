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

from libs import event_handoff
from libs.event_handoff import COLUMNS, EVENT_QUEUE
from libs.groupcommit import GroupCommitter
from libs.queue import enqueue

# ingest.first_seen.kind: what the id is (a user id, or a device id: IDFA, GAID, IDFV or Android id).
FIRST_SEEN_USER = 1
FIRST_SEEN_DEVICE = 2

# Column positions in a row (see validate.COLUMNS).
C = {name: i for i, name in enumerate(COLUMNS)}

# One round trip: claim the uuids (the new ones come back) and keep first-seen
# times. A duplicate carries its original's times, so counting it in
# first_seen changes nothing.
CLAIM_AND_FIRST_SEEN = """
WITH claimed AS (
    INSERT INTO ingest.event_ids (account_id, event_uuid, receive_time)
    SELECT * FROM unnest($1::text[], $2::uuid[], $3::timestamptz[])
    ON CONFLICT DO NOTHING
    RETURNING account_id, event_uuid
), seen AS (
    INSERT INTO ingest.first_seen AS f (account_id, app_id, kind, id, first_time)
    SELECT * FROM unnest($4::text[], $5::text[], $6::smallint[], $7::text[], $8::timestamptz[])
    ON CONFLICT (account_id, app_id, kind, id) DO UPDATE SET first_time = excluded.first_time
    WHERE excluded.first_time < f.first_time
)
SELECT account_id, event_uuid FROM claimed
"""

# ListEvents, newest first; every filter optional (NULL: not asked), keyset paging by (receive_time, event_uuid).
LIST_EVENTS = """
SELECT * FROM ingest.events
WHERE account_id = $1
  AND ($2::text IS NULL OR app_id = $2)
  AND ($3::text IS NULL OR user_id = $3)
  AND ($4::text IS NULL OR $4 IN (idfa, gaid, idfv, android_id))
  AND ($5::smallint IS NULL OR event = $5)
  AND ($6::timestamptz IS NULL OR receive_time >= $6)
  AND ($7::timestamptz IS NULL OR receive_time < $7)
  AND ($8::timestamptz IS NULL OR (receive_time, event_uuid) < ($8, $9::uuid))
ORDER BY receive_time DESC, event_uuid DESC
LIMIT $10
"""

Row = tuple[Any, ...]
FIRST_SEEN_COLUMNS = (
    (FIRST_SEEN_USER, C["user_id"]), (FIRST_SEEN_DEVICE, C["idfa"]), (FIRST_SEEN_DEVICE, C["gaid"]),
    (FIRST_SEEN_DEVICE, C["idfv"]), (FIRST_SEEN_DEVICE, C["android_id"]),
)  # fmt: skip


def _ts(value: dt.datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def row_to_event(row: asyncpg.Record) -> pb.Event:
    """A stored event as ListEvents answers it."""
    device = pb.Device(
        idfa=row["idfa"] or "", gaid=row["gaid"] or "", idfv=row["idfv"] or "", android_id=row["android_id"] or "",
        platform=row["platform"], os_version=row["os_version"] or "", device_model=row["device_model"] or "",
        locale=row["locale"] or "", tracking_status=row["tracking_status"] or pb.TRACKING_STATUS_UNSPECIFIED,
    )  # fmt: skip
    ev = pb.Event(
        uuid=str(row["event_uuid"]), event=row["event"], timestamp=_ts(row["event_time"]),
        receive_time=_ts(row["receive_time"]), session_id=row["session_id"] or "",
        offset=row["session_offset"] or 0, user_id=row["user_id"] or "", ref=row["ref"] or "",
        app_id=row["app_id"], device=device, ip=str(row["ip"]) if row["ip"] else "",
        user_agent=row["user_agent"] or "", action=row["action"] or "",
        action_properties_json=row["properties"] or "", click_id=row["click_id"] or "",
        account_id=row["account_id"], claimed_ip=str(row["claimed_ip"]) if row["claimed_ip"] else "",
        claimed_user_agent=row["claimed_user_agent"] or "", adservices_token=row["adservices_token"] or "",
        app_instance_id=row["app_instance_id"] or "", app_version=row["app_version"] or "",
    )  # fmt: skip
    for key in ("install_begin_time", "referrer_click_time"):
        if row[key] is not None:
            getattr(ev, key).CopyFrom(_ts(row[key]))
    return ev


FirstSeenKey = tuple[str, str, int, str]


class FirstSeenBound:
    """What this process knows is already in ingest.first_seen: for a key, a
    time t such that the stored first_time <= t. An event at or after t cannot
    lower it, so its upsert is skipped. Filled only after a commit; a replica
    that does not know a key just upserts (the upsert keeps the earliest)."""

    def __init__(self, max_keys: int = 500_000) -> None:
        self._bound: dict[FirstSeenKey, dt.datetime] = {}
        self._max = max_keys

    def needed(self, rows: list[Row]) -> dict[FirstSeenKey, dt.datetime]:
        """Earliest time per key in ``rows``, for the keys that may still change."""
        earliest: dict[FirstSeenKey, dt.datetime] = {}
        bound = self._bound
        for row in rows:
            account_id, app_id, t = row[C["account_id"]], row[C["app_id"]], row[C["event_time"]]
            for kind, col in FIRST_SEEN_COLUMNS:
                ident = row[col]
                if not ident:
                    continue
                key = (account_id, app_id, kind, ident)
                known = bound.get(key)
                if known is not None and known <= t:
                    continue
                if key not in earliest or t < earliest[key]:
                    earliest[key] = t
        return earliest

    def committed(self, upserted: dict[FirstSeenKey, dt.datetime]) -> None:
        if len(self._bound) + len(upserted) > self._max:
            self._bound.clear()
        self._bound.update(upserted)


def first_seen_columns(keys: dict[FirstSeenKey, dt.datetime]) -> list[list[Any]]:
    cols: list[list[Any]] = [[], [], [], [], []]
    for (account_id, app_id, kind, ident), t in sorted(keys.items()):  # one lock order for every flush
        cols[0].append(account_id)
        cols[1].append(app_id)
        cols[2].append(kind)
        cols[3].append(ident)
        cols[4].append(t)
    return cols


class EventStore:
    def __init__(self, pool: asyncpg.Pool, *, max_inflight: int = 4) -> None:
        self._pool = pool
        self.first_seen = FirstSeenBound()
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
        first_seen = self.first_seen.needed(everything)
        async with self._pool.acquire() as conn, conn.transaction():
            # Concurrent flushes take row locks in one global order (sorted keys): no deadlocks.
            keyed = sorted(everything, key=lambda r: (r[C["account_id"]], r[C["event_uuid"]]))
            claimed = await conn.fetch(
                CLAIM_AND_FIRST_SEEN,
                [r[C["account_id"]] for r in keyed],
                [r[C["event_uuid"]] for r in keyed],
                [r[C["receive_time"]] for r in keyed],
                *first_seen_columns(first_seen),
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
                by_account: dict[str, list[Row]] = {}
                for r in stored:
                    by_account.setdefault(r[C["account_id"]], []).append(r)
                await enqueue(
                    conn,
                    EVENT_QUEUE,
                    [event_handoff.encode(rows) for rows in by_account.values()],
                    account_ids=list(by_account),
                )
        self.first_seen.committed(first_seen)
        return per_submission
