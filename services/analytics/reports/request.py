"""A campaign report's request: the dimensions it may group and filter by, its
limits, and the checks and normalisation of (range, time zone, group_by,
filters, verdicts) before anything is planned. Pure: no SQL, no I/O."""

from __future__ import annotations

import dataclasses
import datetime as dt
import zoneinfo
from collections.abc import Collection, Mapping, Sequence

from libs.errors import InvalidArgument, Validator
from libs.vocab import metrics as vocab_metrics
from libs.vocab.kinds import DEVICE_TYPE_CODES, DEVICE_TYPE_NAMES
from libs.vocab.subids import SUB_IDS
from libs.vocab.windows import MAX_REPORT_RANGE
from services.analytics.reports.model import ALL_VERDICTS, Verdicts

SUB_DIMS = SUB_IDS
# The affiliate flow's dimensions (ids; "" for a click through no flow).
FLOW_DIMS = vocab_metrics.FLOW_DIMENSIONS
# Apple Ads (AdServices) ids of the installs Apple's API credited ("" for the rest).
APPLE_DIMS = vocab_metrics.APPLE_ADS_DIMENSIONS
DIMENSIONS = (
    "campaign", "link", "partner", "app", "country", "device_type", "os", "day", "hour", *FLOW_DIMS, *APPLE_DIMS,
    *SUB_DIMS,
)  # fmt: skip
# Dimensions the sub-id rollups do not carry.
NOT_WITH_SUBS = ("link", "country", "device_type", "os", "hour", *FLOW_DIMS, *APPLE_DIMS)
# Dimensions the flow rollups do not carry.
NOT_WITH_FLOW = ("country", "device_type", "os")
# Dimensions the Apple Ads rollup does not carry.
NOT_WITH_APPLE = ("country", "device_type", "os", *FLOW_DIMS)
FILTERABLE = tuple(d for d in DIMENSIONS if d not in ("day", "hour"))
# The dimensions the reasons cube keeps: top reasons only for reports within them.
REASON_DIMS = frozenset({"campaign", "partner", "app", "day", "hour"})
# device_type code -> name (0 -> ""), and back.
DEVICE_TYPES = DEVICE_TYPE_NAMES

MAX_RANGE = MAX_REPORT_RANGE
MAX_ROWS = 100_000
MAX_FILTER_VALUES = 1000
HOUR = dt.timedelta(hours=1)


def floor_hour(t: dt.datetime) -> dt.datetime:
    return t.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def ceil_hour(t: dt.datetime) -> dt.datetime:
    f = floor_hour(t)
    return f if f == t else f + HOUR


def day_floor(t: dt.datetime) -> dt.datetime:
    return t.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def day_ceil(t: dt.datetime) -> dt.datetime:
    f = day_floor(t)
    return f if f == t else f + dt.timedelta(days=1)


def sub_of(group_by: Sequence[str], filters: Mapping[str, object]) -> str | None:
    """The one sub-id dimension a report groups or filters by, if any."""
    return next((d for d in [*group_by, *filters] if d in SUB_DIMS), None)


def zone(v: Validator, field: str, name: str) -> zoneinfo.ZoneInfo | None:
    name = name or "UTC"
    try:
        if len(name) > 64 or ".." in name or name.startswith("/"):
            raise ValueError
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        v.add(field, f"{name!r} is not an IANA time zone like Europe/Berlin")
        return None


def offsets_multiple(tz: zoneinfo.ZoneInfo, start: dt.datetime, end: dt.datetime, seconds: int) -> bool:
    """Whether the zone's UTC offset is a multiple of ``seconds`` all through
    [start, end) (3600: whole hours; 86400: no offset at all)."""
    t = start
    while t < end + dt.timedelta(days=1):
        off = t.astimezone(tz).utcoffset() or dt.timedelta()
        if off.total_seconds() % seconds:
            return False
        t += dt.timedelta(hours=6)
    return True


