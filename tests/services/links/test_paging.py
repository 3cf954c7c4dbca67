"""libs.paging: the one keyset-paging helper (pure: no database)."""

import dataclasses

import pytest

from libs.errors import InvalidArgument
from libs.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, decode_token, encode_token, page_size


@dataclasses.dataclass
class Req:
    page_size: int = 0
    page_token: str = ""


def _field(exc: pytest.ExceptionInfo[InvalidArgument]) -> str:
    return exc.value.violations[0][0]


def test_page_size_default_clamp_and_negative() -> None:
    assert page_size(0) == DEFAULT_PAGE_SIZE == 50
    assert page_size(5000) == MAX_PAGE_SIZE == 1000
    assert page_size(7) == 7
    assert page_size(0, default=20, maximum=100) == 20
    with pytest.raises(InvalidArgument) as e:
        Page.of(Req(page_size=-1))
    assert _field(e) == "page_size"


def test_tokens_round_trip_in_todays_format() -> None:
    token = encode_token({"after": "app_1"})
    assert token == "eyJhZnRlciI6ImFwcF8xIn0"  # unpadded url-safe base64 of compact JSON
    assert decode_token(token, "after") == {"after": "app_1"}
    assert decode_token("") is None


@pytest.mark.parametrize("token", ["%%%", encode_token({"before": 1}), "WzFd", "bm90IGpzb24"])
def test_a_foreign_or_broken_token_names_page_token(token: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        Page.of(Req(page_token=token), "after")
    assert _field(e) == "page_token"


def test_keyset_cut_fetches_one_more_to_know_of_a_next_page() -> None:
    page = Page.of(Req(page_size=2), "after")
    assert page.first and page.limit == 3 and page.get("after", "") == ""
    rows, token = page.cut([{"id": "a"}, {"id": "b"}, {"id": "c"}], lambda r: {"after": r["id"]})
    assert [r["id"] for r in rows] == ["a", "b"]
    nxt = Page.of(Req(page_size=2, page_token=token), "after")
    assert nxt.get("after") == "b" and not nxt.first
    rows, token = nxt.cut([{"id": "c"}], lambda r: {"after": r["id"]})
    assert [r["id"] for r in rows] == ["c"] and token == ""


def test_get_converts_and_refuses_values_it_cannot() -> None:
    page = Page.of(Req(page_token=encode_token({"n": "12", "t": "x"})), "n")
    assert page.get("n", convert=int) == 12
    with pytest.raises(InvalidArgument) as e:
        page.get("t", convert=int)
    assert _field(e) == "page_token"
    with pytest.raises(InvalidArgument):
        page.get("missing")


def test_offset_slices_and_bound_tokens() -> None:
    items = list(range(5))
    page = Page.of(Req(page_size=2), "offset")
    got, token = page.slice(items, q="fp")
    assert got == [0, 1] and decode_token(token) == {"offset": 2, "q": "fp"}
    second = Page.of(Req(page_size=2, page_token=token), "offset", "q")
    second.expect("q", "fp", "belongs to a different report")
    with pytest.raises(InvalidArgument) as e:
        second.expect("q", "other", "belongs to a different report")
    assert e.value.violations == [("page_token", "belongs to a different report")]
    got, token = Page.of(Req(page_size=3, page_token=token)).slice(items)
    assert got == [2, 3, 4] and token == ""
    with pytest.raises(InvalidArgument):
        _ = Page.of(Req(page_token=encode_token({"offset": -3}))).offset
