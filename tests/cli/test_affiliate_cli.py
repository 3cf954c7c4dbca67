"""The affiliate commands (offers, landers, a campaign's streams, domains, link
options and QR codes) against a real links server; bad input named by its field."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from cli.commands.links import expires_at
from libs.flow_text import describe_filter, parse_filter, parse_weighted
from libs.grpc_server import RunningService
from tests.cli.conftest import Cli

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


async def _campaign(cli: Cli) -> tuple[str, str]:
    partner = (await cli("partner", "create", "--name", "OfferNet", "--json")).json()["partner_id"]
    campaign = (
        await cli(
            "campaign", "create", "--name", "Nutra EU", "--partner", partner,
            "--fallback-url", "https://acme.example/fallback", "--json",
        )
    ).json()["campaign_id"]  # fmt: skip
    return partner, campaign


def test_filters_and_weights_read_as_typed() -> None:
    f = parse_filter("!verdict=invalid")
    assert (f.field, f.exclude, list(f.values)) == ("verdict", True, ["invalid"])
    assert list(parse_filter("country = US, CA ,").values) == ["US", "CA"]
    assert parse_filter("country!=US").exclude
    # A schedule entry holds commas itself: entries are split on ";".
    assert list(parse_filter("schedule=mon-fri 09:00-18:00; sat,sun").values) == ["mon-fri 09:00-18:00", "sat,sun"]
    assert list(parse_filter("sub1=").values) == [""]
    for text in ("country=US,CA", "!param.utm_source=fb", "schedule=mon-fri 09:00-18:00; sat,sun"):
        assert describe_filter(parse_filter(text)) == text
    with pytest.raises(ValueError, match="FIELD=V1,V2"):
        parse_filter("country")
    assert parse_weighted("lnd_1:70") == ("lnd_1", 70) and parse_weighted("off_2") == ("off_2", 1)
    assert parse_weighted("off_2:0") == ("off_2", 0)  # the service names a weight that is not positive
    with pytest.raises(ValueError, match="not a whole number"):
        parse_weighted("off_2:half")


def test_expires_takes_a_time_or_a_duration_from_now() -> None:
    now = dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC)
    assert expires_at("7d", now) == dt.datetime(2026, 5, 8, 12, tzinfo=dt.UTC)
    assert expires_at("2026-12-31T23:59:00") == dt.datetime(2026, 12, 31, 23, 59, tzinfo=dt.UTC)
    assert expires_at("2026-12-31T23:59:00+02:00").utcoffset() == dt.timedelta(hours=2)


async def test_offers_landers_and_a_campaign_flow(cli: Cli) -> None:
    partner, campaign = await _campaign(cli)
    offer = (
        await cli(
            "offer", "create", "--name", "Keto DE", "--partner", partner,
            "--url", "https://net.example/aff?o=42&aff_sub={click_id}", "--payout-type", "fixed",
            "--payout", "2.50", "--currency", "eur", "--country", "de,AT", "--daily-cap", "100",
            "--cap-action", "redirect", "--cap-url", "https://acme.example/capped", "--json",
        )
    ).json()  # fmt: skip
    assert offer["offer_id"].startswith("off") and offer["partner_id"] == partner
    assert Decimal(offer["payout"]["amount"]) == Decimal("2.5") and offer["payout"]["currency_code"] == "EUR"
    assert offer["payout_type"] == "fixed"
    assert offer["countries"] == ["DE", "AT"] and offer["daily_cap"] == "100" and offer["cap_action"] == "redirect"
    second = (
        await cli(
            "offer", "create", "--name", "Keto AT", "--partner", partner, "--url", "https://net.example/b",
            "--currency", "gbp", "--json",
        )
    ).json()  # fmt: skip
    # A postback payout takes the postback's amount; the currency is for postbacks that name none.
    assert second["payout_type"] == "postback" and second["payout"]["currency_code"] == "GBP"
    paused = (
        await cli("offer", "update", second["offer_id"], "--status", "paused", "--total-cap", "5", "--json")
    ).json()
    assert (paused["status"], paused["total_cap"], paused["name"]) == ("paused", "5", "Keto AT")
    listed = (await cli("offer", "list", "--status", "paused", "--json")).json()
    assert [o["offer_id"] for o in listed["offers"]] == [second["offer_id"]]
    table = (await cli("offer", "list")).stdout
    assert "Keto DE" in table and "2.5" in table and "EUR" in table

    lander = (
        await cli(
            "lander", "create", "--name", "Quiz", "--type", "prelander",
            "--url", "https://pages.example/quiz?next={lander_click_url}&h={headline}",
            "--macro", "headline=Lose 5 kg", "--json",
        )
    ).json()  # fmt: skip
    assert lander["type"] == "prelander" and lander["macros"] == {"headline": "Lose 5 kg"}
    renamed = (await cli("lander", "update", lander["lander_id"], "--name", "Quiz v2", "--json")).json()
    assert renamed["name"] == "Quiz v2" and renamed["macros"] == {"headline": "Lose 5 kg"}
    assert [x["lander_id"] for x in (await cli("lander", "list", "--json")).json()["landers"]] == [lander["lander_id"]]

    germans = (
        await cli(
            "stream", "create", "--campaign", campaign, "--name", "DACH mobile",
            "--filter", "country=DE,AT", "--filter", "device_type=mobile", "--filter", "!verdict=invalid",
            "--lander", f"{lander['lander_id']}:100", "--offer", f"{offer['offer_id']}:70",
            "--offer", f"{second['offer_id']}:30", "--json",
        )
    ).json()  # fmt: skip
    assert germans["stream_id"].startswith("str") and germans["action"] == "rotate" and not germans["is_default"]
    assert germans["filters"][2] == {"field": "verdict", "exclude": True, "values": ["invalid"]}
    assert [(o["offer_id"], o["weight"]) for o in germans["offers"]] == [
        (offer["offer_id"], 70),
        (second["offer_id"], 30),
    ]
    bots = (
        await cli(
            "stream", "create", "--campaign", campaign, "--name", "Bots", "--filter", "verdict=invalid",
            "--filter", "schedule=mon-fri 08:00-22:00; sat,sun",
            "--action", "safe_page", "--url", "https://acme.example/about", "--json",
        )
    ).json()  # fmt: skip
    default = (
        await cli("stream", "create", "--campaign", campaign, "--name", "Rest", "--offer", offer["offer_id"], "--json")
    ).json()
    assert default["is_default"] and default["filters"] == []

    # The flow's order is by position (the first stream got 0): two moves put the bots first.
    moved = (await cli("stream", "move", bots["stream_id"], "--position", "0", "--json")).json()
    assert moved["position"] == 0
    await cli("stream", "update", germans["stream_id"], "--position", "1")
    order = (await cli("stream", "list", "--campaign", campaign, "--json")).json()["streams"]
    assert [s["stream_id"] for s in order] == [bots["stream_id"], germans["stream_id"], default["stream_id"]]
    text = (await cli("stream", "list", "--campaign", campaign)).stdout
    assert "country=DE,AT; device_type=mobile; !verdict=invalid" in text and f"{offer['offer_id']}:70" in text
    # Schedule entries, normalised by the service, print as --filter takes them.
    assert "schedule=mon-fri 08:00-22:00; sat-sun 00:00-24:00" in text
    changed = (
        await cli(
            "stream", "update", germans["stream_id"], "--filter", "country=DE", "--clear-landers", "--pause", "--json"
        )
    ).json()
    assert changed["paused"] and changed["landers"] == [] and len(changed["filters"]) == 1
    assert len(changed["offers"]) == 2  # not given: unchanged
    shown = (await cli("stream", "get", germans["stream_id"])).stdout
    assert "country=DE" in shown

    # An offer a stream rotates cannot go; once the stream is gone it can.
    refused = await cli("offer", "delete", second["offer_id"], code=1)
    assert refused.stderr.startswith("error: ") and "stream" in refused.stderr.lower()
    await cli("stream", "delete", germans["stream_id"])
    assert (await cli("offer", "delete", second["offer_id"], "--json")).json() == {
        "offer_id": second["offer_id"], "deleted": True,
    }  # fmt: skip
    await cli("offer", "get", second["offer_id"], code=1)

    window = (await cli("campaign", "update", campaign, "--visitor-window", "2h", "--json")).json()
    assert window["visitor_window"] == "7200s"


async def test_domains_link_options_and_qr_codes(cli: Cli, tmp_path: Path) -> None:
    _, campaign = await _campaign(cli)
    added = (await cli("domain", "add", "Track.Example.COM", "--root-url", "https://example.com/", "--json")).json()
    assert added["name"] == "track.example.com" and added["root_url"] == "https://example.com/"
    assert [d["name"] for d in (await cli("domain", "list", "--json")).json()["domains"]] == ["track.example.com"]
    link = (
        await cli(
            "link", "create", "--campaign", campaign, "--url", "https://shop.example/?cid={click_id}",
            "--domain", "track.example.com", "--max-clicks", "500", "--redirect-status", "307",
            "--expires", "30d", "--json",
        )
    ).json()  # fmt: skip
    assert urlsplit(link["click_url"]).hostname == "track.example.com"
    assert (link["domain"], link["max_clicks"], link["redirect_status"]) == ("track.example.com", "500", 307)
    expires = dt.datetime.fromisoformat(link["expire_time"].replace("Z", "+00:00"))
    assert dt.timedelta(days=29) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(days=30)
    assert link["qr_url"].endswith(f"/qr/{link['slug']}.svg")

    # A domain that links are served on cannot go; with the link moved off it, it can.
    refused = await cli("domain", "delete", "track.example.com", code=1)
    assert refused.stderr.startswith("error: ")
    cleared = (
        await cli("link", "update", link["link_id"], "--domain", "", "--expires", "", "--max-clicks", "0", "--json")
    ).json()
    assert (cleared["domain"], cleared.get("expire_time"), cleared["max_clicks"]) == ("", None, "0")
    assert urlsplit(cleared["click_url"]).hostname != "track.example.com"
    await cli("domain", "delete", "track.example.com")
    assert (await cli("domain", "list", "--json")).json()["domains"] == []

    png = tmp_path / "link.png"
    wrote = (await cli("link", "qr", link["link_id"], "--format", "png", "-o", png, "--json")).json()
    data = png.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and data[12:16] == b"IHDR"
    assert wrote["url"] == cleared["click_url"] and wrote["content_type"] == "image/png"
    svg = await cli("link", "qr", link["link_id"])  # SVG to standard output
    assert ET.fromstring(svg.stdout).tag.endswith("svg")  # noqa: S314 (our own server's image)


async def test_bad_input_is_named_by_its_field(cli: Cli) -> None:
    partner, campaign = await _campaign(cli)
    no_scheme = await cli("offer", "create", "--name", "X", "--partner", partner, "--url", "net.example/x", code=2)
    assert "offer.url" in no_scheme.stderr
    below_zero = await cli(
        "offer", "create", "--name", "X", "--partner", partner, "--url", "https://n.example/", "--daily-cap", "-1",
        code=2,
    )  # fmt: skip
    assert "offer.daily_cap" in below_zero.stderr
    offer = (
        await cli("offer", "create", "--name", "Y", "--partner", partner, "--url", "https://n.example/", "--json")
    ).json()["offer_id"]
    zero = await cli("stream", "create", "--campaign", campaign, "--name", "Z", "--offer", f"{offer}:0", code=2)
    assert "stream.offers[0].weight" in zero.stderr
    never = await cli(
        "stream", "create", "--campaign", campaign, "--name", "Never", "--offer", offer,
        "--filter", "country=US", "--filter", "country=DE", code=2,
    )  # fmt: skip
    assert "stream.filters" in never.stderr
    # Text the CLI cannot read is refused before any call, naming the flag.
    typo = await cli("stream", "create", "--campaign", campaign, "--name", "T", "--filter", "country", code=2)
    assert typo.stderr.startswith("error: --filter:") and "FIELD=V1,V2" in typo.stderr
    weight = await cli("stream", "create", "--campaign", campaign, "--name", "T", "--lander", "lnd_x:half", code=2)
    assert weight.stderr.startswith("error: --lander:")
    status = await cli(
        "link", "create", "--campaign", campaign, "--url", "https://a.example/", "--redirect-status", "308", code=2
    )
    assert "--redirect-status 308" in status.stderr
    when = await cli(
        "link", "create", "--campaign", campaign, "--url", "https://a.example/", "--expires", "soon", code=2
    )
    assert "--expires 'soon'" in when.stderr
    window = await cli("campaign", "update", campaign, "--visitor-window", "forever", code=2)
    assert "--visitor-window" in window.stderr


async def test_postback_formats(cli: Cli, cli_env: pytest.MonkeyPatch, attribution_server: RunningService) -> None:
    cli_env.setenv("CLICKTRAIL_ATTRIBUTION_ADDR", attribution_server.addr)
    partner = (await cli("partner", "create", "--name", "Everflow net", "--json")).json()["partner_id"]
    presets = (await cli("postback-format", "presets", "--json")).json()["presets"]
    preset_id = presets[0]["preset_id"]
    shown = (await cli("postback-format", "preset", preset_id)).stdout
    assert presets[0]["name"] in shown
    made = (
        await cli(
            "postback-format", "set", partner, "--preset", preset_id, "--alias", "click_id=aff_sub, sub1",
            "--word", "Reversed=rejected", "--json",
        )
    ).json()  # fmt: skip
    assert made["preset_id"] == preset_id and made["aliases"] == [{"field": "click_id", "params": ["aff_sub", "sub1"]}]
    assert made["status_words"] == {"reversed": "rejected"}
    # Only what is given changes: the aliases stay when the words change.
    words = (await cli("postback-format", "set", partner, "--word", "1=approved", "--json")).json()
    assert words["status_words"] == {"1": "approved"} and words["aliases"] == made["aliases"]
    text = (await cli("postback-format", "get", partner)).stdout
    assert "click_id=aff_sub,sub1" in text and "1=approved" in text
    assert [f["partner_id"] for f in (await cli("postback-format", "list", "--json")).json()["formats"]] == [partner]
    bad = await cli("postback-format", "set", partner, "--word", "ok=maybe", code=2)
    assert "format.status_words" in bad.stderr
    typo = await cli("postback-format", "set", partner, "--alias", "click_id", code=2)
    assert "FIELD=PARAM1,PARAM2" in typo.stderr
    await cli("postback-format", "delete", partner)
    await cli("postback-format", "get", partner, code=1)
