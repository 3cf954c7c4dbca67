"""The flow filters' pure rules: value parsing and normalisation, schedules,
and the filter sets that can never match (unit tier: no database)."""

import pytest
from clicktrail.links.v1 import affiliate_pb2 as apb

from libs.errors import Validator
from services.links import affiliate_rules as r
from services.links.domains import normalise_domain


def checked(*filters):
    """(violations by field, stored filters) of StreamFilter triples."""
    v = Validator()
    stored = r.check_filters(
        v, "stream.filters", [apb.StreamFilter(field=f, exclude=x, values=vals) for f, x, vals in filters]
    )
    return dict(v.violations), stored


@pytest.mark.parametrize(
    ("text", "canonical", "holds", "not_holds"),
    [
        ("mon-fri 09:00-18:00", "mon-fri 09:00-18:00", [(0, 9 * 60), (4, 18 * 60 - 1)], [(5, 600), (0, 18 * 60)]),
        ("sat,sun", "sat-sun 00:00-24:00", [(5, 0), (6, 1439)], [(0, 600)]),
        ("22:00-06:00", "mon-sun 22:00-06:00", [(2, 23 * 60), (3, 5 * 60)], [(2, 12 * 60)]),
        ("fri 22:00-02:00", "fri 22:00-02:00", [(4, 23 * 60), (5, 60)], [(3, 60), (5, 23 * 60)]),
        ("Sun-Tue  08:30-24:00", "mon-tue,sun 08:30-24:00", [(6, 600), (0, 1439)], [(2, 600)]),
    ],
)
def test_schedules_parse_normalise_and_hold(text, canonical, holds, not_holds):
    s = r.parse_schedule(text)
    assert r.format_schedule(s) == canonical
    assert r.parse_schedule(canonical) == s
    assert all(r.schedule_holds(s, d, m) for d, m in holds)
    assert not any(r.schedule_holds(s, d, m) for d, m in not_holds)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("10:00-10:00", "empty"),
        ("funday 10:00-11:00", "not a day"),
        ("mon 25:00-26:00", "between 00:00 and 24:00"),
        ("mon 09:60-10:00", "between 00:00 and 24:00"),
        ("mon 24:00-10:00", "between 00:00 and 24:00"),
        ("mon 9am-5pm", "not a time"),
        ("mon 09:00", "not a time range"),
        ("", "empty"),
    ],
)
def test_bad_schedules_say_why(text, why):
    with pytest.raises(ValueError, match=why):
        r.parse_schedule(text)


def test_values_are_normalised_as_stored():
    n = r.normalise_filter_value
    assert n("country", " de ") == "DE" and n("country", "") == ""
    assert n("device_type", "Mobile") == "mobile" and n("verdict", "INVALID") == "invalid"
    assert n("os", "iOS") == "ios" and n("browser", "Chrome Mobile") == "chrome mobile"
    assert n("language", "pt_br") == "pt-BR" and n("language", "EN") == "en" and n("language", "zh-hant") == "zh-Hant"
    assert n("ip", "10.1.2.3/8") == "10.0.0.0/8" and n("ip", "1.2.3.4") == "1.2.3.4/32"
    assert n("ip", "2001:DB8::/32") == "2001:db8::/32"
    assert n("referrer", "https://WWW.Example.com/path?q=1") == "www.example.com" and n("referrer", "") == ""
    assert n("sub1", " Keep Me ") == " Keep Me " and n("param.utm_source", "") == ""
    for field, value in (("country", "XX"), ("device_type", "phone"), ("visitor", "old"), ("ip", "10.0.0.0/33"),
                         ("language", "english"), ("referrer", "bad host!")):  # fmt: skip
        with pytest.raises(ValueError):
            n(field, value)


def test_languages_and_referrers_match_as_documented():
    assert r.accept_languages("pt-br,pt;q=0.9,en-US;q=0.8,de;q=0,*;q=0.1") == ["pt-BR", "pt", "en-US"]
    assert r.language_matches("pt", "pt-BR") and r.language_matches("pt-BR", "pt-BR")
    assert not r.language_matches("pt-BR", "pt") and not r.language_matches("pt", "pl")
    assert r.referrer_matches("example.com", "www.example.com") and r.referrer_matches("", "")
    assert not r.referrer_matches("example.com", "badexample.com") and not r.referrer_matches("", "a.com")


