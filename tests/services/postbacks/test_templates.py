"""Templates CRUD, validation and the catalog, over real gRPC."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import grpc
import pytest
from clicktrail.links.v1 import links_pb2_grpc
from clicktrail.postbacks.v1 import postbacks_pb2 as pb
from clicktrail.postbacks.v1 import postbacks_pb2_grpc
from google.protobuf import field_mask_pb2

from cli.common import field_violations
from libs.errors import Validator
from services.postbacks import catalog
from services.postbacks.render import check_template
from tests.services.postbacks.sink import Sink
from tests.services.postbacks.support import new_partner, new_template

Stub = postbacks_pb2_grpc.PostbackServiceStub
URL = "https://partner.example.com/pb?click={click_id}&sub={sub1}&ts={timestamp}"


async def test_create_get_list_update_delete(postbacks_stub: Stub, links_stub: links_pb2_grpc.LinksServiceStub) -> None:
    partner = await new_partner(links_stub)
    t = await new_template(postbacks_stub, partner, URL, name="installs", headers={"X-Key": "{api_key}"},
                           settings={"api_key": "k1"})  # fmt: skip
    assert t.template_id.startswith("pbt_") and t.enabled and t.method == pb.HTTP_METHOD_GET
    assert t.sending_mode == pb.SENDING_MODE_ATTRIBUTED and t.headers["X-Key"] == "{api_key}"
    got = (await postbacks_stub.GetTemplate(pb.GetTemplateRequest(template_id=t.template_id))).template
    assert got == t
    second = await new_template(postbacks_stub, partner, URL, trigger=pb.TRIGGER_CONVERSION)
    page1 = await postbacks_stub.ListTemplates(pb.ListTemplatesRequest(page_size=1))
    page2 = await postbacks_stub.ListTemplates(pb.ListTemplatesRequest(page_size=1, page_token=page1.next_page_token))
    assert {page1.templates[0].template_id, page2.templates[0].template_id} == {t.template_id, second.template_id}
    assert not page2.next_page_token
    req = pb.UpdateTemplateRequest(
        template=pb.Template(template_id=t.template_id, enabled=False, method=pb.HTTP_METHOD_POST,
                             body_template='{"c": "{click_id}"}'),
        update_mask=field_mask_pb2.FieldMask(paths=["enabled", "method", "body_template"]),
    )  # fmt: skip
    upd = (await postbacks_stub.UpdateTemplate(req)).template
    assert not upd.enabled and upd.method == pb.HTTP_METHOD_POST and upd.url_template == URL
    await postbacks_stub.DeleteTemplate(pb.DeleteTemplateRequest(template_id=t.template_id))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await postbacks_stub.GetTemplate(pb.GetTemplateRequest(template_id=t.template_id))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_unknown_macro_and_bad_fields_refused(
    postbacks_stub: Stub, links_stub: links_pb2_grpc.LinksServiceStub
) -> None:
    partner = await new_partner(links_stub)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await new_template(postbacks_stub, partner, "https://x.example.com/?a={click_id}&b={clikc_id}")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert ("template.url_template", "has unknown macros: {clikc_id}") in field_violations(err.value)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await new_template(
            postbacks_stub, partner, "ftp://x.example.com/", trigger=pb.TRIGGER_GOAL,
            headers={"X-A": "ok\r\nInjected: 1", "Bad Name": "v"}, body_template="{nope}",
        )  # fmt: skip
    fields = {f for f, _ in field_violations(err.value)}
    assert {"template.url_template", "template.goal_id", "template.headers", "template.body_template"} <= fields
    # A macro in the host would let an event choose the destination.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await new_template(postbacks_stub, partner, "https://{sub1}.example.com/")
    assert field_violations(err.value)[0][0] == "template.url_template"
    # A partner the links service does not know.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await new_template(postbacks_stub, "prt_nope", URL)
    assert field_violations(err.value) == [("template.partner_id", "partner prt_nope not found")]
    # A signature header needs the partner's secret.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await new_template(postbacks_stub, partner, URL, signature_header="X-Signature")
    assert field_violations(err.value)[0][0] == "template.signing_secret"
    t = await new_template(postbacks_stub, partner, URL, signature_header="X-Signature", signing_secret="s" * 32)
    assert t.has_signing_secret and not t.signing_secret


async def test_other_accounts_templates_are_invisible(
    postbacks_stub: Stub, links_stub: links_pb2_grpc.LinksServiceStub, new_account, postbacks_server, channels
) -> None:
    partner = await new_partner(links_stub)
    t = await new_template(postbacks_stub, partner, URL)
    other = await new_account("Other")
    stub = Stub(channels(postbacks_server.addr, token=other.api_key))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetTemplate(pb.GetTemplateRequest(template_id=t.template_id))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert not (await stub.ListTemplates(pb.ListTemplatesRequest())).templates


async def test_catalog_lists_every_partner_and_templates_are_valid(postbacks_stub: Stub) -> None:
    resp = await postbacks_stub.ListCatalog(pb.ListCatalogRequest())
    keys = {e.key for e in resp.entries}
    assert keys == {"apple_search_ads", "adcolony", "adjoe", "applovin", "google_ads", "firebase", "ironsource",
                    "meta", "tapjoy", "unity"}  # fmt: skip
    for e in resp.entries:
        assert e.source and e.templates and e.settings
    for e in catalog.entries():
        sample = {s["name"]: "x" for s in e["settings"]}
        for t in e["templates"]:
            v = Validator()
            check_template({**t, "partner_id": "prt_x", "settings": sample, "goal_id": ""}, v)
            assert not v.violations, (e["key"], t["name"], v.violations)


async def test_catalog_template_needs_its_settings(
    postbacks_stub: Stub, links_stub: links_pb2_grpc.LinksServiceStub
) -> None:
    partner = await new_partner(links_stub, "AppLovin")
    entry = catalog.entry("applovin")
    assert entry is not None
    url = entry["templates"][0]["url_template"]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await new_template(postbacks_stub, partner, url, catalog_key="applovin")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    given = {"sdk_key": "abc", "package_name": "com.example.game", "platform": "android"}
    t = await new_template(postbacks_stub, partner, url, catalog_key="applovin", settings=given)
    assert t.catalog_key == "applovin"


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    s = await Sink().start()
    yield s
    await s.close()


async def test_test_template_takes_event_fields_and_refuses_derived_macros(
    postbacks_stub: Stub, links_stub: links_pb2_grpc.LinksServiceStub, sink: Sink
) -> None:
    """TestTemplate's values override event fields; {timestamp}, {event_timestamp} and
    {revenue_number} are computed (from the send time, event_time and revenue), so an
    override of them is refused saying which field to set, never silently ignored."""
    partner = await new_partner(links_stub)
    url = sink.base + "/t?et={event_timestamp}&v={revenue_number}&r={revenue}"
    t = await new_template(postbacks_stub, partner, url)
    derived = {"event_timestamp": "1700000000", "revenue_number": "9.5", "timestamp": "1", "nope": "x"}
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await postbacks_stub.TestTemplate(pb.TestTemplateRequest(template_id=t.template_id, values=derived))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    found = dict(field_violations(err.value))
    assert found == {
        "values[event_timestamp]": (
            "is computed from event_time: set values[event_time] (RFC 3339, with a zone) instead"
        ),
        "values[revenue_number]": "is computed from revenue: set values[revenue] (a decimal number) instead",
        "values[timestamp]": "is the time of the send: it cannot be set",
        "values[nope]": "is not an event macro",
    }
    assert not sink.hits  # nothing was sent
    # The fields they come from do apply.
    when = "2026-01-02T03:04:05Z"
    values = {"event_time": when, "revenue": "4.99"}
    resp = await postbacks_stub.TestTemplate(pb.TestTemplateRequest(template_id=t.template_id, values=values))
    epoch = int(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC).timestamp())
    assert resp.attempt.status_code == 200 and len(sink.hits) == 1
    assert sink.hits[0].query == {"et": str(epoch), "v": "4.99", "r": "4.99"}
