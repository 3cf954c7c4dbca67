"""GDPR erasure reaches queued work (issue 19): the person's jobs waiting or dead
in every queue (ingest -> attribution, attribution -> postbacks, deliveries), a
job a consumer had already read before the erasure, a dead delivery retried
afterwards, and the inbound postback log. Real servers, a real postback sink."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg
import pytest
from clicktrail.attribution.v1 import attribution_pb2 as apb
from clicktrail.attribution.v1 import attribution_pb2_grpc
from clicktrail.postbacks.v1 import postbacks_pb2 as ppb

from libs import event_handoff, postback_handoff, queue
from services.postbacks.dispatcher import DELIVERY_QUEUE
from tests.cli.conftest import Cli
from tests.services.attribution.engine_support import checks_off, event, make_app, make_campaign, send, touch
from tests.services.postbacks.sink import Sink
from tests.support.wait import wait_until

USER = "player-42"
GAID = "6d92078a-8246-4ba4-ae5b-76104861e7dc"
# Their other devices, known only to jobs still in the queue when they are erased.
GAID_PENDING = "1f0c3b8e-2a44-4c1e-9a51-7d3a2e6b9c01"
GAID_DEAD = "2f0c3b8e-2a44-4c1e-9a51-7d3a2e6b9c02"
GAID_CLAIMED = "3f0c3b8e-2a44-4c1e-9a51-7d3a2e6b9c03"
IP = "81.2.69.142"
QUEUES = (event_handoff.EVENT_QUEUE, postback_handoff.POSTBACK_QUEUE, DELIVERY_QUEUE)


def _install(account_id: str, app_id: str, gaid: str) -> bytes:
    """An ingest -> attribution job: the person's install from another device."""
    now = dt.datetime.now(dt.UTC).isoformat()
    ev = {
        "account_id": account_id, "app_id": app_id, "event_uuid": str(uuid.uuid4()), "event": 1, "event_time": now,
        "receive_time": now, "session_id": "s-1", "user_id": USER, "gaid": gaid, "platform": 1, "ip": IP,
        "user_agent": "Mozilla/5.0 (Linux; Android 14)", "properties": '{"email": "p42@mail.test"}',
    }  # fmt: skip
    return event_handoff.encode([[ev.get(c) for c in event_handoff.COLUMNS]])


def _outbound(account_id: str, app_id: str, partner_id: str, click_id: str, gaid: str) -> bytes:
    """An attribution -> postbacks job: an install of theirs, to be posted back."""
    return postback_handoff.encode({
        "event_id": "ins-" + uuid.uuid4().hex, "kind": "install", "account_id": account_id, "app_id": app_id,
        "partner_id": partner_id, "click_id": click_id, "gaid": gaid, "ip": IP, "attributed": True,
    })  # fmt: skip


async def _until(conn: asyncpg.Connection, sql: str, *args: Any, within_s: float = 30.0) -> None:
    await wait_until(lambda: conn.fetchval(sql, *args), f"the services' work: {sql}", timeout_s=within_s)


