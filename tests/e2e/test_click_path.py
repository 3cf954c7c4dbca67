"""End to end: the suite as `make run` starts it, driven with the real CLI and real HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import pytest_asyncio

from tests.e2e.conftest import Suite, start_suite, still_running, stop_shared

# The tests share one suite (each on accounts of its own), in the module's event loop; the one that
# kills a child starts a suite of its own.
pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

ANDROID_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_suite(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Suite]:
    running = await start_suite(tmp_path_factory.mktemp("click_path"), module_db_url)
    yield running
    await stop_shared(running)


@pytest.fixture
def suite(shared_suite: Suite) -> Suite:
    return still_running(shared_suite)


async def _account(suite: Suite, name: str) -> dict[str, str]:
    account = (await suite.cli("account", "create", "--name", name, "--json")).json()
    assert account["account_id"] and account["api_key"] and account["postback_token"]
    return dict(suite.cli_env, CLICKTRAIL_API_KEY=account["api_key"])


async def test_a_child_that_dies_stops_the_suite(db_url: str, tmp_path: Path) -> None:
    # First in the module: its suite is stopped before the shared one starts (one suite at a time).
    suite = await start_suite(tmp_path, db_url)
    try:
        os.kill(suite.child_pid("links"), signal.SIGKILL)
    except BaseException:
        await suite.stop()
        raise
    code = await suite.wait(60)
    assert code == 1
    out = suite.output()
    assert "links exited unexpectedly" in out
    assert "gateway stopped" in out
    async with httpx.AsyncClient(timeout=2) as http:
        with pytest.raises(httpx.HTTPError):
            await http.get(suite.gateway_url + "/healthz")
    await asyncio.sleep(0)


async def test_from_an_account_to_a_recorded_click(suite: Suite) -> None:
    env = await _account(suite, "Acme Games")
    app_ = (
        await suite.cli(
            "app",
            "create",
            "--name",
            "Space Miner",
            "--platform",
            "android",
            "--bundle-id",
            "com.acme.spaceminer",
            "--json",
            env=env,
        )
    ).json()
    assert app_["app_id"] and app_["app_key"]
    partner = (await suite.cli("partner", "create", "--name", "Unity Ads", "--json", env=env)).json()
    campaign = (
        await suite.cli(
            "campaign",
            "create",
            "--name",
            "Spring UA",
            "--app",
            app_["app_id"],
            "--partner",
            partner["partner_id"],
            "--json",
            env=env,
        )
    ).json()
    published = (await suite.cli("campaign", "publish", campaign["campaign_id"], "--json", env=env)).json()
    assert published["status"] == "active"
    link = (
        await suite.cli(
            "link",
            "create",
            "--campaign",
            campaign["campaign_id"],
            "--url",
            "https://acme.example/land?cid={click_id}&src={sub1}",
            "--json",
            env=env,
        )
    ).json()
    assert link["click_url"].startswith(suite.gateway_url + "/c/")
    assert link["impression_url"].startswith(suite.gateway_url + "/i/")

    async with httpx.AsyncClient(follow_redirects=False, timeout=10) as http:
        resp = await http.get(
            link["click_url"],
            params={"sub1": "banner42", "clickid": "net-7"},
            headers={"User-Agent": ANDROID_UA, "X-Forwarded-For": "81.2.69.142"},
        )
        assert resp.status_code == 302, resp.text
        location = urlsplit(resp.headers["location"])
        assert location.netloc == "acme.example" and location.path == "/land"
        query = parse_qs(location.query)
        click_id = query["cid"][0]
        assert query["src"] == ["banner42"]
        view = await http.get(link["impression_url"], headers={"User-Agent": ANDROID_UA})
        assert view.status_code == 200 and view.headers["content-type"] == "image/gif"

    clicks = (await suite.cli("click", "list", "--campaign", campaign["campaign_id"], "--json", env=env)).json()
    assert [c["click_id"] for c in clicks["clicks"]] == [click_id]
    click = clicks["clicks"][0]
    assert click["link_id"] == link["link_id"]
    assert click["country"] == "GB"
    assert click["os"] == "Android"
    assert click["device_type"] == "mobile"
    assert click["browser"].startswith("Chrome")
    assert click["sub1"] == "banner42"
    assert click["partner_click_id"] == "net-7"
    assert click["ip"] == "81.2.69.142"
    assert click["create_time"]

    human = await suite.cli("click", "list", "--campaign", campaign["campaign_id"], env=env)
    assert click_id in human.stdout and "banner42" in human.stdout
    views = (await suite.cli("impression", "list", "--campaign", campaign["campaign_id"], "--json", env=env)).json()
    assert len(views["impressions"]) == 1


async def test_another_account_cannot_see_the_campaign(suite: Suite) -> None:
    first = await _account(suite, "First")
    partner = (await suite.cli("partner", "create", "--name", "Net", "--json", env=first)).json()
    campaign = (
        await suite.cli("campaign", "create", "--name", "Mine", "--partner", partner["partner_id"], "--json", env=first)
    ).json()
    second = await _account(suite, "Second")
    res = await suite.cli("campaign", "get", campaign["campaign_id"], env=second, code=None)
    assert res.code == 1
    assert res.stdout == ""
    assert res.stderr.startswith("error: ") and "not found" in res.stderr
    assert res.stderr.count("\n") == 1
    listed = (await suite.cli("campaign", "list", "--json", env=second)).json()
    assert listed["campaigns"] == []


async def test_sdk_events_over_http_are_listed_by_the_cli(suite: Suite) -> None:
    import datetime as dt
    import uuid

    env = await _account(suite, "Events Co")
    app_ = (await suite.cli("app", "create", "--name", "Web Shop", "--platform", "web", "--json", env=env)).json()
    sent = [
        {"uuid": str(uuid.uuid4()), "event": "identify", "timestamp": dt.datetime.now(dt.UTC).isoformat(),
         "user_id": "shopper-1"},
        {"uuid": str(uuid.uuid4()), "event": "track", "timestamp": dt.datetime.now(dt.UTC).isoformat(),
         "user_id": "shopper-1", "action": "monetization_web2", "action_properties": {"bundle_id": "gold"}},
    ]  # fmt: skip
    async with httpx.AsyncClient(timeout=10) as http:
        r = await http.post(
            suite.gateway_url + "/v1/events", json={"events": sent}, headers={"X-Api-Key": app_["app_key"]}
        )
    assert r.status_code == 202, r.text
    body = r.json()
    assert [x["status"] for x in body["results"]] == ["accepted", "rejected"]
    assert body["results"][1]["field"] == "action_properties.bundle_package_items"
    listed = (await suite.cli("event", "list", "--app", app_["app_id"], "--json", env=env)).json()["events"]
    assert [(e["uuid"], e["event"], e["user_id"]) for e in listed] == [(sent[0]["uuid"], "identify", "shopper-1")]
