"""GDPR erasure, the part every service shares: ``clicktrail.privacy.v1.PrivacyService``
(validation, the transaction, the erasure log in the shared ``privacy`` schema),
around each service's own ``Eraser`` that knows its tables.

A service erases by anonymising in place: device ids, IPs, User-Agents and
free-form fields are cleared, user ids and identity keys become the erasure's
pseudonym. Rows stay, so every aggregate (and a rollup recount) stays the same.

Queued work is part of it: each eraser also redacts (or drops) the person's jobs
in the queues it consumes or feeds, dead letters included, and every erasure
leaves tombstones (``privacy.erased_keys``: hashes of the person's ids) that the
queue consumers check before they apply a job queued before the erasure, so a
backlogged or already-claimed job cannot bring the erased data back. The erasure
and those consumers meet on one advisory lock per account (``lock_account``):
an erasure waits for a consumer's transaction in flight, and a consumer that
starts after it sees its tombstones.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import ipaddress
import re
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

import asyncpg
import grpc
import orjson
from clicktrail.privacy.v1 import privacy_pb2 as pb
from clicktrail.privacy.v1 import privacy_pb2_grpc as pb_grpc

from libs import auth
from libs.api import to_timestamp
from libs.errors import Validator
from libs.grpc_server import ServiceContext
from libs.ids import is_valid_id
from libs.logging import get_logger
from libs.paging import decode_token as decode_page_token
from libs.paging import encode_token as encode_page_token
from libs.paging import page_size

log = get_logger("privacy")

MIGRATIONS = ("privacy", Path(__file__).parent / "privacy_migrations")
# Per list: a long-lived user has thousands of clicks and addresses (1,000 made their
# erasure impossible); ids of a usual length (~40 bytes) keep it under gRPC's 4 MiB.
MAX_IDS = 20_000
MAX_ID_LEN = 200
PSEUDONYM = re.compile(r"^erased:[a-z0-9]{16,64}$")
DEVICE_COLUMNS = ("gaid", "idfa", "idfv", "android_id")


@dataclasses.dataclass
class Subject:
    """Whose data: the ids asked for, grown by the ids an eraser finds linked."""

    user_ids: set[str]
    device_ids: set[str]
    click_ids: set[str]
    pseudonym: str
    # IP addresses on the person's rows: redacted with the ids, never used to find rows.
    ips: set[str] = dataclasses.field(default_factory=set)

    def identity_keys(self) -> list[str]:
        """The ``<kind>:<id>`` keys services file a device or user under."""
        keys = [f"{col}:{d}" for col in DEVICE_COLUMNS for d in self.device_ids]
        return keys + [f"user:{u}" for u in self.user_ids]


@dataclasses.dataclass
class Found:
    rows: dict[str, int] = dataclasses.field(default_factory=dict)
    user_ids: set[str] = dataclasses.field(default_factory=set)
    device_ids: set[str] = dataclasses.field(default_factory=set)
    click_ids: set[str] = dataclasses.field(default_factory=set)
    ips: set[str] = dataclasses.field(default_factory=set)
    # More of the person's ids to tombstone (their install and conversion ids), not answered.
    keys: set[str] = dataclasses.field(default_factory=set)


# (connection in a transaction, account, subject, apply) -> the rows it changed
# (or would) and the person's other ids it holds. It does not change the subject.
Eraser = Callable[[asyncpg.Connection, str, Subject, bool], Awaitable[Found]]


def count(status: str) -> int:
    """The row count of an asyncpg command status (``UPDATE 3`` -> 3)."""
    return int(status.rsplit(" ", 1)[-1])


def parse_subject(req: pb.ErasePersonalDataRequest) -> Subject:
    v = Validator()
    lists: dict[str, list[str]] = {}
    for name in ("user_ids", "device_ids", "click_ids", "ips"):
        values = [x.strip() for x in getattr(req, name)]
        v.check(len(values) <= MAX_IDS, name, f"at most {MAX_IDS} ids per request")
        for i, x in enumerate(values):
            v.check(0 < len(x) <= MAX_ID_LEN, f"{name}[{i}]", f"must be 1 to {MAX_ID_LEN} characters")
        lists[name] = values
    for i, ip in enumerate(lists["ips"]):
        v.check(_is_ip(ip), f"ips[{i}]", "must be an IPv4 or IPv6 address")
    named = any(lists[n] for n in ("user_ids", "device_ids", "click_ids"))
    v.check(named, "user_ids", "name the person: at least one user id, device id or click id")
    v.check(is_valid_id(req.erasure_id), "erasure_id", "is required: a ULID made by the caller (26 characters)")
    if not req.validate_only:
        v.check(bool(PSEUDONYM.match(req.pseudonym)), "pseudonym", "must be 'erased:' and 16 to 64 letters/digits")
    v.raise_if_any()
    return Subject(
        user_ids=set(lists["user_ids"]),
        device_ids={d.lower() for d in lists["device_ids"]},
        click_ids=set(lists["click_ids"]),
        pseudonym=req.pseudonym,
        ips=set(lists["ips"]),
    )


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def key_hash(key: str) -> bytes:
    """How an erased id is kept in the tombstones: its SHA-256, not the id."""
    return hashlib.sha256(key.encode()).digest()


async def lock_account(conn: asyncpg.Connection, account_id: str, *, shared: bool) -> None:
    """The erasure / queue-consumer lock of an account, until the transaction ends:
    an erasure takes it exclusively, a consumer applying a job shared."""
    fn = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    await conn.execute(f"SELECT {fn}(hashtextextended('clicktrail.privacy:' || $1, 0))", account_id)


@dataclasses.dataclass(frozen=True)
class Tombstone:
    erase_time: dt.datetime
    pseudonym: str


async def erased_keys(
    conn: asyncpg.Pool | asyncpg.Connection, account_id: str, keys: Iterable[str]
) -> dict[str, Tombstone]:
    """The ids among ``keys`` that an erasure has tombstoned: when (the latest
    erasure) and the pseudonym it gave. A job queued before that time holds data
    from before the erasure, and must be redacted (or dropped) before it is applied."""
    wanted = {key_hash(k): k for k in set(keys) if k}
    if not wanted:
        return {}
    rows = await conn.fetch(
        "SELECT key_hash, erase_time, pseudonym FROM privacy.erased_keys"
        " WHERE account_id = $1 AND key_hash = ANY($2::bytea[])",
        account_id,
        list(wanted),
    )
    return {wanted[bytes(r["key_hash"])]: Tombstone(r["erase_time"], r["pseudonym"]) for r in rows}


_TOMBSTONE = """
INSERT INTO privacy.erased_keys (account_id, key_hash, erasure_id, pseudonym)
SELECT $1, h, $3, $4 FROM unnest($2::bytea[]) AS h
ON CONFLICT (account_id, key_hash) DO UPDATE
SET erasure_id = excluded.erasure_id, pseudonym = excluded.pseudonym, erase_time = excluded.erase_time
"""


_LOG = """
INSERT INTO privacy.erasures (account_id, erasure_id, service, rows) VALUES ($1, $2, $3, $4::jsonb)
ON CONFLICT (account_id, erasure_id, service) DO UPDATE SET rows = excluded.rows, erase_time = clock_timestamp()
"""
_LIST = """
SELECT erasure_id, service, erase_time, rows FROM privacy.erasures
WHERE account_id = $1 AND service = $2 AND ($3::timestamptz IS NULL OR (erase_time, erasure_id) < ($3, $4))
ORDER BY erase_time DESC, erasure_id DESC LIMIT $5
"""


class PrivacyService(pb_grpc.PrivacyServiceServicer):
    def __init__(self, pool: asyncpg.Pool, service: str, eraser: Eraser) -> None:
        self._pool = pool
        self._service = service
        self._eraser = eraser

    async def ErasePersonalData(
        self, request: pb.ErasePersonalDataRequest, context: grpc.aio.ServicerContext
    ) -> pb.ErasePersonalDataResponse:
        account_id = auth.require_account()
        subject = parse_subject(request)
        async with self._pool.acquire() as conn, conn.transaction():
            if not request.validate_only:
                await lock_account(conn, account_id, shared=False)
            found = await self._eraser(conn, account_id, subject, not request.validate_only)
            if not request.validate_only:
                rows = orjson.dumps(found.rows).decode()
                await conn.execute(_LOG, account_id, request.erasure_id, self._service, rows)
                keys = (
                    subject.user_ids | subject.device_ids | subject.click_ids
                    | found.user_ids | found.device_ids | found.click_ids | found.keys
                )  # fmt: skip
                hashes = sorted({key_hash(k) for k in keys})
                await conn.execute(_TOMBSTONE, account_id, hashes, request.erasure_id, subject.pseudonym)
        if not request.validate_only:
            log.info(
                "personal_data_erased",
                account_id=account_id,
                erasure_id=request.erasure_id,
                service=self._service,
                rows=found.rows,
            )
        return pb.ErasePersonalDataResponse(
            user_ids=sorted(found.user_ids - subject.user_ids),
            device_ids=sorted(found.device_ids - subject.device_ids),
            click_ids=sorted(found.click_ids - subject.click_ids),
            rows=found.rows,
            ips=sorted(found.ips - subject.ips),
        )

    async def ListErasures(
        self, request: pb.ListErasuresRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListErasuresResponse:
        account_id = auth.require_account()
        size = page_size(request.page_size)
        cursor = decode_page_token(request.page_token, "t", "id")
        after_time = dt.datetime.fromisoformat(cursor["t"]) if cursor else None
        rows = await self._pool.fetch(
            _LIST, account_id, self._service, after_time, cursor["id"] if cursor else "", size + 1
        )
        erasures = [
            pb.Erasure(
                erasure_id=r["erasure_id"],
                service=r["service"],
                erase_time=to_timestamp(r["erase_time"]),
                rows=orjson.loads(r["rows"]),
            )
            for r in rows[:size]
        ]
        token = ""
        if len(rows) > size:
            last = rows[size - 1]
            token = encode_page_token({"t": last["erase_time"].isoformat(), "id": last["erasure_id"]})
        return pb.ListErasuresResponse(erasures=erasures, next_page_token=token)


def register(server: grpc.aio.Server, ctx: ServiceContext, service: str, eraser: Eraser) -> list[str]:
    """Adds PrivacyService, backed by this service's eraser."""
    pb_grpc.add_PrivacyServiceServicer_to_server(PrivacyService(ctx.pool, service, eraser), server)
    return [pb.DESCRIPTOR.services_by_name["PrivacyService"].full_name]
