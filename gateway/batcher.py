"""Coalesces concurrent click / impression requests into one batch RPC.

Each HTTP request submits one touch and awaits its own ``TouchResult``. The
batcher sends whatever waits as a single ``RecordClicks`` / ``RecordImpressions``
call:

* at once (on the next loop turn, so every request parsed in the same turn
  joins) while fewer than ``max_inflight`` calls are running — an idle gateway
  adds no latency;
* otherwise when ``max_items`` touches wait, or ``delay_s`` after the first of
  them arrived, or as soon as a running call finishes — whichever is first.
  ``max_inflight=0`` gives the plain timer (always wait ``delay_s``).

Measured with bench/bench_clicks.py (2 cores, 64 connections): eager and
timer-only batching reach the same throughput (about 9k clicks/s, ~18 per
call; the links service is the bottleneck), and eager never adds the timer's
delay at low load, so the gateway uses eager with ``max_inflight`` = channels.

The batching itself is libs/coalesce.py's; this module builds the request,
times the call and maps its errors.

Every call carries a deadline; a failed or timed-out call fails every request
of its batch with ``BatchError`` (the gateway answers 503), never hangs them.
A batch refused as INVALID_ARGUMENT is retried one touch per call, so one bad
touch never costs the valid ones.

The lander click-throughs (/lp/click -> AffiliateService.RecordLanderClicks)
go through a batcher of their own: the same coalescing, another ``fill``
(one ``LanderClickInput`` per request instead of a ``TouchInput``). So do the
SKAN postbacks (-> SkanService.BatchRecordSkanPostbacks, gateway/skan_routes.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

import grpc
from prometheus_client import Counter, Histogram

from libs.clients import ServiceClient
from libs.coalesce import Coalescer
from libs.logging import get_logger

log = get_logger("gateway.batcher")

BATCH_SIZE = Histogram(
    "clicktrail_gateway_batch_size",
    "Touches per batch RPC",
    ["kind"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
)
BATCH_SECONDS = Histogram(
    "clicktrail_gateway_batch_seconds",
    "Batch RPC round trip",
    ["kind", "code"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
BATCH_TOTAL = Counter("clicktrail_gateway_batches", "Batch RPCs sent", ["kind", "code"])

# (slug, raw_query, ip, user_agent, referrer[, purpose[, host, accept_language, flow cookies or None]])
Touch = (
    tuple[str, bytes, str, str, str]
    | tuple[str, bytes, str, str, str, str]
    | tuple[str, bytes, str, str, str, str, str, str, dict[str, str] | None]
)
# (click_id, host, ip, user_agent): one /lp/click
LanderClick = tuple[str, str, str, str]


class BatchError(Exception):
    """The batch RPC failed: the touch was not recorded."""

    def __init__(self, code: grpc.StatusCode | None, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class TouchBatcher:
    """One kind of touch (clicks or impressions) on the one coalescer (libs/coalesce.py)."""

    def __init__(
        self,
        client: ServiceClient,
        *,
        kind: str,
        method: str,
        request_cls: Any,
        response_cls: Any,
        field: str,
        fill: Callable[[Callable[..., Any], Any], None] | None = None,
        max_items: int = 256,
        delay_s: float = 0.001,
        timeout_s: float = 5.0,
        max_inflight: int = 2,
    ) -> None:
        self.kind = kind
        self._client = client
        self._method = method
        self._request_cls = request_cls
        self._response_cls = response_cls
        self._field = field
        self._fill = fill or add_touch
        self._timeout_s = timeout_s
        self._calls: dict[int, Callable[..., Any]] = {}
        self._size_obs = BATCH_SIZE.labels(kind).observe
        self._coalescer: Coalescer[Any, Any] = Coalescer(
            self._send, name=f"gateway.{kind}", max_items=max_items, max_inflight=max_inflight, gather_turns=1,
            delay_s=max(0.0, delay_s), split="singly", split_if=_invalid, error_of=_batch_error,
            closed_error=lambda: BatchError(None, "gateway is shutting down"),
            missing_error=lambda: BatchError(None, "no result for this touch"),
        )  # fmt: skip

    def submit(self, touch: Touch | LanderClick | tuple[Any, ...]) -> asyncio.Future[Any]:
        """Queue one touch (or item of another batch call, per ``fill``); the future resolves to its result."""
        return self._coalescer.submit(touch)

    @property
    def inflight(self) -> int:
        return self._coalescer.inflight

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Send what waits, wait for every running call, refuse new touches."""
        await self._coalescer.drain(timeout_s)

    def _callable(self) -> Callable[..., Any]:
        channel = self._client.channel()
        key = id(channel)
        call = self._calls.get(key)
        if call is None:
            call = channel.unary_unary(
                self._method,
                request_serializer=self._request_cls.SerializeToString,
                response_deserializer=self._response_cls.FromString,
            )
            self._calls[key] = call
        return call

    async def _send(self, batch: list[Any]) -> Sequence[Any]:
        """One batch RPC; errors go to the coalescer (a refused batch is retried singly)."""
        n = len(batch)
        self._size_obs(n)
        request = self._request_cls()
        add = getattr(request, self._field).add
        fill = self._fill
        for touch in batch:
            fill(add, touch)
        start = time.perf_counter()
        code = "OK"
        try:
            response = await self._callable()(request, timeout=self._timeout_s)
        except grpc.aio.AioRpcError as err:
            code = err.code().name
            if not (err.code() == grpc.StatusCode.INVALID_ARGUMENT and n > 1):
                log.error("batch_failed", kind=self.kind, size=n, code=code, detail=err.details())
            raise
        except asyncio.CancelledError:
            code = "CANCELLED"
            raise
        except Exception:  # a bug or a broken channel: the coalescer still answers every request
            code = "UNKNOWN"
            log.exception("batch_error", kind=self.kind, size=n)
            raise
        finally:
            BATCH_SECONDS.labels(self.kind, code).observe(time.perf_counter() - start)
            BATCH_TOTAL.labels(self.kind, code).inc()
        return response.results  # type: ignore[no-any-return]


