"""The affiliate flow in the report path's pure parts: the flow dimensions'
checks, the flow cube in the plan and the statements, the lander counts in the
records and rows, order_by on the new metrics."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from libs.errors import InvalidArgument, Validator
from services.analytics import report_service
from services.analytics.reports import aggregation, fold_sql, plan, request, sql
from services.analytics.reports.model import METRICS, ReportRow, Verdicts

UTC = zoneinfo.ZoneInfo("UTC")
T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
DAY3 = T0 + dt.timedelta(days=3)


def test_flow_dimensions_group_and_filter_beside_campaign_link_partner_app_day_hour():
    allowed = [
        (["stream"], {}), (["campaign", "link", "lander", "hour"], {}), (["day"], {"offer": [""]}),
        (["partner", "app", "offer"], {"stream": ["str_1"]}),
    ]  # fmt: skip
    for group_by, filters in allowed:
        v = Validator()
        request.check_request(v, T0, DAY3, UTC, group_by, filters)
        assert not v.violations, (group_by, filters)


def test_flow_dimensions_refuse_country_device_type_os_and_sub_ids():
    with pytest.raises(InvalidArgument) as err:
        request.parse_request("acc", T0, DAY3, ["stream", "country"], {"os": ["iOS"]})
    assert [f for f, _ in err.value.violations] == ["group_by"]
    assert "country, os" in err.value.violations[0][1]
    v = Validator()
    request.check_request(v, T0, DAY3, UTC, ["lander"], {"sub1": ["a"]})
    assert [f for f, _ in v.violations] == ["group_by"] and "lander" in v.violations[0][1]


def test_plan_reads_the_flow_cube_for_any_flow_dimension():
    assert plan.plan(["offer"], {}, T0, DAY3, UTC) == (T0, T0, [plan.FLOW])
    assert plan.plan(["campaign", "day"], {"lander": ["lnd_1"]}, T0, DAY3, UTC) == (T0, T0, [plan.FLOW])
    # The others are unchanged: the flow does not widen what they read.
    assert plan.plan(["campaign"], {}, T0, DAY3, UTC) == (T0, T0, [plan.LINKS])
    assert plan.FLOW in plan.CUBES and plan.FLOW.grain == "hour"


def test_flow_filters_take_fixed_slots_and_the_flow_cube_columns():
    args = sql.filter_args({"stream": ["s"], "offer": ["", "o"]})
    assert args[sql.FILTER_SLOTS.index("stream")] == ["s"] and args[sql.FILTER_SLOTS.index("offer")] == ["", "o"]
    assert args.count(None) == len(sql.FILTER_SLOTS) - 2
    traffic, _, outcomes = sql.report_sql(["lander"], {}, [plan.FLOW])
    assert "FROM analytics.report_traffic_flow" in traffic and "FROM analytics.report_outcomes_flow" in outcomes
    assert "lander_id AS d0" in traffic
    # Every cube folds the lander measures; the flow cube keys by stream, lander, offer.
    assert "lander_clicks = c.lander_clicks + excluded.lander_clicks" in fold_sql.TRAFFIC_ADD_SQL
    assert "stream_id, lander_id, offer_id) DO UPDATE" in fold_sql.TRAFFIC_RECOUNT_SQL
    assert "FROM links.lander_clicks l" in fold_sql.TRAFFIC_RECOUNT_SQL
    assert "c.stream_id, c.lander_id, c.offer_id" in fold_sql.OUTCOMES_FLOW_SQL
    assert "c.stream_id" not in fold_sql.OUTCOMES_SQL


def _record(dim: str, clicks: int, lander_views: int, lander_clicks: int) -> tuple[object, ...]:
    counts = (clicks, clicks, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, lander_views, lander_clicks)
    return (dim, *counts, *(None,) * 5, None, None)


def test_lander_counts_add_up_and_ctr():
    records = [_record("lnd_1", 6, 6, 2), _record("lnd_1", 0, 0, 1), _record("", 5, 0, 0), _record("lnd_2", 0, 0, 1)]
    rows, totals = aggregation.add_up(records, [], ["lander"], Verdicts())
    assert (rows[("lnd_1",)].lander_views, rows[("lnd_1",)].lander_clicks) == (6, 3)
    assert rows[("lnd_1",)].lander_ctr == 0.5 and rows[("",)].lander_ctr == 0.0
    assert (totals.lander_views, totals.lander_clicks) == (6, 4)
    # A row with lander clicks alone (its clicks in an earlier hour) is not empty.
    report = aggregation.finish(T0, DAY3, "UTC", ["lander"], rows, totals, [])
    assert [r.dims["lander"] for r in report.rows] == ["", "lnd_1", "lnd_2"]


def test_order_by_the_lander_metrics():
    assert {"lander_views", "lander_clicks", "lander_ctr"} <= set(METRICS)
    v = Validator()
    assert report_service.parse_order(v, "lander_ctr desc", ["lander"]) == ("lander_ctr", True)
    assert not v.violations
    rows = [ReportRow({"lander": "a"}, lander_views=4, lander_clicks=1), ReportRow({"lander": "b"}, lander_views=2,
            lander_clicks=1)]  # fmt: skip
    ordered = sorted(rows, key=lambda r: report_service._sort_key(r, "lander_ctr", ""), reverse=True)
    assert [r.dims["lander"] for r in ordered] == ["b", "a"]
