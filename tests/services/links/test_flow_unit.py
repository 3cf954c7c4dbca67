"""The flow's decision as a pure function (services/links/flow.py): no database."""

from __future__ import annotations

import datetime as dt
import ipaddress
import math
import random
from typing import Any

from clicktrail.links.v1 import affiliate_pb2 as apb
from clicktrail.links.v1 import links_pb2 as pb

from libs.macros import expand
from services.links.flow import (
    ClickFacts,
    Flow,
    LanderInfo,
    OfferInfo,
    choose_offer,
    click_values,
    compile_flow,
    decide,
    nothing_capped,
    render_offer_url,
)
from services.links.flow_compile import UrlTemplate
from services.links.visitors import NEW_VISITOR, Choice, Visitor, format_cookie, parse_cookie

FALLBACK_URL = "https://acme.example/fallback"
NOON_UTC = dt.datetime(2026, 3, 4, 12, 0, tzinfo=dt.UTC)  # a Wednesday
CLICK_ID = "01jclick0000000000000000000"
BASE = "https://t.example"


def offer(offer_id: str, **kw: Any) -> OfferInfo:
    fields: dict[str, Any] = {
        "url": f"https://{offer_id}.example/go?c={{click_id}}", "countries": frozenset(), "active": True,
        "cap_action": apb.CAP_ACTION_NEXT_OFFER, "cap_url": "",
    }  # fmt: skip
    fields.update(kw)
    return OfferInfo(offer_id=offer_id, **fields)


OFFERS = {o.offer_id: o for o in (offer("off_a"), offer("off_b"), offer("off_c"))}
LANDERS = {
    "lnd_1": LanderInfo("lnd_1", "https://lp1.example/?next={lander_click_url}&s={sub1}&t={theme}", {"theme": "dark"}),
    "lnd_2": LanderInfo("lnd_2", "https://lp2.example/?next={lander_click_url}", {}),
}


def stream(stream_id: str, *filters: tuple[str, bool, list[str]], position: int = 0, **kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "stream_id": stream_id, "position": position, "action": apb.STREAM_ACTION_URL,
        "url": f"https://{stream_id}.example/?c={{click_id}}", "landers": [], "offers": [], "paused": False,
        "filters": [{"field": f, "exclude": e, "values": v} for f, e, v in filters],
    }  # fmt: skip
    row.update(kw)
    return row


def make_flow(*rows: dict[str, Any], zone: str = "UTC", offers: dict[str, OfferInfo] | None = None) -> Flow:
    campaign = {
        "account_id": "acc", "campaign_id": "cmp_1", "fallback_url": FALLBACK_URL, "visitor_window_s": 3600,
        "time_zone": zone,
    }  # fmt: skip
    ordered = sorted(rows, key=lambda r: (r["position"], r["stream_id"]))
    return compile_flow(campaign, ordered, OFFERS if offers is None else offers, LANDERS)


def facts(**kw: Any) -> ClickFacts:
    fields: dict[str, Any] = {
        "country": "DE", "device_type": pb.DEVICE_TYPE_MOBILE, "os": "Android", "browser": "Chrome",
        "ip": ipaddress.ip_address("203.0.113.7"), "subs": ["s1", None, None, None, None, None, None, None, None, None],
        "referrer": "https://www.news.example/article", "accept_language": "de-DE,de;q=0.9,en;q=0.8",
        "raw_query": b"sub1=s1&zone=42", "now": NOON_UTC,
    }  # fmt: skip
    fields.update(kw)
    return ClickFacts(**fields)


VALUES = {"click_id": CLICK_ID, "sub1": "s1", "country": "DE", "campaign_id": "cmp_1"}


def run(flow: Flow, f: ClickFacts | None = None, verdict: str = "clean", visitor: Visitor = NEW_VISITOR, **kw: Any):
    capped = kw.pop("capped", nothing_capped)
    rng = kw.pop("rng", random.Random(7))
    return decide(flow, f or facts(), verdict, visitor, capped, rng, VALUES, BASE)


def winner(flt: tuple[str, bool, list[str]], f: ClickFacts | None = None, **kw: Any) -> str | None:
    """The stream that wins when one stream carries ``flt`` before a default."""
    flow = make_flow(
        stream("str_filtered", flt, position=1), stream("str_default", position=9), zone=kw.pop("zone", "UTC")
    )
    return run(flow, f, **kw).stream_id


