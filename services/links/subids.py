"""Per campaign sub-id blacklists and whitelists, and the click-path check:
a click whose sub-id value is blacklisted (and matches nothing whitelisted)
is recorded but sent to the campaign's fallback URL.

The lists are cached per campaign like LinkCache caches slugs: writes in
this process clear the cache at once, other replicas see a change within
``ttl_s``. A campaign without entries costs the click path one dict look-up."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import asyncpg
from clicktrail.links.v1 import links_pb2 as pb

from libs.cache import TTLCache
from libs.vocab.subids import SUB_FIELDS_HELP, SUB_IDS, canonical_sub_field
from services.links.touches import LinkCache, parse_query

BLACKLIST = pb.SUB_ID_LIST_BLACKLIST
WHITELIST = pb.SUB_ID_LIST_WHITELIST
MAX_VALUE = 256  # the longest sub-id value the click path accepts (touches.MAX_VALUE)
MAX_REASON = 500
MAX_ENTRIES_PER_LIST = 10_000
MAX_NEEDLES = 16  # blacklisted values up to which the raw query is scanned before parsing

CampaignKey = tuple[str, str]  # (account_id, campaign_id)


__all__ = ["canonical_sub_field", "sub_field_choices"]


def sub_field_choices() -> str:
    return SUB_FIELDS_HELP


@dataclasses.dataclass(frozen=True, slots=True)
class CampaignLists:
    """One campaign's lists: per sub index (0..9), the listed values."""

    blocked: tuple[frozenset[str], ...]
    allowed: tuple[frozenset[str], ...]
    # The blacklisted values as UTF-8, for the pre-check on the raw query.
    needles: tuple[bytes, ...] = ()

    @classmethod
    def of(cls, blocked: Sequence[Iterable[str]], allowed: Sequence[Iterable[str]]) -> CampaignLists:
        b = tuple(frozenset(x) for x in blocked)
        values = {v for listed in b for v in listed}
        # A value holding U+FFFD (what bad UTF-8 decodes to) could match bytes that differ
        # from it: b"" is in every query, which turns the pre-check off.
        # So does a long list: a few set look-ups after parsing beat many substring scans.
        sure = len(values) <= MAX_NEEDLES and not any("\ufffd" in v for v in values)
        needles = tuple(sorted(v.encode() for v in values)) if sure else (b"",)
        return cls(b, tuple(frozenset(x) for x in allowed), needles)

    def may_block(self, raw_query: bytes) -> bool:
        """False when no blacklisted value can be in this query, so it need not be
        parsed. Without '%', '+' or NUL bytes the query decodes to itself (bad
        UTF-8 only adds U+FFFD, which a listed value never holds then), so every
        parsed sub-id value is a substring of it."""
        if b"%" in raw_query or b"+" in raw_query or b"\x00" in raw_query:
            return True
        return any(n in raw_query for n in self.needles)

    def blocks(self, subs: Sequence[str | None]) -> bool:
        hit = False
        for i, v in enumerate(subs):
            if v is None:
                continue
            if v in self.allowed[i]:
                return False
            if v in self.blocked[i]:
                hit = True
        return hit


LISTS_SQL = """
SELECT e.account_id, e.campaign_id, e.list, e.sub_field, e.value
FROM unnest($1::text[], $2::text[]) AS k(account_id, campaign_id)
JOIN links.sub_id_entries e USING (account_id, campaign_id)
"""


class SubIdListCache:
    """(account_id, campaign_id) -> CampaignLists, or None when the campaign
    blacklists nothing (whitelist entries alone change no click)."""

    def __init__(self, pool: asyncpg.Pool, ttl_s: float = 2.0, max_entries: int = 100_000) -> None:
        self._pool = pool
        self._entries: TTLCache[CampaignKey, CampaignLists | None] = TTLCache(ttl_s, maxsize=max_entries)

    def clear(self) -> None:
        self._entries.invalidate()

    async def get_many(self, keys: Iterable[CampaignKey]) -> dict[CampaignKey, CampaignLists | None]:
        return await self._entries.get_many_or_load(keys, self._load, None)

    async def _load(self, keys: list[CampaignKey]) -> dict[CampaignKey, CampaignLists | None]:
        rows = await self._pool.fetch(LISTS_SQL, [k[0] for k in keys], [k[1] for k in keys])
        sets: dict[CampaignKey, tuple[list[set[str]], list[set[str]]]] = {}
        for r in rows:
            blocked, allowed = sets.setdefault(
                (r["account_id"], r["campaign_id"]), ([set() for _ in SUB_IDS], [set() for _ in SUB_IDS])
            )
            (blocked if r["list"] == BLACKLIST else allowed)[SUB_IDS.index(r["sub_field"])].add(r["value"])
        # A campaign with nothing blacklisted has nothing to check (None).
        return {key: CampaignLists.of(*got) for key, got in sets.items() if any(got[0])}


async def divert_blacklisted(
    inputs: Sequence[pb.TouchInput], results: list[pb.TouchResult], links: LinkCache, lists: SubIdListCache
) -> None:
    """Rewrites, in place, the result of every recorded click whose sub-id is
    blacklisted for its campaign: the fallback URL instead of the destination
    (the click stays recorded, touch_id set)."""
    recorded = [n for n, r in enumerate(results) if r.outcome == pb.TOUCH_OUTCOME_RECORDED]
    if not recorded:
        return
    infos = await links.get_many({inputs[n].slug for n in recorded})
    keys = {(info.account_id, info.campaign_id) for info in infos.values() if info is not None}
    by_campaign = await lists.get_many(keys)
    if not any(by_campaign.values()):
        return
    for n in recorded:
        info = infos.get(inputs[n].slug)
        if info is None:
            continue
        campaign_lists = by_campaign.get((info.account_id, info.campaign_id))
        raw = inputs[n].raw_query
        if (
            campaign_lists is not None
            and campaign_lists.may_block(raw)
            and campaign_lists.blocks(parse_query(raw).subs)
        ):
            results[n] = pb.TouchResult(
                outcome=pb.TOUCH_OUTCOME_FALLBACK,
                location=info.fallback_url,
                touch_id=results[n].touch_id,
                verdict=results[n].verdict,
            )
