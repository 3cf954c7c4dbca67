import datetime as dt
import re
import time
from urllib.parse import parse_qs, urlsplit

from hypothesis import given
from hypothesis import strategies as st

from libs.ids import ID_LEN, id_time, is_valid_id, new_id, new_resource_id
from libs.macros import append_query_param, check_url_template, expand, unknown_macros


def test_ids_are_time_ordered_url_safe_and_carry_their_time():
    ids = [new_id(ms) for ms in range(1_700_000_000_000, 1_700_000_000_100)]
    assert ids == sorted(ids)
    assert all(re.fullmatch(r"[0-9a-z]{26}", i) for i in ids)
    now_ms = time.time_ns() // 1_000_000
    i = new_id(now_ms)
    assert id_time(i) == dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=now_ms)
    assert is_valid_id(i) and len(i) == ID_LEN


def test_ids_have_80_random_bits():
    same_ms = {new_id(1_700_000_000_000) for _ in range(5000)}
    assert len(same_ms) == 5000
    # The random tail differs in its high bits too (not a counter).
    assert len({i[10:13] for i in same_ms}) > 1000


def test_resource_ids_are_prefixed():
    assert new_resource_id("cmp").startswith("cmp_")
    assert not is_valid_id("not-an-id") and not is_valid_id("z" * 26)


def test_expand_url_encodes_every_value():
    out = expand("https://x.test/p?a={sub1}&b={sub2}&c={missing}", {"sub1": "a b&c=d#e/f", "sub2": None})
    assert out == "https://x.test/p?a=a%20b%26c%3Dd%23e%2Ff&b=&c="


@given(st.text(max_size=200))
def test_no_value_can_change_the_host_or_add_parameters(value):
    out = expand("https://dest.test/land?s={sub1}", {"sub1": value})
    parts = urlsplit(out)
    assert parts.netloc == "dest.test"
    assert set(parse_qs(parts.query, keep_blank_values=True)) <= {"s"}
    assert "\r" not in out and "\n" not in out


def test_append_query_param_keeps_fragment():
    assert append_query_param("https://a.test/x", "click_id", "1") == "https://a.test/x?click_id=1"
    assert append_query_param("https://a.test/x?y=2#frag", "click_id", "1") == "https://a.test/x?y=2&click_id=1#frag"
    assert append_query_param("https://a.test/x?", "k", "v") == "https://a.test/x?k=v"


def test_check_url_template():
    allowed = ("click_id", "sub1")
    assert check_url_template("https://a.test/{click_id}?s={sub1}", allowed) is None
    assert "unknown macros: {nope}" in check_url_template("https://a.test/{nope}", allowed)
    assert "scheme or host" in check_url_template("https://{sub1}.evil.test/", allowed)
    assert "http" in check_url_template("{sub1}", allowed)  # no scheme: refused
    assert "http" in check_url_template("javascript:alert(1)", allowed)
    assert "http" in check_url_template("ftp://a.test/", allowed)
    assert check_url_template("", allowed) == "is required"
    assert unknown_macros("{a}{b}{a}", ["b"]) == ["a"]
