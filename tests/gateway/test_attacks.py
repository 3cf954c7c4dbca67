"""The attempts an attacker makes against the public surface, listed: open
redirects, header injection and SSRF, against the real gateway, links and
postbacks services."""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urlsplit

import grpc
import pytest
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.postbacks.v1 import postbacks_pb2 as ppb
from clicktrail.postbacks.v1 import postbacks_pb2_grpc

from libs.grpc_server import start_service
from services.postbacks.server import SPEC as POSTBACKS_SPEC
from tests.gateway.conftest import MakeLink
from tests.services.postbacks.sink import Sink
from tests.services.postbacks.support import new_partner

# Link destinations that would make our redirect point where the attacker wants.
BAD_DESTINATIONS = [
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "//evil.example/x",  # scheme-relative
    "/relative/path",
    "https://{sub1}/land",  # the host from a request parameter
    "https://{sub1}.example/land",
    "{sub1}",
    "https://shop.example\r\nSet-Cookie: a=1",
    "ftp://shop.example/x",
]
# Request parameters that try to choose the redirect or inject headers.
EVIL_QUERIES = [
    "url=https://evil.example",
    "redirect=https://evil.example&next=https://evil.example&return_to=//evil.example",
    "sub1=https%3A%2F%2Fevil.example%2F%0D%0ASet-Cookie%3A%20a%3D1",
    "sub1=%0d%0aLocation:%20https://evil.example",
    "sub1=%E2%80%A8%E2%80%A9",  # unicode line separators
    "sub1=@evil.example",
    "sub1=%2F%2Fevil.example",
]
# Postback destinations that reach inside the operator's network.
SSRF_URLS = [
    "http://127.0.0.1:{port}/x",
    "http://localhost:{port}/x",
    "http://[::1]:{port}/x",
    "http://[::ffff:127.0.0.1]:{port}/x",
    "http://2130706433:{port}/x",  # 127.0.0.1 as a number
    "http://0x7f000001:{port}/x",
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://10.0.0.1/x",
    "http://192.168.0.1/x",
    "http://[fd00::1]/x",
    "http://0.0.0.0:{port}/x",
]


async def test_link_destinations_that_redirect_elsewhere_are_refused(make_link: MakeLink, links_stub: Any) -> None:
    t = await make_link()
    for url in BAD_DESTINATIONS:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await links_stub.CreateLink(
                lpb.CreateLinkRequest(link=lpb.Link(campaign_id=t.campaign_id, destination_url=url))
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, url
        assert "destination_url" in err.value.details(), url


async def test_request_parameters_never_choose_the_redirect_nor_add_headers(client: Any, make_link: MakeLink) -> None:
    t = await make_link("https://shop.example/land?cid={click_id}&s1={sub1}")
    for query in EVIL_QUERIES:
        r = await client.get(f"/c/{t.slug}?{query}")
        assert r.status_code == 302, query
        loc = r.headers["location"]
        assert urlsplit(loc).scheme == "https" and urlsplit(loc).netloc == "shop.example", (query, loc)
        assert not any(c in loc for c in "\r\n\u2028\u2029"), (query, loc)
        assert "set-cookie" not in r.headers, query


async def test_postback_templates_cannot_reach_the_operators_network(
    settings: Any, links_server: Any, links_stub: Any, account: Any, channels: Any
) -> None:
    """A postbacks service configured as in production (no private network
    allowed): every form of an inside address is refused before connecting."""
    svc = await start_service(
        POSTBACKS_SPEC, dataclasses.replace(settings, links_addr=links_server.addr), listen="127.0.0.1:0"
    )
    sink = await Sink().start()
    try:
        stub = postbacks_pb2_grpc.PostbackServiceStub(channels(svc.addr, token=account.api_key))
        partner = await new_partner(links_stub)
        for url in SSRF_URLS:
            target = url.format(port=sink.port)
            try:
                t = (
                    await stub.CreateTemplate(
                        ppb.CreateTemplateRequest(
                            template=ppb.Template(
                                partner_id=partner, url_template=target + "?c={click_id}",
                                trigger=ppb.TRIGGER_INSTALL, sending_mode=ppb.SENDING_MODE_ATTRIBUTED,
                            )
                        )
                    )
                ).template  # fmt: skip
            except grpc.aio.AioRpcError as err:
                assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (url, err.details())
                continue
            tried = await stub.TestTemplate(ppb.TestTemplateRequest(template_id=t.template_id))
            assert tried.attempt.status_code == 0 and "refused" in tried.attempt.error, (url, tried.attempt)
        assert sink.connections == 0
    finally:
        await sink.close()
        await svc.stop(grace=0.5)
