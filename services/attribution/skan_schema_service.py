"""clicktrail.attribution.v1.SkanSchemaService: each app's SKAN conversion-value
schema, versioned (the model, its checks and the decoder are
services/attribution/skan_values.py; stored in attribution.skan_schemas)."""

from __future__ import annotations

from typing import Any

import asyncpg
import grpc
import orjson
from clicktrail.attribution.v1 import skan_schema_pb2 as pb
from clicktrail.attribution.v1 import skan_schema_pb2_grpc as pb_grpc

from libs import auth
from libs.api import to_timestamp
from libs.auth import KeyStore
from libs.errors import InvalidArgument, NotFound, PermissionDenied
from libs.paging import Page
from services.attribution import skan_values as sv

MAX_JSON = 256 * 1024
MAX_NOTE = 1000


def _event_docs(events: Any) -> list[dict[str, Any]]:
    # proto3 leaves an unset count at 0: absent (one occurrence), not a count of 0
    return [{"name": e.name, **({"count": e.count} if e.count else {})} for e in events]


def _money_docs(rule: Any) -> dict[str, Any]:
    return {k: getattr(rule, k) for k in ("revenue_min", "revenue_max", "revenue") if getattr(rule, k)}


def pb_to_doc(schema: pb.SkanSchema) -> dict[str, Any]:
    """The proto's fields as the JSON document skan_values.parse_schema checks (unset = absent)."""
    fine = []
    for f in schema.fine_values:
        d: dict[str, Any] = {"value": f.value, **_money_docs(f), "events": _event_docs(f.events)}
        if f.HasField("value_to"):
            d["value_to"] = f.value_to
        fine.append(d)
    coarse = [
        {"postback": c.postback, "value": c.value, **_money_docs(c), "events": _event_docs(c.events)}
        for c in schema.coarse_values
    ]
    locks = []
    for w in schema.lock_windows:
        lock: dict[str, Any] = {"postback": w.postback}
        if w.lock_after_hours:
            lock["lock_after_hours"] = w.lock_after_hours
        if w.lock_on_event:
            lock["lock_on_event"] = w.lock_on_event
        locks.append(lock)
    return {"currency": schema.currency, "fine_values": fine, "coarse_values": coarse, "lock_windows": locks}


def schema_to_pb(schema: sv.SkanSchema, app_id: str, note: str = "") -> pb.SkanSchema:
    def events(rule: Any) -> list[pb.SkanEventCount]:
        return [pb.SkanEventCount(name=e.name, count=e.count) for e in rule.events]

    def money(rule: Any) -> dict[str, str]:
        return {
            k: format(v.normalize(), "f")
            for k in ("revenue_min", "revenue_max", "revenue")
            if (v := getattr(rule, k)) is not None
        }

    return pb.SkanSchema(
        app_id=app_id,
        version=schema.version,
        create_time=to_timestamp(schema.create_time),
        currency=schema.currency,
        fine_values=[
            pb.SkanFineValue(
                value=f.value, value_to=f.value_to if f.value_to != f.value else None, **money(f),
                events=events(f),
            )
            for f in schema.fine_values
        ],
        coarse_values=[
            pb.SkanCoarseValue(postback=c.postback, value=c.value, **money(c), events=events(c))
            for c in schema.coarse_values
        ],
        lock_windows=[
            pb.SkanLockWindow(postback=w.postback, lock_after_hours=w.lock_after_hours or 0,
                              lock_on_event=w.lock_on_event or "")
            for w in schema.lock_windows
        ],
        note=note,
    )  # fmt: skip


def _json(schema: sv.SkanSchema) -> str:
    return orjson.dumps(sv.to_doc(schema), option=orjson.OPT_INDENT_2).decode()


def _from_row(row: Any) -> sv.SkanSchema:
    doc = row["schema"]
    if isinstance(doc, (str, bytes)):
        doc = orjson.loads(doc)
    return sv.parse_schema(doc, version=row["version"], create_time=row["create_time"])


