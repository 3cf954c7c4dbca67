"""`clicktrail skan map|mappings|unmap|postbacks|postback` against real links and
attribution servers; postbacks arrive as Apple's developer copies (Apple's
published 4.0 examples, sources in tests/services/attribution/skan_vectors.py)."""

from __future__ import annotations

import orjson
import pytest
from clicktrail.attribution.v1 import skan_pb2 as spb
from clicktrail.attribution.v1 import skan_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb

from libs.grpc_server import RunningService
from tests.cli.conftest import Cli
from tests.conftest import GATEWAY_TOKEN
from tests.services.attribution.skan_vectors import V4_0_COARSE, V4_0_FINE
from tests.services.attribution.test_tariffs import make_campaign


@pytest.fixture
def scli(cli: Cli, cli_env: pytest.MonkeyPatch, attribution_server: RunningService) -> Cli:
    cli_env.setenv("CLICKTRAIL_ATTRIBUTION_ADDR", attribution_server.addr)
    return cli


async def test_map_list_postbacks_unmap(scli: Cli, links_stub, attribution_server, channels) -> None:
    app = lpb.App(name="Game", platform=lpb.PLATFORM_IOS, bundle_id="com.acme.game", apple_app_id="525463029")
    app_id = (await links_stub.CreateApp(lpb.CreateAppRequest(app=app))).app.app_id
    campaign = await make_campaign(links_stub, name="iOS UA")
    gateway = skan_pb2_grpc.SkanServiceStub(channels(attribution_server.addr, token=GATEWAY_TOKEN))
    for doc in (V4_0_FINE, V4_0_COARSE):
        await gateway.RecordSkanPostback(spb.RecordSkanPostbackRequest(body=orjson.dumps(doc)))

    unmapped = (await scli("skan", "postbacks", "--unmapped", "--json")).json()["postbacks"]
    assert sorted(p["source_identifier"] for p in unmapped) == ["39", "5239"]
    assert {p["kind"] for p in unmapped} == {"skadnetwork"} and {p["app_id"] for p in unmapped} == {app_id}

    made = (await scli("skan", "map", "--ad-network", "com.example", "--source", "5239",
                       "--campaign", campaign.campaign_id, "--json")).json()  # fmt: skip
    assert made["remapped"] == 1 and made["partner_id"] == campaign.partner_id
    mine = (await scli("skan", "postbacks", "--campaign", campaign.campaign_id, "--json")).json()["postbacks"]
    assert [p["transaction_id"] for p in mine] == [V4_0_FINE["transaction-id"]]
    assert mine[0]["installs"] == 1 and mine[0]["fine_value"] == 63

    table = await scli("skan", "mappings")
    assert made["mapping_id"] in table.stdout and "5239" in table.stdout
    one = (await scli("skan", "postback", V4_0_COARSE["transaction-id"], "--json")).json()
    assert one["coarse_value"] == "high" and orjson.loads(one["raw_json"])["source-identifier"] == "39"

    bad = await scli("skan", "map", "--ad-network", "com.example", "--source", "12345", "--campaign", "cmp_x",
                     code=2)  # fmt: skip
    assert "mapping.source_identifier" in bad.stderr and "mapping.campaign_id" in bad.stderr
    wrong = await scli("skan", "postbacks", "--kind", "nope", code=2)
    assert "--kind" in wrong.stderr

    await scli("skan", "unmap", made["mapping_id"])
    assert (await scli("skan", "mappings", "--json")).json()["mappings"] == []
    help_ = await scli("skan", "map", "--help")
    assert "source identifier" in help_.stdout
