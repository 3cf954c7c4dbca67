"""PostbackFormatService: a partner's postback format (parameter aliases and status
words, optionally on a preset), and the built-in presets. The rules of what a
format means are in postback_formats.py; which format reads a postback, in inbound.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import asyncpg
import grpc
import orjson
from clicktrail.attribution.v1 import config_pb2 as pb
from clicktrail.attribution.v1 import config_pb2_grpc as pb_grpc

from libs import auth
from libs.api import update_paths
from libs.errors import InvalidArgument, NotFound
from libs.paging import Page
from services.attribution.campaigns import Campaigns
from services.attribution.postback_formats import (
    NAME_OF_STATUS,
    Format,
    FormatStore,
    Preset,
    check_aliases,
    check_words,
    format_of_row,
)

UPDATABLE = ("preset_id", "aliases", "status_words")

UPSERT_SQL = """
INSERT INTO attribution.postback_formats (account_id, partner_id, preset_id, aliases, status_words)
VALUES ($1, $2, $3, $4::jsonb, $5::jsonb)
ON CONFLICT (account_id, partner_id) DO UPDATE
SET preset_id = EXCLUDED.preset_id, aliases = EXCLUDED.aliases, status_words = EXCLUDED.status_words,
    update_time = clock_timestamp()
RETURNING *
"""


def _aliases_msg(aliases: Mapping[str, tuple[str, ...]]) -> list[pb.ParameterAliases]:
    return [pb.ParameterAliases(field=f, params=list(names)) for f, names in aliases.items() if names]


def _words_msg(words: Mapping[str, int]) -> dict[str, str]:
    return {w: NAME_OF_STATUS[s] for w, s in words.items()}


def format_msg(f: Format) -> pb.PostbackFormat:
    m = pb.PostbackFormat(partner_id=f.partner_id, preset_id=f.preset_id, aliases=_aliases_msg(f.aliases))
    m.status_words.update(_words_msg(f.words))
    if f.create_time is not None:
        m.create_time.FromDatetime(f.create_time.astimezone(dt.UTC))
        m.update_time.FromDatetime(f.update_time.astimezone(dt.UTC))
    return m


def preset_msg(p: Preset) -> pb.PostbackPreset:
    m = pb.PostbackPreset(preset_id=p.preset_id, name=p.name, kind=p.kind, aliases=_aliases_msg(p.aliases),
                          sources=list(p.sources), notes=p.notes)  # fmt: skip
    m.status_words.update(_words_msg(p.words))
    return m


class PostbackFormatService(pb_grpc.PostbackFormatServiceServicer):
    def __init__(self, pool: asyncpg.Pool, links: Campaigns, store: FormatStore) -> None:
        self._pool = pool
        self._links = links
        self._store = store

    async def _row(self, account_id: str, partner_id: str) -> asyncpg.Record | None:
        return await self._pool.fetchrow(
            "SELECT * FROM attribution.postback_formats WHERE account_id = $1 AND partner_id = $2",
            account_id,
            partner_id,
        )

    async def GetPostbackFormat(
        self, request: pb.GetPostbackFormatRequest, context: Any
    ) -> pb.GetPostbackFormatResponse:
        account_id = auth.require_account()
        if not request.partner_id:
            raise InvalidArgument("partner_id", "is required")
        row = await self._row(account_id, request.partner_id)
        if row is None:
            raise NotFound(f"partner {request.partner_id[:64]!r} has no postback format (it uses the defaults)")
        return pb.GetPostbackFormatResponse(format=format_msg(format_of_row(row)))

    async def ListPostbackFormats(
        self, request: pb.ListPostbackFormatsRequest, context: Any
    ) -> pb.ListPostbackFormatsResponse:
        account_id = auth.require_account()
        page = Page.of(request, "after")
        rows = await self._pool.fetch(
            "SELECT * FROM attribution.postback_formats WHERE account_id = $1 AND partner_id > $2"
            " ORDER BY partner_id LIMIT $3",
            account_id,
            "" if page.first else page.get("after", "", str),
            page.limit,
        )
        rows, token = page.cut(rows, lambda r: {"after": r["partner_id"]})
        return pb.ListPostbackFormatsResponse(formats=[format_msg(format_of_row(r)) for r in rows],
                                              next_page_token=token)  # fmt: skip

    async def UpdatePostbackFormat(
        self, request: pb.UpdatePostbackFormatRequest, context: Any
    ) -> pb.UpdatePostbackFormatResponse:
        account_id = auth.require_account()
        fmt = request.format
        if not fmt.partner_id:
            raise InvalidArgument("format.partner_id", "is required")
        paths = update_paths(request.update_mask, fmt, UPDATABLE) if request.update_mask.paths else list(UPDATABLE)
        current = await self._row(account_id, fmt.partner_id)
        if current is None:
            if not request.allow_missing:
                raise NotFound(f"partner {fmt.partner_id[:64]!r} has no postback format; set allow_missing to create")
            await self._check_partner(account_id, fmt.partner_id)
            old = Format(fmt.partner_id)
        else:
            old = format_of_row(current)
        preset_id, aliases, words = old.preset_id, dict(old.aliases), dict(old.words)
        if "preset_id" in paths:
            preset_id = fmt.preset_id.strip().lower()
            if preset_id and preset_id not in self._store.presets:
                raise InvalidArgument("format.preset_id", f"{fmt.preset_id[:40]!r} is not a preset"
                                      " (ListPostbackPresets)")  # fmt: skip
        if "aliases" in paths:
            aliases = check_aliases([(a.field, list(a.params)) for a in fmt.aliases], "format.aliases")
        if "status_words" in paths:
            words = check_words(dict(fmt.status_words), "format.status_words")
        row = await self._pool.fetchrow(
            UPSERT_SQL, account_id, fmt.partner_id, preset_id, orjson.dumps(aliases).decode(),
            orjson.dumps(words).decode(),
        )  # fmt: skip
        self._store.invalidate(account_id)
        return pb.UpdatePostbackFormatResponse(format=format_msg(format_of_row(row)))

    async def DeletePostbackFormat(
        self, request: pb.DeletePostbackFormatRequest, context: Any
    ) -> pb.DeletePostbackFormatResponse:
        account_id = auth.require_account()
        if not request.partner_id:
            raise InvalidArgument("partner_id", "is required")
        deleted = await self._pool.fetchval(
            "DELETE FROM attribution.postback_formats WHERE account_id = $1 AND partner_id = $2 RETURNING 1",
            account_id,
            request.partner_id,
        )
        if deleted is None:
            raise NotFound(f"partner {request.partner_id[:64]!r} has no postback format")
        self._store.invalidate(account_id)
        return pb.DeletePostbackFormatResponse()

    async def ListPostbackPresets(
        self, request: pb.ListPostbackPresetsRequest, context: Any
    ) -> pb.ListPostbackPresetsResponse:
        auth.require_account()
        presets = sorted(self._store.presets.values(), key=lambda p: p.preset_id)
        return pb.ListPostbackPresetsResponse(presets=[preset_msg(p) for p in presets])

    async def _check_partner(self, account_id: str, partner_id: str) -> None:
        """A new format names a partner of the account (links GetPartner)."""
        if not await self._links.partner_exists(account_id, partner_id):
            raise InvalidArgument("format.partner_id", f"{partner_id[:64]!r} is not a partner of the account")


def register(server: grpc.aio.Server, pool: asyncpg.Pool, links: Campaigns, store: FormatStore) -> list[str]:
    pb_grpc.add_PostbackFormatServiceServicer_to_server(PostbackFormatService(pool, links, store), server)
    return [pb.DESCRIPTOR.services_by_name["PostbackFormatService"].full_name]
