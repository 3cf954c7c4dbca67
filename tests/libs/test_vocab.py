"""libs/vocab: the one vocabulary (pure; no database)."""

from __future__ import annotations

import datetime as dt

import pytest
from clicktrail.attribution.v1 import attribution_pb2, config_pb2
from clicktrail.ingest.v1 import ingest_pb2
from clicktrail.links.v1 import links_pb2
from clicktrail.postbacks.v1 import postbacks_pb2
from clicktrail.type.v1 import quality_pb2

from libs.vocab import enums, kinds, metrics, subids, timetext, windows


def test_enum_names_come_from_the_descriptors() -> None:
    assert enums.enum_prefix(links_pb2.CampaignStatus) == "CAMPAIGN_STATUS_"
    assert enums.enum_prefix(postbacks_pb2.HttpMethod.DESCRIPTOR) == "HTTP_METHOD_"
    assert enums.choices(links_pb2.CampaignStatus) == ["draft", "active", "paused", "archived"]
    assert enums.names(config_pb2.TariffModel)[0] == (config_pb2.TARIFF_MODEL_CPC, "cpc")
    assert enums.short_name(links_pb2.DeviceType, "DEVICE_TYPE_MOBILE") == "mobile"
    assert enums.short_name(links_pb2.DeviceType, links_pb2.DEVICE_TYPE_TABLET) == "tablet"
    assert enums.short_name(links_pb2.DeviceType, 0) == ""
    assert enums.short_name(links_pb2.DeviceType, 99) == ""


def test_parse_enum_takes_short_and_full_names() -> None:
    assert enums.parse_enum(links_pb2.CampaignStatus, "active") == links_pb2.CAMPAIGN_STATUS_ACTIVE
    assert enums.parse_enum(links_pb2.CampaignStatus, " PAUSED ") == links_pb2.CAMPAIGN_STATUS_PAUSED
    assert enums.parse_enum(links_pb2.CampaignStatus, "CAMPAIGN_STATUS_DRAFT") == links_pb2.CAMPAIGN_STATUS_DRAFT
    assert enums.parse_enum(links_pb2.CampaignStatus, None) == 0
    assert enums.parse_enum(links_pb2.CampaignStatus, "") == 0
    with pytest.raises(enums.EnumValueError, match="'live' is not one of: draft, active, paused, archived"):
        enums.parse_enum(links_pb2.CampaignStatus, "live")


def test_str_enum_members_are_the_choices() -> None:
    status = enums.str_enum(links_pb2.CampaignStatus)
    assert [m.value for m in status] == enums.choices(links_pb2.CampaignStatus)
    assert status("active") == "active"
    assert enums.parse_enum(links_pb2.CampaignStatus, status("archived")) == links_pb2.CAMPAIGN_STATUS_ARCHIVED


def test_maps_are_fresh_dicts() -> None:
    m = enums.name_map(links_pb2.DeviceType)
    m[0] = "changed"
    assert enums.name_map(links_pb2.DeviceType)[0] == ""


def test_kinds_match_the_protos() -> None:
    assert kinds.VERDICT_NAMES == {
        quality_pb2.VERDICT_CLEAN: "clean", quality_pb2.VERDICT_SUSPICIOUS: "suspicious",
        quality_pb2.VERDICT_INVALID: "invalid",
    }  # fmt: skip
    assert kinds.VERDICTS_BY_NAME["invalid"] == kinds.INVALID == quality_pb2.VERDICT_INVALID
    assert kinds.CONVERSION_STATUS_NAMES == {0: "", 1: "pending", 2: "approved", 3: "rejected"}
    assert kinds.CONVERSION_STATUS_CODES["approved"] == attribution_pb2.CONVERSION_STATUS_APPROVED
    assert kinds.EVENT_TYPE_CODES == {"install": 1, "identify": 2, "track": 3, "screen": 4, "heartbeat": 5}
    assert kinds.EVENT_TYPE_CODES["track"] == ingest_pb2.EVENT_TYPE_TRACK
    assert kinds.PLATFORM_CODES == {"": 0, "ios": 1, "android": 2, "web": 3, "other": 4}
    assert kinds.DEVICE_TYPE_NAMES == {0: "", 1: "desktop", 2: "mobile", 3: "tablet", 4: "bot", 5: "other"}
    assert kinds.TARIFF_MODEL_CODES["revshare"] == config_pb2.TARIFF_MODEL_REVSHARE
    assert kinds.DELIVERY_STATUS_NAMES[postbacks_pb2.DELIVERY_STATUS_DEAD] == "dead"