class SkanSchemaService(pb_grpc.SkanSchemaServiceServicer):
    def __init__(self, pool: asyncpg.Pool, keys: KeyStore) -> None:
        self._pool = pool
        self._keys = keys

    async def _app(self, app_id: str, *, app_key_ok: bool = False) -> tuple[str, str]:
        """(account_id, app_id) of the call: an app key names its own app; an account
        key must name one of its apps (INVALID_ARGUMENT / NOT_FOUND otherwise)."""
        p = auth.principal()
        app_id = app_id.strip()
        if p.kind == "app":
            if not app_key_ok:
                raise PermissionDenied("an app key can only read its app's SKAN schema; use the account API key")
            if app_id and app_id != p.app_id:
                raise PermissionDenied("an app key reads only its own app's SKAN schema")
            return p.account_id, p.app_id
        account_id = auth.require_account()
        if not app_id:
            raise InvalidArgument("app_id", "is required: the app whose SKAN schema this is (`clicktrail app list`)")
        apps = await self._keys.account_apps(account_id)
        if app_id not in apps:
            apps = await self._keys.account_apps(account_id, fresh=True)
        if app_id not in apps:
            raise NotFound(f"app {app_id!r} not found in this account")
        return account_id, app_id

    async def GetSkanSchema(self, request: pb.GetSkanSchemaRequest, context: Any) -> pb.GetSkanSchemaResponse:
        account_id, app_id = await self._app(request.app_id, app_key_ok=True)
        if request.version < 0:
            raise InvalidArgument("version", "must be 0 (the current version) or a version number")
        row = await self._pool.fetchrow(
            "SELECT version, schema, note, create_time FROM attribution.skan_schemas"
            " WHERE account_id = $1 AND app_id = $2 AND ($3 = 0 OR version = $3) ORDER BY version DESC LIMIT 1",
            account_id, app_id, request.version,
        )  # fmt: skip
        if row is None:
            if request.version:
                raise NotFound(f"app {app_id!r} has no SKAN schema version {request.version}")
            raise NotFound(
                f"app {app_id!r} has no SKAN conversion-value schema yet: set one (`clicktrail skan-schema set`)"
            )
        schema = _from_row(row)
        return pb.GetSkanSchemaResponse(schema=schema_to_pb(schema, app_id, row["note"]), schema_json=_json(schema))

    async def UpdateSkanSchema(self, request: pb.UpdateSkanSchemaRequest, context: Any) -> pb.UpdateSkanSchemaResponse:
        account_id, app_id = await self._app(request.app_id)
        note = request.note.strip()
        if len(note) > MAX_NOTE:
            raise InvalidArgument("note", f"must be at most {MAX_NOTE} characters")
        source = request.WhichOneof("source")
        if source == "schema_json":
            raw = request.schema_json
            if len(raw.encode()) > MAX_JSON:
                raise InvalidArgument("schema_json", f"must be at most {MAX_JSON // 1024} KiB")
            try:
                doc: Any = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise InvalidArgument("schema_json", f"is not JSON: {exc}") from None
        elif source == "schema":
            doc = pb_to_doc(request.schema)
        else:
            raise InvalidArgument("schema", "is required: the schema's fields, or schema_json (the JSON document)")
        schema = sv.parse_schema(doc)
        stored = sv.to_doc(schema)
        warnings = await self._warnings(account_id, schema)
        async with self._pool.acquire() as conn, conn.transaction():
            # One writer per app, so two updates cannot both take the same next version.
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))",
                f"clicktrail.attribution.skan_schema:{account_id}:{app_id}",
            )
            current = await conn.fetchrow(
                "SELECT version, schema, note, create_time FROM attribution.skan_schemas"
                " WHERE account_id = $1 AND app_id = $2 ORDER BY version DESC LIMIT 1",
                account_id, app_id,
            )  # fmt: skip
            if current is not None and sv.to_doc(_from_row(current)) == stored:
                same = _from_row(current)
                return pb.UpdateSkanSchemaResponse(
                    schema=schema_to_pb(same, app_id, current["note"]),
                    schema_json=_json(same),
                    changed=False,
                    warnings=warnings,
                )
            version = (current["version"] if current is not None else 0) + 1
            if request.validate_only:
                would = sv.parse_schema(stored, version=version)
                return pb.UpdateSkanSchemaResponse(
                    schema=schema_to_pb(would, app_id, note),
                    schema_json=_json(would),
                    changed=False,
                    warnings=warnings,
                )
            row = await conn.fetchrow(
                "INSERT INTO attribution.skan_schemas (account_id, app_id, version, schema, note)"
                " VALUES ($1, $2, $3, $4::jsonb, $5) RETURNING version, schema, note, create_time",
                account_id, app_id, version, orjson.dumps(stored).decode(), note,
            )  # fmt: skip
        written = _from_row(row)
        return pb.UpdateSkanSchemaResponse(
            schema=schema_to_pb(written, app_id, note), schema_json=_json(written), changed=True, warnings=warnings
        )

    async def _warnings(self, account_id: str, schema: sv.SkanSchema) -> list[str]:
        """Events the schema names that no goal of the account has (allowed: the SDK may
        count a track action without a goal; often a typo)."""
        rules: list[sv.FineRule | sv.CoarseRule] = [*schema.fine_values, *schema.coarse_values]
        named = {e.name for r in rules for e in r.events}
        named |= {w.lock_on_event for w in schema.lock_windows if w.lock_on_event}
        if not named:
            return []
        rows = await self._pool.fetch("SELECT DISTINCT event FROM attribution.goals WHERE account_id = $1", account_id)
        goals = {r["event"] for r in rows} | {"install"}
        return [
            f"event {name!r}: no goal of this account has it (a typo? `clicktrail goal list`); kept as written"
            for name in sorted(named - goals)
        ]

    async def ListSkanSchemaVersions(
        self, request: pb.ListSkanSchemaVersionsRequest, context: Any
    ) -> pb.ListSkanSchemaVersionsResponse:
        account_id, app_id = await self._app(request.app_id)
        page = Page.of(request, "before")
        rows = await self._pool.fetch(
            "SELECT version, schema, note, create_time FROM attribution.skan_schemas"
            " WHERE account_id = $1 AND app_id = $2 AND version < $3 ORDER BY version DESC LIMIT $4",
            account_id, app_id, page.get("before", 2**31 - 1, int), page.limit,
        )  # fmt: skip
        rows, token = page.cut(rows, lambda r: {"before": r["version"]})
        return pb.ListSkanSchemaVersionsResponse(
            versions=[schema_to_pb(_from_row(r), app_id, r["note"]) for r in rows], next_page_token=token
        )


def register(server: grpc.aio.Server, pool: asyncpg.Pool, keys: KeyStore) -> list[str]:
    pb_grpc.add_SkanSchemaServiceServicer_to_server(SkanSchemaService(pool, keys), server)
    return [pb.DESCRIPTOR.services_by_name["SkanSchemaService"].full_name]
