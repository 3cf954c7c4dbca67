"""Every console page renders the account's data (httpx, real services)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from collections.abc import Callable

import grpc
import pytest
from clicktrail.analytics.v1 import rules_pb2, rules_pb2_grpc
from clicktrail.attribution.v1 import config_pb2 as cpb
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc
from clicktrail.postbacks.v1 import postbacks_pb2 as ppb
from clicktrail.postbacks.v1 import postbacks_pb2_grpc

from libs.config import Settings
from tests.conftest import AccountInfo, AttributionStubs
from tests.console.seed import World, seed_world
from tests.console.test_console_http import csrf_of, sign_in
from tests.gateway.conftest import RunningGateway
from tests.services.postbacks.sink import Sink
from tests.services.postbacks.support import enqueue_events, event, new_partner, new_template, wait_for

FIELD_ERROR_RE = re.compile(r'class="field-error" data-field="([^"]+)">([^<]+)<')


@pytest.fixture
async def world(
    console_gateway: RunningGateway, account: AccountInfo, channels: Callable[..., grpc.aio.Channel]
) -> World:
    s = console_gateway.settings
    return await seed_world(*(channels(a, token=account.api_key) for a in (
        s.links_addr, s.attribution_addr, s.postbacks_addr, s.analytics_addr)))  # fmt: skip


async def test_every_page_shows_the_accounts_data(
    console_gateway: RunningGateway, account: AccountInfo, world: World
) -> None:
    async with console_gateway.client() as client:
        await sign_in(client, account.api_key)
        # The first click carries a sub-id that a spreadsheet would run as a formula.
        formula = '=HYPERLINK("http://x.example","x")'
        assert (await client.get(f"/c/{world.slugs[0]}", params={"sub1": formula})).status_code == 302
        for _ in range(3):  # a click per seeded link
            for slug in world.slugs:
                assert (await client.get(f"/c/{slug}")).status_code == 302
        # The rollup folds the clicks in within a second or so.
        for _ in range(240):  # up to a minute on a loaded machine
            if ">Spring Launch</a>" in (await client.get("/console/reports?group_by=campaign")).text:
                break
            await asyncio.sleep(0.25)
        expected = {
            "/console/campaigns": ["Spring Launch", "Retarget Q2", "Draft idea"],
            f"/console/campaigns/{world.campaign_ids[0]}": ["Spring Launch banner", "/c/", "/i/", "frozen"],
            f"/console/campaigns/{world.campaign_ids[2]}": ["Draft idea banner"],
            "/console/partners": ["AdNet", "SocialAds", "Space Game"],
            "/console/reports?group_by=campaign&group_by=country": ["report-chart", ">Spring Launch</a>"],
            "/console/metrics": ["active-chart", "Space Game"],
            "/console/postbacks": ["AdNet installs", "adnet.example"],
            "/console/postbacks/deliveries?status=4&status=5": ["No deliveries match", 'value="4" checked'],
            "/console/postbacks/inbound": ["Inbound postbacks"],
            "/console/goals": ["purchase", world.goal_id],
            "/console/tariffs": [world.campaign_ids[0], "0.05"],
            "/console/rules": ["Stop losers", "Run history"],
            f"/console/rules/{world.rule_id}/runs": ["manual", "succeeded"],
        }
        for path, texts in expected.items():
            resp = await client.get(path)
            assert resp.status_code == 200, (path, resp.text[:2000])
            for text in texts:
                assert text in resp.text, (path, text)
        # The CSV export writes it as text (a leading apostrophe), not as a formula.
        for _ in range(240):
            exported = await client.get("/console/reports.csv?group_by=sub1")
            if "HYPERLINK" in exported.text:
                break
            await asyncio.sleep(0.25)
        assert exported.status_code == 200
        assert "'" + formula in {row["sub1"] for row in csv.DictReader(io.StringIO(exported.text))}
        # Echoed input in the JSON of a <script> element cannot end the element or open markup.
        steps = "</script><img src=x id=injected>,<!--"
        resp = await client.get("/console/metrics", params={"app_id": world.app_id, "steps": steps})
        data = resp.text.split('id="metrics-data">', 1)[1].split("</script>", 1)[0]
        assert "<" not in data and ">" not in data and "<img" not in resp.text
        assert [s["step"] for s in json.loads(data)["funnel"]] == ["</script><img src=x id=injected>", "<!--"]
        # Run a rule now (dry run): one more manual run in its history.
        runs = await client.get(f"/console/rules/{world.rule_id}/runs")
        before = runs.text.count("<td>manual</td>")
        form = {"csrf": csrf_of(runs.text), "dry_run": "1"}
        ran = await client.post(f"/console/rules/{world.rule_id}/runs", data=form)
        assert ran.status_code == 303
        after_run = await client.get(ran.headers["location"])
        assert after_run.text.count("<td>manual</td>") == before + 1 and "Rule run recorded" in after_run.text
        # The draft's frozen fields stay editable; the published one's are read-only.
        draft = await client.get(f"/console/campaigns/{world.campaign_ids[2]}")
        assert "frozen" not in draft.text
        # A published campaign's frozen field cannot change through the form either: it is sent unchanged.
        page = await client.get(f"/console/campaigns/{world.campaign_ids[0]}")
        resp = await client.post(f"/console/campaigns/{world.campaign_ids[0]}", data={
            "csrf": csrf_of(page.text), "name": "Spring Launch 2", "status": "3", "type": "2",
            "partner_id": world.partner_id, "app_id": world.app_id, "target_goal_id": world.goal_id,
        })  # fmt: skip
        assert resp.status_code == 303, resp.text
        after = await client.get(f"/console/campaigns/{world.campaign_ids[0]}")
        assert "Spring Launch 2" in after.text and 'value="3" selected' in after.text
        assert 'value="1" selected>app_install' in after.text


async def test_report_errors_name_the_field(console_gateway: RunningGateway, account: AccountInfo) -> None:
    async with console_gateway.client() as client:
        await sign_in(client, account.api_key)
        resp = await client.get("/console/reports?from=2026-02-30&to=2026-03-01")
        assert resp.status_code == 400
        assert 'data-field="start_date"' in resp.text


async def test_a_dead_letter_is_retried_from_the_delivery_log(
    console_gateway: RunningGateway, account: AccountInfo, links_stub: links_pb2_grpc.LinksServiceStub,
    postbacks_stub: postbacks_pb2_grpc.PostbackServiceStub, settings: Settings,
) -> None:  # fmt: skip
    sink = await Sink().start()
    try:
        partner = await new_partner(links_stub)
        await new_template(postbacks_stub, partner, sink.base + "/pb")
        sink.mode, sink.status = "status", 404  # a 4xx fails at once: a dead letter
        await enqueue_events(settings.database_url, [event(account.account_id, partner)])
        async with console_gateway.client() as client:
            await sign_in(client, account.api_key)
            page = None
            for _ in range(300):
                page = await client.get("/console/postbacks/deliveries?status=4&status=5")
                if "data-delivery-id" in page.text:
                    break
                await asyncio.sleep(0.1)
            assert page is not None and "HTTP 404" in page.text
            action = re.search(r'action="(/console/postbacks/deliveries/[^"]+/retry)"', page.text)
            assert action, page.text
            # Delivered ones have no Retry button.
            assert "delivered" not in page.text.split("<tbody>")[1]
            sink.mode = "ok"
            resp = await client.post(action.group(1), data={"csrf": csrf_of(page.text)})
            assert resp.status_code == 303
            assert "Delivery queued for another attempt." in (await client.get(resp.headers["location"])).text
            await wait_for(lambda: len(sink.hits) >= 2, timeout=30)
            for _ in range(300):
                delivered = await client.get("/console/postbacks/deliveries?status=3")
                if "data-delivery-id" in delivered.text:
                    break
                await asyncio.sleep(0.1)
            assert "data-delivery-id" in delivered.text and "Retry</button>" not in delivered.text
    finally:
        await sink.close()


def link(html: str, cls: str) -> str | None:
    """The href of the pager's link of this class (unescaped), or None."""
    m = re.search(rf'class="{cls}" href="([^"]+)"', html)
    return m.group(1).replace("&amp;", "&") if m else None


