"""The enum numbers analytics' SQL compares with, named once and taken from the
proto enums (the stored smallints are their values), so no statement carries a
bare number. Traffic-quality verdicts come from libs.quality (type.v1.Verdict).
"""

from __future__ import annotations

from clicktrail.analytics.v1 import reports_pb2
from clicktrail.attribution.v1 import attribution_pb2, config_pb2
from clicktrail.ingest.v1 import ingest_pb2

from libs import quality

# clicktrail.type.v1.Verdict (links.clicks.verdict, attribution.*.verdict, the cubes' verdict).
CLEAN, SUSPICIOUS, INVALID = quality.CLEAN, quality.SUSPICIOUS, quality.INVALID

# analytics.v1.RecordKind: what carried a reason (report_reasons.kind).
KIND_CLICK = reports_pb2.RECORD_KIND_CLICK
KIND_IMPRESSION = reports_pb2.RECORD_KIND_IMPRESSION
KIND_INSTALL = reports_pb2.RECORD_KIND_INSTALL
KIND_CONVERSION = reports_pb2.RECORD_KIND_CONVERSION

# attribution.v1.ConversionStatus (attribution.conversions.status, report_facts.status).
CONVERSION_APPROVED = attribution_pb2.CONVERSION_STATUS_APPROVED
CONVERSION_REJECTED = attribution_pb2.CONVERSION_STATUS_REJECTED

# attribution.v1.TouchType (attribution.installs.touch_type).
TOUCH_CLICK = attribution_pb2.TOUCH_TYPE_CLICK
TOUCH_IMPRESSION = attribution_pb2.TOUCH_TYPE_IMPRESSION

# attribution.v1.TariffModel (attribution.tariffs.model).
TARIFF_CPC = config_pb2.TARIFF_MODEL_CPC
TARIFF_CPM = config_pb2.TARIFF_MODEL_CPM
TARIFF_CPI = config_pb2.TARIFF_MODEL_CPI
TARIFF_CPA = config_pb2.TARIFF_MODEL_CPA
TARIFF_REVSHARE = config_pb2.TARIFF_MODEL_REVSHARE

# ingest.v1.EventType (ingest.events.event).
EVENT_TRACK = ingest_pb2.EVENT_TYPE_TRACK
EVENT_SCREEN = ingest_pb2.EVENT_TYPE_SCREEN

# attribution.installs.match_type of an install Apple's attribution API credited
# (Apple Ads, AdServices; attribution's migration 0006). The proto name, once
# attribution.v1.MatchType has it, else the migration's number.
MATCH_APPLE_ADS: int = getattr(attribution_pb2, "MATCH_TYPE_APPLE_ADS", 5)

# attribution.reattributions.kind (attribution's migration 0006): a re-engagement
# of an installed app's user, a re-attribution of a reinstall.
REATTRIBUTION_RE_ENGAGEMENT = 1
REATTRIBUTION_RE_ATTRIBUTION = 2
