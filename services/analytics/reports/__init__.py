"""Campaign reports: the rollups folded from links.clicks / links.impressions /
attribution.installs / attribution.conversions, and the report query over them
(cost from tariffs and corrections included). The servicer (report_service.py)
checks requests and shapes answers; the rules engine calls ``campaign_report``
in-process.

Modules: request (what a report may ask, the checks), plan (which cubes answer
it), sql / subs_sql / queries.sql (the statements), execution (reading them in
one snapshot), aggregation (records into rows and totals), model (rows, money,
verdicts); fold_sql and rollups keep the cubes current.

Definitions (documented in reports.proto and the README too):
- Buckets are UTC hours: clicks and impressions by their create_time, installs
  by install_time, conversions by their event_time. A report covers whole hours.
- Unique click: the first click (by create_time, then click_id) of its IP +
  User-Agent on its campaign in its UTC day. Clicks without an IP are each
  unique. Unique clicks therefore add up over any grouping.
- Conversions: pending + approved (rejected never count). Approved: approved
  only. Revenue: payouts of approved conversions, per currency.
- Installs and conversions without a campaign (organic) are not in campaign
  reports.
- Verdicts (traffic quality): the counts above, revenue and cost are of clean +
  suspicious rows; each count has its suspicious and invalid parts beside it
  (migrations/0006_quality.sql says why as columns). Unique clicks are decided
  within a class, invalid or not (an invalid click never makes a later clean one
  non-unique). Cost is never paid on invalid rows. A verdicts filter narrows
  everything to some verdicts and counts all of them in the main columns (see
  reports.proto).
- Installs are folded by update_time (attribution bumps it on every change, an
  overrule too), like conversions; an operator's overrule of a touch verdict
  (links.touch_overrules) recounts the hours it changed (TrafficRollup.add).
- Cost: the campaign's tariff in force on the event's UTC day (CPC per click,
  CPM per 1000 impressions, CPI per install, CPA per counted conversion of the
  tariff's goal, REVSHARE percent of revenue in the revenue's currency), plus
  corrections: each spread evenly over the UTC days of its period, and within a
  day over the rows in proportion to the campaign's clicks that day (a day
  without clicks puts its share on the campaign's row at 00:00 UTC, link, country,
  device and OS empty).
- Affiliate flows: lander views are the clicks the flow sent to a lander
  (links.clicks.lander_id set), lander clicks the links.lander_clicks rows by
  their create_time (with their click's dimensions), lander CTR their ratio;
  every traffic cube has them. Stream, lander and offer are dimensions of the
  flow cubes only (migrations/0007_flow.sql says why): beside campaign, link,
  partner, app, day and hour.
- App campaigns (migrations/0008_app_campaigns.sql): apple_ads_org,
  apple_ads_campaign, apple_ads_ad_group, apple_ads_keyword are Apple's ids of
  the installs Apple's attribution API credited (match type 5) and of their
  conversions credited to the same campaign ("" for the rest), dimensions of
  the Apple Ads outcomes cube only (traffic from the per-link one): beside
  campaign, link, partner, app, day and hour. skan_installs, skan_conversions,
  skan_revenue (SKAN / AAK postbacks by receive time; unmapped ones in campaign
  ""), re_engagements and re_attributions (by event time) come from
  report_app (campaign, link, partner, app, hour; "" in any other dimension),
  count as clean and carry no cost.
"""

from services.analytics.reports.execution import campaign_report
from services.analytics.reports.model import (
    APP_METRICS,
    FLOW_METRICS,
    METRICS,
    VERDICT_COUNTS,
    Breakpoint,
    GoalFigures,
    Money,
    Report,
    ReportRow,
    Verdicts,
    round_money,
)
from services.analytics.reports.request import (
    APPLE_DIMS,
    DIMENSIONS,
    FILTERABLE,
    FLOW_DIMS,
    MAX_RANGE,
    SUB_DIMS,
    check_request,
    check_verdicts,
    zone,
)
from services.analytics.reports.rollups import AppRollup, OutcomesRollup, TrafficRollup

__all__ = [
    "APPLE_DIMS", "APP_METRICS", "DIMENSIONS", "FILTERABLE", "FLOW_DIMS", "FLOW_METRICS", "MAX_RANGE", "METRICS",
    "SUB_DIMS", "VERDICT_COUNTS", "AppRollup", "Breakpoint", "GoalFigures",
    "Money", "OutcomesRollup", "Report", "ReportRow", "TrafficRollup", "Verdicts", "campaign_report",
    "check_request", "check_verdicts", "round_money", "zone",
]  # fmt: skip
