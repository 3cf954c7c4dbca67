"""clicktrail.attribution.v1.SkanService: SKAdNetwork / AdAttributionKit
postbacks received (verified by services/attribution/skan_verify.py), stored one
row per transaction id in attribution.skan_postbacks, mapped to campaigns
(attribution.skan_mappings) and decoded through the app's conversion-value
schema (services/attribution/skan_values.py) in the same transaction.

Which account a postback belongs to:
- a network's forwarded copy: the postback token (or API key) it carries;
- an Apple developer copy (the gateway token): the account of the custom domain
  it was sent to (the gateway names it), else the one account with an app whose
  App Store id (links App.apple_app_id, looked up with LookupApps) is the
  postback's; none or several: NOT_FOUND with the reason.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

import asyncpg
import grpc
import orjson
from clicktrail.attribution.v1 import skan_pb2 as pb
from clicktrail.attribution.v1 import skan_pb2_grpc as pb_grpc
from clicktrail.links.v1 import links_pb2
from prometheus_client import Counter

from libs import auth
from libs.api import format_money, from_timestamp, to_timestamp
from libs.cache import TTLCache
from libs.clients import CallError, LinksClient
from libs.errors import AlreadyExists, DomainError, InvalidArgument, NotFound, PermissionDenied, Unavailable, Validator
from libs.grpc_server import ServiceContext
from libs.ids import new_resource_id
from libs.logging import get_logger
from libs.paging import Page
from services.attribution import skan_verify
from services.attribution.campaigns import Campaigns

try:  # the conversion-value schemas (lane skanv); without them: 0 conversions, no revenue
    from services.attribution import skan_values
except ImportError:  # pragma: no cover
    skan_values = None  # type: ignore[assignment]

log = get_logger("attribution.skan")

MAX_BODY = 64 * 1024
# App Store id -> the apps that have it, kept this long (a found answer only: an app
# whose App Store id is set just now is found at Apple's next try).
APPS_TTL_S = 10.0
SOURCE_RE = re.compile(r"[0-9]{1,4}")
STORE_APP_RE = re.compile(r"[0-9]{1,20}")
RECEIVED = Counter("clicktrail_skan_postbacks", "SKAdNetwork / AdAttributionKit postbacks received", ["kind", "result"])
KIND_NAMES = {skan_verify.KIND_SKAN: "skan", skan_verify.KIND_AAK: "aak"}
DEVELOPER_COPY, NETWORK = 1, 2


@dataclasses.dataclass(frozen=True)
class Target:
    account_id: str
    app_id: str | None


@dataclasses.dataclass(frozen=True)
class Prepared:
    """A verified postback and where it goes, before it is stored."""

    postback: skan_verify.Postback
    doc: dict[str, Any]
    target: Target


@dataclasses.dataclass(frozen=True)
class BatchItem:
    """One postback of a BatchRecordSkanPostbacks call, its account settled."""

    account_id: str
    body: bytes
    kind: int
    channel: int
    app_id: str


def _ts(value: dt.datetime | None) -> Any:
    return to_timestamp(value)


def postback_msg(r: asyncpg.Record) -> pb.SkanPostback:
    raw = r["raw"]
    m = pb.SkanPostback(
        postback_id=r["postback_id"], transaction_id=r["transaction_id"], kind=r["kind"], version=r["version"],
        app_id=r["app_id"] or "", store_app_id=r["store_app_id"], ad_network_id=r["ad_network_id"],
        source_identifier=r["source_identifier"], campaign_id=r["campaign_id"] or "",
        partner_id=r["partner_id"] or "", source_app_id=r["source_app_id"] or "",
        source_domain=r["source_domain"] or "",
        fidelity_type=-1 if r["fidelity_type"] is None else r["fidelity_type"], redownload=r["redownload"],
        did_win=r["did_win"], sequence_index=r["sequence_index"],
        fine_value=-1 if r["fine_value"] is None else r["fine_value"], coarse_value=r["coarse_value"] or "",
        installs=r["installs"], conversions=r["conversions"],
        revenue="" if r["revenue"] is None else format_money(r["revenue"]), currency=r["currency"] or "",
        received_via=r["received_via"], signing_key=r["signing_key"],
        raw_json=raw if isinstance(raw, str) else orjson.dumps(raw).decode(),
    )  # fmt: skip
    m.receive_time.CopyFrom(_ts(r["receive_time"]))
    return m


def mapping_msg(r: asyncpg.Record) -> pb.SkanMapping:
    m = pb.SkanMapping(
        mapping_id=r["mapping_id"], ad_network_id=r["ad_network_id"], source_identifier=r["source_identifier"],
        store_app_id=r["store_app_id"], campaign_id=r["campaign_id"], partner_id=r["partner_id"] or "",
    )  # fmt: skip
    m.create_time.CopyFrom(_ts(r["create_time"]))
    return m


INSERT_SQL = """
INSERT INTO attribution.skan_postbacks (
    account_id, postback_id, transaction_id, kind, version, app_id, store_app_id, ad_network_id,
    source_identifier, campaign_id, partner_id, source_app_id, source_domain, fidelity_type, redownload,
    did_win, sequence_index, fine_value, coarse_value, installs, conversions, revenue, currency,
    received_via, receive_time, raw, signing_key
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
          $22, $23, $24, $25, $26::jsonb, $27)
