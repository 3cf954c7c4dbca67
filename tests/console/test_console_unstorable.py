"""Console forms with text Postgres cannot store (a NUL, %00 in the form body): the
services refuse it naming the field (libs/text.py, TextInterceptor), and the form
says so next to the field instead of an internal error page."""

from __future__ import annotations

from clicktrail.links.v1 import links_pb2 as pb
from clicktrail.links.v1 import links_pb2_grpc

from tests.conftest import AccountInfo
from tests.console.test_console_http import FIELD_ERROR_RE, csrf_of, sign_in
from tests.gateway.conftest import RunningGateway


async def test_a_nul_in_a_form_field_is_named_next_to_it(
    console_gateway: RunningGateway, account: AccountInfo, links_stub: links_pb2_grpc.LinksServiceStub
) -> None:
    async with console_gateway.client() as client:
        refused = await sign_in(client, account.api_key + "\x00")  # no gRPC header can carry it: not a 500
        assert refused.status_code == 401 and "not an API key" in refused.text, refused.text
        await sign_in(client, account.api_key)
        page = await client.get("/console/partners")
        resp = await client.post("/console/partners", data={"csrf": csrf_of(page.text), "name": "Net\x00work"})
        assert resp.status_code == 400, resp.text
        errors = dict(FIELD_ERROR_RE.findall(resp.text))
        assert "NUL" in errors.get("name", ""), resp.text
        # The same name without the NUL is fine.
        ok = await client.post("/console/partners", data={"csrf": csrf_of(page.text), "name": "Network"})
        assert ok.status_code == 303, ok.text
    partners = (await links_stub.ListPartners(pb.ListPartnersRequest())).partners
    assert [p.name for p in partners] == ["Network"]