def test_filters_are_stored_normalised_and_deduplicated():
    violations, stored = checked(
        ("Country", False, ["us", "US", "de"]), ("param.src", True, ["", "x"]), ("SUB3", False, ["a"])
    )
    assert violations == {}
    assert stored == [
        {"field": "country", "exclude": False, "values": ["US", "DE"]},
        {"field": "param.src", "exclude": True, "values": ["", "x"]},
        {"field": "sub3", "exclude": False, "values": ["a"]},
    ]


def test_bad_filters_name_the_field():
    violations, _ = checked(
        ("colour", False, ["red"]),
        ("country", False, []),
        ("ip", False, ["10.0.0.0/8", "nope"]),
        ("schedule", False, ["10:00-10:00"]),
        ("param.", False, ["x"]),
    )
    assert set(violations) == {
        "stream.filters[0].field", "stream.filters[1].values", "stream.filters[2].values[1]",
        "stream.filters[3].values[0]", "stream.filters[4].field",
    }  # fmt: skip
    assert "empty" in violations["stream.filters[3].values[0]"]


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        # Two include filters on one field without a value in common.
        ([("country", False, ["US"]), ("country", False, ["DE", "FR"])], "stream.filters[1].values"),
        ([("ip", False, ["10.0.0.0/8"]), ("ip", False, ["192.168.0.0/16"])], "stream.filters[1].values"),
        ([("referrer", False, ["a.com"]), ("referrer", False, ["b.com"])], "stream.filters[1].values"),
        # An exclude filter listing every value of a closed vocabulary.
        ([("verdict", True, ["clean", "suspicious", "invalid"])], "stream.filters[0].values"),
        ([("visitor", True, ["new"]), ("visitor", True, ["returning"])], "stream.filters[1].values"),
        ([("device_type", True, ["desktop", "mobile", "tablet", "bot", "other"])], "stream.filters[0].values"),
        # An include and an exclude cancelling out.
        ([("sub1", False, ["a"]), ("sub1", True, ["a", "b"])], "stream.filters[0].values"),
        ([("ip", False, ["10.1.0.0/16"]), ("ip", True, ["10.0.0.0/8"])], "stream.filters[0].values"),
        ([("language", False, ["pt-BR"]), ("language", True, ["pt"])], "stream.filters[0].values"),
        ([("referrer", False, ["www.a.com"]), ("referrer", True, ["a.com"])], "stream.filters[0].values"),
        ([("visitor", False, ["new"]), ("visitor", True, ["new"])], "stream.filters[0].values"),
        # Schedules that leave no time.
        ([("schedule", False, ["mon 09:00-10:00"]), ("schedule", False, ["tue"])], "stream.filters[1].values"),
        ([("schedule", True, ["mon-sun"])], "stream.filters[0].values"),
        ([("schedule", False, ["mon 09:00-12:00"]), ("schedule", True, ["08:00-13:00"])], "stream.filters[1].values"),
        ([("ip", True, ["0.0.0.0/0", "::/0"])], "stream.filters[0].values"),
    ],
)
def test_a_flow_that_can_never_match_is_refused(filters, field):
    violations, _ = checked(*filters)
    assert list(violations) == [field]
    assert "can never match" in violations[field]


@pytest.mark.parametrize(
    "filters",
    [
        [("country", False, ["US", "DE"]), ("country", False, ["DE"])],
        [("country", False, ["US"]), ("country", True, ["DE"])],
        [("ip", False, ["10.0.0.0/8"]), ("ip", True, ["10.1.0.0/16"])],
        [("language", False, ["en"]), ("language", False, ["de"])],  # several languages per click
        [("verdict", True, ["invalid", "suspicious"])],
        [("schedule", False, ["fri 22:00-02:00"]), ("schedule", False, ["sat"])],
        [("referrer", False, ["example.com"]), ("referrer", False, ["www.example.com"])],
    ],
)
def test_filters_that_can_hold_pass(filters):
    assert checked(*filters)[0] == {}


def test_domains_are_normalised_or_refused():
    assert normalise_domain("Track.Example.COM.") == "track.example.com"
    assert normalise_domain("bücher.example") == "xn--bcher-kva.example"
    too_long = ("a" * 60 + ".") * 5 + "com"
    for bad in ("track.example.com:8080", "https://track.example.com", "track.example.com/x", "10.0.0.1", "[::1]",
                "*.example.com", "localhost", "a" * 64 + ".com", too_long, "", "bad_host.com"):  # fmt: skip
        with pytest.raises(ValueError):
            normalise_domain(bad)