async def test_long_lists_are_paged(
    console_gateway: RunningGateway, account: AccountInfo, links_stub: links_pb2_grpc.LinksServiceStub
) -> None:
    partner = await new_partner(links_stub)
    for n in range(55):  # three pages of 25
        await links_stub.CreateCampaign(lpb.CreateCampaignRequest(campaign=lpb.Campaign(
            name=f"Camp {n:02d}", partner_id=partner, type=lpb.CAMPAIGN_TYPE_WEB)))  # fmt: skip

    def names_of(html: str) -> set[str]:
        return set(re.findall(r">(Camp \d\d)</a>", html))

    async with console_gateway.client() as client:
        await sign_in(client, account.api_key)
        first = await client.get("/console/campaigns")
        names = names_of(first.text)
        assert len(names) == 25 and "First page" not in first.text and 'class="prev"' not in first.text
        token = re.search(r'class="next" href="\?page_token=([^"]+)"', first.text)
        assert token, first.text
        second = await client.get(f"/console/campaigns?page_token={token.group(1)}")
        more = names_of(second.text)
        assert len(more) == 25 and not names & more and "First page" in second.text
        third = await client.get(f"/console/campaigns{link(second.text, 'next')}")
        last = names_of(third.text)
        assert len(last) == 5 and not (names | more) & last
        assert 'class="next"' not in third.text
        # "Previous" walks back the way it came: page 2, then page 1.
        back = await client.get(f"/console/campaigns{link(third.text, 'prev')}")
        assert back.status_code == 200 and names_of(back.text) == more
        assert link(back.text, "next") == link(second.text, "next")
        home = await client.get(f"/console/campaigns{link(back.text, 'prev')}")
        assert names_of(home.text) == names and 'class="prev"' not in home.text