def test_first_matching_stream_wins_and_default_catches_the_rest():
    flow = make_flow(
        stream("str_default", position=0),  # the default is tried last whatever its position
        stream("str_us", ("country", False, ["US"]), position=1),
        stream("str_de", ("country", False, ["DE"]), position=2),
        stream("str_de_too", ("country", False, ["DE", "AT"]), position=3),
    )
    d = run(flow)
    assert (d.stream_id, d.outcome) == ("str_de", pb.TOUCH_OUTCOME_RECORDED)
    assert d.location == f"https://str_de.example/?c={CLICK_ID}"
    assert run(flow, facts(country="FR")).stream_id == "str_default"


def test_no_stream_holds_and_no_default_goes_to_the_fallback():
    d = run(make_flow(stream("str_us", ("country", False, ["US"]))))
    assert (d.stream_id, d.location, d.outcome) == (None, FALLBACK_URL, pb.TOUCH_OUTCOME_FALLBACK)
    assert d.cookies == ()


def test_paused_streams_are_skipped():
    flow = make_flow(stream("str_de", ("country", False, ["DE"]), paused=True), stream("str_default", position=5))
    assert run(flow).stream_id == "str_default"


def test_filters_and_their_exclusions():
    cases: list[tuple[tuple[str, list[str]], ClickFacts]] = [
        (("country", ["DE"]), facts()),
        (("device_type", ["mobile", "tablet"]), facts()),
        (("os", ["android"]), facts()),
        (("browser", ["CHROME"]), facts()),
        (("sub1", ["s1"]), facts()),
        (("sub2", [""]), facts()),  # "" = no value
        (("param.zone", ["42"]), facts()),
        (("param.missing", [""]), facts()),
        (("referrer", ["news.example"]), facts()),
        (("referrer", [""]), facts(referrer="")),
        (("ip", ["203.0.113.0/24"]), facts()),
        (("ip", ["2001:db8::/32"]), facts(ip=ipaddress.ip_address("2001:db8::5"))),
        (("ip", ["10.0.0.0/8", "203.0.113.7/32"]), facts()),
    ]
    for (field, values), f in cases:
        assert winner((field, False, values), f) == "str_filtered", (field, values)
        assert winner((field, True, values), f) == "str_default", (field, values)
    misses = [
        ("country", ["US"]), ("device_type", ["desktop"]), ("os", ["iOS"]), ("browser", ["Safari"]),
        ("sub1", ["other"]), ("param.zone", ["7"]), ("referrer", ["ews.example"]),
        ("ip", ["203.0.114.0/24"]), ("ip", ["2001:db8::/32"]),
    ]  # fmt: skip
    for field, values in misses:
        assert winner((field, False, values)) == "str_default", (field, values)
        assert winner((field, True, values)) == "str_filtered", (field, values)
    assert winner(("ip", False, ["10.0.0.0/8"]), facts(ip=None)) == "str_default"


def test_language_is_the_preferred_one_and_a_primary_matches_its_regions():
    assert winner(("language", False, ["de"])) == "str_filtered"  # de-DE first
    assert winner(("language", False, ["de-DE"])) == "str_filtered"
    assert winner(("language", False, ["en"])) == "str_default"  # only a later choice
    assert winner(("language", False, ["de-AT"])) == "str_default"
    assert winner(("language", False, ["pt"]), facts(accept_language="pt-BR")) == "str_filtered"
    assert winner(("language", True, ["de"])) == "str_default"


def test_verdict_filter_sends_bots_to_a_safe_page():
    flow = make_flow(
        stream("str_safe", ("verdict", False, ["invalid"]), action=apb.STREAM_ACTION_SAFE_PAGE,
               url="https://safe.example/"),
        stream("str_default", position=9),
    )  # fmt: skip
    d = run(flow, verdict="invalid")
    assert (d.stream_id, d.location, d.lander_id, d.offer_id) == ("str_safe", "https://safe.example/", None, None)
    assert run(flow, verdict="suspicious").stream_id == "str_default"
    assert winner(("verdict", True, ["clean"]), verdict="clean") == "str_default"


