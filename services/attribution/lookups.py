"""What attribution asks the links service (over gRPC, never its code):
clicks by id, touches by device id or fingerprint (batched into LookupTouches
calls), campaigns, and the account's currency. The internal token acts for the account named in
``x-account-id``. Clicks never change, so they are cached; campaigns and
account currencies for a short while."""

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

from libs.config import Settings
from libs.grpc_client import ChannelPool
from libs.ids import is_valid_id

CLICK = 1
IMPRESSION = 2
SUBS = tuple(f"sub{i}" for i in range(1, 11))
MAX_WINDOW = dt.timedelta(days=90)
MAX_LOOKUPS = 1000  # per LookupTouches call


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

    @classmethod
    def of(cls, msg: Any, kind: int) -> Touch:
        return cls(
            touch_id=msg.click_id if kind == CLICK else msg.impression_id, kind=kind,
            time=msg.create_time.ToDatetime(tzinfo=dt.UTC), campaign_id=msg.campaign_id,
            partner_id=msg.partner_id, link_id=msg.link_id, app_id=msg.app_id,
            partner_click_id=msg.partner_click_id, subs=tuple(getattr(msg, s) for s in SUBS),
            country=msg.country, os=msg.os, ip=msg.ip,
        )  # fmt: skip


@dataclasses.dataclass(frozen=True, slots=True)
class CampaignInfo:
    campaign_id: str
    name: str
    partner_id: str
    target_goal_id: str


class _Lru:
    def __init__(self, size: int) -> None:
        self._size = size
        self._data: OrderedDict[Any, Any] = OrderedDict()

    def get(self, key: Any) -> Any:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def put(self, key: Any, value: Any) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        if len(self._data) > self._size:
            self._data.popitem(last=False)


class Links:
    """The links service as attribution uses it."""

    def __init__(self, settings: Settings, *, channels: int = 2, concurrency: int = 64) -> None:
        self._pool = ChannelPool(
            settings.links_addr, channels, token=settings.internal_token, deadline_s=max(settings.grpc_deadline_s, 5)
        )
        self._stubs = itertools.cycle([links_pb2_grpc.LinksServiceStub(ch) for ch in self._pool.channels])
        self._sem = asyncio.Semaphore(concurrency)
        self._clicks = _Lru(200_000)
        self._campaigns: dict[tuple[str, str], tuple[float, CampaignInfo | None]] = {}
        self._currencies: dict[str, tuple[float, str]] = {}
        self.calls = 0
        # Touch look-ups waiting to be sent, per account: serialized look-up -> (look-up, answer).
        self._pending: dict[str, dict[bytes, tuple[lpb.TouchLookup, asyncio.Future[Any]]]] = {}
        self._flushing: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

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
        # Let the callers woken in this turn add theirs (a few turns, while more come).
        try:
            for _ in range(3):
                before = len(self._pending.get(account_id, ()))
                await asyncio.sleep(0)
                if len(self._pending.get(account_id, ())) == before:
                    break
        finally:
            self._flushing.discard(account_id)
            self._send(account_id)

    def _send(self, account_id: str) -> None:
        batch = self._pending.pop(account_id, None)
        if batch:
            self._tasks.add(task := asyncio.create_task(self._send_batch(account_id, list(batch.values()))))
            task.add_done_callback(self._tasks.discard)

    async def _send_batch(self, account_id: str, batch: list[tuple[lpb.TouchLookup, asyncio.Future[Any]]]) -> None:
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

    async def click(self, account_id: str, click_id: str) -> Touch | None:
        """The account's click, or None (unknown, malformed or another account's)."""
        if not is_valid_id(click_id):
            return None
        key = (account_id, click_id)
        hit = self._clicks.get(key)
        if hit is not None:
            return hit  # type: ignore[no-any-return]
        resp = await self._lookup(account_id, lpb.TouchLookup(click_id=click_id))
        if not resp.clicks:
            return None
        touch = Touch.of(resp.clicks[0], CLICK)
        self._clicks.put(key, touch)
        return touch

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
        start = max(start, end - MAX_WINDOW)
        if end <= start:
            return []
        req = lpb.TouchLookup(include_impressions=impressions, limit=limit)
        if device_id:
            req.device_id = device_id
        else:
            req.fingerprint.ip = ip
            req.fingerprint.user_agent = user_agent
        req.start_time.FromDatetime(start.astimezone(dt.UTC))
        req.end_time.FromDatetime(end.astimezone(dt.UTC))
        resp = await self._lookup(account_id, req)
        out = [Touch.of(c, CLICK) for c in resp.clicks]
        for t in out:  # clicks never change: later look-ups by id need no call
            self._clicks.put((account_id, t.touch_id), t)
        out += [Touch.of(i, IMPRESSION) for i in resp.impressions]
        out.sort(key=lambda t: t.time, reverse=True)
        return out

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
