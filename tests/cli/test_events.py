"""`clicktrail event list` against real links and ingest servers."""

from __future__ import annotations

import datetime as dt
import uuid

import orjson
from clicktrail.ingest.v1 import ingest_pb2 as ipb

from libs.grpc_server import RunningService
from tests.cli.conftest import Cli


async def test_event_list_filters_and_prints_json(
    cli: Cli, ingest_server: RunningService, ingest_stub, cli_env
) -> None:
    cli_env.setenv("CLICKTRAIL_INGEST_ADDR", ingest_server.addr)
    app = (await cli("app", "create", "--name", "Web", "--platform", "web", "--json")).json()
    now = dt.datetime.now(dt.UTC).isoformat()
    events = [
        {"uuid": str(uuid.uuid4()), "event": "track", "timestamp": now, "app_id": app["app_id"], "user_id": "u-1",
         "action": "purchase", "action_properties": {"sku": "gems"}},
        {"uuid": str(uuid.uuid4()), "event": "identify", "timestamp": now, "app_id": app["app_id"], "user_id": "u-2"},
    ]  # fmt: skip
    resp = await ingest_stub.SendEventsJson(ipb.SendEventsJsonRequest(body=orjson.dumps({"events": events})))
    assert resp.accepted == 2
    listed = (await cli("event", "list", "--app", app["app_id"], "--json")).json()
    assert {e["uuid"] for e in listed["events"]} == {e["uuid"] for e in events}
    mine = (await cli("event", "list", "--user", "u-1", "--event", "track", "--json")).json()["events"]
    assert len(mine) == 1 and mine[0]["event"] == "track" and mine[0]["action"] == "purchase"
    assert orjson.loads(mine[0]["action_properties_json"]) == {"sku": "gems"}
    table = await cli("event", "list", "--user", "u-2")
    assert events[1]["uuid"] in table.stdout and "identify" in table.stdout
    bad = await cli("event", "list", "--event", "teleport", code=2)
    assert "teleport" in bad.stderr