def test_schedule_in_the_account_time_zone_and_across_midnight():
    night = ("schedule", False, ["22:00-06:00"])
    assert winner(night, facts(now=dt.datetime(2026, 3, 4, 23, 30, tzinfo=dt.UTC))) == "str_filtered"
    assert winner(night, facts(now=dt.datetime(2026, 3, 5, 5, 59, tzinfo=dt.UTC))) == "str_filtered"
    assert winner(night, facts(now=dt.datetime(2026, 3, 5, 6, 0, tzinfo=dt.UTC))) == "str_default"
    # "fri 22:00-02:00": Saturday 01:00 is Friday night's; Friday 01:00 is not.
    friday = ("schedule", False, ["fri 22:00-02:00"])
    assert winner(friday, facts(now=dt.datetime(2026, 3, 7, 1, 0, tzinfo=dt.UTC))) == "str_filtered"
    assert winner(friday, facts(now=dt.datetime(2026, 3, 6, 1, 0, tzinfo=dt.UTC))) == "str_default"
    # 12:00 UTC is 21:00 in Tokyo (Wednesday): office hours hold in UTC only.
    office = ("schedule", False, ["mon-fri 09:00-18:00"])
    assert winner(office, zone="UTC") == "str_filtered"
    assert winner(office, zone="Asia/Tokyo") == "str_default"
    assert winner(("schedule", False, ["wed 20:00-22:00"]), zone="Asia/Tokyo") == "str_filtered"
    assert winner(("schedule", False, ["sat,sun"])) == "str_default"


def test_visitor_new_or_returning():
    back = Visitor(True, Choice("str_other", None, None))
    assert winner(("visitor", False, ["new"])) == "str_filtered"
    assert winner(("visitor", False, ["returning"])) == "str_default"
    assert winner(("visitor", False, ["returning"]), visitor=back) == "str_filtered"
    assert winner(("visitor", True, ["returning"]), visitor=back) == "str_default"


def rotate(**kw: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"action": apb.STREAM_ACTION_ROTATE, "url": "", "position": 9}
    fields.update(kw)
    return stream("str_rotate", **fields)


def test_rotation_to_a_lander_carries_the_lander_click_url_and_the_lander_macros():
    flow = make_flow(rotate(landers=[{"lander_id": "lnd_1", "weight": 1}], offers=[{"offer_id": "off_a", "weight": 1}]))
    d = run(flow)
    assert (d.stream_id, d.lander_id, d.offer_id) == ("str_rotate", "lnd_1", "off_a")
    lp_click = f"{BASE}/lp/click?click_id={CLICK_ID}".replace(":", "%3A").replace("/", "%2F")
    lp_click = lp_click.replace("?", "%3F").replace("=", "%3D")
    assert d.location == f"https://lp1.example/?next={lp_click}&s=s1&t=dark"
    cookies = {c.name: (c.value, c.max_age_seconds) for c in d.cookies}
    assert cookies == {"ctf_cmp_1": ("str_rotate.lnd_1.off_a", 3600)}
    assert d.click_cookie_s == 3600  # the gateway sets ctc (the click id) for the visitor window


def test_rotation_without_landers_goes_straight_to_the_offer():
    flow = make_flow(rotate(offers=[{"offer_id": "off_a", "weight": 1}]))
    d = run(flow)
    assert (d.lander_id, d.offer_id, d.location) == (None, "off_a", f"https://off_a.example/go?c={CLICK_ID}")
    assert [c.name for c in d.cookies] == ["ctf_cmp_1"]
    assert d.click_cookie_s == 0  # no lander: no click-through to continue


def test_weighted_split_within_binomial_tolerance():
    flow = make_flow(rotate(offers=[{"offer_id": "off_a", "weight": 3}, {"offer_id": "off_b", "weight": 1}]))
    rng = random.Random(12345)
    n = 20_000
    to_a = sum(run(flow, rng=rng).offer_id == "off_a" for _ in range(n))
    p = 0.75
    sigma = math.sqrt(n * p * (1 - p))
    assert abs(to_a - n * p) < 5 * sigma, (to_a, n * p, sigma)


