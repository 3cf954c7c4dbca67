"""Local days of a time zone and where they lie in UTC (the half-hour slots of
metric_activity they cover). Pure."""

from __future__ import annotations

import dataclasses
import datetime as dt
import zoneinfo


@dataclasses.dataclass(frozen=True)
class Days:
    """Local days [first, last] of a time zone and where they lie in UTC."""

    first: dt.date
    last: dt.date
    tz: zoneinfo.ZoneInfo

    def start(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(), self.tz).astimezone(dt.UTC)

    @property
    def utc_start(self) -> dt.datetime:
        return self.start(self.first)

    @property
    def utc_end(self) -> dt.datetime:
        return self.start(self.last + dt.timedelta(days=1))

    def shifted(self, before: int = 0, after: int = 0) -> Days:
        return Days(self.first - dt.timedelta(days=before), self.last + dt.timedelta(days=after), self.tz)

    def each(self) -> list[dt.date]:
        return [self.first + dt.timedelta(days=i) for i in range((self.last - self.first).days + 1)]

    def slot_map(self) -> tuple[list[dt.date], list[dt.date], list[int]]:
        """For each (local day, UTC day) pair that overlap, the mask of the UTC
        day's half-hour slots that fall in the local day (metric_activity.slots)."""
        masks: dict[tuple[dt.date, dt.date], int] = {}
        half = dt.timedelta(minutes=30)
        for day in self.each():
            t, end = self.start(day), self.start(day + dt.timedelta(days=1))
            while t < end:
                slot = t.hour * 2 + t.minute // 30
                key = (day, t.date())
                masks[key] = masks.get(key, 0) | (1 << slot)
                t += half
        local = [k[0] for k in masks]
        utc = [k[1] for k in masks]
        # A bigint is signed: bit 47 is the highest used, so every mask is positive.
        return local, utc, list(masks.values())


def offsets_supported(days: Days) -> bool:
    """Whether every local midnight in the range falls on a UTC half hour."""
    for day in [*days.each(), days.last + dt.timedelta(days=1)]:
        t = days.start(day)
        if t.minute % 30 or t.second:
            return False
    return True