def test_sub_ids_and_aliases() -> None:
    assert subids.SUB_IDS == tuple(f"sub{i}" for i in range(1, 11))
    assert subids.canonical_sub_field(" Source ") == "sub2"
    assert subids.canonical_sub_field("sub10") == "sub10"
    assert subids.canonical_sub_field("sub11") is None
    assert subids.SUB_ALIAS_INDEX == {"subid": 0, "sub_id": 0, "source": 1, "creative": 2}
    assert subids.CLICK_FIELDS["clickid"] == "partner_click_id"
    assert subids.CLICK_FIELDS["creative"] == "sub3"
    assert subids.CLICK_FIELDS["sub7"] == "sub7"


def test_metrics() -> None:
    assert metrics.VERDICT_COUNTS[:3] == ("clean_clicks", "suspicious_clicks", "invalid_clicks")
    assert set(metrics.RULE_METRICS) <= set(metrics.REPORT_METRICS)
    assert set(metrics.PERCENT_METRICS) <= set(metrics.RULE_METRICS)


def test_windows() -> None:
    lo, hi = windows.ATTRIBUTION_WINDOW_BOUNDS["click_lookback"]
    assert lo <= windows.ATTRIBUTION_WINDOW_DEFAULTS["click_lookback"] <= hi <= windows.MAX_TOUCH_WINDOW
    assert set(windows.ATTRIBUTION_WINDOW_DEFAULTS) == set(windows.ATTRIBUTION_WINDOW_BOUNDS)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("7d", 604800), ("24h", 86400), ("90m", 5400), ("1d12h", 129600), ("3600", 3600), ("3600s", 3600),
     (" 24 h ", 86400), ("2H", 7200)],
)  # fmt: skip
def test_parse_duration(text: str, seconds: int) -> None:
    assert timetext.duration_seconds(text) == seconds
    assert timetext.parse_duration(text) == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("bad", ["7 days", "1.5h", "", "h", "-1h", "1w", "d7"])
def test_parse_duration_refuses(bad: str) -> None:
    with pytest.raises(ValueError, match="a duration like 7d"):
        timetext.duration_seconds(bad)


def test_format_duration() -> None:
    assert timetext.format_duration(129600) == "1d12h"
    assert timetext.format_duration(dt.timedelta(minutes=90)) == "1h30m"
    assert timetext.format_duration(0) == "0s"
    assert timetext.format_duration_unit(86400) == "1d"
    assert timetext.format_duration_unit(5400) == "90m"
    assert timetext.format_duration_unit(90) == "90s"
    assert timetext.format_duration_unit(0) == "0s"
    for s in (60, 3600, 5400, 86400, 129600, 7):
        assert timetext.duration_seconds(timetext.format_duration(s)) == s
        assert timetext.duration_seconds(timetext.format_duration_unit(s)) == s


def test_dates() -> None:
    assert timetext.parse_date(" 2026-01-31 ") == dt.date(2026, 1, 31)
    for bad in ("2026-1-31", "2026-02-30", "20260131", "yesterday"):
        with pytest.raises(ValueError, match="is not a date like 2026-01-31"):
            timetext.parse_date(bad)
    assert timetext.days_between("2026-01-30", "2026-02-01") == ["2026-01-30", "2026-01-31", "2026-02-01"]
    assert timetext.days_between("2026-02-01", "2026-01-30") == []
    assert timetext.days_between("x", "2026-01-30") == []
    assert len(timetext.days_between("2025-01-01", "2026-12-31")) == 0