def test_capped_offer_is_skipped_for_the_next():
    flow = make_flow(rotate(offers=[{"offer_id": "off_a", "weight": 100}, {"offer_id": "off_b", "weight": 1}]))
    for seed in range(50):
        assert run(flow, capped=lambda o: o == "off_a", rng=random.Random(seed)).offer_id == "off_b"


def test_inactive_or_other_country_offers_are_not_eligible():
    offers = {"off_a": offer("off_a", active=False), "off_b": offer("off_b", countries=frozenset({"US"})),
              "off_c": offer("off_c", countries=frozenset({"DE"}))}  # fmt: skip
    rows = [{"offer_id": o, "weight": 1} for o in offers]
    flow = make_flow(rotate(offers=rows), offers=offers)
    assert {run(flow, rng=random.Random(s)).offer_id for s in range(30)} == {"off_c"}


def test_no_eligible_offer_follows_the_cap_action():
    redirect = {"off_a": offer("off_a", cap_action=apb.CAP_ACTION_REDIRECT, cap_url="https://capped.example/")}
    flow = make_flow(rotate(landers=[{"lander_id": "lnd_1", "weight": 1}], offers=[{"offer_id": "off_a", "weight": 1}]),
                     offers=redirect)  # fmt: skip
    d = run(flow, capped=lambda _o: True)
    assert (d.location, d.outcome, d.lander_id, d.offer_id) == (
        "https://capped.example/", pb.TOUCH_OUTCOME_RECORDED, None, None,
    )  # fmt: skip
    for action in (apb.CAP_ACTION_FALLBACK, apb.CAP_ACTION_NEXT_OFFER):
        flow = make_flow(
            rotate(offers=[{"offer_id": "off_a", "weight": 1}]), offers={"off_a": offer("off_a", cap_action=action)}
        )
        d = run(flow, capped=lambda _o: True)
        assert (d.location, d.outcome, d.offer_id) == (FALLBACK_URL, pb.TOUCH_OUTCOME_FALLBACK, None)


def test_returning_visitor_keeps_the_choice_while_it_stays_eligible():
    both = [{"offer_id": "off_a", "weight": 1}, {"offer_id": "off_b", "weight": 1}]
    landers = [{"lander_id": "lnd_1", "weight": 1}, {"lander_id": "lnd_2", "weight": 1}]
    flow = make_flow(rotate(landers=landers, offers=both))
    back = Visitor(True, Choice("str_rotate", "lnd_2", "off_b"))
    for seed in range(30):
        d = run(flow, visitor=back, rng=random.Random(seed))
        assert (d.lander_id, d.offer_id) == ("lnd_2", "off_b")
    # The offer capped since: a new offer, the lander kept.
    for seed in range(30):
        d = run(flow, visitor=back, capped=lambda o: o == "off_b", rng=random.Random(seed))
        assert (d.lander_id, d.offer_id) == ("lnd_2", "off_a")
    # Another stream's choice is not kept; a lander out of the rotation is re-chosen.
    elsewhere = Visitor(True, Choice("str_gone", "lnd_2", "off_b"))
    assert {run(flow, visitor=elsewhere, rng=random.Random(s)).offer_id for s in range(40)} == {"off_a", "off_b"}
    only_1 = make_flow(rotate(landers=[{"lander_id": "lnd_1", "weight": 1}], offers=both))
    assert run(only_1, visitor=back).lander_id == "lnd_1"


def test_fallback_action_and_url_macros():
    d = run(make_flow(stream("str_fb", action=apb.STREAM_ACTION_FALLBACK, url="")))
    assert (d.stream_id, d.location, d.outcome) == ("str_fb", FALLBACK_URL, pb.TOUCH_OUTCOME_FALLBACK)


def test_offer_url_gets_the_click_id_appended_when_it_has_no_macro_for_it():
    o = offer("off_x", url="https://net.example/o?aff=7&s={sub1}")
    assert render_offer_url(o, VALUES) == f"https://net.example/o?aff=7&s=s1&click_id={CLICK_ID}"
    flow = make_flow(rotate(offers=[{"offer_id": "off_x", "weight": 1}]), offers={"off_x": o})
    pick = choose_offer(flow, flow.streams[0], "DE", nothing_capped, random.Random(1), keep=None)
    assert pick.offer == o


