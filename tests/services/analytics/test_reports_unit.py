"""The report path's pure parts, without Postgres: request checks, the cube
plan, the filter slots and the adding up of records into rows."""

from __future__ import annotations

import datetime as dt
import decimal
import zoneinfo
from pathlib import Path

import pytest

from libs.errors import InvalidArgument, ResourceExhausted
from services.analytics import sqlfile
from services.analytics.codes import CLEAN, INVALID, SUSPICIOUS
from services.analytics.reports import aggregation, plan, request, sql
from services.analytics.reports.model import ReportRow, Verdicts

UTC = dt.UTC
T0 = dt.datetime(2026, 3, 1, tzinfo=UTC)
D = decimal.Decimal


def test_parse_request_floors_and_ceils_to_hours_and_to_days_for_a_sub_id():
    req = request.parse_request("acc", T0 + dt.timedelta(minutes=10), T0 + dt.timedelta(hours=5, minutes=1), [])
    assert (req.start, req.end) == (T0, T0 + dt.timedelta(hours=6))
    sub = request.parse_request("acc", T0 + dt.timedelta(hours=3), T0 + dt.timedelta(hours=5), ["sub1"])
    assert (sub.start, sub.end) == (T0, T0 + dt.timedelta(days=1))
    assert (sub.first_day, sub.last_day) == (T0.date(), T0.date())
    assert sub.verdicts == Verdicts() and not sub.verdicts.filtered


def test_parse_request_names_every_bad_field():
    with pytest.raises(InvalidArgument) as err:
        request.parse_request(
            "acc", T0, T0 + dt.timedelta(days=1), ["campaign", "nope", "campaign"],
            {"day": ["x"], "device_type": ["phone"]}, time_zone="Mars/Base", verdicts=[9],
        )  # fmt: skip
    fields = [f for f, _ in err.value.violations]
    assert fields == ["time_zone", "group_by", "group_by", "filters.day", "filters.device_type", "verdicts[0]"]
    with pytest.raises(InvalidArgument):
        request.parse_request("acc", T0.replace(tzinfo=None), T0, [])


def test_a_sub_id_does_not_combine_with_country_nor_a_second_sub_id():
    v = request.Validator()
    request.check_request(v, T0, T0 + dt.timedelta(days=1), zoneinfo.ZoneInfo("UTC"), ["sub1", "country"], {})
    request.check_request(v, T0, T0 + dt.timedelta(days=1), zoneinfo.ZoneInfo("UTC"), ["sub1"], {"sub2": ["a"]})
    assert [d.split(" ")[0] for _, d in v.violations] == ["sub1", "a"]


def test_plan_picks_the_smallest_cube():
    utc = zoneinfo.ZoneInfo("UTC")
    day3 = T0 + dt.timedelta(days=3)
    assert plan.plan(["campaign"], {}, T0, day3, utc) == (T0, T0, [plan.LINKS])
    assert plan.plan(["sub3"], {}, T0, day3, utc) == (T0, day3, [plan.SUBS])
    assert plan.plan(["country"], {}, T0, day3, utc) == (T0, day3, [plan.FULL, plan.DAILY])
    # By hour, by link or within one day: hourly cubes only.
    assert plan.plan(["country", "hour"], {}, T0, day3, utc) == (T0, T0, [plan.FULL])
    assert plan.plan(["link"], {"os": ["iOS"]}, T0, day3, utc) == (T0, T0, [plan.FULL])
    assert plan.plan(["country"], {}, T0, T0 + dt.timedelta(hours=5), utc)[2] == [plan.FULL]
    # Days of a zone off UTC midnight cannot come from the daily cubes.
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    assert plan.plan(["country", "day"], {}, T0, day3, berlin)[2] == [plan.FULL]
    assert plan.reason_days(["day"], T0 + dt.timedelta(hours=2), day3, utc) == (T0 + dt.timedelta(days=1), day3)
    assert plan.reason_days(["hour"], T0, day3, utc) == (T0, T0)


