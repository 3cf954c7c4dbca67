"""GDPR erasure end to end: `clicktrail privacy erase` against real links,
ingest, attribution and postbacks servers (and a real postback sink)."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from clicktrail.attribution.v1 import attribution_pb2 as apb
from clicktrail.attribution.v1 import attribution_pb2_grpc
from clicktrail.attribution.v1 import config_pb2 as cpb
from clicktrail.postbacks.v1 import postbacks_pb2 as ppb

from tests.cli.conftest import Cli
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

GAID = "6d92078a-8246-4ba4-ae5b-76104861e7dc"
OTHER_GAID = "0e7c55c2-6a4b-4d8e-9a41-3f3f5b8e9d10"


async def _rows(conn: asyncpg.Connection, sql: str, *args: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(sql, *args)]


async def test_erasing_a_person_removes_their_ids_everywhere_keeps_the_counts_and_is_idempotent(
    privacy_cli: Cli, links_stub: Any, gateway_links_stub: Any, ingest_stub: Any, attribution_stub: Any,
    postbacks_stub: Any, attribution_server: Any, account: Any, channels: Any, settings: Any, sink: Sink,
) -> None:  # fmt: skip
    # Its installs come milliseconds after their clicks, which is what click injection looks like.
    await checks_off(attribution_stub, "click_injection")
    app_id = await make_app(links_stub)
    await attribution_stub.goals.CreateGoal(
        cpb.CreateGoalRequest(goal=cpb.Goal(name="Purchase", kind=cpb.GOAL_KIND_PURCHASE, event="purchase"))
    )
    camp = await make_campaign(links_stub, app_id)
    await postbacks_stub.CreateTemplate(
        ppb.CreateTemplateRequest(
            template=ppb.Template(
                partner_id=camp.partner_id, url_template=sink.base + "/pb?gaid={gaid}&click={click_id}",
                trigger=ppb.TRIGGER_INSTALL, sending_mode=ppb.SENDING_MODE_ATTRIBUTED,
            )
        )
    )  # fmt: skip
    # The person: a click with their GAID, an install from it, a purchase carrying their e-mail.
    click_id = await touch(gateway_links_stub, camp, query=f"gaid={GAID}&sub1=spring", ip="81.2.69.142")
    await send(ingest_stub, event(app_id, "install", click_id=click_id, user_id="player-42", device={"gaid": GAID}))
    await send(
        ingest_stub,
        event(app_id, "track", action="purchase", user_id="player-42", props={"email": "p42@mail.test", "sku": "gems"}),
    )
    # A bystander whose data must not change.
    other_click = await touch(gateway_links_stub, camp, query=f"gaid={OTHER_GAID}", ip="81.2.69.143")
    await send(
        ingest_stub, event(app_id, "install", click_id=other_click, user_id="player-7", device={"gaid": OTHER_GAID})
    )
    await drained(settings)
    await attribution_pb2_grpc.AttributionServiceStub(
        channels(attribution_server.addr, token=account.postback_token)
    ).RecordPostback(apb.RecordPostbackRequest(click_id=click_id, txid="t-1", payout="3.50"))

    conn = await asyncpg.connect(settings.database_url)
    try:
        delivered = "SELECT count(*) FROM postbacks.deliveries WHERE account_id = $1 AND status = 'delivered'"

        async def both_delivered() -> bool:  # the dispatcher's work
            return await conn.fetchval(delivered, account.account_id) >= 2

        await wait_until(both_delivered, "the 2 postbacks delivered", every_s=0.1)
        person_keys = "ARRAY[hashtextextended('u:player-42', 0), hashtextextended('d:' || $1, 0)]"
        users_per_day = "SELECT day, count(*) FROM analytics.metric_activity GROUP BY day ORDER BY day"

        async def both_rolled_up() -> bool:  # the analytics service's work
            return (
                await conn.fetchval(
                    "SELECT count(DISTINCT user_key) FROM analytics.metric_activity WHERE user_key = ANY("
                    "ARRAY[hashtextextended('u:player-42', 0), hashtextextended('u:player-7', 0)])"
                )
                >= 2
            )

        await wait_until(both_rolled_up, "the product-metric rollups to have the person and the bystander", every_s=0.1)
        active_before = [tuple(r) for r in await conn.fetch(users_per_day)]
        bystander = {
            "events": await _rows(conn, "SELECT * FROM ingest.events WHERE user_id = 'player-7' ORDER BY event_uuid"),
            "click": await _rows(conn, "SELECT * FROM links.clicks WHERE click_id = $1", other_click),
            "install": await _rows(conn, "SELECT * FROM attribution.installs WHERE click_id = $1", other_click),
        }
        totals = "SELECT (SELECT count(*) FROM ingest.events), (SELECT count(*) FROM attribution.installs), " \
                 "(SELECT count(*) FROM attribution.conversions), (SELECT sum(payout) FROM attribution.conversions), " \
                 "(SELECT count(*) FROM links.clicks)"  # fmt: skip
        before = tuple(await conn.fetchrow(totals))

        # A dry run finds the linked device and click from the user id alone, and changes nothing.
        dry = (await privacy_cli("privacy", "erase", "--user-id", "player-42", "--dry-run", "--json")).json()
        assert dry["ids"] == {"user_ids": 1, "device_ids": 1, "click_ids": 1}
        assert dry["rows"]["ingest"]["ingest.events"] == 2
        assert dry["rows"]["links"]["links.clicks"] == 1
        assert await conn.fetchval("SELECT count(*) FROM ingest.events WHERE user_id = 'player-42'") == 2

        done = (await privacy_cli("privacy", "erase", "--user-id", "player-42", "--json")).json()
        assert done["rows"]["ingest"] == {"ingest.events": 2, "ingest.first_seen": 2}
        assert done["rows"]["links"]["links.clicks"] == 1
        assert done["rows"]["attribution"]["attribution.installs"] == 1
        # The purchase goal's (the network's postback conversion holds nothing of the person's).
        assert done["rows"]["attribution"]["attribution.conversions"] == 1
        assert done["rows"]["postbacks"]["postbacks.deliveries"] == 1

        # Their ids are gone from every schema...
        for table, where in (
            ("ingest.events", "user_id = 'player-42' OR gaid = $1 OR properties ? 'email'"),
            ("ingest.first_seen", "id IN ('player-42', $1)"),
            ("links.clicks", "gaid = $1 OR ip = '81.2.69.142'"),
            ("attribution.installs", "gaid = $1 OR user_id = 'player-42'"),
            ("attribution.install_keys", "key LIKE '%' || $1"),
            ("attribution.conversions", "user_key = 'user:player-42' OR user_id = 'player-42'"),
            ("postbacks.deliveries", "url LIKE '%' || $1 || '%'"),
        ):
            args = [GAID] if "$1" in where else []
            assert await conn.fetchval(f"SELECT count(*) FROM {table} WHERE {where}", *args) == 0, table
        # ... replaced by one pseudonym, so the person still counts once ...
        pseudonyms = await conn.fetch(
            "SELECT user_id FROM ingest.events WHERE user_id LIKE 'erased:%' UNION "
            "SELECT user_id FROM attribution.installs WHERE user_id LIKE 'erased:%' UNION "
            "SELECT user_key FROM attribution.conversions WHERE user_key LIKE 'erased:%'"
        )
        assert len(pseudonyms) == 1
        purchase = await conn.fetchrow("SELECT properties FROM ingest.events WHERE action = 'purchase'")
        assert purchase["properties"] is None  # free-form: dropped
        kept = await conn.fetchrow("SELECT country, sub1, campaign_id FROM links.clicks WHERE click_id = $1", click_id)
        assert (kept["sub1"], kept["campaign_id"]) == ("spring", camp.campaign_id)
        # ... and every aggregate, and the bystander, are as they were.
        assert tuple(await conn.fetchrow(totals)) == before
        assert bystander == {
            "events": await _rows(conn, "SELECT * FROM ingest.events WHERE user_id = 'player-7' ORDER BY event_uuid"),
            "click": await _rows(conn, "SELECT * FROM links.clicks WHERE click_id = $1", other_click),
            "install": await _rows(conn, "SELECT * FROM attribution.installs WHERE click_id = $1", other_click),
        }
        # The product metrics know the person only under the pseudonym's key now, and count the same.
        for table in ("metric_activity", "metric_users", "metric_steps", "metric_purchases"):
            query = f"SELECT count(*) FROM analytics.{table} WHERE user_key = ANY({person_keys})"
            assert await conn.fetchval(query, GAID) == 0, table
        assert [tuple(r) for r in await conn.fetch(users_per_day)] == active_before
        logged = await conn.fetch("SELECT service FROM privacy.erasures WHERE erasure_id = $1", done["erasure_id"])
        assert sorted(r["service"] for r in logged) == ["analytics", "attribution", "ingest", "links", "postbacks"]
    finally:
        await conn.close()

    listed = (await privacy_cli("privacy", "list", "--service", "ingest", "--json")).json()
    assert [e["erasure_id"] for e in listed["erasures"]] == [done["erasure_id"]]
    # Idempotent: nothing is left to erase.
    again = (await privacy_cli("privacy", "erase", "--user-id", "player-42", "--device-id", GAID, "--json")).json()
    assert all(n == 0 for tables in again["rows"].values() for n in tables.values()), again
    refused = await privacy_cli("privacy", "erase", code=2)
    assert "--user-id" in refused.stderr


async def test_erasure_requests_are_validated(ingest_server: Any, account: Any, channels: Any) -> None:
    import grpc
    from clicktrail.privacy.v1 import privacy_pb2 as pb
    from clicktrail.privacy.v1 import privacy_pb2_grpc

    stub = privacy_pb2_grpc.PrivacyServiceStub(channels(ingest_server.addr, token=account.api_key))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ErasePersonalData(pb.ErasePersonalDataRequest(erasure_id="nope", pseudonym="bob"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    for field in ("user_ids", "erasure_id", "pseudonym"):
        assert field in err.value.details()
