"""What attribution asks the links service (over gRPC, never its code):
clicks by id, touches by device id or fingerprint (batched into LookupTouches
calls), campaigns, offers (AffiliateService.GetOffer; and RecordOfferConversions
for the offers' caps), and the account's currency. The internal token acts for the account named in
``x-account-id``. Clicks, campaigns and account currencies are cached for a
short while (a click's verdict can change: an operator may overrule it)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
from collections import OrderedDict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import grpc
from clicktrail.accounts.v1 import accounts_pb2, accounts_pb2_grpc
from clicktrail.links.v1 import affiliate_pb2 as apb
from clicktrail.links.v1 import affiliate_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb

from libs import quality as q
from libs.cache import TTLCache
from libs.clients import CallError, LinksClient, for_account
from libs.coalesce import Coalescer
from libs.config import Settings
from libs.ids import is_valid_id
from libs.vocab.subids import SUB_IDS
from libs.vocab.windows import MAX_TOUCH_WINDOW

CLICK = 1
IMPRESSION = 2
SUBS = SUB_IDS
MAX_WINDOW = MAX_TOUCH_WINDOW
MAX_LOOKUPS = 1000  # per LookupTouches call
# How long a click read from links is reused: an overruled click verdict reaches attribution within this.
CLICK_TTL_S = 60.0
# How long a campaign (or its absence) and an account's currency are reused.
CAMPAIGN_TTL_S = 30.0
CURRENCY_TTL_S = 60.0
# An offer's partner and payout: an operator's change reaches postbacks within this.
OFFER_TTL_S = 30.0


@dataclasses.dataclass(frozen=True, slots=True)
class Touch:
    """A click or an impression, as attribution needs it."""

    touch_id: str
    kind: int  # CLICK | IMPRESSION
    time: dt.datetime
    campaign_id: str
    partner_id: str
    link_id: str
    app_id: str
    partner_click_id: str = ""
    subs: tuple[str, ...] = ("",) * 10
    country: str = ""
    os: str = ""
    ip: str = ""
    # Traffic quality, decided by links on the click path (or an operator).
    verdict: int = q.CLEAN
    reasons: int = 0
    # The click's flow (links' choice; "" when none).
    offer_id: str = ""
    lander_id: str = ""
    stream_id: str = ""

    @property
    def invalid(self) -> bool:
        return self.verdict == q.INVALID

    @classmethod
    def of(cls, msg: Any, kind: int) -> Touch:
        return cls(
            touch_id=msg.click_id if kind == CLICK else msg.impression_id, kind=kind,
            time=msg.create_time.ToDatetime(tzinfo=dt.UTC), campaign_id=msg.campaign_id,
            partner_id=msg.partner_id, link_id=msg.link_id, app_id=msg.app_id,
            partner_click_id=msg.partner_click_id, subs=tuple(getattr(msg, s) for s in SUBS),
            country=msg.country, os=msg.os, ip=msg.ip, verdict=msg.verdict or q.CLEAN,
            reasons=_mask(msg.reasons) if msg.reasons else 0,
            **({"offer_id": msg.offer_id, "lander_id": msg.lander_id, "stream_id": msg.stream_id}
               if kind == CLICK else {}),
        )  # fmt: skip


def _mask(codes: Any) -> int:
    """Reason codes to a bitmask; codes this build does not know are left out."""
    return q.mask_of(c for c in codes if c in q.BY_CODE)


@dataclasses.dataclass(frozen=True, slots=True)
class TouchQuery:
    """Clicks (and impressions) for a device id, or an IP + User-Agent, in [start, end)."""

    start: dt.datetime
    end: dt.datetime
    device_id: str = ""
    ip: str = ""
    user_agent: str = ""
    impressions: bool = True
    limit: int = 20


@dataclasses.dataclass(frozen=True, slots=True)
class CampaignInfo:
    campaign_id: str
    name: str
    partner_id: str
    target_goal_id: str
    # links CampaignType (3: retargeting, services/attribution/reengagement.py).
    campaign_type: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class OfferInfo:
    """An offer as attribution needs it: its network and payout."""

    offer_id: str
    partner_id: str
    payout_type: int  # affiliate_pb2.PayoutType
    amount: Decimal | None  # the fixed payout (PAYOUT_TYPE_FIXED)
    currency: str  # the payout's currency ("" none)

    @property
    def fixed(self) -> bool:
        return self.payout_type == apb.PAYOUT_TYPE_FIXED


class _Lru:
    """Least recently used entries, each kept at most ``ttl_s``. The click cache: it takes
    every click of every touch answer (tens per install), where libs.cache.TTLCache's
    set (~4 us, a TTL heap) costs five times this (bench: +18 ms attribution CPU per
    1,000 installs); TTLCache serves the rarer look-ups (campaigns, currencies)."""

    def __init__(self, size: int, ttl_s: float) -> None:
        self._size = size
        self._ttl_s = ttl_s
        self._data: OrderedDict[Any, tuple[float, Any]] = OrderedDict()

    def get(self, key: Any) -> Any:
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            del self._data[key]
            return None
        self._data.move_to_end(key)
        return entry[1]

    def set(self, key: Any, value: Any) -> None:
        self._data[key] = (time.monotonic() + self._ttl_s, value)
        self._data.move_to_end(key)
        if len(self._data) > self._size:
            self._data.popitem(last=False)


class Links:
    """The links service as attribution uses it (libs/clients.LinksClient, as the
    service for the account named per call). Touch look-ups made together go out
    as LookupTouches calls through one coalescer per account (libs/coalesce);
    clicks, campaigns and account currencies are cached (libs/cache)."""

    def __init__(self, settings: Settings, *, channels: int = 2, concurrency: int = 64, max_inflight: int = 1) -> None:
        self._client = LinksClient.internal(
            settings,  # type: ignore[arg-type]
            channels=channels,
            deadline_s=max(settings.grpc_deadline_s, 5),
        )
        self._sem = asyncio.Semaphore(concurrency)
        self._clicks = _Lru(200_000, CLICK_TTL_S)
        self._campaigns: TTLCache[tuple[str, str], CampaignInfo | None] = TTLCache(CAMPAIGN_TTL_S)
        self._currencies: TTLCache[str, str] = TTLCache(CURRENCY_TTL_S)
        self._offers: TTLCache[tuple[str, str], OfferInfo | None] = TTLCache(OFFER_TTL_S)
        self.calls = 0
        # LookupTouches calls in flight per account; past max_inflight, look-ups wait
        # for one to finish and go together with the next (as libs/groupcommit does).
        self._max_inflight = max_inflight
        self._coalescers: dict[str, Coalescer[lpb.TouchLookup, lpb.FindTouchesResponse]] = {}

    async def close(self) -> None:
        for c in list(self._coalescers.values()):
            await c.drain(timeout_s=0.0)
        await self._client.close()

    async def _call(self, method: str, request: Any, account_id: str) -> Any:
        async with self._sem:
            self.calls += 1
            return await getattr(self._client.links, method)(request, metadata=for_account(account_id))

    def _lookups_of(self, account_id: str) -> Coalescer[lpb.TouchLookup, lpb.FindTouchesResponse]:
        c = self._coalescers.get(account_id)
        if c is None:

            async def call(batch: list[lpb.TouchLookup]) -> Sequence[lpb.FindTouchesResponse]:
                resp = await self._call("LookupTouches", lpb.LookupTouchesRequest(lookups=batch), account_id)
                if len(resp.results) != len(batch):
                    raise RuntimeError(f"LookupTouches answered {len(resp.results)} results for {len(batch)} look-ups")
                return resp.results  # type: ignore[no-any-return]

            c = self._coalescers[account_id] = Coalescer(
                call, name="attribution.lookups", max_items=MAX_LOOKUPS, max_inflight=self._max_inflight,
                gather_turns=3, dedupe=lambda lk: lk.SerializeToString(deterministic=True),
            )  # fmt: skip
        return c

    async def _lookup(self, account_id: str, lookup: lpb.TouchLookup) -> lpb.FindTouchesResponse:
        """One look-up, sent with every other look-up of the account made in the
        same turns of the event loop (the engine gathers them) as one LookupTouches
        call of at most MAX_LOOKUPS; identical look-ups share one answer."""
        return await self._lookups_of(account_id).run(lookup)

    async def lookup_many(self, account_id: str, lookups: list[lpb.TouchLookup]) -> list[lpb.FindTouchesResponse]:
        """Answers a batch of look-ups in order: LookupTouches calls of at most
        MAX_LOOKUPS each, made together (for callers that gather their own batch)."""
        chunks = [lookups[i : i + MAX_LOOKUPS] for i in range(0, len(lookups), MAX_LOOKUPS)]
        answers = await asyncio.gather(
            *(self._call("LookupTouches", lpb.LookupTouchesRequest(lookups=c), account_id) for c in chunks)
        )
        out: list[lpb.FindTouchesResponse] = []
        for chunk, resp in zip(chunks, answers, strict=True):
            if len(resp.results) != len(chunk):
                raise RuntimeError(f"LookupTouches answered {len(resp.results)} results for {len(chunk)} look-ups")
            out.extend(resp.results)
        return out

    async def click(self, account_id: str, click_id: str) -> Touch | None:
        """The account's click, or None (unknown, malformed or another account's)."""
        if not is_valid_id(click_id):
            return None
        key = (account_id, click_id)
        hit = self._clicks.get(key)
        if hit is not None:
            return hit  # type: ignore[no-any-return]
        resp = await self._lookup(account_id, lpb.TouchLookup(click_id=click_id))
        return self._click_of(account_id, click_id, resp)

    def _click_of(self, account_id: str, click_id: str, resp: lpb.FindTouchesResponse) -> Touch | None:
        if not resp.clicks:
            return None
        touch = Touch.of(resp.clicks[0], CLICK)
        self._clicks.set((account_id, click_id), touch)
        return touch

    async def clicks(self, account_id: str, click_ids: list[str]) -> list[Touch | None]:
        """Many clicks by id at once, in order (None: unknown, malformed or another account's)."""
        out: list[Touch | None] = [None] * len(click_ids)
        missing: dict[str, list[int]] = {}
        for i, click_id in enumerate(click_ids):
            if not is_valid_id(click_id):
                continue
            hit = self._clicks.get((account_id, click_id))
            if hit is not None:
                out[i] = hit
            else:
                missing.setdefault(click_id, []).append(i)
        if missing:
            ids = list(missing)
            found = await self.lookup_many(account_id, [lpb.TouchLookup(click_id=c) for c in ids])
            for click_id, resp in zip(ids, found, strict=True):
                touch = self._click_of(account_id, click_id, resp)
                for i in missing[click_id]:
                    out[i] = touch
        return out

    @staticmethod
    def _touch_lookup(q: TouchQuery) -> lpb.TouchLookup | None:
        start = max(q.start, q.end - MAX_WINDOW)
        if q.end <= start:
            return None
        req = lpb.TouchLookup(include_impressions=q.impressions, limit=q.limit)
        if q.device_id:
            req.device_id = q.device_id
        else:
            req.fingerprint.ip = q.ip
            req.fingerprint.user_agent = q.user_agent
        req.start_time.FromDatetime(start.astimezone(dt.UTC))
        req.end_time.FromDatetime(q.end.astimezone(dt.UTC))
        return req

    def _touches_of(self, account_id: str, resp: lpb.FindTouchesResponse) -> list[Touch]:
        out = [Touch.of(c, CLICK) for c in resp.clicks]
        for t in out:  # later look-ups by id need no call
            self._clicks.set((account_id, t.touch_id), t)
        out += [Touch.of(i, IMPRESSION) for i in resp.impressions]
        out.sort(key=lambda t: t.time, reverse=True)
        return out

    async def touches(
        self,
        account_id: str,
        start: dt.datetime,
        end: dt.datetime,
        *,
        device_id: str = "",
        ip: str = "",
        user_agent: str = "",
        impressions: bool = True,
        limit: int = 20,
    ) -> list[Touch]:
        """Clicks (and impressions) for a device id or an IP + User-Agent in [start, end), newest first."""
        req = self._touch_lookup(TouchQuery(start, end, device_id, ip, user_agent, impressions, limit))
        if req is None:
            return []
        return self._touches_of(account_id, await self._lookup(account_id, req))

    async def touches_many(self, account_id: str, queries: list[TouchQuery]) -> list[list[Touch]]:
        """Many touch queries at once, in order; each answer newest first."""
        reqs = [self._touch_lookup(q) for q in queries]
        asked = [r for r in reqs if r is not None]
        answers = iter(await self.lookup_many(account_id, asked) if asked else [])
        return [self._touches_of(account_id, next(answers)) if r is not None else [] for r in reqs]

    async def campaign(self, account_id: str, campaign_id: str) -> CampaignInfo | None:
        if not campaign_id:
            return None

        async def load() -> CampaignInfo | None:
            try:
                resp = await self._call("GetCampaign", lpb.GetCampaignRequest(campaign_id=campaign_id), account_id)
            except CallError as err:
                if err.code() != grpc.StatusCode.NOT_FOUND:
                    raise
                return None
            c = resp.campaign
            return CampaignInfo(c.campaign_id, c.name, c.partner_id, c.target_goal_id, c.type)

        return await self._campaigns.get_or_load((account_id, campaign_id), load)

    async def offer(self, account_id: str, offer_id: str) -> OfferInfo | None:
        """The account's offer (AffiliateService.GetOffer, cached), or None (none, deleted)."""
        if not offer_id:
            return None

        async def load() -> OfferInfo | None:
            try:
                async with self._sem:
                    self.calls += 1
                    resp = await self._client.stub(affiliate_pb2_grpc.AffiliateServiceStub).GetOffer(
                        apb.GetOfferRequest(offer_id=offer_id), metadata=for_account(account_id)
                    )
            except CallError as err:
                if err.code() != grpc.StatusCode.NOT_FOUND:
                    raise
                return None
            o = resp.offer
            amount = Decimal(o.payout.amount) if o.payout.amount else None
            return OfferInfo(o.offer_id, o.partner_id, o.payout_type, amount, o.payout.currency_code)

        return await self._offers.get_or_load((account_id, offer_id), load)

    async def report_offer_conversions(self, account_id: str, conversions: list[apb.OfferConversion]) -> int:
        """AffiliateService.RecordOfferConversions (idempotent by conversion id); how many changed a count."""
        async with self._sem:
            self.calls += 1
            resp = await self._client.stub(affiliate_pb2_grpc.AffiliateServiceStub).RecordOfferConversions(
                apb.RecordOfferConversionsRequest(conversions=conversions), metadata=for_account(account_id)
            )
        return int(resp.counted)

    async def currency(self, account_id: str) -> str:
        """The account's reporting currency (ISO 4217)."""

        async def load() -> str:
            async with self._sem:
                resp = await self._client.stub(accounts_pb2_grpc.AccountServiceStub).GetAccount(
                    accounts_pb2.GetAccountRequest(account_id=account_id), metadata=for_account(account_id)
                )
            return resp.account.currency_code or "USD"

        return await self._currencies.get_or_load(account_id, load)
