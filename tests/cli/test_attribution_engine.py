"""`clicktrail install list`, `conversion list|get|set-status` and `postback-in list`
against real links, ingest and attribution servers."""

from __future__ import annotations

import grpc
import pytest
from clicktrail.attribution.v1 import attribution_pb2 as apb
from clicktrail.attribution.v1 import attribution_pb2_grpc

from libs.grpc_server import RunningService
from tests.cli.conftest import Cli
from tests.services.attribution.engine_support import drained, event, make_app, make_campaign, send, touch

GAID = "6d92078a-8246-4ba4-ae5b-76104861e7dc"


async def test_install_conversion_and_postback_lists(
    cli: Cli, cli_env, attribution_server: RunningService, ingest_server, ingest_stub, links_stub,
    gateway_links_stub, account, channels, settings,
) -> None:  # fmt: skip
    cli_env.setenv("CLICKTRAIL_ATTRIBUTION_ADDR", attribution_server.addr)
    app_id = await make_app(links_stub)
    camp = await make_campaign(links_stub, app_id, "Spring")
    other = await make_campaign(links_stub, app_id, "Other")
    click_id = await touch(gateway_links_stub, camp)
    await send(ingest_stub, event(app_id, "install", click_id=click_id, device={"gaid": GAID}))
    await drained(settings)

    listed = (await cli("install", "list", "--campaign", camp.campaign_id, "--json")).json()["installs"]
    assert [(i["campaign_id"], i["click_id"], i["match_type"]) for i in listed] == [
        (camp.campaign_id, click_id, "click_id")
    ]
    assert listed[0]["install_id"] and listed[0]["install_time"].endswith("Z")
    assert (await cli("install", "list", "--campaign", other.campaign_id, "--json")).json()["installs"] == []
    table = (await cli("install", "list", "--campaign", camp.campaign_id)).stdout
    assert "match_type" in table and click_id in table and "click_id" in table
    got = (await cli("install", "get", listed[0]["install_id"], "--json")).json()
    assert got["gaid"] == GAID

    postbacks = attribution_pb2_grpc.AttributionServiceStub(
        channels(attribution_server.addr, token=account.postback_token)
    )
    await postbacks.RecordPostback(apb.RecordPostbackRequest(
        click_id=click_id, status="lead", payout="7.50", txid="T-9", goal="Deposit",
    ))  # fmt: skip
    with_bad = apb.RecordPostbackRequest(params={"click_id": click_id, "payout": "7,50"})
    with pytest.raises(grpc.aio.AioRpcError):
        await postbacks.RecordPostback(with_bad)
    convs = (await cli("conversion", "list", "--campaign", camp.campaign_id, "--json")).json()["conversions"]
    assert [(c["goal"], c["status"], c["payout"], c["currency"], c["txid"], c["click_id"]) for c in convs] == [
        ("Deposit", "pending", "7.5", "USD", "T-9", click_id)
    ]
    cid = convs[0]["conversion_id"]
    table = (await cli("conversion", "list", "--campaign", camp.campaign_id)).stdout
    for col in ("conversion_id", "goal", "status", "payout", "currency", "txid", "click_id", "pending", "T-9"):
        assert col in table
    assert (await cli("conversion", "set-status", cid, "approved", "--json")).json()["status"] == "approved"
    refused = await cli("conversion", "set-status", cid, "pending", code=1)
    assert "cannot become pending" in refused.stderr
    assert (await cli("conversion", "get", cid, "--json")).json()["status"] == "approved"
    assert (await cli("conversion", "list", "--status", "rejected", "--json")).json()["conversions"] == []

    log = (await cli("postback-in", "list", "--json")).json()["postbacks"]
    assert [(p["http_status"], p["outcome"], p["field"]) for p in log] == [(400, "invalid", "payout"),
                                                                            (200, "created", "")]  # fmt: skip
    table = (await cli("postback-in", "list", "--click", click_id)).stdout
    assert "invalid" in table and "created" in table
