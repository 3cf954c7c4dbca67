"""The console's Integrated partners page (issue 22; MyTracker: "open the list
of partners, choose the one you need, go to Event sending, choose an app and
mark the events"), over HTTP through the real gateway and services: the list
with its search and filter, an entry's settings form, bad input named by field
with nothing created, and a creation that makes what
``clicktrail partner create --from-catalog`` makes, with the chosen events,
goal and sending mode written in the same all-or-nothing creation (a failed
one leaves nothing; an unchecked template is never stored enabled)."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

import asyncpg
import grpc
from clicktrail.attribution.v1 import config_pb2 as cpb
from clicktrail.attribution.v1 import config_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc
from clicktrail.postbacks.v1 import postbacks_pb2 as ppb
from clicktrail.postbacks.v1 import postbacks_pb2_grpc

from services.postbacks import catalog
from tests.conftest import AccountInfo
from tests.console.conftest import Seeded
from tests.console.test_console_http import csrf_of, sign_in
from tests.gateway.conftest import RunningGateway

FIELD_ERROR_RE = re.compile(r'class="field-error" data-field="([^"]+)">([^<]+)<')
ROW_RE = re.compile(r'<tr data-key="([a-z_]+)">')

APPLOVIN = {"setting_sdk_key": "SDK-1", "setting_package_name": "com.example.space", "setting_platform": "android"}


async def test_the_catalog_is_listed_searched_and_filtered(
    console_gateway: RunningGateway, account: AccountInfo
) -> None:
    async with console_gateway.client() as client:
        await sign_in(client, account.api_key)
        page = await client.get("/console/integrated-partners")
        assert page.status_code == 200
        assert ROW_RE.findall(page.text) == [e["key"] for e in catalog.entries()]
        assert 'href="/console/integrated-partners"' in page.text  # in the navigation
        found = await client.get("/console/integrated-partners", params={"q": "UNITY"})  # ironSource: Unity LevelPlay
        assert ROW_RE.findall(found.text) == ["ironsource", "unity"]
        found = await client.get("/console/integrated-partners", params={"q": "unity ads"})  # every word
        assert ROW_RE.findall(found.text) == ["unity"]
        to_verify = await client.get("/console/integrated-partners", params={"show": "verify"})
        assert ROW_RE.findall(to_verify.text) == [e["key"] for e in catalog.entries() if e["verify"]]
        checked = await client.get("/console/integrated-partners", params={"show": "documented"})
        assert ROW_RE.findall(checked.text) == [e["key"] for e in catalog.entries() if not e["verify"]]
        none = await client.get("/console/integrated-partners", params={"q": "no such network"})
        assert ROW_RE.findall(none.text) == [] and "No integrated partner matches" in none.text
        assert (await client.get("/console/integrated-partners/nope")).status_code == 404


async def test_an_entry_is_set_up_with_app_events_and_sending_mode(
    console_gateway: RunningGateway, account: AccountInfo, seeded: Seeded, channels: Callable[..., grpc.aio.Channel],
) -> None:  # fmt: skip
    s = console_gateway.settings
    postbacks = postbacks_pb2_grpc.PostbackServiceStub(channels(s.postbacks_addr, token=account.api_key))
    links = links_pb2_grpc.LinksServiceStub(channels(s.links_addr, token=account.api_key))
    goals = config_pb2_grpc.GoalServiceStub(channels(s.attribution_addr, token=account.api_key))
    purchase = cpb.Goal(name="purchase", kind=cpb.GOAL_KIND_PURCHASE, event="purchase")
    goal = (await goals.CreateGoal(cpb.CreateGoalRequest(goal=purchase))).goal
    entry = catalog.entry("applovin")
    assert entry is not None
    async with console_gateway.client() as client:
        await sign_in(client, account.api_key)
        page = await client.get("/console/integrated-partners/applovin")
        assert page.status_code == 200
        # Required settings marked, the documented example as the placeholder, the source cited.
        for setting in entry["settings"]:
            assert f'name="setting_{setting["name"]}"' in page.text
            assert f'placeholder="e.g. {setting["example"]}"' in page.text
        assert page.text.count('title="required"') == 3
        assert "support.applovin.com" in page.text and "Space Game" in page.text
        assert 'name="send_0" value="1" checked' in page.text and 'name="send_1" value="1" checked' in page.text

        def form(**over: str) -> dict[str, str]:
            base = {"csrf": csrf_of(page.text), "name": "AppLovin Android", "app_id": seeded.app_id, **APPLOVIN,
                    "send_1": "1", "mode_0": str(ppb.SENDING_MODE_ALL), "mode_1": str(ppb.SENDING_MODE_ATTRIBUTED),
                    "goal_1": goal.goal_id}  # fmt: skip
            return {k: v for k, v in {**base, **over}.items() if v != "-"}

        # Bad input: each problem named by its field; nothing is created.
        bad = {
            "setting_sdk_key": (form(setting_sdk_key="-"), "is required by the AppLovin catalog entry"),
            "app_id": (form(app_id="app_not_mine"), "is not one of this account's apps"),
            "events": (form(send_1="-"), "choose at least one event"),
            "mode_1": (form(mode_1="7"), "must be attributed or all"),
            "goal_1": (form(goal_1="gol_other"), "is not one of this account's goals"),
        }
        for field, (data, why) in bad.items():
            resp = await client.post("/console/integrated-partners/applovin", data=data)
            assert resp.status_code == 400, (field, resp.text[:500])
            errors = {f: html.unescape(d) for f, d in FIELD_ERROR_RE.findall(resp.text)}
            assert field in errors and why in errors[field], (field, errors)
            assert 'value="SDK-1"' in resp.text or field == "setting_sdk_key"  # what was typed is kept
        assert not (await postbacks.ListTemplates(ppb.ListTemplatesRequest())).templates
        assert [p.name for p in (await links.ListPartners(lpb.ListPartnersRequest())).partners] == ["AdNet"]

        # The install not sent, the in-app event only for the purchase goal, attributed only: one
        # CreateCatalogPartner carrying the choices. When it fails (here the database refuses the goal
        # template) nothing is left, so submitting again makes one partner, not a second one.
        conn = await asyncpg.connect(s.database_url)
        try:
            await conn.execute("ALTER TABLE postbacks.templates ADD CONSTRAINT test_no_goal CHECK (trigger <> 'goal')")
            failed = await client.post("/console/integrated-partners/applovin", data=form())
            assert failed.status_code >= 400 and 'value="SDK-1"' in failed.text, failed.text[:500]
            assert not (await postbacks.ListTemplates(ppb.ListTemplatesRequest())).templates
            assert [p.name for p in (await links.ListPartners(lpb.ListPartnersRequest())).partners] == ["AdNet"]
            await conn.execute("ALTER TABLE postbacks.templates DROP CONSTRAINT test_no_goal")
            # The unchecked install is never stored enabled, not even for a moment.
            await conn.execute(
                "ALTER TABLE postbacks.templates ADD CONSTRAINT test_never_on"
                " CHECK (NOT (enabled AND trigger = 'install'))"
            )
            made = await client.post("/console/integrated-partners/applovin", data=form())
            assert made.status_code == 303, made.text[:500]
            await conn.execute("ALTER TABLE postbacks.templates DROP CONSTRAINT test_never_on")
        finally:
            await conn.close()
        partner_id = made.headers["location"].rsplit("partner_id=", 1)[1]
        done = await client.get(made.headers["location"])
        assert "Partner created with its postbacks." in done.text and f"partner_id={partner_id}" in done.text

    partners = {p.partner_id: p for p in (await links.ListPartners(lpb.ListPartnersRequest())).partners}
    assert (partners[partner_id].name, partners[partner_id].catalog_key) == ("AppLovin Android", "applovin")
    got = (await postbacks.ListTemplates(ppb.ListTemplatesRequest(partner_id=partner_id))).templates
    by_name = {t.name: t for t in got}
    assert set(by_name) == {t["name"] for t in entry["templates"]}
    install, event = by_name["Install"], by_name["In-app event"]
    assert (install.enabled, install.trigger, install.sending_mode) == (
        False,
        ppb.TRIGGER_INSTALL,
        ppb.SENDING_MODE_ALL,
    )
    assert (event.enabled, event.trigger, event.goal_id, event.sending_mode) == (
        True, ppb.TRIGGER_GOAL, goal.goal_id, ppb.SENDING_MODE_ATTRIBUTED)  # fmt: skip
    assert all(t.create_time == t.update_time for t in got)  # written as chosen, not updated after
    assert [p.name for p in (await links.ListPartners(lpb.ListPartnersRequest())).partners] == [
        "AdNet", "AppLovin Android"]  # fmt: skip
    # Otherwise what the CLI's catalog command (CreateCatalogPartner) makes: same URLs, settings, app, catalog key.
    cli = await postbacks.CreateCatalogPartner(ppb.CreateCatalogPartnerRequest(
        catalog_key="applovin", app_id=seeded.app_id,
        settings={k.removeprefix("setting_"): v for k, v in APPLOVIN.items()},
    ))  # fmt: skip
    for t in cli.templates:
        mine = by_name[t.name]
        assert (mine.url_template, dict(mine.settings), mine.app_id, mine.catalog_key, mine.method) == (
            t.url_template, dict(t.settings), t.app_id, t.catalog_key, t.method)  # fmt: skip
