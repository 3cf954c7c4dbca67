"""Install matching: the batched look-ups in the links service that find each
install's touch (the choice itself is services/attribution/rules.py).

The exact click id first; then a device id (IDFA / GAID) seen on a click or an
impression; then IP + User-Agent inside the fingerprint window. Each round is
one batch of look-ups for all the installs still unmatched; no touch means organic.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from services.attribution import settings as windows_mod
from services.attribution.lookups import CLICK, Links, Touch, TouchQuery
from services.attribution.rules import (
    MATCH_CLICK_ID,
    MATCH_DEVICE_ID,
    MATCH_FINGERPRINT,
    MATCH_ORGANIC,
    REFILL_LIMIT,
    SKEW,
    Attributed,
    choose_touch,
    device_ids,
    flooded,
)


async def touches_beyond_floods(links: Links, account_id: str, queries: list[TouchQuery]) -> list[list[Touch]]:
    """``Links.touches_many``; a query whose clicks all came back invalid and
    filled its limit is asked again (all of them in one more call) for what is
    older than the oldest of them."""
    found = await links.touches_many(account_id, queries)
    again: list[tuple[int, TouchQuery]] = []
    for n, (query, touches) in enumerate(zip(queries, found, strict=True)):
        if flooded(touches, query.limit) and query.limit < REFILL_LIMIT:
            oldest = min(t.time for t in touches if t.kind == CLICK)
            again.append((n, dataclasses.replace(query, end=oldest, limit=REFILL_LIMIT)))
    if again:
        more = await links.touches_many(account_id, [qr for _, qr in again])
        for (n, _), extra in zip(again, more, strict=True):
            found[n] = found[n] + extra
    return found


async def match_installs(links: Links, account_id: str, events: list[dict[str, Any]],
                         history: list[windows_mod.Breakpoint]) -> list[Attributed]:  # fmt: skip
    """Attribute install events, in order, in three rounds of batched look-ups:
    click ids, then device ids for the rest, then fingerprints for the rest.
    Invalid touches never win: they are kept as passed over, and the next round
    (or organic) decides."""
    out: list[Attributed | None] = [None] * len(events)
    passed: list[list[Touch]] = [[] for _ in events]
    spans: list[tuple[windows_mod.Windows, dt.datetime, dt.datetime]] = []
    for ev in events:
        # The device clock may be a little off (SKEW); nothing after our receive time counts.
        upper = min(ev["_received"], ev["_time"] + SKEW)
        spans.append((windows_mod.windows_in(history, ev["_time"]), min(ev["_time"], upper), upper))
    with_click = [i for i, ev in enumerate(events) if ev.get("click_id")]
    if with_click:
        clicks = await links.clicks(account_id, [events[i]["click_id"] for i in with_click])
        for i, click in zip(with_click, clicks, strict=True):
            w, anchor, upper = spans[i]
            ev = events[i]
            if click is not None and choose_touch([click], anchor, upper, ev["app_id"], w.click_lookback,
                                                  w.click_lookback, passed[i]):  # fmt: skip
                out[i] = Attributed(ev, MATCH_CLICK_ID, click)
    asks: list[tuple[int, TouchQuery]] = []
    for i, ev in enumerate(events):
        if out[i] is None:
            w, anchor, upper = spans[i]
            start, end = anchor - max(w.click_lookback, w.view_lookback), upper + dt.timedelta(milliseconds=1)
            asks += [(i, TouchQuery(start, end, device_id=d)) for d in device_ids(ev)]
    if asks:
        found: dict[int, list[Touch]] = {}
        answers = await touches_beyond_floods(links, account_id, [qr for _, qr in asks])
        for (i, _), touches in zip(asks, answers, strict=True):
            found.setdefault(i, []).extend(touches)
        for i, touches in found.items():
            w, anchor, upper = spans[i]
            touch = choose_touch(touches, anchor, upper, events[i]["app_id"], w.click_lookback, w.view_lookback,
                                 passed[i])  # fmt: skip
            if touch is not None:
                out[i] = Attributed(events[i], MATCH_DEVICE_ID, touch)
    asks = []
    for i, ev in enumerate(events):
        if out[i] is None and ev.get("ip"):
            w, anchor, upper = spans[i]
            asks.append((i, TouchQuery(anchor - w.fingerprint_window, upper + dt.timedelta(milliseconds=1),
                                       ip=ev["ip"], user_agent=ev.get("user_agent") or "")))  # fmt: skip
    if asks:
        answers = await touches_beyond_floods(links, account_id, [qr for _, qr in asks])
        for (i, _), touches in zip(asks, answers, strict=True):
            w, anchor, upper = spans[i]
            fp = w.fingerprint_window
            touch = choose_touch(touches, anchor, upper, events[i]["app_id"], min(fp, w.click_lookback),
                                 min(fp, w.view_lookback), passed[i])  # fmt: skip
            if touch is not None:
                out[i] = Attributed(events[i], MATCH_FINGERPRINT, touch)
    result = [a if a is not None else Attributed(events[i], MATCH_ORGANIC, None) for i, a in enumerate(out)]
    for i, a in enumerate(result):
        a.anchor, a.passed = spans[i][1], passed[i]
    return result


# --------------------------------------------------------------------------- conversions