def test_click_values_from_a_click_row():
    row = {k: None for k in ("app_id", "partner_click_id", "os_version", "device_model", "idfa", "gaid")}
    row |= {f"sub{i}": None for i in range(1, 11)}
    row |= {
        "click_id": CLICK_ID, "campaign_id": "cmp_1", "link_id": "lnk_1", "partner_id": "prt_1", "country": "DE",
        "os": "Android", "browser": "Chrome", "sub1": "s1", "device_type": pb.DEVICE_TYPE_MOBILE,
        "ip": ipaddress.ip_address("203.0.113.7"), "create_time": NOON_UTC,
    }  # fmt: skip
    values = click_values(row)
    assert (values["click_id"], values["sub1"], values["device_type"], values["ip"]) == (
        CLICK_ID, "s1", "mobile", "203.0.113.7",
    )  # fmt: skip
    assert values["timestamp"] == str(int(NOON_UTC.timestamp()))


def test_flow_cookie_round_trip():
    for choice in (Choice("str_1", "lnd_1", "off_1"), Choice("str_1", None, None)):
        assert parse_cookie(format_cookie(choice)) == choice
    assert parse_cookie("garbage") is None
    assert parse_cookie("..") is None


def test_url_templates_render_as_expand_does():
    values = {"click_id": CLICK_ID, "sub1": "a b&c", "sub2": "", "country": "DE", "os": None}
    templates = [
        "https://x.example/?c={click_id}&s={sub1}&t={sub2}&o={os}&u={unknown}#f-{country}",
        "https://x.example/plain", "{click_id}", "https://x.example/{sub1}{sub1}",
    ]  # fmt: skip
    for t in templates:
        assert UrlTemplate(t).render(values) == expand(t, values), t
    bound = UrlTemplate("https://lp.example/?t={theme}&c={click_id}&n={next}", {"theme": "dark blue"})
    assert bound.render(values, "next", "ENC%2F") == f"https://lp.example/?t=dark%20blue&c={CLICK_ID}&n=ENC%2F"


def test_filters_shared_by_streams_keep_each_stream_its_own_answer():
    shared = ("country", False, ["DE"])
    flow = make_flow(
        stream("str_a", shared, ("sub1", False, ["other"]), position=1),
        stream("str_b", ("country", True, ["DE"]), ("os", False, ["android"]), position=2),
        stream("str_c", shared, ("os", False, ["android"]), position=3),
        stream("str_d", shared, position=4),
    )
    assert run(flow).stream_id == "str_c"
    assert run(flow, facts(os="iOS")).stream_id == "str_d"
    assert run(flow, facts(country="FR")).stream_id == "str_b"
    assert run(flow, facts(country="FR", os="iOS")).stream_id is None


def test_param_filters_read_the_query_as_sent_decoded():
    assert winner(("param.q", False, ["a b/c"]), facts(raw_query=b"q=a+b%2Fc&q=other")) == "str_filtered"
    assert winner(("param.flag", False, [""]), facts(raw_query=b"flag&x=1")) == "str_filtered"
    assert winner(("param.Zone", False, ["42"]), facts(raw_query=b"zone=42")) == "str_default"  # names as sent


def test_ip_filters_keep_the_two_versions_apart_and_many_ranges_hold_as_few():
    v4 = ("ip", False, ["10.0.0.0/8"])
    # ::a00:1 is the number of 10.0.0.1 as an IPv6 address: not in an IPv4 range, nor the reverse.
    assert winner(v4, facts(ip=ipaddress.ip_address("::a00:1"))) == "str_default"
    assert winner(v4, facts(ip=ipaddress.ip_address("10.0.0.1"))) == "str_filtered"
    assert winner(("ip", False, ["::/96"]), facts(ip=ipaddress.ip_address("10.0.0.1"))) == "str_default"
    assert winner(("ip", False, ["::/96"]), facts(ip=ipaddress.ip_address("::a00:1"))) == "str_filtered"
    # More ranges than are tested inline (a bisect over them), v4 and v6, overlapping and adjacent.
    many = [f"10.{n}.0.0/16" for n in range(0, 20, 2)] + [
        "10.3.0.0/16",
        "10.4.0.0/15",
        "2001:db8::/32",
        "2001:db9::/48",
    ]
    for address, inside in [
        ("10.0.0.1", True), ("10.1.255.255", False), ("10.3.1.1", True), ("10.5.0.0", True), ("10.18.9.9", True),
        ("10.19.0.0", False), ("9.255.255.255", False), ("11.0.0.0", False), ("2001:db8::5", True),
        ("2001:db9::1", True), ("2001:db9:1::1", False), ("::a00:1", False),
    ]:  # fmt: skip
        f = facts(ip=ipaddress.ip_address(address))
        assert winner(("ip", False, many), f) == ("str_filtered" if inside else "str_default"), address
        assert winner(("ip", True, many), f) == ("str_default" if inside else "str_filtered"), address