async def test_goals_are_created_edited_and_deleted_from_their_forms(
    console_gateway: RunningGateway, account: AccountInfo, attribution_stub: AttributionStubs,
    links_stub: links_pb2_grpc.LinksServiceStub,
) -> None:  # fmt: skip
    async with console_gateway.client() as client:
        await sign_in(client, account.api_key)
        assert "No goals yet" in (await client.get("/console/goals")).text
        page = await client.get("/console/goals/new")
        assert page.status_code == 200
        form = {
            "csrf": csrf_of(page.text), "name": "Big purchase", "event": "purchase", "kind": "1", "occurrence": "2",
            "nth": "", "conditions": "action_properties.price > 10\n\naction_properties.sku in gold, silver\n",
            "value_path": "action_properties.price", "currency_path": "action_properties.cur",
        }  # fmt: skip
        created = await client.post("/console/goals/new", data=form)
        assert created.status_code == 303, created.text
        [goal] = (await attribution_stub.goals.ListGoals(cpb.ListGoalsRequest())).goals
        assert (goal.name, goal.event, goal.kind, goal.occurrence) == (
            "Big purchase", "purchase", cpb.GOAL_KIND_PURCHASE, cpb.OCCURRENCE_EVERY,
        )  # fmt: skip
        assert (goal.value_path, goal.currency_path) == ("action_properties.price", "action_properties.cur")
        assert [(c.field, c.operator, c.value, list(c.values)) for c in goal.conditions] == [
            ("action_properties.price", cpb.OPERATOR_GREATER_THAN, "10", []),
            ("action_properties.sku", cpb.OPERATOR_IN, "", ["gold", "silver"]),
        ]
        listed = await client.get(created.headers["location"])
        assert "Goal created." in listed.text and f'href="/console/goals/{goal.goal_id}"' in listed.text
        assert "action_properties.sku in gold,silver" in listed.text

        # The edit form shows the goal as stored; what is changed reaches the service.
        edit = await client.get(f"/console/goals/{goal.goal_id}")
        assert 'value="Big purchase"' in edit.text
        assert "action_properties.price &gt; 10\naction_properties.sku in gold,silver</textarea>" in edit.text
        form.update(csrf=csrf_of(edit.text), name="Third purchase", occurrence="3", nth="3",
                    conditions="action_properties.price >= 20")  # fmt: skip
        saved = await client.post(f"/console/goals/{goal.goal_id}", data=form)
        assert saved.status_code == 303, saved.text
        assert "Goal saved." in (await client.get(saved.headers["location"])).text
        goal = (await attribution_stub.goals.GetGoal(cpb.GetGoalRequest(goal_id=goal.goal_id))).goal
        assert (goal.name, goal.occurrence, goal.nth) == ("Third purchase", cpb.OCCURRENCE_NTH, 3)
        assert [(c.field, c.operator, c.value) for c in goal.conditions] == [
            ("action_properties.price", cpb.OPERATOR_GREATER_OR_EQUAL, "20")
        ]

        # A published campaign targets it: only the name can change, and it cannot be deleted.
        partner = await new_partner(links_stub)
        campaign = (await links_stub.CreateCampaign(lpb.CreateCampaignRequest(campaign=lpb.Campaign(
            name="Targets it", partner_id=partner, type=lpb.CAMPAIGN_TYPE_WEB, target_goal_id=goal.goal_id,
            status=lpb.CAMPAIGN_STATUS_ACTIVE)))).campaign  # fmt: skip
        renamed = await client.post(f"/console/goals/{goal.goal_id}", data={**form, "name": "Renamed"})
        assert renamed.status_code == 303, renamed.text
        refused = await client.post(f"/console/goals/{goal.goal_id}", data={**form, "event": "level_up"})
        assert refused.status_code == 409 and "only its name can change" in refused.text
        assert 'value="level_up"' in refused.text  # the form keeps what was typed
        confirm = await client.get(f"/console/goals/{goal.goal_id}/delete")
        assert confirm.status_code == 200 and "Delete the goal “Renamed”?" in confirm.text
        kept = await client.post(f"/console/goals/{goal.goal_id}/delete", data={"csrf": csrf_of(confirm.text)})
        assert kept.status_code == 409 and campaign.campaign_id in kept.text

        # Another goal goes: the confirmation page's POST deletes it (and needs its CSRF token).
        other = (await attribution_stub.goals.CreateGoal(cpb.CreateGoalRequest(
            goal=cpb.Goal(name="Level 10", event="level_up")))).goal  # fmt: skip
        confirm = await client.get(f"/console/goals/{other.goal_id}/delete")
        assert (await client.post(f"/console/goals/{other.goal_id}/delete", data={})).status_code == 403
        gone = await client.post(f"/console/goals/{other.goal_id}/delete", data={"csrf": csrf_of(confirm.text)})
        assert gone.status_code == 303
        after = await client.get(gone.headers["location"])
        assert "Goal deleted." in after.text and "Level 10" not in after.text and "Renamed" in after.text
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await attribution_stub.goals.GetGoal(cpb.GetGoalRequest(goal_id=other.goal_id))
        assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_rule_is_created_from_its_form_toggled_edited_and_deleted(
    console_gateway: RunningGateway, account: AccountInfo, links_stub: links_pb2_grpc.LinksServiceStub,
    channels: Callable[..., grpc.aio.Channel],
) -> None:  # fmt: skip
    rules = rules_pb2_grpc.RuleServiceStub(channels(console_gateway.settings.analytics_addr, token=account.api_key))
    partner = await new_partner(links_stub)
    campaign = (await links_stub.CreateCampaign(lpb.CreateCampaignRequest(campaign=lpb.Campaign(
        name="Watched", partner_id=partner, type=lpb.CAMPAIGN_TYPE_WEB)))).campaign  # fmt: skip
    async with console_gateway.client() as client:
        await sign_in(client, account.api_key)
        page = await client.get("/console/rules/new")
        assert page.status_code == 200 and ">Watched</option>" in page.text
        form = {
            "csrf": csrf_of(page.text), "name": "Trim losers", "campaign_ids": campaign.campaign_id,
            "group_by": "campaign", "window": "12h", "conditions": "roi < -50%\nclicks >= 1000",
            "action": "change_budget", "percent": "-20", "currency": "usd", "enabled": "1",
        }  # fmt: skip
        bad = await client.post("/console/rules/new", data={**form, "conditions": "roi < -50%\nclicks lots",
                                                            "window": "a day"})  # fmt: skip
        assert bad.status_code == 400
        errors = dict(FIELD_ERROR_RE.findall(bad.text))
        assert "line 2" in errors["conditions"] and "METRIC OP VALUE" in errors["conditions"], errors
        assert "24h" in errors["window"]
        blacklist = await client.post("/console/rules/new", data={**form, "action": "blacklist_sub_id"})
        assert blacklist.status_code == 400 and "action" in dict(FIELD_ERROR_RE.findall(blacklist.text))
        created = await client.post("/console/rules/new", data=form)
        assert created.status_code == 303, created.text
        [rule] = (await rules.ListRules(rules_pb2.ListRulesRequest())).rules
        assert (rule.name, rule.enabled, rule.dry_run, list(rule.campaign_ids)) == (
            "Trim losers", True, False, [campaign.campaign_id],
        )  # fmt: skip
        assert rule.window.seconds == 12 * 3600 and rule.action.change_budget.percent == "-20"
        assert rule.currency_code == "USD" and [c.metric for c in rule.conditions] == ["roi", "clicks"]
        listed = await client.get(created.headers["location"])
        assert "Rule created." in listed.text and "roi &lt; -50% and clicks &gt;= 1000" in listed.text

        # The toggles switch one flag each.
        off = await client.post(f"/console/rules/{rule.rule_id}/enabled", data={"csrf": csrf_of(listed.text),
                                                                                "value": "0"})  # fmt: skip
        assert off.status_code == 303
        dry = await client.post(f"/console/rules/{rule.rule_id}/dry_run", data={"csrf": csrf_of(listed.text),
                                                                               "value": "1"})  # fmt: skip
        assert dry.status_code == 303
        rule = (await rules.GetRule(rules_pb2.GetRuleRequest(rule_id=rule.rule_id))).rule
        assert rule.HasField("enabled") and not rule.enabled and rule.dry_run
        toggled = await client.get(dry.headers["location"])
        assert "Rule saved." in toggled.text
        assert ">Enable</button>" in toggled.text and ">Go live</button>" in toggled.text
        on = await client.post(f"/console/rules/{rule.rule_id}/enabled", data={"csrf": csrf_of(listed.text),
                                                                               "value": "1"})  # fmt: skip
        assert on.status_code == 303
        assert (await rules.GetRule(rules_pb2.GetRuleRequest(rule_id=rule.rule_id))).rule.enabled

        # The edit form shows the rule as saved and saves the whole form (unticked flags too).
        edit = await client.get(f"/console/rules/{rule.rule_id}")
        assert edit.status_code == 200 and 'value="12h"' in edit.text
        assert "roi &lt; -50%\nclicks &gt;= 1000" in edit.text
        assert f'<option value="{campaign.campaign_id}" selected>' in edit.text and 'value="-20"' in edit.text
        changed = {
            "csrf": csrf_of(edit.text), "name": "Pause losers", "campaign_ids": campaign.campaign_id,
            "group_by": "sub3", "window": "2d", "conditions": "roi < -70%", "action": "blacklist_sub_id",
            "currency": "usd", "dry_run": "1",
        }  # fmt: skip
        bad = await client.post(f"/console/rules/{rule.rule_id}", data={**changed, "window": "0s"})
        assert bad.status_code == 400 and "window" in dict(FIELD_ERROR_RE.findall(bad.text)), bad.text
        saved = await client.post(f"/console/rules/{rule.rule_id}", data=changed)
        assert saved.status_code == 303 and "Rule saved." in (await client.get(saved.headers["location"])).text
        rule = (await rules.GetRule(rules_pb2.GetRuleRequest(rule_id=rule.rule_id))).rule
        assert (rule.name, rule.enabled, rule.dry_run, rule.sub_id_field, rule.window.seconds) == (
            "Pause losers", False, True, "sub3", 2 * 86400,
        )  # fmt: skip
        assert rule.action.WhichOneof("kind") == "blacklist_sub_id" and [c.value for c in rule.conditions] == ["-70"]
        missing = await client.get("/console/rules/rule_nope")
        assert missing.status_code == 404

        confirm = await client.get(f"/console/rules/{rule.rule_id}/delete")
        gone = await client.post(f"/console/rules/{rule.rule_id}/delete", data={"csrf": csrf_of(confirm.text)})
        assert gone.status_code == 303 and "Rule deleted." in (await client.get(gone.headers["location"])).text
        assert list((await rules.ListRules(rules_pb2.ListRulesRequest())).rules) == []