def check_request(
    v: Validator,
    start: dt.datetime,
    end: dt.datetime,
    tz: zoneinfo.ZoneInfo | None,
    group_by: Sequence[str],
    filters: Mapping[str, Sequence[str]],
    *,
    fields: Mapping[str, str] | None = None,
) -> None:
    """Adds a violation per bad part; ``fields`` renames fields for the caller's API."""
    f = {"start": "start", "end": "end", "time_zone": "time_zone", "group_by": "group_by", "filters": "filters"}
    f.update(fields or {})
    if end <= start:
        v.add(f["end"], f"{end.isoformat()} is not after the start {start.isoformat()}: swap them")
    elif end - start > MAX_RANGE + dt.timedelta(days=1):
        v.add(f["end"], f"the range is {(end - start).days} days; at most {MAX_RANGE.days} are allowed")
    elif tz is not None and not offsets_multiple(tz, start, end, 3600):
        v.add(
            f["time_zone"],
            f"{tz.key} is not a whole number of hours from UTC in this range; reports are kept in UTC hours:"
            " use a zone with a whole-hour offset (or UTC)",
        )
    unknown = [d for d in group_by if d not in DIMENSIONS]
    if unknown:
        v.add(f["group_by"], f"unknown dimension {', '.join(map(repr, unknown))}; known: {', '.join(DIMENSIONS)}")
    if len(set(group_by)) != len(group_by):
        v.add(f["group_by"], "names a dimension twice")
    for key, values in filters.items():
        if key not in FILTERABLE:
            hint = "; the date range selects days and hours" if key in ("day", "hour") else ""
            v.add(f"{f['filters']}.{key}", f"unknown filter dimension{hint}; known: {', '.join(FILTERABLE)}")
        elif not values:
            v.add(f"{f['filters']}.{key}", "needs at least one value")
        elif len(values) > MAX_FILTER_VALUES:
            v.add(f"{f['filters']}.{key}", f"at most {MAX_FILTER_VALUES} values")
        elif key == "device_type":
            bad = [x for x in values if x not in DEVICE_TYPE_CODES]
            if bad:
                known = ", ".join(n for n in DEVICE_TYPE_CODES if n)
                v.add(f"{f['filters']}.device_type", f"unknown device type {bad[0]!r}; known: {known}")
    subs = sorted({d for d in [*group_by, *filters] if d in SUB_DIMS})
    if len(subs) > 1:
        v.add(f["group_by"], f"a report takes one sub-id at a time (got {', '.join(subs)}): run one report per sub-id")
    elif subs:
        clash = [d for d in [*group_by, *filters] if d in NOT_WITH_SUBS]
        if clash:
            v.add(
                f["group_by"],
                f"{subs[0]} does not combine with {', '.join(sorted(set(clash)))}: sub-id reports group by"
                " campaign, partner, app, day (UTC) and the one sub-id",
            )
        elif tz is not None and end > start and not offsets_multiple(tz, start, end, 86400):
            v.add(f["time_zone"], f"sub-id reports are kept by UTC day: use time_zone UTC (not {tz.key})")
    flow = [d for d in FLOW_DIMS if d in group_by or d in filters]
    clash = sorted({d for d in [*group_by, *filters] if d in NOT_WITH_FLOW})
    apple = [d for d in APPLE_DIMS if d in group_by or d in filters]
    if flow and clash and not subs:
        v.add(
            f["group_by"],
            f"{', '.join(flow)} does not combine with {', '.join(clash)}: stream, lander and offer reports group"
            " and filter by campaign, link, partner, app, day and hour besides",
        )
        return
    clash = sorted({d for d in [*group_by, *filters] if d in NOT_WITH_APPLE})
    if apple and clash and not subs:
        v.add(
            f["group_by"],
            f"{', '.join(apple)} does not combine with {', '.join(clash)}: Apple Ads reports group and filter by"
            " campaign, link, partner, app, day and hour besides",
        )


def check_verdicts(v: Validator, field: str, verdicts: Sequence[int]) -> None:
    """A verdicts filter names clean, suspicious or invalid (each any number of times)."""
    for i, x in enumerate(verdicts):
        if x not in ALL_VERDICTS:
            v.add(f"{field}[{i}]", "is not a verdict: VERDICT_CLEAN, VERDICT_SUSPICIOUS or VERDICT_INVALID")


@dataclasses.dataclass(frozen=True)
class ReportRequest:
    """A checked report request: [start, end) whole UTC hours (whole UTC days
    for a sub-id report), its zone, dimensions, filters and verdicts."""

    account_id: str
    start: dt.datetime
    end: dt.datetime
    tz: zoneinfo.ZoneInfo
    group_by: list[str]
    filters: dict[str, list[str]]
    verdicts: Verdicts

    @property
    def first_day(self) -> dt.date:
        return self.start.date()

    @property
    def last_day(self) -> dt.date:
        return (self.end - dt.timedelta(microseconds=1)).date()


def parse_request(
    account_id: str,
    start: dt.datetime,
    end: dt.datetime,
    group_by: Sequence[str],
    filters: Mapping[str, Sequence[str]] | None = None,
    *,
    time_zone: str = "UTC",
    verdicts: Collection[int] | None = None,
) -> ReportRequest:
    """campaign_report's arguments checked and normalised (see its docstring);
    raises InvalidArgument naming every bad field."""
    filters_ = {k: list(v) for k, v in (filters or {}).items()}
    group_by = list(group_by)
    v = Validator()
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidArgument("start", "start and end must carry a time zone")
    start, end = floor_hour(start), ceil_hour(end)
    if sub_of(group_by, filters_):
        start, end = day_floor(start), day_ceil(end)
    tz = zone(v, "time_zone", time_zone)
    check_request(v, start, end, tz, group_by, filters_)
    check_verdicts(v, "verdicts", list(verdicts or ()))
    v.raise_if_any()
    assert tz is not None
    return ReportRequest(account_id, start, end, tz, group_by, filters_, Verdicts.of(verdicts))