def test_filters_are_fixed_parameter_slots():
    args = sql.filter_args({"device_type": ["mobile", "bot"], "sub4": ["x"], "campaign": ["c1"]})
    assert len(args) == len(sql.FILTER_SLOTS)
    assert args[sql.FILTER_SLOTS.index("device_type")] == [2, 4]
    assert args[sql.FILTER_SLOTS.index("sub")] == ["x"]
    assert args[sql.FILTER_SLOTS.index("campaign")] == ["c1"]
    assert args.count(None) == len(sql.FILTER_SLOTS) - 3
    # The statement's text does not depend on the filter values.
    a = sql.report_sql(["campaign"], {"campaign": ["a"]}, [plan.LINKS])
    b = sql.report_sql(["campaign"], {"campaign": ["b", "c"]}, [plan.LINKS])
    assert a == b
    assert "($11::text[] IS NULL OR campaign_id = ANY($11::text[]))" in a[0]
    assert sql.reasons_args(Verdicts(), {"app": ["x"]}) == [[SUSPICIOUS, INVALID], None, None, ["x"]]


def _record(dims, clicks=0, uniq=0, installs=0, i_clicks=0, goals=None, costs=None):
    g = goals or {}
    counts = (clicks, uniq, 0, 0, i_clicks, 0, 0, installs, 0, 0, sum(v[0] for v in g.values()), 0, 0, 0, 0, 0)
    goal_arrays = (
        (list(g), [v[1] for v in g.values()], [v[0] for v in g.values()], [0] * len(g), [v[2] for v in g.values()])
        if g
        else (None,) * 5
    )
    cost_arrays = (list(costs), list(costs.values())) if costs else (None, None)
    return (*dims, *counts, *goal_arrays, *cost_arrays)


def test_add_up_merges_the_statements_records_and_finishes_the_report():
    records = [
        _record(("c2",), clicks=10, uniq=8, i_clicks=2, costs={"USD": D("1.5")}),
        _record(("c1",), clicks=5, uniq=5),
        _record(("c2",), installs=1, goals={"buy": (2, "EUR", D("3"))}),
        _record(("c3",)),  # nothing in it
    ]
    reasons = [("c2", 1, 0, 2)]
    rows, totals = aggregation.add_up(records, reasons, ["campaign"], Verdicts())
    assert set(rows) == {("c1",), ("c2",), ("c3",)}
    c2 = rows[("c2",)]
    assert (c2.clicks, c2.unique_clicks, c2.invalid_clicks, c2.installs, c2.conversions) == (10, 8, 2, 1, 2)
    assert c2.money["USD"].cost == D("1.5") and c2.money["EUR"].revenue == D("3")
    assert c2.goals["buy"].revenue == {"EUR": D("3")}
    assert c2.reasons == {(0, 1): 2} and c2.invalid_rate == pytest.approx(2 / 12)
    assert (totals.clicks, totals.installs) == (15, 1)
    report = aggregation.finish(T0, T0 + dt.timedelta(days=1), "UTC", ["campaign"], rows, totals, [])
    assert [r.dims["campaign"] for r in report.rows] == ["c1", "c2"]
    assert list(report.totals.money) == ["EUR", "USD"]


def test_finish_refuses_too_many_rows(monkeypatch):
    monkeypatch.setattr(aggregation, "MAX_ROWS", 1)
    rows = {(str(i),): ReportRow({"campaign": str(i)}, clicks=1) for i in range(2)}
    with pytest.raises(ResourceExhausted):
        aggregation.finish(T0, T0, "UTC", ["campaign"], rows, ReportRow({}), [])


def test_dimension_values_as_shown():
    assert aggregation.dim_text("device_type", 2) == "mobile"
    assert aggregation.dim_text("hour", dt.datetime(2026, 3, 1, 7)) == "2026-03-01T07:00"
    assert aggregation.dim_text("day", dt.date(2026, 3, 1)) == "2026-03-01"
    assert aggregation.dim_text("campaign", None) == ""


def test_verdicts_filter_decides_what_cost_is_paid_on():
    assert Verdicts().paid == "main" and not Verdicts().filtered
    assert Verdicts.of([INVALID]).paid == "none"
    assert Verdicts.of([CLEAN, INVALID]).paid == "minus"
    assert Verdicts.of([SUSPICIOUS]).reasons == {SUSPICIOUS}


def test_sql_files_load_named_queries(tmp_path: Path):
    f = tmp_path / "q.sql"
    f.write_text("-- header\n\n-- name: one\n-- what it does\nSELECT 1\n\n-- name: two\nSELECT $1\n")
    assert sqlfile.load(f) == {"one": "\nSELECT 1\n", "two": "\nSELECT $1\n"}
    f.write_text("-- name: one\nSELECT 1\n-- name: one\nSELECT 2\n")
    with pytest.raises(ValueError, match="named twice"):
        sqlfile.load(f)
