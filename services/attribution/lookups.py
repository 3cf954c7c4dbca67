"""What attribution asks the links service (over gRPC, never its code):
clicks by id, touches by device id or fingerprint (batched into LookupTouches
calls), campaigns, and the account's currency. The internal token acts for the account named in
``x-account-id``. Clicks, campaigns and account currencies are cached for a
short while (a click's verdict can change: an operator may overrule it)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import itertools
import time
from collections import OrderedDict
from typing import Any

import grpc
from clicktrail.accounts.v1 import accounts_pb2, accounts_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc

from libs import quality as q
from libs.config import Settings
from libs.grpc_client import ChannelPool
from libs.ids import is_valid_id
from libs.tls import channel_credentials

CLICK = 1
IMPRESSION = 2
SUBS = tuple(f"sub{i}" for i in range(1, 11))
MAX_WINDOW = dt.timedelta(days=90)
MAX_LOOKUPS = 1000  # per LookupTouches call
# How long a click read from links is reused: an overruled click verdict reaches attribution within this.
CLICK_TTL_S = 60.0


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


class _Lru:
    """Least recently used entries, each kept at most ``ttl_s``."""

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

    def put(self, key: Any, value: Any) -> None:
        self._data[key] = (time.monotonic() + self._ttl_s, value)
        self._data.move_to_end(key)
        if len(self._data) > self._size:
            self._data.popitem(last=False)


class Links:
    """The links service as attribution uses it."""

    def __init__(self, settings: Settings, *, channels: int = 2, concurrency: int = 64, max_inflight: int = 1) -> None:
        self._pool = ChannelPool(
            settings.links_addr, channels, token=settings.internal_token, deadline_s=max(settings.grpc_deadline_s, 5),
            tls=channel_credentials(settings),
        )
        self._stubs = itertools.cycle([links_pb2_grpc.LinksServiceStub(ch) for ch in self._pool.channels])
        self._sem = asyncio.Semaphore(concurrency)
        self._clicks = _Lru(200_000, CLICK_TTL_S)
        self._campaigns: dict[tuple[str, str], tuple[float, CampaignInfo | None]] = {}
        self._currencies: dict[str, tuple[float, str]] = {}
        self.calls = 0
        # Touch look-ups waiting to be sent, per account: serialized look-up -> (look-up, answer).
        self._pending: dict[str, dict[bytes, tuple[lpb.TouchLookup, asyncio.Future[Any]]]] = {}
        self._flushing: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        # LookupTouches calls in flight per account; past max_inflight, look-ups wait
        # for one to finish and go together with the next (as libs/groupcommit does).
        self._max_inflight = max_inflight
        self._inflight: dict[str, int] = {}
        self._slot_waiters: dict[str, list[asyncio.Future[None]]] = {}

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self._pool.close()

    def _links(self) -> links_pb2_grpc.LinksServiceStub:
        return next(self._stubs)

    async def _call(self, method: str, request: Any, account_id: str) -> Any:
        async with self._sem:
            self.calls += 1
            return await getattr(self._links(), method)(request, metadata=(("x-account-id", account_id),))

    async def _lookup(self, account_id: str, lookup: lpb.TouchLookup) -> lpb.FindTouchesResponse:
        """One look-up, sent with every other look-up of the account made in the
        same turn of the event loop (the engine gathers them) as one LookupTouches
        call of at most MAX_LOOKUPS; identical look-ups share one answer."""
        pending = self._pending.setdefault(account_id, {})
        key = lookup.SerializeToString(deterministic=True)
        entry = pending.get(key)
        if entry is None:
            entry = pending[key] = (lookup, asyncio.get_running_loop().create_future())
            if len(pending) >= MAX_LOOKUPS:
                self._send(account_id)
            elif account_id not in self._flushing:
                self._flushing.add(account_id)
                self._tasks.add(task := asyncio.create_task(self._flush(account_id)))
                task.add_done_callback(self._tasks.discard)
        # Shielded: a caller cancelled must not cancel the answer others wait for.
        return await asyncio.shield(entry[1])  # type: ignore[no-any-return]

    async def _flush(self, account_id: str) -> None:
        # Let the callers woken in this turn add theirs (a few turns, while more come);
        # while max_inflight calls of the account are out, keep gathering until one is back.
        try:
            for _ in range(3):
                before = len(self._pending.get(account_id, ()))
                await asyncio.sleep(0)
                if len(self._pending.get(account_id, ())) == before:
                    break
            while self._inflight.get(account_id, 0) >= self._max_inflight and account_id in self._pending:
                slot: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                self._slot_waiters.setdefault(account_id, []).append(slot)
                await slot
        finally:
            self._flushing.discard(account_id)
            self._send(account_id)

    def _send(self, account_id: str) -> None:
        batch = self._pending.pop(account_id, None)
        if batch:
            self._inflight[account_id] = self._inflight.get(account_id, 0) + 1
            self._tasks.add(task := asyncio.create_task(self._send_batch(account_id, list(batch.values()))))
            task.add_done_callback(self._tasks.discard)

    def _call_done(self, account_id: str) -> None:
        left = self._inflight.get(account_id, 1) - 1
        if left > 0:
            self._inflight[account_id] = left
        else:
            self._inflight.pop(account_id, None)
        waiters = self._slot_waiters.pop(account_id, [])
        for slot in waiters:
            if not slot.done():
                slot.set_result(None)

    async def _send_batch(self, account_id: str, batch: list[tuple[lpb.TouchLookup, asyncio.Future[Any]]]) -> None:
        try:
            await self._send_lookups(batch, account_id)
        finally:
            self._call_done(account_id)

    async def _send_lookups(self, batch: list[tuple[lpb.TouchLookup, asyncio.Future[Any]]], account_id: str) -> None:
        try:
            resp = await self._call(
                "LookupTouches", lpb.LookupTouchesRequest(lookups=[lk for lk, _ in batch]), account_id
            )
            if len(resp.results) != len(batch):
                raise RuntimeError(f"LookupTouches answered {len(resp.results)} results for {len(batch)} look-ups")
            for (_, fut), result in zip(batch, resp.results, strict=True):
                if not fut.done():
                    fut.set_result(result)
        except BaseException as exc:
            for _, fut in batch:
                if fut.done():
                    continue
                if isinstance(exc, asyncio.CancelledError):
                    fut.cancel()
                else:
                    fut.set_exception(exc)
            if not isinstance(exc, Exception):
                raise

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
        self._clicks.put((account_id, click_id), touch)
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
            self._clicks.put((account_id, t.touch_id), t)
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
        now = time.monotonic()
        key = (account_id, campaign_id)
        hit = self._campaigns.get(key)
        if hit and hit[0] > now:
            return hit[1]
        try:
            resp = await self._call("GetCampaign", lpb.GetCampaignRequest(campaign_id=campaign_id), account_id)
            c = resp.campaign
            info: CampaignInfo | None = CampaignInfo(c.campaign_id, c.name, c.partner_id, c.target_goal_id)
        except grpc.aio.AioRpcError as err:
            if err.code() != grpc.StatusCode.NOT_FOUND:
                raise
            info = None
        if len(self._campaigns) > 100_000:
            self._campaigns.clear()
        self._campaigns[key] = (now + 30.0, info)
        return info

    async def currency(self, account_id: str) -> str:
        """The account's reporting currency (ISO 4217)."""
        now = time.monotonic()
        hit = self._currencies.get(account_id)
        if hit and hit[0] > now:
            return hit[1]
        async with self._sem:
            stub = accounts_pb2_grpc.AccountServiceStub(self._pool.next())
            resp = await stub.GetAccount(
                accounts_pb2.GetAccountRequest(account_id=account_id), metadata=(("x-account-id", account_id),)
            )
        currency = resp.account.currency_code or "USD"
        if len(self._currencies) > 100_000:
            self._currencies.clear()
        self._currencies[account_id] = (now + 60.0, currency)
        return currency
