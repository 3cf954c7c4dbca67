"""Enum choices the CLI flags take: the proto enum values' short lowercase
names (``CAMPAIGN_STATUS_ACTIVE`` is ``active``), built from the enum
descriptors (libs.vocab.enums.str_enum), so a new proto value is a new choice."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any, TypeAlias

from clicktrail.attribution.v1 import config_pb2
from clicktrail.ingest.v1 import ingest_pb2
from clicktrail.links.v1 import affiliate_pb2, links_pb2
from clicktrail.postbacks.v1 import postbacks_pb2
from clicktrail.type.v1 import quality_pb2
from google.protobuf.descriptor import EnumDescriptor

from cli.errors import UsageError
from libs.vocab.enums import EnumValueError, parse_enum, str_enum
from libs.vocab.enums import choices as enum_choices
from libs.vocab.enums import short_name as enum_short

if TYPE_CHECKING:  # to the type checker each is a StrEnum; at run time, built from the proto
    Platform: TypeAlias = enum.StrEnum
    CampaignType: TypeAlias = enum.StrEnum
    TrafficType: TypeAlias = enum.StrEnum
    CampaignStatus: TypeAlias = enum.StrEnum
    EventType: TypeAlias = enum.StrEnum
    GoalKind: TypeAlias = enum.StrEnum
    Occurrence: TypeAlias = enum.StrEnum
    TariffModel: TypeAlias = enum.StrEnum
    InvalidTrafficAction: TypeAlias = enum.StrEnum
    Verdict: TypeAlias = enum.StrEnum
    Trigger: TypeAlias = enum.StrEnum
    SendingMode: TypeAlias = enum.StrEnum
    HttpMethod: TypeAlias = enum.StrEnum
    DeliveryStatus: TypeAlias = enum.StrEnum
    PayoutType: TypeAlias = enum.StrEnum
    CapAction: TypeAlias = enum.StrEnum
    OfferStatus: TypeAlias = enum.StrEnum
    LanderType: TypeAlias = enum.StrEnum
    StreamAction: TypeAlias = enum.StrEnum
    QrFormat: TypeAlias = enum.StrEnum
else:
    Platform = str_enum(links_pb2.Platform)
    CampaignType = str_enum(links_pb2.CampaignType)
    TrafficType = str_enum(links_pb2.TrafficType)
    CampaignStatus = str_enum(links_pb2.CampaignStatus)
    EventType = str_enum(ingest_pb2.EventType)
    GoalKind = str_enum(config_pb2.GoalKind)
    Occurrence = str_enum(config_pb2.Occurrence)
    TariffModel = str_enum(config_pb2.TariffModel)
    InvalidTrafficAction = str_enum(links_pb2.InvalidTrafficAction)
    Verdict = str_enum(quality_pb2.Verdict)
    Trigger = str_enum(postbacks_pb2.Trigger)
    SendingMode = str_enum(postbacks_pb2.SendingMode)
    HttpMethod = str_enum(postbacks_pb2.HttpMethod)
    DeliveryStatus = str_enum(postbacks_pb2.DeliveryStatus)
    PayoutType = str_enum(affiliate_pb2.PayoutType)
    CapAction = str_enum(affiliate_pb2.CapAction)
    OfferStatus = str_enum(affiliate_pb2.OfferStatus)
    LanderType = str_enum(affiliate_pb2.LanderType)
    StreamAction = str_enum(affiliate_pb2.StreamAction)
    QrFormat = str_enum(affiliate_pb2.QrFormat)


# enum_short / enum_choices (libs.vocab.enums): values named the way the flags and --json name them.
__all__ = [
    "CampaignStatus", "CampaignType", "CapAction", "DeliveryStatus", "EventType", "GoalKind", "HttpMethod",
    "InvalidTrafficAction", "LanderType", "Occurrence", "OfferStatus", "PayoutType", "Platform", "QrFormat",
    "SendingMode", "StreamAction", "TariffModel", "TrafficType", "Trigger", "Verdict", "enum_choices", "enum_number",
    "enum_short",
]  # fmt: skip


def enum_number(desc: EnumDescriptor, short: str | enum.Enum | None) -> Any:
    """``active`` (or ``CAMPAIGN_STATUS_ACTIVE``) -> its number; None/"" -> 0; else a usage error."""
    try:
        return parse_enum(desc, short)
    except EnumValueError as exc:
        raise UsageError(str(exc)) from None
