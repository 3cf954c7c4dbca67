"""Tenant isolation across every gRPC method and the public HTTP endpoints.

A victim account gets one of everything (app, partner, campaign, link, click,
impression, install, conversion, goal, tariff, correction, postback template,
deliveries, inbound postbacks ...). Then an attacker account calls EVERY method of
EVERY service found in the generated code (so a method added later is walked too),
with the victim's ids filled into every id field, once with each of its own
credentials (API key, postback token, app key). Every call must fail or answer
without any of the victim's ids, and afterwards no row of the victim's, in any
schema, has changed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import itertools
import pkgutil
from collections.abc import Iterator
from typing import Any

import asyncpg
import clicktrail
import grpc
import httpx
import pytest
from clicktrail.attribution.v1 import attribution_pb2 as apb
from clicktrail.attribution.v1 import attribution_pb2_grpc
from clicktrail.attribution.v1 import config_pb2 as cpb
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.postbacks.v1 import postbacks_pb2 as ppb
from clicktrail.type.v1 import money_pb2
from google.protobuf import descriptor, message_factory

from libs.grpc_server import RunningService
from libs.ids import new_id
from tests.conftest import AccountInfo
from tests.gateway.conftest import start_gateway
from tests.services.attribution.engine_support import (
    checks_off,
    drained,
    event,
    make_app,
    make_campaign,
    send,
    touch,
)
from tests.services.postbacks.sink import Sink
from tests.support.wait import wait_until

SCHEMAS = ("accounts", "links", "ingest", "attribution", "postbacks", "analytics")
# Columns whose values are the client's own words (an attacker can send the same), not ids we issued.
NOT_SECRET = {"user_id", "session_id", "device_id", "idfa", "gaid", "idfv", "android_id", "txid", "bundle_id"}
PLAUSIBLE = {
    "name": "pwned", "display_name": "pwned", "amount": "1", "currency_code": "USD", "currency": "USD",
    "destination_url": "https://example.com/x", "url_template": "https://example.com/pb?c={click_id}",
    "event": "install", "status": "approved", "payout": "1", "time_zone": "UTC", "bundle_id": "com.m.app",
    "erasure_id": new_id(), "pseudonym": "erased:" + "0" * 32,
}  # fmt: skip
# A call may fail with these; anything else (INTERNAL, UNKNOWN ...) is a bug.
REFUSALS = {
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}


def all_services() -> Iterator[descriptor.ServiceDescriptor]:
    for info in pkgutil.walk_packages(clicktrail.__path__, "clicktrail."):
        if info.name.endswith("_pb2"):
            yield from importlib.import_module(info.name).DESCRIPTOR.services_by_name.values()


def fill(msg: Any, victim: dict[str, str], depth: int = 0) -> None:
    """Puts the victim's ids into every id field of a request, recursively, and
    plausible values elsewhere, so calls get past validation to the look-ups."""
    now = dt.datetime.now(dt.UTC)
    for field in msg.DESCRIPTOR.fields:
        repeated = field.is_repeated
        kind = field.message_type.full_name if field.message_type is not None else ""
        if kind == "google.protobuf.Timestamp" and not repeated:
            at = now - dt.timedelta(days=1) if field.name.startswith("start") else now + dt.timedelta(hours=1)
            getattr(msg, field.name).FromDatetime(at)
        elif kind and not kind.startswith("google.") and depth < 2 and not field.message_type.GetOptions().map_entry:
            fill(getattr(msg, field.name).add() if repeated else getattr(msg, field.name), victim, depth + 1)
        elif field.type == field.TYPE_STRING:
            singular = field.name[:-1] if repeated and field.name.endswith("_ids") else field.name
            value = victim.get(singular) or PLAUSIBLE.get(field.name, "")
            if field.name.endswith("_date"):
                value = now.date().isoformat()
            if not value:
                continue
            if repeated:
                getattr(msg, field.name).append(value)
            else:
                setattr(msg, field.name, value)
        elif field.type == field.TYPE_ENUM and not repeated and len(field.enum_type.values) > 1:
            setattr(msg, field.name, field.enum_type.values[1].number)


async def victim_rows(conn: asyncpg.Connection, account_id: str) -> dict[str, str]:
    """A digest of every row of the account, per table, in every schema."""
    tables = await conn.fetch(
        """SELECT c.table_schema, c.table_name FROM information_schema.columns c
           JOIN pg_class k ON k.relname = c.table_name
           JOIN pg_namespace n ON n.oid = k.relnamespace AND n.nspname = c.table_schema
           WHERE c.column_name = 'account_id' AND c.table_schema = ANY($1::text[]) AND NOT k.relispartition
           ORDER BY 1, 2""",
        list(SCHEMAS),
    )
    out = {}
    for t in tables:
        name = f'"{t["table_schema"]}"."{t["table_name"]}"'
        out[name] = await conn.fetchval(
            f"SELECT md5(coalesce(string_agg(r::text, '|' ORDER BY r::text), '')) FROM {name} r WHERE account_id = $1",
            account_id,
        )
    return out


async def victim_ids(conn: asyncpg.Connection, account_id: str) -> dict[str, str]:
    """One value of every *_id / slug column the victim has a row with, by column name."""
    cols = await conn.fetch(
        """SELECT table_schema, table_name, column_name FROM information_schema.columns
           WHERE table_schema = ANY($1::text[]) AND (column_name LIKE '%\\_id' OR column_name = 'slug')
             AND data_type = 'text'
             AND EXISTS (SELECT 1 FROM information_schema.columns a WHERE a.table_schema = table_schema
                         AND a.table_name = table_name AND a.column_name = 'account_id')""",
        list(SCHEMAS),
    )
    ids: dict[str, str] = {"account_id": account_id}
    for c in cols:
        if c["column_name"] in ids or c["column_name"] in NOT_SECRET:
            continue
        with_account = await conn.fetchval(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2"
            " AND column_name = 'account_id'",
            c["table_schema"],
            c["table_name"],
        )
        if not with_account:
            continue
        value = await conn.fetchval(
            f'SELECT "{c["column_name"]}" FROM "{c["table_schema"]}"."{c["table_name"]}"'
            f" WHERE account_id = $1 AND coalesce(\"{c['column_name']}\", '') <> '' LIMIT 1",
            account_id,
        )
        if value:
            ids[c["column_name"]] = value
    return ids


@pytest.fixture
async def sink() -> Any:
    s = await Sink().start()
    yield s
    await s.close()


async def test_another_account_sees_and_changes_nothing_through_any_method(
    links_server: RunningService,
    ingest_server: RunningService,
    attribution_server: RunningService,
    postbacks_server: RunningService,
    analytics_server: RunningService,
    links_stub: Any,
    gateway_links_stub: Any,
    ingest_stub: Any,
    attribution_stub: Any,
    postbacks_stub: Any,
    account: AccountInfo,
    new_account: Any,
    channels: Any,
    settings: Any,
    sink: Sink,
) -> None:
    # --- the victim: one of everything
    app_id = await make_app(links_stub)
    goal = (
        await attribution_stub.goals.CreateGoal(
            cpb.CreateGoalRequest(goal=cpb.Goal(name="Purchase", kind=cpb.GOAL_KIND_PURCHASE, event="purchase"))
        )
    ).goal
    camp = await make_campaign(links_stub, app_id, target_goal_id=goal.goal_id)
    await checks_off(attribution_stub, "click_injection")  # the victim installs milliseconds after the click
    await postbacks_stub.CreateTemplate(
        ppb.CreateTemplateRequest(
            template=ppb.Template(
                partner_id=camp.partner_id,
                url_template=sink.base + "/pb?click={click_id}&e={event_id}",
                trigger=ppb.TRIGGER_INSTALL,
                sending_mode=ppb.SENDING_MODE_ATTRIBUTED,
            )
        )
    )
    await attribution_stub.tariffs.CreateTariff(
        cpb.CreateTariffRequest(
            tariff=cpb.Tariff(
                campaign_id=camp.campaign_id,
                model=cpb.TARIFF_MODEL_CPI,
                amount=money_pb2.Money(amount="1.50", currency_code="USD"),
            )
        )
    )
    today = dt.datetime.now(dt.UTC).date().isoformat()
    await attribution_stub.corrections.CreateCorrection(
        cpb.CreateCorrectionRequest(
            correction=cpb.Correction(
                campaign_id=camp.campaign_id,
                amount=money_pb2.Money(amount="10", currency_code="USD"),
                start_date=today,
                end_date=today,
            )
        )
    )
    click_id = await touch(gateway_links_stub, camp, query="sub1=victim&idfa=6D92078A-8246-4BA4-AE5B-76104861E7DC")
    await touch(gateway_links_stub, camp, kind="impression")
    await send(ingest_stub, event(app_id, "install", click_id=click_id, user_id="victim-user"))
    await drained(settings)
    victim_postbacks = attribution_pb2_grpc.AttributionServiceStub(
        channels(attribution_server.addr, token=account.postback_token)
    )
    await victim_postbacks.RecordPostback(
        apb.RecordPostbackRequest(click_id=click_id, txid="victim-tx", status="approved", payout="4.20")
    )
    conn = await asyncpg.connect(settings.database_url)
    try:
        # Quiet: every delivery sent, rollups caught up, nothing moving.
        async with asyncio.timeout(30):
            while await conn.fetchval(  # noqa: ASYNC110 (other processes' work)
                "SELECT count(*) FROM postbacks.deliveries WHERE account_id = $1 AND status <> 'delivered'",
                account.account_id,
            ) or not await conn.fetchval(
                "SELECT count(*) FROM postbacks.deliveries WHERE account_id = $1", account.account_id
            ):
                await asyncio.sleep(0.1)
        # ... and the victim's rows the same over the last second (two reads 0.5 s apart).
        reads = [await victim_rows(conn, account.account_id)]

        async def settled() -> bool:
            reads.append(await victim_rows(conn, account.account_id))
            return len(reads) >= 3 and reads[-1] == reads[-2] == reads[-3]

        await wait_until(settled, "the victim's rows to stop changing", every_s=0.5)
        before = reads[-1]
        victim = await victim_ids(conn, account.account_id)
        victim.update(slug=camp.slug, click_id=click_id, device_id="6d92078a-8246-4ba4-ae5b-76104861e7dc")
        for needed in ("app_id", "partner_id", "campaign_id", "link_id", "goal_id", "tariff_id", "correction_id",
                       "install_id", "conversion_id", "template_id", "delivery_id", "postback_id"):  # fmt: skip
            assert needed in victim, f"setup made no {needed}: {sorted(victim)}"
        secrets = {v for k, v in victim.items() if len(v) >= 10 and k not in NOT_SECRET}

        # --- the attacker: every method, every credential
        mallory = await new_account("Mallory")
        m_links = channels(links_server.addr, token=mallory.api_key)
        app_key = (
            await links_stub.__class__(m_links).CreateApp(
                lpb.CreateAppRequest(app=lpb.App(name="M", platform=lpb.PLATFORM_ANDROID, bundle_id="com.m.app"))
            )
        ).app_key
        where = {
            "clicktrail.accounts": [links_server],
            "clicktrail.links": [links_server],
            "clicktrail.ingest": [ingest_server],
            "clicktrail.attribution": [attribution_server],
            "clicktrail.postbacks": [postbacks_server],
            "clicktrail.analytics": [analytics_server],
            # Every service implements it for its own schema.
            "clicktrail.privacy": [links_server, ingest_server, attribution_server, postbacks_server],
        }
        walked = 0
        for service in all_services():
            servers = next(s for prefix, s in where.items() if service.full_name.startswith(prefix + "."))
            for server, token in itertools.product(servers, (mallory.api_key, mallory.postback_token, app_key)):
                ch = channels(server.addr, token=token)
                for method in service.methods:
                    request = message_factory.GetMessageClass(method.input_type)()
                    fill(request, victim)
                    reply_cls = message_factory.GetMessageClass(method.output_type)
                    call = ch.unary_unary(
                        f"/{service.full_name}/{method.name}",
                        request_serializer=lambda r: r.SerializeToString(),
                        response_deserializer=reply_cls.FromString,
                    )
                    where_ = f"{service.name}.{method.name}"
                    try:
                        reply = await call(request, timeout=10)
                    except grpc.aio.AioRpcError as exc:
                        assert exc.code() in REFUSALS, f"{where_}: {exc.code()} {exc.details()}"
                    else:
                        text = str(reply) + reply.SerializeToString().decode("latin-1")
                        leaked = sorted(s for s in secrets if s in text)
                        assert not leaked, f"{where_} answered the victim's {leaked}"
                    walked += 1
        assert walked >= 3 * 60

        # --- the public HTTP endpoints with the attacker's secrets
        gw = await start_gateway(
            __import__("dataclasses").replace(
                settings, links_addr=links_server.addr, ingest_addr=ingest_server.addr,
                attribution_addr=attribution_server.addr,
            )
        )  # fmt: skip
        try:
            async with httpx.AsyncClient(base_url=gw.url, timeout=10) as http:
                r = await http.get(f"/postback?click_id={click_id}&status=rejected&token={mallory.postback_token}")
                # (The answer may repeat the click id it was sent, nothing more.)
                assert r.status_code == 404 and not any(s in r.text for s in secrets - {click_id}), r.text
                r = await http.post(
                    "/postback", data={"click_id": click_id, "txid": "victim-tx", "status": "rejected"},
                    headers={"X-Postback-Token": mallory.postback_token},
                )  # fmt: skip
                assert r.status_code == 404, r.text
                # An install naming the victim's click under the attacker's app stays the attacker's (organic).
                ev = {
                    "uuid": "7b0c51a8-2f54-4b7a-8c59-2b8f0f0c2a11", "event": "install", "click_id": click_id,
                    "timestamp": dt.datetime.now(dt.UTC).isoformat(),
                    "device": {"gaid": "0e7c55c2-6a4b-4d8e-9a41-3f3f5b8e9d10", "platform": "android"},
                }  # fmt: skip
                r = await http.post("/v1/events", json={"events": [ev]}, headers={"X-Api-Key": app_key})
                assert r.status_code == 202 and r.json()["accepted"] == 1, r.text
                r = await http.post("/v1/events", json={"events": [ev]}, headers={"X-Api-Key": "app_" + app_id})
                assert r.status_code == 401, r.text
        finally:
            await gw.stop()
        await drained(settings)
        stolen = await conn.fetchval(
            "SELECT count(*) FROM attribution.installs WHERE account_id = $1 AND click_id = $2",
            mallory.account_id,
            click_id,
        )
        assert stolen == 0

        await asyncio.sleep(1.0)  # anything the calls set going in the background lands by now
        assert await victim_rows(conn, account.account_id) == before
    finally:
        await conn.close()