async def test_erasure_reaches_every_queue_dead_letters_claimed_jobs_retries_and_the_inbound_log(
    privacy_cli: Cli, request: pytest.FixtureRequest, links_stub: Any, ingest_stub: Any, attribution_stub: Any,
    postbacks_stub: Any, attribution_server: Any, account: Any, channels: Any, settings: Any, sink: Sink,
) -> None:  # fmt: skip
    try:  # the stub that may record clicks (the gateway's, where it has its own credential)
        clicks_stub = request.getfixturevalue("gateway_links_stub")
    except pytest.FixtureLookupError:
        clicks_stub = request.getfixturevalue("internal_links_stub")
    await checks_off(attribution_stub, "click_injection")
    acc = account.account_id
    app_id = await make_app(links_stub)
    camp = await make_campaign(links_stub, app_id)
    await postbacks_stub.CreateTemplate(
        ppb.CreateTemplateRequest(
            template=ppb.Template(
                partner_id=camp.partner_id, url_template=sink.base + "/pb?gaid={gaid}&click={click_id}&ip={ip}",
                trigger=ppb.TRIGGER_INSTALL, sending_mode=ppb.SENDING_MODE_ALL,
            )
        )
    )  # fmt: skip
    # The person's click and install; the partner refuses its postback, which becomes a dead letter.
    sink.mode, sink.status = "status", 400
    click_id = await touch(clicks_stub, camp, query=f"gaid={GAID}", ip=IP)
    await send(ingest_stub, event(app_id, "install", click_id=click_id, user_id=USER, ip=IP, device={"gaid": GAID}))
    # The network's postback for their click, with a parameter about them.
    await attribution_pb2_grpc.AttributionServiceStub(
        channels(attribution_server.addr, token=account.postback_token)
    ).RecordPostback(apb.RecordPostbackRequest(click_id=click_id, txid="t-1", payout="3.50",
                                               params={"email": "p42@mail.test", "clickid": click_id}))  # fmt: skip
    conn = await asyncpg.connect(settings.database_url)
    try:
        failed = "SELECT delivery_id FROM postbacks.deliveries WHERE account_id = $1 AND status = 'failed'"
        await _until(conn, failed, acc)
        delivery_id = await conn.fetchval(failed, acc)
        assert await conn.fetchval("SELECT count(*) FROM queue.jobs WHERE queue = $1 AND dead", DELIVERY_QUEUE) == 1
        # A backlog: in each hand-off queue, one of their jobs not due yet and one dead letter.
        async with conn.transaction():
            for q, payloads in (
                (event_handoff.EVENT_QUEUE, [_install(acc, app_id, GAID_PENDING), _install(acc, app_id, GAID_DEAD)]),
                (
                    postback_handoff.POSTBACK_QUEUE,
                    [_outbound(acc, app_id, camp.partner_id, click_id, GAID) for _ in range(2)],
                ),
            ):
                _, dead = await queue.enqueue(conn, q, payloads, account_ids=[acc] * 2, delay_s=3600, returning=True)
                await conn.execute("UPDATE queue.jobs SET dead = true WHERE job_id = $1", dead)

        done = (await privacy_cli("privacy", "erase", "--user-id", USER, "--json")).json()
        assert done["rows"]["attribution"]["queue.jobs:" + event_handoff.EVENT_QUEUE] == 2
        assert done["rows"]["attribution"]["queue.jobs:" + postback_handoff.POSTBACK_QUEUE] == 2
        assert done["rows"]["attribution"]["attribution.inbound_postbacks"] == 1
        assert done["rows"]["postbacks"]["queue.jobs:" + DELIVERY_QUEUE] == 1
        personal = [USER, GAID, GAID_PENDING, GAID_DEAD, IP, click_id, "p42@mail.test"]
        for value in personal:  # nothing of theirs is left in any queued payload, dead or not
            assert not await conn.fetchval(
                "SELECT count(*) FROM queue.jobs WHERE position(convert_to($1, 'UTF8') in payload) > 0", value
            ), value
        # The inbound postback log keeps the outcome, status, payout and txid, not their click or parameters.
        logged = await conn.fetch("SELECT click_id, params::text, error, txid FROM attribution.inbound_postbacks")
        assert len(logged) == 1 and logged[0]["txid"] == "t-1"
        assert logged[0]["click_id"].startswith("erased:")
        assert all(v not in str(dict(logged[0])) for v in personal), dict(logged[0])

        # Jobs a consumer had read before the erasure and applies only now (claimed, not committed).
        before = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        for q, payload in (
            (event_handoff.EVENT_QUEUE, _install(acc, app_id, GAID_CLAIMED)),
            (postback_handoff.POSTBACK_QUEUE, _outbound(acc, app_id, camp.partner_id, click_id, GAID_CLAIMED)),
        ):
            await conn.execute(
                "INSERT INTO queue.jobs (queue, account_id, payload, max_attempts, create_time)"
                " VALUES ($1, $2, $3, 5, $4)",
                q, acc, payload, before,
            )  # fmt: skip
        # Everything runs: the backlog comes due, dead letters come back, the dead delivery is retried.
        sink.mode = "ok"
        await conn.execute(
            "UPDATE queue.jobs SET run_at = now(), dead = false, attempts = 0 WHERE account_id = $1", acc
        )
        await postbacks_stub.RetryDelivery(ppb.RetryDeliveryRequest(delivery_id=delivery_id))
        await _until(
            conn,
            "SELECT NOT EXISTS (SELECT 1 FROM queue.jobs WHERE account_id = $1 AND queue = ANY($2::text[]))"
            " AND NOT EXISTS (SELECT 1 FROM postbacks.deliveries WHERE account_id = $1"
            " AND status IN ('pending', 'retrying'))",
            acc,
            list(QUEUES),
        )
        # The backlog was attributed (under the pseudonym), and none of it brought their data back.
        assert await conn.fetchval("SELECT count(*) FROM attribution.installs WHERE user_id LIKE 'erased:%'") >= 2
        personal.append(GAID_CLAIMED)
        assert not await conn.fetchval(
            "SELECT count(*) FROM attribution.installs WHERE user_id = $1 OR gaid = ANY($2::text[]) OR ip = $3::inet",
            USER, personal, IP,
        )  # fmt: skip
        assert not await conn.fetch(
            "SELECT url FROM postbacks.deliveries WHERE url LIKE ANY($1::text[])", [f"%{v}%" for v in personal]
        )
    finally:
        await conn.close()
    # The partner got the retried delivery as redacted, and nothing of theirs after the erasure.
    after = [h for h in sink.hits if h.query]
    assert any(h.query.get("gaid") == "erased" and h.query.get("ip") == "erased" for h in after), after
    sent_after = [h.target for h in sink.hits[1:]]
    assert all(v not in t for t in sent_after for v in personal), sent_after


async def test_the_ip_addresses_of_an_erasure_are_validated(ingest_server: Any, account: Any, channels: Any) -> None:
    import grpc
    from clicktrail.privacy.v1 import privacy_pb2 as pb
    from clicktrail.privacy.v1 import privacy_pb2_grpc

    stub = privacy_pb2_grpc.PrivacyServiceStub(channels(ingest_server.addr, token=account.api_key))
    request = pb.ErasePersonalDataRequest(user_ids=[USER], ips=[IP, "2001:db8::1", "81.2.69"], validate_only=True)
    request.erasure_id = "01" + "0" * 24
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ErasePersonalData(request)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "ips[2]" in err.value.details() and "ips[1]" not in err.value.details()
    # A long-lived phone user has thousands of addresses: they must not make the erasure impossible.
    many = [f"10.{i // 65536}.{i // 256 % 256}.{i % 256}" for i in range(5000)]
    request = pb.ErasePersonalDataRequest(user_ids=[USER], ips=many, validate_only=True, erasure_id="01" + "0" * 24)
    await stub.ErasePersonalData(request)
