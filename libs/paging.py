"""The one paging helper of every List RPC (AIP-158 ``page_size`` / ``page_token``
/ ``next_page_token``).

A page token is an opaque cursor: the url-safe base64 (unpadded) of a small JSON
object naming where the next page starts. Keyset paging asks the store for one
row more than the page holds, to know whether there is a next page::

    page = Page.of(request, "after")                 # validates page_size and page_token
    rows = await conn.fetch(SQL, account_id, page.get("after", ""), page.limit)
    rows, token = page.cut(rows, lambda r: {"after": r["app_id"]})
    return pb.ListAppsResponse(apps=[app(r) for r in rows], next_page_token=token)

Lists computed in memory page by offset: ``items, token = page.slice(entries)``.
A bad size or token is INVALID_ARGUMENT naming ``page_size`` / ``page_token``.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

import orjson

from libs.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
NOT_FROM_A_PAGE = "is not a token from a previous page"

T = TypeVar("T")
_MISSING: Any = object()


class PagedRequest(Protocol):
    page_size: int
    page_token: str


def page_size(value: int, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE) -> int:
    """The size of a page: ``default`` for 0, at most ``maximum``; negative is refused."""
    if value < 0:
        raise InvalidArgument("page_size", "must not be negative")
    if value == 0:
        return default
    return min(value, maximum)


def bad_token(description: str = NOT_FROM_A_PAGE) -> InvalidArgument:
    return InvalidArgument("page_token", description)


def encode_token(cursor: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(dict(cursor))).decode().rstrip("=")


def decode_token(token: str, *keys: str) -> dict[str, Any] | None:
    """The cursor in a page token (it must name every one of ``keys``); None for the first page."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        cursor = orjson.loads(raw)
        if not isinstance(cursor, dict) or any(k not in cursor for k in keys):
            raise ValueError
        return cursor
    except (ValueError, orjson.JSONDecodeError):
        raise bad_token() from None


@dataclasses.dataclass(frozen=True)
class Page:
    """One page asked for: its ``size`` and the ``cursor`` of the previous page's
    token (None on the first page)."""

    size: int
    cursor: dict[str, Any] | None = None

    @classmethod
    def of(
        cls,
        request: PagedRequest,
        *keys: str,
        default: int = DEFAULT_PAGE_SIZE,
        maximum: int = MAX_PAGE_SIZE,
    ) -> Page:
        """The page a List request asks for; its token must carry ``keys``."""
        size = page_size(request.page_size, default, maximum)
        return cls(size, decode_token(request.page_token, *keys))

    @property
    def first(self) -> bool:
        return self.cursor is None

    @property
    def limit(self) -> int:
        """How many rows to fetch: one more than the page, to see if another follows."""
        return self.size + 1

    def get(self, key: str, default: Any = None, convert: Callable[[Any], Any] | None = None) -> Any:
        """A cursor value (``default`` on the first page), through ``convert`` when
        given; a value it cannot convert means a forged or foreign token."""
        if self.cursor is None:
            return default
        value = self.cursor.get(key, _MISSING)
        if value is _MISSING:
            raise bad_token()
        if convert is None:
            return value
        try:
            return convert(value)
        except (TypeError, ValueError, ArithmeticError):
            raise bad_token() from None

    def expect(self, key: str, value: Any, description: str) -> None:
        """Refuses a token whose ``key`` is not ``value`` (e.g. a fingerprint of the
        request it was made for) with ``description``."""
        if self.cursor is not None and self.cursor.get(key) != value:
            raise bad_token(description)

    def cut(self, rows: Sequence[T], cursor_of: Callable[[T], Mapping[str, Any]]) -> tuple[list[T], str]:
        """The page's rows (``rows`` was fetched with ``limit``) and the next page's
        token, made from the last row kept; "" when no row follows."""
        if len(rows) > self.size:
            return list(rows[: self.size]), encode_token(cursor_of(rows[self.size - 1]))
        return list(rows), ""

    @property
    def offset(self) -> int:
        """Offset paging: where this page starts (the token's ``offset``)."""
        return int(self.get("offset", 0, _offset))

    def slice(self, items: Sequence[T], **extra: Any) -> tuple[list[T], str]:
        """Offset paging of a list computed in memory: this page of ``items`` and the
        next token (``{"offset": ..., **extra}``), "" at the end."""
        start = self.offset
        end = start + self.size
        token = encode_token({"offset": end, **extra}) if end < len(items) else ""
        return list(items[start:end]), token


def _offset(value: Any) -> int:
    out = int(value)
    if out < 0:
        raise ValueError
    return out
