"""The console's SKAN page through the real console behind the gateway: Apple's
developer copies (Apple's published 4.0 examples, POSTed to the gateway's
/.well-known path; sources in tests/services/attribution/skan_vectors.py) listed
unmapped; a mapping added from the form credits the stored postback; a bad
mapping shows its field errors; a mapping removed after confirming."""

from __future__ import annotations

import orjson
from clicktrail.links.v1 import links_pb2 as pb

from tests.conftest import AccountInfo
from tests.console.test_console_http import csrf_of, sign_in
from tests.gateway.conftest import RunningGateway
from tests.services.attribution.skan_vectors import V4_0_COARSE, V4_0_FINE
from tests.services.attribution.test_tariffs import make_campaign


async def test_skan_page_mappings_and_postbacks(console_gateway: RunningGateway, account: AccountInfo, links_stub):
    app = pb.App(name="Game", platform=pb.PLATFORM_IOS, bundle_id="com.acme.game", apple_app_id="525463029")
    await links_stub.CreateApp(pb.CreateAppRequest(app=app))
    campaign = await make_campaign(links_stub, name="iOS Launch")
    async with console_gateway.client() as client:
        for doc in (V4_0_FINE, V4_0_COARSE):
            r = await client.post("/.well-known/skadnetwork/report-attribution/", content=orjson.dumps(doc))
            assert r.status_code == 200, r.text
        await sign_in(client, account.api_key)
        page = await client.get("/console/skan")
        assert page.status_code == 200
        assert 'href="/console/skan" class="active"' in page.text  # in the nav
        assert f'data-transaction="{V4_0_FINE["transaction-id"]}"' in page.text
        assert page.text.count(">unmapped<") == 2 and "No mappings yet" in page.text

        bad = await client.post("/console/skan/mappings", data={
            "csrf": csrf_of(page.text), "ad_network_id": "com.example", "source_identifier": "12345",
            "campaign_id": campaign.campaign_id,
        })  # fmt: skip
        assert bad.status_code == 400 and 'data-field="source_identifier"' in bad.text
        assert 'value="12345"' in bad.text  # the form keeps what was typed

        added = await client.post("/console/skan/mappings", data={
            "csrf": csrf_of(page.text), "ad_network_id": "com.example", "source_identifier": "5239",
            "store_app_id": "", "campaign_id": campaign.campaign_id,
        })  # fmt: skip
        assert added.status_code == 303 and "remapped=1" in added.headers["location"]
        shown = await client.get(added.headers["location"])
        assert "Mapping added." in shown.text and "1 postback(s)" in shown.text
        assert shown.text.count(">unmapped<") == 1 and "iOS Launch" in shown.text
        only = await client.get("/console/skan?unmapped=1")
        assert f'data-transaction="{V4_0_COARSE["transaction-id"]}"' in only.text
        assert f'data-transaction="{V4_0_FINE["transaction-id"]}"' not in only.text

        mapping_id = shown.text.split('data-mapping="', 1)[1].split('"', 1)[0]
        confirm = await client.get(f"/console/skan/mappings/{mapping_id}/delete")
        assert confirm.status_code == 200
        gone = await client.post(f"/console/skan/mappings/{mapping_id}/delete", data={"csrf": csrf_of(confirm.text)})
        assert gone.status_code == 303
        after = await client.get(gone.headers["location"])
        assert "Mapping removed" in after.text and "No mappings yet" in after.text