def add_touch(add: Callable[..., Any], touch: Touch) -> None:
    """One TouchInput of a RecordClicks / RecordImpressions request."""
    if len(touch) == 5:
        slug, raw_query, ip, ua, ref = touch
        add(slug=slug, raw_query=raw_query, ip=ip, user_agent=ua, referrer=ref)
    elif len(touch) == 6:
        slug, raw_query, ip, ua, ref, purpose = touch
        add(slug=slug, raw_query=raw_query, ip=ip, user_agent=ua, referrer=ref, purpose=purpose)
    else:
        slug, raw_query, ip, ua, ref, purpose, host, lang, cookies = touch
        add(
            slug=slug, raw_query=raw_query, ip=ip, user_agent=ua, referrer=ref, purpose=purpose, host=host,
            accept_language=lang, cookies=cookies,
        )  # fmt: skip


def add_lander_click(add: Callable[..., Any], click: LanderClick) -> None:
    """One LanderClickInput of a RecordLanderClicks request."""
    click_id, host, ip, ua = click
    add(click_id=click_id, host=host, ip=ip, user_agent=ua)


def _invalid(err: BaseException) -> bool:
    """A batch refused as INVALID_ARGUMENT may be one touch's fault: retried one per call."""
    return isinstance(err, grpc.aio.AioRpcError) and err.code() == grpc.StatusCode.INVALID_ARGUMENT


def _batch_error(err: BaseException) -> BatchError:
    if isinstance(err, BatchError):
        return err
    if isinstance(err, grpc.aio.AioRpcError):
        return BatchError(err.code(), err.details() or err.code().name)
    if isinstance(err, asyncio.CancelledError):
        return BatchError(grpc.StatusCode.CANCELLED, "cancelled")
    return BatchError(None, repr(err))