async def test_postback_templates_are_created_edited_and_deleted(
    console_gateway: RunningGateway, account: AccountInfo, links_stub: links_pb2_grpc.LinksServiceStub,
    postbacks_stub: postbacks_pb2_grpc.PostbackServiceStub,
) -> None:  # fmt: skip
    partner = await new_partner(links_stub, "AdNet")
    async with console_gateway.client() as client:
        await sign_in(client, account.api_key)
        page = await client.get(f"/console/postbacks/new?partner_id={partner}")
        assert f'value="{partner}" selected' in page.text
        form = {
            "csrf": csrf_of(page.text), "partner_id": partner, "name": "AdNet sales", "trigger": "3",
            "sending_mode": "1", "method": "2", "url_template": "https://adnet.example/pb?click={partner_click_id}",
            "body_template": '{"payout": "{payout}"}', "headers": "Content-Type: application/json\n", "enabled": "1",
        }  # fmt: skip
        created = await client.post("/console/postbacks/new", data=form)
        assert created.status_code == 303, created.text
        [t] = (await postbacks_stub.ListTemplates(ppb.ListTemplatesRequest())).templates
        assert (t.partner_id, t.name, t.trigger, t.method) == (partner, "AdNet sales", ppb.TRIGGER_CONVERSION,
                                                              ppb.HTTP_METHOD_POST)  # fmt: skip
        assert dict(t.headers) == {"Content-Type": "application/json"} and t.body_template == '{"payout": "{payout}"}'
        listed = await client.get(created.headers["location"])
        assert "Postback template created." in listed.text
        assert "adnet.example/pb?click={partner_click_id}" in listed.text

        edit = await client.get(f"/console/postbacks/{t.template_id}")
        assert "Content-Type: application/json</textarea>" in edit.text and 'value="AdNet sales"' in edit.text
        # A macro in the host is refused, with the service's words next to the field.
        bad = await client.post(f"/console/postbacks/{t.template_id}", data={
            **form, "csrf": csrf_of(edit.text), "url_template": "https://{partner_click_id}.example/pb"})  # fmt: skip
        assert bad.status_code == 400
        assert "macros in the scheme or host" in dict(FIELD_ERROR_RE.findall(bad.text))["url_template"]
        saved = await client.post(f"/console/postbacks/{t.template_id}", data={
            **form, "csrf": csrf_of(edit.text), "method": "1", "body_template": "", "headers": "", "enabled": "",
            "url_template": "https://adnet.example/v2?c={partner_click_id}"})  # fmt: skip
        assert saved.status_code == 303, saved.text
        t = (await postbacks_stub.GetTemplate(ppb.GetTemplateRequest(template_id=t.template_id))).template
        assert (t.method, t.body_template, dict(t.headers), t.enabled) == (ppb.HTTP_METHOD_GET, "", {}, False)
        assert t.url_template == "https://adnet.example/v2?c={partner_click_id}"

        confirm = await client.get(f"/console/postbacks/{t.template_id}/delete")
        assert "Delete the postback template “AdNet sales”?" in confirm.text
        gone = await client.post(f"/console/postbacks/{t.template_id}/delete", data={"csrf": csrf_of(confirm.text)})
        assert gone.status_code == 303
        assert "Postback template deleted." in (await client.get(gone.headers["location"])).text
        assert list((await postbacks_stub.ListTemplates(ppb.ListTemplatesRequest())).templates) == []


