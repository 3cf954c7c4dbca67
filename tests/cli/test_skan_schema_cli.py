"""`clicktrail skan-schema show|set|versions` against real links and attribution
servers. Value model sources: tests/services/attribution/test_skan_values.py."""

from __future__ import annotations

import json

import pytest
from clicktrail.links.v1 import links_pb2 as lpb

from libs.grpc_server import RunningService
from tests.cli.conftest import Cli

SCHEMA = {
    "currency": "USD",
    "fine_values": [
        {"value": 0},
        {"value": 1, "value_to": 9, "revenue_min": "0.01", "revenue_max": "10", "events": ["purchase"]},
    ],
    "coarse_values": [{"postback": 2, "value": "medium", "events": [{"name": "purchase", "count": 2}]}],
    "lock_windows": [{"postback": 1, "lock_after_hours": 24}],
}


@pytest.fixture
def scli(cli: Cli, cli_env: pytest.MonkeyPatch, attribution_server: RunningService) -> Cli:
    cli_env.setenv("CLICKTRAIL_ATTRIBUTION_ADDR", attribution_server.addr)
    return cli


@pytest.fixture
async def app_id(links_stub) -> str:
    app = lpb.App(name="Game", platform=lpb.PLATFORM_IOS, bundle_id="com.acme.game")
    return (await links_stub.CreateApp(lpb.CreateAppRequest(app=app))).app.app_id


async def test_set_show_versions(scli: Cli, app_id: str, tmp_path) -> None:
    none = await scli("skan-schema", "show", app_id, code=1)
    assert "no SKAN conversion-value schema" in none.stderr

    path = tmp_path / "schema.json"
    path.write_text(json.dumps(SCHEMA))
    dry = await scli("skan-schema", "set", app_id, "--file", path, "--dry-run")
    assert "valid: it would be version 1" in dry.stdout
    await scli("skan-schema", "show", app_id, code=1)  # the dry run stored nothing

    wrote = await scli("skan-schema", "set", app_id, "--file", path, "--note", "first")
    assert "wrote version 1" in wrote.stdout
    assert "warning: event 'purchase': no goal of this account has it" in wrote.stderr  # the account has no goals
    again = await scli("skan-schema", "set", app_id, "--file", path)
    assert "unchanged: version 1" in again.stdout

    # show prints the file format (round trip: what set takes), the version on stderr
    shown = await scli("skan-schema", "show", app_id)
    doc = shown.json()
    assert doc["fine_values"][1] == {
        "value": 1, "value_to": 9, "revenue_min": "0.01", "revenue_max": "10",
        "events": [{"name": "purchase", "count": 1}],
    }  # fmt: skip
    assert "version 1" in shown.stderr and "first" in shown.stderr

    path.write_text(json.dumps(SCHEMA | {"currency": "EUR"}))
    v2 = (await scli("skan-schema", "set", app_id, "--file", path, "--note", "euros", "--json")).json()
    assert v2["version"] == 2 and v2["changed"] is True and v2["currency"] == "EUR"
    assert (await scli("skan-schema", "show", app_id, "--version", "1")).json()["currency"] == "USD"
    full = (await scli("skan-schema", "show", app_id, "--json")).json()
    assert full["version"] == 2 and full["note"] == "euros" and full["app_id"] == app_id

    listed = (await scli("skan-schema", "versions", app_id, "--json")).json()
    assert [v["version"] for v in listed["versions"]] == [2, 1]
    text = await scli("skan-schema", "versions", app_id)
    assert "v2" in text.stdout and "euros" in text.stdout and "2 fine, 1 coarse rules" in text.stdout


async def test_bad_files_name_the_field_and_exit_2(scli: Cli, app_id: str, tmp_path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "currency": "USD",
                "fine_values": [{"value": 1, "value_to": 5}, {"value": 3, "revenue_min": "-1"}, {"value": 99}],
                "coarse_values": [{"postback": 2, "value": "great"}],
            }
        )
    )
    res = await scli("skan-schema", "set", app_id, "--file", bad, code=2)
    for field in ("schema.fine_values[1].value", "schema.fine_values[1].revenue_min", "schema.fine_values[2].value",
                  "schema.coarse_values[0].value"):  # fmt: skip
        assert field in res.stderr, res.stderr
    await scli("skan-schema", "show", app_id, code=1)  # nothing stored

    notjson = tmp_path / "x.json"
    notjson.write_text("{currency: USD")
    res = await scli("skan-schema", "set", app_id, "--file", notjson, code=2)
    assert "not JSON" in res.stderr
    res = await scli("skan-schema", "set", app_id, "--file", tmp_path / "missing.json", code=2)
    assert "cannot read it" in res.stderr


async def test_help_documents_the_file_format(scli: Cli) -> None:
    res = await scli("skan-schema", "set", "--help")
    for words in ("fine_values", "coarse_values", "lock_after_hours", "revenue_min", "midpoint", "low"):
        assert words in res.stdout
