"""AttributionSettingsService and windows_at: defaults, validation, dated
breakpoints and their history."""

from __future__ import annotations

import asyncio
import datetime as dt

import grpc
import pytest
from clicktrail.attribution.v1 import config_pb2 as pb
from clicktrail.attribution.v1 import config_pb2_grpc
from google.protobuf import duration_pb2, field_mask_pb2, timestamp_pb2

from services.attribution.settings import DEFAULT_WINDOWS, Windows, invalidate_settings, windows_at

from .test_goals import violations


def dur(**kw) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromTimedelta(dt.timedelta(**kw))
    return d


def ts(value: dt.datetime) -> timestamp_pb2.Timestamp:
    t = timestamp_pb2.Timestamp()
    t.FromDatetime(value)
    return t


async def test_defaults_before_any_change(attribution_stub, attribution_server, account):
    s = (await attribution_stub.settings.GetSettings(pb.GetSettingsRequest())).settings
    assert s.click_lookback.ToTimedelta() == dt.timedelta(days=7)
    assert s.view_lookback.ToTimedelta() == dt.timedelta(hours=24)
    assert s.fingerprint_window.ToTimedelta() == dt.timedelta(hours=24)
    assert s.conversion_window.ToTimedelta() == dt.timedelta(days=30)
    assert not s.HasField("effective_time")
    pool = attribution_server.ctx.pool
    assert await windows_at(pool, account.account_id, dt.datetime.now(dt.UTC)) == DEFAULT_WINDOWS
    assert not (await attribution_stub.settings.ListSettingsHistory(pb.ListSettingsHistoryRequest())).breakpoints


async def test_changes_are_dated_breakpoints(attribution_stub, attribution_server, account):
    pool = attribution_server.ctx.pool
    before = dt.datetime.now(dt.UTC)
    r1 = await attribution_stub.settings.UpdateSettings(
        pb.UpdateSettingsRequest(settings=pb.AttributionSettings(click_lookback=dur(days=14)))
    )
    assert r1.changed and r1.settings.click_lookback.ToTimedelta() == dt.timedelta(days=14)
    assert r1.settings.view_lookback.ToTimedelta() == dt.timedelta(hours=24)  # untouched
    t1 = r1.settings.effective_time.ToDatetime(tzinfo=dt.UTC)
    assert t1 >= before - dt.timedelta(seconds=1)

    r2 = await attribution_stub.settings.UpdateSettings(
        pb.UpdateSettingsRequest(
            settings=pb.AttributionSettings(conversion_window=dur(days=7), view_lookback=dur(hours=6)),
            update_mask=field_mask_pb2.FieldMask(paths=["conversion_window"]),
        )
    )
    t2 = r2.settings.effective_time.ToDatetime(tzinfo=dt.UTC)
    assert t2 > t1
    assert r2.settings.view_lookback.ToTimedelta() == dt.timedelta(hours=24)  # not in the mask
    assert r2.settings.click_lookback.ToTimedelta() == dt.timedelta(days=14)  # carried over

    # The same values again: no new breakpoint.
    r3 = await attribution_stub.settings.UpdateSettings(
        pb.UpdateSettingsRequest(settings=pb.AttributionSettings(conversion_window=dur(days=7)))
    )
    assert not r3.changed and r3.settings.effective_time == r2.settings.effective_time

    # windows_at answers what was in force at each moment.
    acc = account.account_id
    assert await windows_at(pool, acc, t1 - dt.timedelta(microseconds=1)) == DEFAULT_WINDOWS
    assert await windows_at(pool, acc, t1) == Windows(click_lookback=dt.timedelta(days=14))
    mid = t1 + (t2 - t1) / 2
    assert (await windows_at(pool, acc, mid)).conversion_window == dt.timedelta(days=30)
    after = await windows_at(pool, acc, t2 + dt.timedelta(hours=1))
    assert after == Windows(click_lookback=dt.timedelta(days=14), conversion_window=dt.timedelta(days=7))

    # GetSettings at a time, and now.
    at_mid = (await attribution_stub.settings.GetSettings(pb.GetSettingsRequest(time=ts(mid)))).settings
    assert at_mid.conversion_window.ToTimedelta() == dt.timedelta(days=30)
    assert at_mid.effective_time == r1.settings.effective_time
    now = (await attribution_stub.settings.GetSettings(pb.GetSettingsRequest())).settings
    assert now.conversion_window.ToTimedelta() == dt.timedelta(days=7)

    # History: newest first, with what each breakpoint changed; pages.
    hist = await attribution_stub.settings.ListSettingsHistory(pb.ListSettingsHistoryRequest(page_size=1))
    assert [list(b.changed_fields) for b in hist.breakpoints] == [["conversion_window"]]
    assert hist.breakpoints[0].effective_time == r2.settings.effective_time
    rest = await attribution_stub.settings.ListSettingsHistory(
        pb.ListSettingsHistoryRequest(page_token=hist.next_page_token)
    )
    assert [list(b.changed_fields) for b in rest.breakpoints] == [["click_lookback"]]
    assert rest.breakpoints[0].settings.click_lookback.ToTimedelta() == dt.timedelta(days=14)
    assert not rest.next_page_token