ON CONFLICT (account_id, transaction_id) DO NOTHING
RETURNING *
"""
DUPLICATE_SQL = "SELECT * FROM attribution.skan_postbacks WHERE account_id = $1 AND transaction_id = $2"
# The exact source identifier first (an App Store id mapping before an any-app one); a
# SKAN 4 / AdAttributionKit postback below the top privacy tier carries only the last 2
# or 3 digits of the 4-digit hierarchical source identifier (Apple's examples: 5239, then
# 39 in a low-tier postback): the mappings whose identifier ends with them ($5).
MAPPING_SQL = """
SELECT campaign_id, partner_id, source_identifier = $3 AS exact FROM attribution.skan_mappings
WHERE account_id = $1 AND ad_network_id = $2 AND store_app_id IN ($4, '')
  AND (source_identifier = $3 OR ($5 AND length($3) < 4 AND length(source_identifier) > length($3)
                                  AND right(source_identifier, length($3)) = $3))
ORDER BY source_identifier = $3 DESC, store_app_id DESC LIMIT 50
"""
HIERARCHICAL = ("4.0", "aak")


def pick_mapping(rows: list[asyncpg.Record]) -> asyncpg.Record | None:
    """The exact mapping, else the one campaign every suffix match names (several: unmapped)."""
    if not rows:
        return None
    if rows[0]["exact"]:
        return rows[0]
    return rows[0] if len({r["campaign_id"] for r in rows}) == 1 else None


class SkanStore:
    """Account resolution, mapping, decoding and the insert: what RecordSkanPostback does."""

    def __init__(self, pool: asyncpg.Pool, links: LinksClient, *, development_keys: bool = False) -> None:
        self._pool = pool
        self._links = links
        self.development_keys = development_keys
        self._apps: TTLCache[tuple[str, str], tuple[tuple[str, str], ...] | None] = TTLCache(
            APPS_TTL_S, maxsize=10_000, negative_ttl=0.0, is_negative=lambda v: not v
        )

    async def _lookup_apps(self, store_app_id: str, account_id: str) -> list[tuple[str, str]] | None:
        """(account id, app id) of the apps with this App Store id (cached APPS_TTL_S when
        found); None when links cannot say (an older links without LookupApps)."""
        found = await self._apps.get_or_load(
            (store_app_id, account_id), lambda: self._load_apps(store_app_id, account_id)
        )
        return None if found is None else list(found)

    async def _load_apps(self, store_app_id: str, account_id: str) -> tuple[tuple[str, str], ...] | None:
        request_cls = getattr(links_pb2, "LookupAppsRequest", None)
        if request_cls is None:
            return None
        try:
            resp = await self._links.links.LookupApps(  # type: ignore[attr-defined]
                request_cls(apple_app_id=store_app_id, account_id=account_id)
            )
        except CallError as err:
            if err.code() == grpc.StatusCode.UNIMPLEMENTED:
                return None
            raise Unavailable(f"cannot look the app up in the links service: {err.details()}") from None
        return tuple((m.account_id, m.app.app_id) for m in resp.matches)

    async def _mapped_accounts(self, store_app_id: str) -> list[tuple[str, str]]:
        rows = await self._pool.fetch(
            "SELECT DISTINCT account_id FROM attribution.skan_mappings WHERE store_app_id = $1 LIMIT 10", store_app_id
        )
        return [(r["account_id"], "") for r in rows]

    async def target(self, account_id: str, store_app_id: str, app_id: str) -> Target:
        """The account and our app a postback for ``store_app_id`` belongs to."""
        matches = await self._lookup_apps(store_app_id, account_id)
        if matches is None:  # links cannot look apps up by App Store id: the request / the mappings say
            if account_id:
                return Target(account_id, app_id or None)
            matches = await self._mapped_accounts(store_app_id)
        if app_id:
            matches = [m for m in matches if m[1] == app_id or not m[1]]
            if not matches:
                raise NotFound(f"app {app_id!r} does not have App Store id {store_app_id} (set its apple_app_id)")
        accounts = sorted({a for a, _ in matches})
        if not accounts:
            where = "this account" if account_id else "any account"
            raise NotFound(
                f"no app of {where} has App Store id {store_app_id}:"
                f" set it on the app (clicktrail app update <app_id> --apple-app-id {store_app_id})"
            )
        if len(accounts) > 1:
            raise NotFound(
                f"App Store id {store_app_id} belongs to apps of {len(accounts)} accounts: point the app's"
                " NSAdvertisingAttributionReportEndpoint at the account's custom tracking domain"
            )
        apps = [a for acc, a in matches if acc == accounts[0] and a]
        return Target(accounts[0], app_id or (apps[0] if apps else None))

    async def prepare(self, account_id: str, body: bytes, kind: int, app_id: str) -> Prepared:
        """Verify and resolve (the CPU and the cached look-ups, no write); a DomainError when refused."""
        if len(body) > MAX_BODY:
            raise InvalidArgument("body", f"must be at most {MAX_BODY // 1024} KiB")
        try:
            postback, doc = skan_verify.parse(body, kind, development_keys=self.development_keys)
        except skan_verify.SkanRefused as err:
            RECEIVED.labels("aak" if b"jws-string" in body else "skan", f"refused_{err.field}"[:40]).inc()
            raise InvalidArgument(err.field, err.reason) from None
        return Prepared(postback, doc, await self.target(account_id, postback.store_app_id, app_id))

    async def record(
        self, account_id: str, body: bytes, kind: int, channel: int, app_id: str
    ) -> tuple[asyncpg.Record, bool]:
        """Verify, resolve, map, decode and store; (the row, duplicate)."""
        prepared = await self.prepare(account_id, body, kind, app_id)
        # A replay (Apple resends until it gets a 200) or the other copy: one read, no transaction.
        stored = await self._pool.fetchrow(DUPLICATE_SQL, prepared.target.account_id, prepared.postback.transaction_id)
        if stored is not None:
            RECEIVED.labels(KIND_NAMES[prepared.postback.kind], "duplicate").inc()
            return stored, True
        return await self.store(prepared, channel)

    async def record_many(
        self, items: Sequence[BatchItem | DomainError]
    ) -> list[tuple[asyncpg.Record, bool] | DomainError]:
        """``record`` for each item, in order, each answered on its own (its row and whether a
        duplicate, or the DomainError it was refused with): the replays found with one read,
        the new postbacks stored each in its own transaction."""
        results: list[tuple[asyncpg.Record, bool] | DomainError | None] = [None] * len(items)
        prepared: dict[int, Prepared] = {}
        for i, item in enumerate(items):
            if isinstance(item, DomainError):  # refused before (its token)
                results[i] = item
                continue
            try:
                prepared[i] = await self.prepare(item.account_id, item.body, item.kind, item.app_id)
            except DomainError as err:
                results[i] = err
        keys = [(p.target.account_id, p.postback.transaction_id) for p in prepared.values()]
        stored: dict[tuple[str, str], asyncpg.Record] = {}
        if keys:
            rows = await self._pool.fetch(
                "SELECT p.* FROM attribution.skan_postbacks p"
                " JOIN unnest($1::text[], $2::text[]) AS k(account_id, transaction_id)"
                " ON p.account_id = k.account_id AND p.transaction_id = k.transaction_id",
                [k[0] for k in keys], [k[1] for k in keys],
            )  # fmt: skip
            stored = {(r["account_id"], r["transaction_id"]): r for r in rows}
        for i, p in prepared.items():
            row = stored.get((p.target.account_id, p.postback.transaction_id))
            if row is not None:
                RECEIVED.labels(KIND_NAMES[p.postback.kind], "duplicate").inc()
                results[i] = (row, True)
                continue
            item = items[i]
            assert not isinstance(item, DomainError)
            try:  # one transaction each (a second copy in the same batch finds the first: duplicate)
                results[i] = await self.store(p, item.channel)
            except DomainError as err:
                results[i] = err
        return [r for r in results if r is not None]

    async def store(self, prepared: Prepared, channel: int) -> tuple[asyncpg.Record, bool]:
        """Map, decode and insert a verified postback; (the row, duplicate)."""
        postback, doc, target = prepared.postback, prepared.doc, prepared.target
        kind_name = KIND_NAMES[postback.kind]
        async with self._pool.acquire() as conn, conn.transaction():
            mapped = pick_mapping(await conn.fetch(
                MAPPING_SQL, target.account_id, postback.ad_network_id, postback.source_identifier,
                postback.store_app_id, postback.version in HIERARCHICAL,
            ))  # fmt: skip
            conversions, revenue, currency = 0, None, None
            if skan_values is not None:
                schema = None
                if target.app_id:
                    schema = await skan_values.load_schema(conn, target.account_id, target.app_id)
                decoded = skan_values.decode(
                    schema, sequence_index=postback.sequence_index, fine_value=postback.fine_value,
                    coarse_value=postback.coarse_value,
                )  # fmt: skip
                conversions, revenue, currency = decoded.conversions, decoded.revenue, decoded.currency
            row = await conn.fetchrow(
                INSERT_SQL, target.account_id, new_resource_id("skp"), postback.transaction_id, postback.kind,
                postback.version, target.app_id, postback.store_app_id, postback.ad_network_id,
                postback.source_identifier, mapped["campaign_id"] if mapped else None,
                mapped["partner_id"] if mapped else None, postback.source_app_id, postback.source_domain,
                postback.fidelity_type, postback.redownload, postback.did_win, postback.sequence_index,
                postback.fine_value, postback.coarse_value, postback.installs, conversions, revenue, currency,
                channel or DEVELOPER_COPY, dt.datetime.now(dt.UTC),
                orjson.dumps(doc).decode(), postback.signing_key,
            )  # fmt: skip
            if row is None:
                row = await conn.fetchrow(DUPLICATE_SQL, target.account_id, postback.transaction_id)
                RECEIVED.labels(kind_name, "duplicate").inc()
                return row, True
        RECEIVED.labels(kind_name, "stored" if mapped else "stored_unmapped").inc()
        log.info(
            "skan_postback", account_id=target.account_id, transaction_id=postback.transaction_id,
            version=postback.version, campaign_id=row["campaign_id"], via=channel,
        )  # fmt: skip
        return row, False


MAX_BATCH = 500


def result_msg(result: tuple[asyncpg.Record, bool] | DomainError) -> pb.SkanPostbackResult:
    if isinstance(result, DomainError):
        violations = getattr(result, "violations", None)
        field = violations[0][0] if violations else ""
        return pb.SkanPostbackResult(code=result.code.value[0], message=result.message, field=field)
    row, duplicate = result
    response = pb.RecordSkanPostbackResponse(postback=postback_msg(row), duplicate=duplicate)
    return pb.SkanPostbackResult(response=response)


class SkanService(pb_grpc.SkanServiceServicer):
    def __init__(self, pool: asyncpg.Pool, store: SkanStore, campaigns: Campaigns, keys: auth.KeyStore) -> None:
        self._pool = pool
        self._store = store
        self._campaigns = campaigns
        self._keys = keys

    async def RecordSkanPostback(
        self, request: pb.RecordSkanPostbackRequest, context: Any
    ) -> pb.RecordSkanPostbackResponse:
        p = auth.principal()
        channel = request.channel or NETWORK
        if p.kind in ("postback", "account"):
            account_id = p.account_id
            channel = NETWORK
        elif p.kind in ("gateway", "admin", "internal"):
            account_id = request.account_id or p.account_id
        else:
            raise PermissionDenied("RecordSkanPostback takes the account's postback token (ctp_...)")
        row, duplicate = await self._store.record(account_id, request.body, request.kind, channel, request.app_id)
        return pb.RecordSkanPostbackResponse(postback=postback_msg(row), duplicate=duplicate)

    async def BatchRecordSkanPostbacks(
        self, request: pb.BatchRecordSkanPostbacksRequest, context: Any
    ) -> pb.BatchRecordSkanPostbacksResponse:
        auth.require_gateway()
        if len(request.requests) > MAX_BATCH:
            raise InvalidArgument("requests", f"at most {MAX_BATCH} postbacks per call")
        items: list[BatchItem | DomainError] = []
        for r in request.requests:
            if r.channel == NETWORK or r.postback_token:  # a network's copy: the account its token names
                try:
                    p = await self._keys.verify(r.postback_token)
                    if p.kind not in ("postback", "account"):
                        raise PermissionDenied("RecordSkanPostback takes the account's postback token (ctp_...)")
                except DomainError as err:
                    items.append(err)
                    continue
                items.append(BatchItem(p.account_id, r.body, r.kind, NETWORK, r.app_id))
            else:
                items.append(BatchItem(r.account_id, r.body, r.kind, r.channel or DEVELOPER_COPY, r.app_id))
        results = await self._store.record_many(items)
        return pb.BatchRecordSkanPostbacksResponse(results=[result_msg(r) for r in results])

    async def ListSkanPostbacks(
        self, request: pb.ListSkanPostbacksRequest, context: Any
    ) -> pb.ListSkanPostbacksResponse:
        account_id = auth.require_account()
        page = Page.of(request, "t", "id")
        start = from_timestamp(request.start_time) if request.HasField("start_time") else None
        end = from_timestamp(request.end_time) if request.HasField("end_time") else None
        rows = await self._pool.fetch(
            "SELECT * FROM attribution.skan_postbacks WHERE account_id = $1"
            " AND ($2::text IS NULL OR campaign_id = $2) AND ($3::text IS NULL OR app_id = $3)"
            " AND ($4::text IS NULL OR ad_network_id = $4) AND (NOT $5 OR campaign_id IS NULL)"
            " AND ($6::smallint IS NULL OR kind = $6) AND ($7::timestamptz IS NULL OR receive_time >= $7)"
            " AND ($8::timestamptz IS NULL OR receive_time < $8) AND ($9::text IS NULL OR store_app_id = $9)"
            " AND (receive_time, postback_id) < ($10, $11)"
            " ORDER BY receive_time DESC, postback_id DESC LIMIT $12",
            account_id, request.campaign_id or None, request.app_id or None,
            request.ad_network_id.lower() or None, request.unmapped, request.kind or None, start, end,
            request.store_app_id or None,
            page.get("t", dt.datetime.max.replace(tzinfo=dt.UTC), dt.datetime.fromisoformat),
            page.get("id", ""), page.limit,
        )  # fmt: skip
        rows, token = page.cut(rows, lambda r: {"t": r["receive_time"].isoformat(), "id": r["postback_id"]})
        return pb.ListSkanPostbacksResponse(postbacks=[postback_msg(r) for r in rows], next_page_token=token)

    async def GetSkanPostback(self, request: pb.GetSkanPostbackRequest, context: Any) -> pb.GetSkanPostbackResponse:
        account_id = auth.require_account()
        key = request.postback_id.strip()
        if not key:
            raise InvalidArgument("postback_id", "is required (a postback id or a transaction id)")
        row = await self._pool.fetchrow(
            "SELECT * FROM attribution.skan_postbacks WHERE account_id = $1"
            " AND (postback_id = $2 OR transaction_id = $2) LIMIT 1",
            account_id, key,
        )  # fmt: skip
        if row is None:
            raise NotFound(f"SKAN postback {key!r} not found")
        return pb.GetSkanPostbackResponse(postback=postback_msg(row))

    async def CreateSkanMapping(
        self, request: pb.CreateSkanMappingRequest, context: Any
    ) -> pb.CreateSkanMappingResponse:
        account_id = auth.require_account()
        m = request.mapping
        v = Validator()
        network = m.ad_network_id.strip().lower()
        source = m.source_identifier.strip()
        store_app = m.store_app_id.strip()
        campaign_id = m.campaign_id.strip()
        v.check(
            skan_verify.AD_NETWORK_RE.fullmatch(network) is not None, "mapping.ad_network_id",
            f"{'must be' if network else 'is required:'} the ad network's SKAdNetwork id, e.g."
            " cstr6suwn9.skadnetwork",
        )  # fmt: skip
        v.check(
            SOURCE_RE.fullmatch(source) is not None, "mapping.source_identifier",
            f"{'must be' if source else 'is required:'} the source identifier (SKAN 4 / AdAttributionKit,"
            " 2-4 digits) or campaign id (SKAN 1-3, digits) as the postbacks carry it",
        )  # fmt: skip
        v.check(
            not store_app or STORE_APP_RE.fullmatch(store_app) is not None, "mapping.store_app_id",
            "must be an App Store id (digits), or empty for any app",
        )  # fmt: skip
        campaign = None
        if not campaign_id:
            v.add("mapping.campaign_id", "is required")
        else:
            campaign = await self._campaigns.campaign(account_id, campaign_id)
            v.check(campaign is not None, "mapping.campaign_id", f"no campaign {campaign_id!r} in this account")
        v.raise_if_any()
        assert campaign is not None
        partner = campaign.partner_id or None
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "INSERT INTO attribution.skan_mappings (account_id, mapping_id, ad_network_id, source_identifier,"
                " store_app_id, campaign_id, partner_id) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                " ON CONFLICT (account_id, ad_network_id, source_identifier, store_app_id) DO NOTHING RETURNING *",
                account_id, new_resource_id("skm"), network, source, store_app, campaign_id, partner,
            )  # fmt: skip
            if row is None:
                existing = await conn.fetchval(
                    "SELECT mapping_id FROM attribution.skan_mappings WHERE account_id = $1 AND ad_network_id = $2"
                    " AND source_identifier = $3 AND store_app_id = $4",
                    account_id, network, source, store_app,
                )  # fmt: skip
                raise AlreadyExists(
                    f"mapping {existing} already maps {network} {source}"
                    f"{' for app ' + store_app if store_app else ''}: delete it first"
                )
            # Postbacks stored unmapped before: the new mapping credits them now (an exact
            # App Store id mapping takes its app's; an any-app one those no exact one covers).
            status = await conn.execute(
                "UPDATE attribution.skan_postbacks SET campaign_id = $5, partner_id = $6,"
                " update_time = clock_timestamp() WHERE account_id = $1 AND campaign_id IS NULL AND ad_network_id = $2"
                " AND source_identifier = $3"
                " AND ($4 = '' OR store_app_id = $4)",
                account_id, network, source, store_app, campaign_id, partner,
            )  # fmt: skip
        remapped = int(status.split()[-1])
        return pb.CreateSkanMappingResponse(mapping=mapping_msg(row), remapped=remapped)

    async def ListSkanMappings(self, request: pb.ListSkanMappingsRequest, context: Any) -> pb.ListSkanMappingsResponse:
        account_id = auth.require_account()
        page = Page.of(request, "id")
        rows = await self._pool.fetch(
            "SELECT * FROM attribution.skan_mappings WHERE account_id = $1 AND ($2::text IS NULL OR ad_network_id = $2)"
            " AND ($3::text IS NULL OR campaign_id = $3) AND mapping_id > $4 ORDER BY mapping_id LIMIT $5",
            account_id, request.ad_network_id.strip().lower() or None, request.campaign_id.strip() or None,
            page.get("id", ""), page.limit,
        )  # fmt: skip
        rows, token = page.cut(rows, lambda r: {"id": r["mapping_id"]})
        return pb.ListSkanMappingsResponse(mappings=[mapping_msg(r) for r in rows], next_page_token=token)

    async def DeleteSkanMapping(
        self, request: pb.DeleteSkanMappingRequest, context: Any
    ) -> pb.DeleteSkanMappingResponse:
        account_id = auth.require_account()
        if not request.mapping_id.strip():
            raise InvalidArgument("mapping_id", "is required")
        deleted = await self._pool.fetchval(
            "DELETE FROM attribution.skan_mappings WHERE account_id = $1 AND mapping_id = $2 RETURNING mapping_id",
            account_id, request.mapping_id.strip(),
        )  # fmt: skip
        if deleted is None:
            raise NotFound(f"SKAN mapping {request.mapping_id!r} not found")
        return pb.DeleteSkanMappingResponse()


def register(server: grpc.aio.Server, ctx: ServiceContext, campaigns: Campaigns) -> list[str]:
    links = LinksClient.internal(ctx.settings, deadline_s=5.0)  # type: ignore[arg-type]
    ctx.on_stop.append(links.close)
    development = bool(getattr(ctx.settings, "skan_development_keys", False))
    store = SkanStore(ctx.pool, links, development_keys=development)
    pb_grpc.add_SkanServiceServicer_to_server(SkanService(ctx.pool, store, campaigns, ctx.keys), server)
    return [pb.DESCRIPTOR.services_by_name["SkanService"].full_name]


__all__ = ["SkanService", "SkanStore", "register"]