async def test_a_tariff_is_created_from_its_form_and_bad_input_is_named(
    console_gateway: RunningGateway, account: AccountInfo, links_stub: links_pb2_grpc.LinksServiceStub
) -> None:
    partner = await new_partner(links_stub)
    campaign = (await links_stub.CreateCampaign(lpb.CreateCampaignRequest(campaign=lpb.Campaign(
        name="Priced", partner_id=partner, type=lpb.CAMPAIGN_TYPE_WEB)))).campaign  # fmt: skip
    async with console_gateway.client() as client:
        await sign_in(client, account.api_key)
        page = await client.get("/console/tariffs")
        assert "No tariffs yet" in page.text
        bad = await client.post("/console/tariffs", data={
            "csrf": csrf_of(page.text), "campaign_id": campaign.campaign_id, "model": "5", "percent": "150",
        })  # fmt: skip
        assert bad.status_code == 400
        errors = dict(re.findall(r'class="field-error" data-field="([^"]+)">([^<]+)<', bad.text))
        assert "percent" in errors, bad.text
        ok = await client.post("/console/tariffs", data={
            "csrf": csrf_of(page.text), "campaign_id": campaign.campaign_id, "model": "1", "amount": "0.07",
            "currency": "USD",
        })  # fmt: skip
        assert ok.status_code == 303, ok.text
        listed = await client.get(ok.headers["location"])
        assert "Tariff created." in listed.text and ">Priced</a>" in listed.text and "0.07 USD" in listed.text
