"""The `clicktrail postback|delivery|catalog` commands and `partner create
--from-catalog`, in-process against the real services."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest

from libs.config import Settings
from libs.grpc_server import RunningService
from tests.cli.conftest import Result, invoke
from tests.conftest import ADMIN_TOKEN, AccountInfo
from tests.services.postbacks.sink import Sink
from tests.services.postbacks.support import enqueue_events, event, wait_for


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    s = await Sink().start()
    yield s
    await s.close()


@pytest.fixture
def run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object, links_server: RunningService,
    postbacks_server: RunningService, account: AccountInfo,
):  # type: ignore[no-untyped-def]  # fmt: skip
    for name in list(os.environ):
        if name.startswith("CLICKTRAIL_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]
    monkeypatch.setattr("cli.common.REPO_ROOT", tmp_path)
    monkeypatch.setenv("CLICKTRAIL_LINKS_ADDR", links_server.addr)
    monkeypatch.setenv("CLICKTRAIL_POSTBACKS_ADDR", postbacks_server.addr)
    monkeypatch.setenv("CLICKTRAIL_ADMIN_TOKEN", ADMIN_TOKEN)
    monkeypatch.setenv("CLICKTRAIL_API_KEY", account.api_key)

    async def call(*args: object, code: int = 0) -> Result:
        res = await asyncio.to_thread(invoke, [str(a) for a in args])
        assert res.code == code, f"exit {res.code}, stdout={res.stdout!r} stderr={res.stderr!r}"
        return res

    return call


async def test_catalog_and_partner_from_catalog(run) -> None:  # type: ignore[no-untyped-def]
    entries = (await run("catalog", "list", "--json")).json()["entries"]
    assert len(entries) == 10 and all(e["source"] for e in entries)
    applovin = next(e for e in entries if e["key"] == "applovin")
    assert applovin["verify"] is False and applovin["templates"][0]["trigger"] == "install"
    missing = await run("partner", "create", "--from-catalog", "applovin", code=2)
    assert "sdk_key" in missing.stderr
    given = {"sdk_key": "SDK1", "package_name": "com.example.game", "platform": "android"}
    flags = [a for k, v in given.items() for a in ("--setting", f"{k}={v}")]
    made = (await run("partner", "create", "--from-catalog", "applovin", *flags, "--json")).json()
    assert made["catalog_key"] == "applovin" and made["name"] == "AppLovin" and len(made["template_ids"]) == 2
    listed = (await run("postback", "list", "--partner", made["partner_id"], "--json")).json()["templates"]
    assert {t["template_id"] for t in listed} == set(made["template_ids"])
    assert all(t["settings"] == given and t["catalog_key"] == "applovin" for t in listed)
    assert (await run("catalog", "list")).stdout.count("\n") >= 11  # table
    # Choices: only the in-app event, for one goal, attributed only; the install created disabled.
    wrong = await run("partner", "create", "--from-catalog", "applovin", *flags, "--send", "Purchase", code=2)
    assert "has no template 'Purchase'" in wrong.stderr and "1 'In-app event'" in wrong.stderr
    refused = await run("partner", "create", "--from-catalog", "applovin", *flags, "--goal", "0=gol_1", code=2)
    assert "choices[0].goal_id" in refused.stderr and "only for a conversion template" in refused.stderr
    chosen = (await run("partner", "create", "--from-catalog", "applovin", *flags, "--name", "AL goal",
                        "--send", "in-app event", "--goal", "In-app event=gol_purchase", "--mode", "1=attributed",
                        "--json")).json()  # fmt: skip
    got = (await run("postback", "list", "--partner", chosen["partner_id"], "--json")).json()["templates"]
    assert sorted((t["name"], t["enabled"], t["trigger"], t.get("goal_id", ""), t["sending_mode"]) for t in got) == [
        ("In-app event", True, "goal", "gol_purchase", "attributed"),
        ("Install", False, "install", "", "all"),
    ]
    partners = (await run("partner", "list", "--json")).json()["partners"]
    assert sorted(p["name"] for p in partners) == ["AL goal", "AppLovin"]  # the refused ones left nothing


async def test_postback_and_delivery_commands(  # type: ignore[no-untyped-def]
    run, sink: Sink, settings: Settings, account: AccountInfo
) -> None:
    partner = (await run("partner", "create", "--name", "Net", "--json")).json()["partner_id"]
    bad = await run("postback", "create", "--partner", partner, "--url", "https://n.example/?c={clik_id}", code=2)
    assert "{clik_id}" in bad.stderr and "url_template" in bad.stderr
    t = (await run("postback", "create", "--partner", partner, "--url", sink.base + "/pb?c={click_id}&p={payout}",
                   "--trigger", "conversion", "--header", "X-Net: {api_key}", "--setting", "api_key=K",
                   "--json")).json()  # fmt: skip
    assert t["trigger"] == "conversion" and t["method"] == "get" and t["headers"] == {"X-Net": "{api_key}"}
    tested = (await run("postback", "test", t["template_id"], "--value", "payout=9.99", "--json")).json()
    assert tested["attempt"]["status_code"] == 200 and tested["url"].endswith("p=9.99")
    assert sink.hits[-1].headers["x-net"] == "K"
    upd = (await run("postback", "update", t["template_id"], "--name", "convs", "--json")).json()
    assert upd["name"] == "convs" and upd["url_template"] == t["url_template"]
    got = (await run("postback", "get", t["template_id"], "--json")).json()
    assert got["name"] == "convs"
    sink.mode, sink.status = "status", 400
    await enqueue_events(settings.database_url, [event(account.account_id, partner, kind="conversion")])

    async def failed() -> list[dict[str, object]]:
        return (await run("delivery", "list", "--status", "failed", "--json")).json()["deliveries"]  # type: ignore[no-any-return]

    await wait_for(failed, timeout=15)
    (d,) = await failed()
    assert d["status"] == "failed" and d["last_status_code"] == 400
    shown = (await run("delivery", "get", d["delivery_id"], "--json")).json()
    assert [a["status_code"] for a in shown["attempt_log"]] == [400]
    sink.mode = "ok"
    retried = (await run("delivery", "retry", d["delivery_id"], "--json")).json()
    assert retried["status"] == "pending"

    async def delivered() -> bool:
        rows = (await run("delivery", "list", "--status", "delivered", "--json")).json()["deliveries"]
        return len(rows) == 1

    await wait_for(delivered, timeout=15)
    again = await run("delivery", "retry", d["delivery_id"], code=1)
    assert "delivered" in again.stderr
    await run("postback", "delete", t["template_id"])
    assert (await run("postback", "list", "--json")).json()["templates"] == []
