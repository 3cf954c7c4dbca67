"""`clicktrail rule ...` and `clicktrail campaign blacklist|whitelist ...`
against real links and analytics servers."""

from __future__ import annotations

from clicktrail.links.v1 import links_pb2 as lpb

from tests.cli.conftest import Cli


async def _campaign(links_stub) -> str:
    partner = (await links_stub.CreatePartner(lpb.CreatePartnerRequest(partner=lpb.Partner(name="Net")))).partner
    req = lpb.CreateCampaignRequest(
        campaign=lpb.Campaign(name="Spring", partner_id=partner.partner_id, status=lpb.CAMPAIGN_STATUS_ACTIVE)
    )
    return (await links_stub.CreateCampaign(req)).campaign.campaign_id


async def test_blacklist_and_whitelist_commands(cli: Cli, links_stub) -> None:
    cid = await _campaign(links_stub)
    added = (await cli("campaign", "blacklist", "add", cid, "sub1", "bad-pub", "--reason", "fraud", "--json")).json()
    assert (added["sub_field"], added["value"], added["reason"], added["list"], added["created"]) == (
        "sub1", "bad-pub", "fraud", "blacklist", True,
    )  # fmt: skip
    again = (await cli("campaign", "blacklist", "add", cid, "sub1", "bad-pub", "--json")).json()
    assert again["created"] is False
    await cli("campaign", "blacklist", "add", cid, "source", "spam")  # alias of sub2
    await cli("campaign", "whitelist", "add", cid, "sub1", "vip")
    res = await cli("campaign", "blacklist", "add", cid, "sub1", "vip", code=1)
    assert res.stderr.startswith("error: ") and "whitelist" in res.stderr
    res = await cli("campaign", "blacklist", "add", cid, "sub11", "x", code=2)
    assert "entry.sub_field" in res.stderr

    listed = (await cli("campaign", "blacklist", "list", cid, "--json")).json()
    assert [(e["sub_field"], e["value"]) for e in listed["entries"]] == [("sub1", "bad-pub"), ("sub2", "spam")]
    text = (await cli("campaign", "whitelist", "list", cid)).stdout
    assert "vip" in text and "bad-pub" not in text

    await cli("campaign", "blacklist", "remove", cid, "sub1", "bad-pub")
    listed = (await cli("campaign", "blacklist", "list", cid, "--field", "sub1", "--json")).json()
    assert listed["entries"] == []
    res = await cli("campaign", "blacklist", "remove", cid, "sub1", "bad-pub", code=1)
    assert "not on campaign" in res.stderr


async def test_rule_commands(cli: Cli, cli_env, analytics_server, links_stub) -> None:
    cli_env.setenv("CLICKTRAIL_ANALYTICS_ADDR", analytics_server.addr)
    cid = await _campaign(links_stub)
    made = (
        await cli(
            "rule", "create", "--name", "Stop losers", "--window", "24h", "--when", "roi < -50%",
            "--when", "clicks >= 1000", "--action", "pause", "--campaign", cid, "--json",
        )
    ).json()  # fmt: skip
    rule_id = made["rule_id"]
    assert made["enabled"] is True and made["grouping"] == "campaign" and made["window"] == "86400s"
    assert made["conditions"] == [
        {"metric": "roi", "comparison": "less", "value": "-50"},
        {"metric": "clicks", "comparison": "greater_or_equal", "value": "1000"},
    ]
    assert made["campaign_ids"] == [cid] and "pause_campaign" in made["action"]

    sub = (
        await cli(
            "rule", "create", "--name", "Dead subs", "--group-by", "source", "--when", "conversions == 0",
            "--action", "blacklist", "--json",
        )
    ).json()  # fmt: skip
    assert (sub["grouping"], sub["sub_id_field"]) == ("sub_id", "sub2")
    bots = (
        await cli(
            "rule", "create", "--name", "Bot sub-ids", "--group-by", "sub1", "--when", "invalid_rate > 30%",
            "--when", "clicks >= 100", "--action", "blacklist", "--json",
        )
    ).json()  # fmt: skip
    assert bots["conditions"][0] == {"metric": "invalid_rate", "comparison": "greater", "value": "30"}
    assert "invalid_rate > 30%" in (await cli("rule", "get", bots["rule_id"])).stdout

    # Bad input: one line naming the field, exit 2.
    res = await cli("rule", "create", "--name", "x", "--when", "ctr > 1", "--action", "pause", code=2)
    assert res.stderr.startswith("error: rule.conditions[0].metric: 'ctr' is not a metric")
    res = await cli("rule", "create", "--name", "x", "--when", "cr > 1", "--action", "pause", "--window", "0h", code=2)
    assert "rule.window" in res.stderr
    res = await cli("rule", "create", "--name", "x", "--when", "cr > 1", "--action", "blacklist", code=2)
    assert "rule.action.blacklist_sub_id" in res.stderr
    res = await cli("rule", "create", "--name", "x", "--when", "cr is big", "--action", "pause", code=2)
    assert "METRIC OP VALUE" in res.stderr

    text = (await cli("rule", "get", rule_id)).stdout
    assert "roi < -50%" in text and "clicks >= 1000" in text
    listed = (await cli("rule", "list", "--json")).json()
    assert sorted(r["rule_id"] for r in listed["rules"]) == sorted([rule_id, sub["rule_id"], bots["rule_id"]])

    updated = (await cli("rule", "update", rule_id, "--disable", "--when", "roi < -30%", "--dry-run", "--json")).json()
    assert updated["enabled"] is False and updated["dry_run"] is True
    assert updated["conditions"] == [{"metric": "roi", "comparison": "less", "value": "-30"}]

    run = (await cli("rule", "run", rule_id, "--json")).json()
    assert run["rule_id"] == rule_id and run["trigger"] == "manual" and run["dry_run"] is True
    assert run["status"] == "succeeded" and run["groups_evaluated"] == 0 and run["actions"] == []
    runs = (await cli("rule", "runs", rule_id, "--json")).json()
    assert [r["run_id"] for r in runs["runs"]] == [run["run_id"]]
    assert "manual" in (await cli("rule", "runs")).stdout

    await cli("rule", "delete", rule_id)
    res = await cli("rule", "get", rule_id, code=1)
    assert "not found" in res.stderr
