"""The console's add-stream form takes a position: blank goes after the last stream,
0 puts the new stream first (Stream.position is optional), anything else is a
field error."""

from __future__ import annotations

from clicktrail.links.v1 import affiliate_pb2 as apb
from clicktrail.links.v1 import affiliate_pb2_grpc, links_pb2_grpc

from tests.conftest import AccountInfo
from tests.console.conftest import Seeded
from tests.console.test_affiliate_pages import _campaign, _post, affiliate_stub  # noqa: F401 (the fixture)
from tests.console.test_console_http import sign_in
from tests.gateway.conftest import RunningGateway


async def test_the_add_stream_form_puts_a_stream_at_position_zero_first(
    console_gateway: RunningGateway, account: AccountInfo, seeded: Seeded,
    links_stub: links_pb2_grpc.LinksServiceStub, affiliate_stub: affiliate_pb2_grpc.AffiliateServiceStub,  # noqa: F811
) -> None:  # fmt: skip
    campaign_id = await _campaign(links_stub, seeded)
    flow = f"/console/campaigns/{campaign_id}/flow"
    url = str(apb.STREAM_ACTION_URL)

    def form(name: str, country: str, position: str) -> dict[str, str]:
        return {"name": name, "action": url, "filters": f"country={country}", "url": f"https://{name}.example/",
                "position": position}  # fmt: skip

    async with console_gateway.client() as client:
        await sign_in(client, account.api_key)
        page = await client.get(flow)
        assert 'name="position"' in page.text  # the add form asks for it
        for name, country, position in (("us", "US", ""), ("de", "DE", ""), ("fr", "FR", "0")):
            assert (await _post(client, flow, flow, form(name, country, position))).status_code == 303
        bad = await _post(client, flow, flow, form("it", "IT", "first"))
        assert bad.status_code == 400 and "first" in bad.text
    streams = (await affiliate_stub.ListStreams(apb.ListStreamsRequest(campaign_id=campaign_id))).streams
    assert [(s.name, s.position) for s in streams] == [("fr", 0), ("us", 1), ("de", 2)]
