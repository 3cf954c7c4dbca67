"""Statuses, verdicts and types: number <-> short name maps, all derived from
the proto enums (libs.vocab.enums), so a new proto value shows up everywhere.

Each ``*_NAMES`` maps number -> short name with 0 -> ``""``; each ``*_CODES``
maps short name -> number (no zero). Use the numbers as query parameters in
SQL (``WHERE status = $2`` with ``CONVERSION_STATUS_CODES["approved"]`` or the
pb constant), never as literals.
"""

from __future__ import annotations

from clicktrail.analytics.v1 import reports_pb2
from clicktrail.attribution.v1 import attribution_pb2, config_pb2
from clicktrail.ingest.v1 import ingest_pb2
from clicktrail.links.v1 import links_pb2
from clicktrail.postbacks.v1 import postbacks_pb2
from clicktrail.type.v1 import quality_pb2

from libs.vocab.enums import code_map, name_map

# ---- traffic quality (clicktrail.type.v1.Verdict)
VERDICT = quality_pb2.Verdict
UNSPECIFIED: int = quality_pb2.VERDICT_UNSPECIFIED
CLEAN: int = quality_pb2.VERDICT_CLEAN
SUSPICIOUS: int = quality_pb2.VERDICT_SUSPICIOUS
INVALID: int = quality_pb2.VERDICT_INVALID
VERDICT_NAMES: dict[int, str] = {k: v for k, v in name_map(VERDICT).items() if k}
VERDICTS_BY_NAME: dict[str, int] = dict(code_map(VERDICT))

# ---- conversions and attribution (attribution.v1)
CONVERSION_STATUS_NAMES: dict[int, str] = name_map(attribution_pb2.ConversionStatus)
CONVERSION_STATUS_CODES: dict[str, int] = code_map(attribution_pb2.ConversionStatus)
MATCH_TYPE_NAMES: dict[int, str] = name_map(attribution_pb2.MatchType)
TARIFF_MODEL_NAMES: dict[int, str] = name_map(config_pb2.TariffModel)
TARIFF_MODEL_CODES: dict[str, int] = code_map(config_pb2.TariffModel)

# ---- postbacks
DELIVERY_STATUS_NAMES: dict[int, str] = name_map(postbacks_pb2.DeliveryStatus)
DELIVERY_STATUS_CODES: dict[str, int] = code_map(postbacks_pb2.DeliveryStatus)

# ---- events (ingest.v1)
EVENT_TYPE_NAMES: dict[int, str] = name_map(ingest_pb2.EventType)
EVENT_TYPE_CODES: dict[str, int] = code_map(ingest_pb2.EventType)
# The event platform; '' is a valid (unset) platform in an event body.
PLATFORM_NAMES: dict[int, str] = name_map(ingest_pb2.DevicePlatform)
PLATFORM_CODES: dict[str, int] = {"": 0, **code_map(ingest_pb2.DevicePlatform)}
TRACKING_STATUS_NAMES: dict[int, str] = name_map(ingest_pb2.TrackingStatus)
TRACKING_STATUS_CODES: dict[str, int] = {"": 0, **code_map(ingest_pb2.TrackingStatus)}
# Statuses under which the person has not let the app track them for ads.
TRACKING_LIMITED = frozenset((
    ingest_pb2.TRACKING_STATUS_DENIED, ingest_pb2.TRACKING_STATUS_RESTRICTED, ingest_pb2.TRACKING_STATUS_NOT_DETERMINED,
))  # fmt: skip

# ---- touches (links.v1)
DEVICE_TYPE_NAMES: dict[int, str] = name_map(links_pb2.DeviceType)
DEVICE_TYPE_CODES: dict[str, int] = {"": 0, **code_map(links_pb2.DeviceType)}
CAMPAIGN_STATUS_NAMES: dict[int, str] = name_map(links_pb2.CampaignStatus)

# ---- analytics: what carried a reason (report_reasons.kind)
RECORD_KIND_NAMES: dict[int, str] = name_map(reports_pb2.RecordKind)