def test_language_regions_and_no_language():
    assert winner(("language", False, ["pt-BR"]), facts(accept_language="pt")) == "str_default"
    assert winner(("language", False, ["pt-BR"]), facts(accept_language="pt-PT")) == "str_default"
    assert winner(("language", False, ["zh"]), facts(accept_language="fr;q=0,zh-TW;q=0.9")) == "str_filtered"
    assert winner(("language", False, ["de"]), facts(accept_language="")) == "str_default"
    assert winner(("language", True, ["de"]), facts(accept_language="")) == "str_filtered"
    long_header = "de-DE," + ",".join(f"x{n:03d};q=0.1" for n in range(40))  # past the cached length
    assert len(long_header) > 256
    assert winner(("language", False, ["de"]), facts(accept_language=long_header)) == "str_filtered"
    assert winner(("language", False, ["fr"]), facts(accept_language=long_header)) == "str_default"


def test_views_a_later_stream_reads_are_worked_out_there_when_an_earlier_stream_skipped_them():
    """A view (here the referrer's host) first read in streams whose earlier test
    failed is worked out by the next stream that reads it: the selector's views
    are per click and lazy."""
    flow = make_flow(
        stream("str_a", ("country", False, ["US"]), ("referrer", False, ["a.example"]), position=1),
        stream("str_b", ("os", False, ["ios"]), ("referrer", False, ["b.example"]), position=2),
        stream("str_c", ("referrer", False, ["news.example"]), position=3),
    )
    assert run(flow).stream_id == "str_c"
    assert run(flow, facts(country="US", referrer="https://a.example/")).stream_id == "str_a"
    assert run(flow, facts(country="US", os="iOS", referrer="https://x.b.example/")).stream_id == "str_b"
    assert run(flow, facts(country="US", os="iOS")).stream_id == "str_c"
    assert run(flow, facts(referrer="https://other.example/")).stream_id is None
    assert "news.example" not in flow.select.source  # values are bound by name, never source text


def test_every_offer_eligible_draws_as_choose_offer_does():
    """With nothing capped and every offer active and open to every country, decide()
    draws from the stream's table without choose_offer's walk: same offers, same draws."""
    offers = [
        {"offer_id": "off_a", "weight": 5},
        {"offer_id": "off_b", "weight": 3},
        {"offer_id": "off_c", "weight": 2},
    ]
    flow = make_flow(rotate(offers=offers))
    assert flow.open_offers == {0}
    for seed in range(200):
        expected = choose_offer(flow, flow.streams[0], "DE", nothing_capped, random.Random(seed)).offer
        assert expected is not None
        assert run(flow, rng=random.Random(seed)).offer_id == expected.offer_id
    # An offer closed to some countries: the walk, as before.
    limited = {**OFFERS, "off_b": offer("off_b", countries=frozenset({"US"}))}
    flow = make_flow(rotate(offers=offers), offers=limited)
    assert flow.open_offers == frozenset()
    assert {run(flow, rng=random.Random(s)).offer_id for s in range(60)} == {"off_a", "off_c"}


def test_the_flow_cookie_is_made_once_per_choice():
    flow = make_flow(rotate(offers=[{"offer_id": "off_a", "weight": 1}]))
    first, second = run(flow), run(flow)
    assert first.choice == second.choice == "str_rotate.-.off_a"
    assert first.cookies[0] is second.cookies[0]
    assert (first.cookies[0].name, first.cookies[0].value, first.cookies[0].max_age_seconds) == (
        "ctf_cmp_1", "str_rotate.-.off_a", 3600,
    )  # fmt: skip