async def test_windows_at_reads_changes_from_other_replicas(attribution_stub, attribution_server, account):
    pool = attribution_server.ctx.pool
    acc = account.account_id
    assert (await windows_at(pool, acc, dt.datetime.now(dt.UTC))).view_lookback == dt.timedelta(hours=24)
    # Another replica's change (written straight to the table) is seen once the cache expires.
    await pool.execute(
        "INSERT INTO attribution.settings_history (account_id, effective_time, click_lookback_s, view_lookback_s,"
        " fingerprint_window_s, conversion_window_s, changed) VALUES ($1, now(), 604800, 7200, 86400, 2592000,"
        " '{view_lookback}')",
        acc,
    )
    invalidate_settings(acc)
    assert (await windows_at(pool, acc, dt.datetime.now(dt.UTC))).view_lookback == dt.timedelta(hours=2)


async def test_settings_validation(attribution_stub):
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await attribution_stub.settings.UpdateSettings(
            pb.UpdateSettingsRequest(
                settings=pb.AttributionSettings(
                    click_lookback=dur(days=91),
                    view_lookback=dur(minutes=5),
                    fingerprint_window=dur(seconds=90, milliseconds=5),
                    conversion_window=dur(days=-1),
                )
            )
        )
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    v = violations(e.value)
    assert set(v) == {
        "settings.click_lookback",
        "settings.view_lookback",
        "settings.fingerprint_window",
        "settings.conversion_window",
    }
    assert "1h to 90d" in v["settings.click_lookback"]
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await attribution_stub.settings.UpdateSettings(pb.UpdateSettingsRequest())
    assert "update_mask" in violations(e.value)
    assert not (await attribution_stub.settings.ListSettingsHistory(pb.ListSettingsHistoryRequest())).breakpoints


async def test_settings_are_per_account(attribution_stub, attribution_server, new_account, channels, account):
    other = await new_account("Rival")
    rival = config_pb2_grpc.AttributionSettingsServiceStub(channels(attribution_server.addr, token=other.api_key))
    await rival.UpdateSettings(pb.UpdateSettingsRequest(settings=pb.AttributionSettings(click_lookback=dur(days=1))))
    mine = (await attribution_stub.settings.GetSettings(pb.GetSettingsRequest())).settings
    assert mine.click_lookback.ToTimedelta() == dt.timedelta(days=7)
    assert not (await attribution_stub.settings.ListSettingsHistory(pb.ListSettingsHistoryRequest())).breakpoints
    now = dt.datetime.now(dt.UTC)
    pool = attribution_server.ctx.pool
    assert (await windows_at(pool, other.account_id, now)).click_lookback == dt.timedelta(days=1)
    assert (await windows_at(pool, account.account_id, now)).click_lookback == dt.timedelta(days=7)


async def test_concurrent_changes_make_ordered_breakpoints(attribution_stub, attribution_server, account):
    # None is the default (7 days): that one, served first, would change nothing and make no breakpoint.
    days = list(range(11, 21))
    await asyncio.gather(
        *(
            attribution_stub.settings.UpdateSettings(
                pb.UpdateSettingsRequest(settings=pb.AttributionSettings(click_lookback=dur(days=d)))
            )
            for d in days
        )
    )
    hist = (await attribution_stub.settings.ListSettingsHistory(pb.ListSettingsHistoryRequest())).breakpoints
    assert len(hist) == len(days)
    times = [b.effective_time.ToDatetime() for b in hist]
    assert times == sorted(times, reverse=True) and len(set(times)) == len(times)
    # The newest breakpoint is what is in force now, and what GetSettings says.
    now = (await attribution_stub.settings.GetSettings(pb.GetSettingsRequest())).settings
    assert now.click_lookback == hist[0].settings.click_lookback
    w = await windows_at(attribution_server.ctx.pool, account.account_id, dt.datetime.now(dt.UTC))
    assert w.click_lookback == hist[0].settings.click_lookback.ToTimedelta()
