"""SkanSchemaService over real gRPC: set, get, versions, validation by field,
who may read it (an app key its own app's only), and load_schema / decode on
the stored versions (what lane skan calls at a postback's receipt).

Value model sources: see tests/services/attribution/test_skan_values.py (Apple's
updatePostbackConversionValue(_:coarseValue:lockWindow:), SKAN 4 windows, Google's
SKAdNetworkConversionValueSchema).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import grpc
import orjson
import pytest
from clicktrail.attribution.v1 import skan_schema_pb2 as pb
from clicktrail.attribution.v1 import skan_schema_pb2_grpc as pb_grpc
from clicktrail.links.v1 import links_pb2 as lpb

from services.attribution.skan_values import decode, load_schema

from .test_goals import violations

DOC = {
    "currency": "USD",
    "fine_values": [
        {"value": 0},
        {"value": 1, "value_to": 9, "revenue_min": "0.01", "revenue_max": "10", "events": [{"name": "purchase"}]},
        {"value": 10, "revenue_min": "10", "events": [{"name": "purchase", "count": 2}]},
    ],
    "coarse_values": [
        {"postback": 2, "value": "high", "revenue_min": "20", "revenue_max": "100", "events": [{"name": "purchase"}]},
        {"postback": 3, "value": "low", "events": [{"name": "login"}]},
    ],
    "lock_windows": [{"postback": 1, "lock_after_hours": 24}],
}


def ios_app(name: str, bundle: str) -> lpb.App:
    return lpb.App(name=name, platform=lpb.PLATFORM_IOS, bundle_id=bundle)


@pytest.fixture
async def app(links_stub):
    return await links_stub.CreateApp(lpb.CreateAppRequest(app=ios_app("Game", "com.acme.game")))


@pytest.fixture
def skan(attribution_server, account, channels):
    return pb_grpc.SkanSchemaServiceStub(channels(attribution_server.addr, token=account.api_key))


async def put(skan, app_id: str, doc: dict, note: str = "") -> pb.UpdateSkanSchemaResponse:
    return await skan.UpdateSkanSchema(
        pb.UpdateSkanSchemaRequest(app_id=app_id, schema_json=orjson.dumps(doc).decode(), note=note)
    )


async def test_set_get_and_decode_with_the_stored_schema(skan, app, attribution_server, account):
    app_id = app.app.app_id
    with pytest.raises(grpc.aio.AioRpcError) as none:
        await skan.GetSkanSchema(pb.GetSkanSchemaRequest(app_id=app_id))
    assert none.value.code() == grpc.StatusCode.NOT_FOUND and "no SKAN conversion-value schema" in none.value.details()
    assert await load_schema(attribution_server.ctx.pool, account.account_id, app_id) is None

    r = await put(skan, app_id, DOC, note="first")
    assert r.changed and r.schema.version == 1 and r.schema.note == "first"
    got = await skan.GetSkanSchema(pb.GetSkanSchemaRequest(app_id=app_id))
    assert got.schema.version == 1 and got.schema.currency == "USD"
    f = got.schema.fine_values[1]
    assert (f.value, f.value_to, f.revenue_min, f.revenue_max) == (1, 9, "0.01", "10")
    assert [(e.name, e.count) for e in got.schema.fine_values[2].events] == [("purchase", 2)]
    assert not got.schema.fine_values[0].HasField("value_to")
    assert got.schema.lock_windows[0].lock_after_hours == 24
    assert orjson.loads(got.schema_json) == DOC | {
        "fine_values": [
            {"value": 0},
            {**DOC["fine_values"][1], "events": [{"name": "purchase", "count": 1}]},
            DOC["fine_values"][2],
        ],
        "coarse_values": [
            {**DOC["coarse_values"][0], "events": [{"name": "purchase", "count": 1}]},
            {**DOC["coarse_values"][1], "events": [{"name": "login", "count": 1}]},
        ],
    }

    # What lane skan does at receipt: load the app's schema, decode the postback's value.
    schema = await load_schema(attribution_server.ctx.pool, account.account_id, app_id)
    assert schema is not None and schema.version == 1
    d = decode(schema, sequence_index=0, fine_value=4, coarse_value=None)
    assert (d.conversions, d.revenue, d.currency, d.events, d.schema_version) == (
        1, Decimal("5.005"), "USD", ("purchase",), 1
    )  # fmt: skip
    d = decode(schema, sequence_index=1, fine_value=None, coarse_value="high")
    assert (d.conversions, d.revenue) == (1, Decimal("60"))
    # another account's load sees nothing
    assert await load_schema(attribution_server.ctx.pool, "someone-else", app_id) is None


async def test_structured_update_names_bad_fields(skan, app):
    app_id = app.app.app_id
    bad = pb.SkanSchema(
        currency="USD",
        fine_values=[
            pb.SkanFineValue(value=1, revenue_min="2"),
            pb.SkanFineValue(value=2),
            pb.SkanFineValue(value=3, revenue_min="-5"),
            pb.SkanFineValue(value=64),
        ],
        coarse_values=[pb.SkanCoarseValue(postback=2, value="great")],
    )
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await skan.UpdateSkanSchema(pb.UpdateSkanSchemaRequest(app_id=app_id, schema=bad))
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    got = violations(exc.value)
    assert set(got) == {
        "schema.fine_values[2].revenue_min", "schema.fine_values[3].value", "schema.coarse_values[0].value",
    }  # fmt: skip
    assert got["schema.fine_values[2].revenue_min"] == "must not be negative"
    # nothing stored
    with pytest.raises(grpc.aio.AioRpcError) as none:
        await skan.GetSkanSchema(pb.GetSkanSchemaRequest(app_id=app_id))
    assert none.value.code() == grpc.StatusCode.NOT_FOUND

    good = pb.SkanSchema(
        currency="EUR",
        fine_values=[pb.SkanFineValue(value=5, value_to=7, revenue="3.5", events=[pb.SkanEventCount(name="buy")])],
        coarse_values=[pb.SkanCoarseValue(postback=1, value="medium", revenue_max="4")],
    )
    r = await skan.UpdateSkanSchema(pb.UpdateSkanSchemaRequest(app_id=app_id, schema=good))
    assert r.changed and r.schema.version == 1
    assert orjson.loads(r.schema_json)["fine_values"] == [
        {"value": 5, "value_to": 7, "revenue": "3.5", "events": [{"name": "buy", "count": 1}]}
    ]


async def test_bad_json_and_missing_fields(skan, app):
    app_id = app.app.app_id
    for req, field in [
        (pb.UpdateSkanSchemaRequest(app_id=app_id, schema_json="{not json"), "schema_json"),
        (pb.UpdateSkanSchemaRequest(app_id=app_id), "schema"),
        (pb.UpdateSkanSchemaRequest(schema_json="{}"), "app_id"),
        (pb.UpdateSkanSchemaRequest(app_id=app_id, schema_json='{"currency": "USD", "fine_values": [{"value": "1"}]}'),
         "schema.fine_values[0].value"),
    ]:  # fmt: skip
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await skan.UpdateSkanSchema(req)
        assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT, field
        assert field in violations(exc.value), (field, violations(exc.value))
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await put(skan, "app_nope", DOC)
    assert exc.value.code() == grpc.StatusCode.NOT_FOUND


async def test_versions_are_kept_and_postbacks_decode_with_the_one_in_force(skan, app, attribution_server, account):
    app_id = app.app.app_id
    pool = attribution_server.ctx.pool
    v1 = await put(skan, app_id, DOC)
    # The same schema again writes nothing.
    same = await put(skan, app_id, DOC)
    assert not same.changed and same.schema.version == 1
    # validate_only: checked, not stored
    doc2 = DOC | {"currency": "EUR"}
    dry = await skan.UpdateSkanSchema(
        pb.UpdateSkanSchemaRequest(app_id=app_id, schema_json=orjson.dumps(doc2).decode(), validate_only=True)
    )
    assert not dry.changed and dry.schema.version == 2
    assert (await skan.GetSkanSchema(pb.GetSkanSchemaRequest(app_id=app_id))).schema.version == 1
    await asyncio.sleep(0.01)
    between = dt.datetime.now(dt.UTC)
    await asyncio.sleep(0.01)
    v2 = await put(skan, app_id, doc2, note="euros")
    assert v2.changed and v2.schema.version == 2
    v3 = await put(skan, app_id, doc2 | {"lock_windows": []})
    assert v3.schema.version == 3

    current = await skan.GetSkanSchema(pb.GetSkanSchemaRequest(app_id=app_id))
    assert current.schema.version == 3 and not current.schema.lock_windows
    old = await skan.GetSkanSchema(pb.GetSkanSchemaRequest(app_id=app_id, version=1))
    assert old.schema.currency == "USD" and old.schema.create_time == v1.schema.create_time

    listed = await skan.ListSkanSchemaVersions(pb.ListSkanSchemaVersionsRequest(app_id=app_id, page_size=2))
    assert [v.version for v in listed.versions] == [3, 2] and listed.versions[1].note == "euros"
    rest = await skan.ListSkanSchemaVersions(
        pb.ListSkanSchemaVersionsRequest(app_id=app_id, page_size=2, page_token=listed.next_page_token)
    )
    assert [v.version for v in rest.versions] == [1] and not rest.next_page_token

    # A postback received now decodes with version 3; one received before v2 was written, with v1.
    now = await load_schema(pool, account.account_id, app_id)
    assert now is not None and now.version == 3
    d = decode(now, sequence_index=0, fine_value=10, coarse_value=None)
    assert (d.currency, d.revenue, d.schema_version) == ("EUR", Decimal("10"), 3)
    then = await load_schema(pool, account.account_id, app_id, at=between)
    assert then is not None and then.version == 1
    assert decode(then, sequence_index=0, fine_value=10, coarse_value=None).currency == "USD"


async def test_app_key_reads_its_own_app_only(skan, app, links_stub, attribution_server, channels):
    other = await links_stub.CreateApp(lpb.CreateAppRequest(app=ios_app("Other", "com.acme.other")))
    await put(skan, app.app.app_id, DOC)
    await put(skan, other.app.app_id, DOC | {"currency": "GBP"})
    as_app = pb_grpc.SkanSchemaServiceStub(channels(attribution_server.addr, token=app.app_key))
    mine = await as_app.GetSkanSchema(pb.GetSkanSchemaRequest())
    assert mine.schema.app_id == app.app.app_id and mine.schema.currency == "USD"
    for call in (
        as_app.GetSkanSchema(pb.GetSkanSchemaRequest(app_id=other.app.app_id)),
        as_app.UpdateSkanSchema(pb.UpdateSkanSchemaRequest(app_id=app.app.app_id, schema_json="{}")),
        as_app.ListSkanSchemaVersions(pb.ListSkanSchemaVersionsRequest(app_id=app.app.app_id)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await call
        assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_another_account_cannot_see_or_write_the_app(skan, app, new_account, attribution_server, channels):
    await put(skan, app.app.app_id, DOC)
    rival = await new_account("Rival")
    theirs = pb_grpc.SkanSchemaServiceStub(channels(attribution_server.addr, token=rival.api_key))
    for call in (
        theirs.GetSkanSchema(pb.GetSkanSchemaRequest(app_id=app.app.app_id)),
        theirs.UpdateSkanSchema(pb.UpdateSkanSchemaRequest(app_id=app.app.app_id, schema_json="{}")),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await call
        assert exc.value.code() == grpc.StatusCode.NOT_FOUND


async def test_an_unreadable_stored_version_decodes_to_nothing_rather_than_refusing(attribution_server, account):
    # A version a later, stricter check would refuse: a postback's receipt must not fail on it.
    pool = attribution_server.ctx.pool
    await pool.execute(
        "INSERT INTO attribution.skan_schemas (account_id, app_id, version, schema) VALUES ($1, 'app_x', 1, $2::jsonb)",
        account.account_id, '{"currency": "USD", "fine_values": [{"value": 99}]}',
    )  # fmt: skip
    assert await load_schema(pool, account.account_id, "app_x") is None
    assert decode(None, sequence_index=0, fine_value=5, coarse_value=None).conversions == 0


async def test_events_no_goal_has_are_saved_with_a_warning(skan, app, attribution_stub):
    from clicktrail.attribution.v1 import config_pb2 as cpb

    await attribution_stub.goals.CreateGoal(cpb.CreateGoalRequest(goal=cpb.Goal(name="Buy", event="purchase")))
    doc = DOC | {"lock_windows": [{"postback": 2, "lock_on_event": "purchse"}]}
    r = await put(skan, app.app.app_id, doc)
    assert r.changed and r.schema.version == 1  # kept as written
    # purchase is a goal's event; login (postback 3) and the typo are not
    assert [w.split("'")[1] for w in r.warnings] == ["login", "purchse"]
    assert "no goal of this account has it" in r.warnings[0]
