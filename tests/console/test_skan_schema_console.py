"""The console's SKAN schema page, through the real console behind the gateway:
an app without a schema starts from an example; a refused schema shows every
error by field and keeps the text; a saved one is a new version, listed, and
older versions can be opened. Value model sources: tests/services/attribution/test_skan_values.py."""

from __future__ import annotations

import html
import json
import re

import httpx
from clicktrail.attribution.v1 import skan_schema_pb2 as pb
from clicktrail.attribution.v1 import skan_schema_pb2_grpc as pb_grpc

from tests.conftest import AccountInfo
from tests.console.conftest import Seeded
from tests.console.test_console_http import csrf_of, sign_in
from tests.gateway.conftest import RunningGateway

FIELD_ERROR_RE = re.compile(r'class="field-error" data-field="([^"]+)"><code>[^<]+</code>: ([^<]+)<')
TEXTAREA_RE = re.compile(r'<textarea name="schema_json"[^>]*>(.*?)</textarea>', re.S)


def textarea(page: str) -> str:
    m = TEXTAREA_RE.search(page)
    assert m, "no schema textarea"
    return html.unescape(m.group(1))


async def _post(client: httpx.AsyncClient, page: str, form: dict[str, str]) -> httpx.Response:
    shown = await client.get(page)
    assert shown.status_code == 200, shown.text[:2000]
    return await client.post(page, data={"csrf": csrf_of(shown.text), **form})


async def test_schema_page_edits_versions(
    console_gateway: RunningGateway, account: AccountInfo, seeded: Seeded, attribution_server, channels
) -> None:
    page = f"/console/apps/{seeded.app_id}/skan-schema"
    skan = pb_grpc.SkanSchemaServiceStub(channels(attribution_server.addr, token=account.api_key))
    async with console_gateway.client() as client:
        await sign_in(client, account.api_key)
        first = await client.get(page)
        assert first.status_code == 200 and "no schema yet" in first.text
        example = json.loads(textarea(first.text))  # the example is a valid starting point
        assert example["currency"] == "USD" and example["fine_values"][0] == {"value": 0}

        bad = dict(example, fine_values=[{"value": 1, "revenue_min": "-3"}, {"value": 70}])
        bad_text = json.dumps(bad)
        refused = await _post(client, page, {"schema_json": bad_text, "note": "oops"})
        assert refused.status_code == 400
        errors = dict(FIELD_ERROR_RE.findall(refused.text))
        assert set(errors) == {"schema.fine_values[0].revenue_min", "schema.fine_values[1].value"}
        assert "negative" in errors["schema.fine_values[0].revenue_min"]
        assert json.loads(textarea(refused.text)) == bad  # the operator's text is kept
        assert "not saved" in refused.text

        checked = await _post(client, page, {"schema_json": textarea(first.text), "dry_run": "1"})
        assert checked.status_code == 303 and "?valid=1" in checked.headers["location"]
        assert "no schema yet" in (await client.get(page)).text  # a check stores nothing

        saved = await _post(client, page, {"schema_json": textarea(first.text), "note": "launch"})
        assert saved.status_code == 303 and "?saved=1" in saved.headers["location"]
        shown = await client.get(saved.headers["location"])
        assert "Saved as version 1" in shown.text and 'data-version="1"' in shown.text and "launch" in shown.text
        # the example's events are no goal's: saved, with a warning per event
        assert "Warning: event &#39;purchase&#39;: no goal of this account has it" in shown.text
        stored = await skan.GetSkanSchema(pb.GetSkanSchemaRequest(app_id=seeded.app_id))
        assert stored.schema.version == 1 and stored.schema.note == "launch"
        assert json.loads(textarea(shown.text)) == json.loads(stored.schema_json)

        euros = json.loads(textarea(shown.text)) | {"currency": "EUR"}
        v2 = await _post(client, page, {"schema_json": json.dumps(euros)})
        assert "?saved=2" in v2.headers["location"]
        same = await _post(client, page, {"schema_json": json.dumps(euros)})
        assert "?unchanged=2" in same.headers["location"]
        old = await client.get(page + "?version=1")
        assert json.loads(textarea(old.text))["currency"] == "USD" and "not the current one" in old.text
        listed = (await client.get(page)).text
        assert listed.index('data-version="2"') < listed.index('data-version="1"')

        missing = await client.get("/console/apps/app_nope/skan-schema")
        assert missing.status_code == 404
