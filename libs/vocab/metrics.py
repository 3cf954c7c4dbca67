"""Metric names: what reports compute, what rules compare, how they print.

RULE_METRICS        # the metrics a rule condition may name
PERCENT_METRICS     # compared and shown in percent (roi < -50 is ROI below -50 %)
REPORT_METRICS      # every report column (order_by names), verdict splits included
LANDER_METRICS      # the affiliate flow's lander columns
FLOW_DIMENSIONS     # the affiliate flow's report dimensions
APPLE_ADS_DIMENSIONS  # Apple Ads (AdServices) report dimensions
APP_METRICS         # SKAdNetwork / AdAttributionKit and re-engagement columns
"""

from __future__ import annotations

from libs.vocab.kinds import VERDICT_NAMES

# Plain counts a report row carries.
COUNT_METRICS: tuple[str, ...] = ("clicks", "unique_clicks", "impressions", "installs", "conversions")
# Amounts of money (a currency per row).
MONEY_METRICS: tuple[str, ...] = ("revenue", "cost", "profit", "epc", "cpi")
# Ratios compared in percent (the report's ratio x 100).
PERCENT_METRICS: tuple[str, ...] = ("cr", "roi", "invalid_rate")
# The counts split by verdict (ReportRow attributes, and order_by names): clean_clicks, ...
VERDICT_COUNTS: tuple[str, ...] = tuple(
    f"{v}_{k}" for k in ("clicks", "impressions", "installs", "conversions") for v in VERDICT_NAMES.values()
)
# Every metric a report row has, in its column order.
REPORT_METRICS: tuple[str, ...] = (
    *COUNT_METRICS, "approved", "cr", "revenue", "cost", "profit", "roi", "epc", "cpi", "invalid_rate", *VERDICT_COUNTS,
)  # fmt: skip
# The affiliate flow's columns: clicks sent to a lander, click-throughs to the offer, their ratio.
LANDER_METRICS: tuple[str, ...] = ("lander_views", "lander_clicks", "lander_ctr")
# The affiliate flow's report dimensions (their values are ids; "" = no flow).
FLOW_DIMENSIONS: tuple[str, ...] = ("stream", "lander", "offer")
# Apple Ads (AdServices) report dimensions: Apple's own ids of an install credited
# by Apple's attribution API ("" for every other install, and for traffic).
APPLE_ADS_DIMENSIONS: tuple[str, ...] = (
    "apple_ads_org", "apple_ads_campaign", "apple_ads_ad_group", "apple_ads_keyword",
)  # fmt: skip
# SKAdNetwork / AdAttributionKit postbacks (by receive time): installs, the
# conversions and estimated revenue their conversion values stand for.
SKAN_METRICS: tuple[str, ...] = ("skan_installs", "skan_conversions", "skan_revenue")
# Re-engagements and re-attributions (reinstalls) of installed users, by event time.
REENGAGEMENT_METRICS: tuple[str, ...] = ("re_engagements", "re_attributions")
APP_METRICS: tuple[str, ...] = (*SKAN_METRICS, *REENGAGEMENT_METRICS)
# The app metrics that are counts (skan_revenue is money, per currency).
APP_COUNT_METRICS: tuple[str, ...] = ("skan_installs", "skan_conversions", *REENGAGEMENT_METRICS)
# Report columns sorted as counts (with approved and the verdict splits) and as money (roi rides with money).
REPORT_COUNT_COLUMNS: tuple[str, ...] = (*COUNT_METRICS, "approved", *VERDICT_COUNTS)
REPORT_MONEY_COLUMNS: tuple[str, ...] = ("revenue", "cost", "profit", "roi", "epc", "cpi")
# The metrics an automation rule's condition may name.
RULE_METRICS: tuple[str, ...] = (
    "clicks", "unique_clicks", "impressions", "installs", "conversions", "cr", "revenue", "cost",
    "profit", "roi", "epc", "cpi", "invalid_rate",
)  # fmt: skip
