"""The option lists of the console's forms and the names its pages show, derived
from the proto enums (short lower-case names, without _UNSPECIFIED)."""

from __future__ import annotations

from typing import Any

from clicktrail.analytics.v1 import rules_pb2 as rules_pb
from clicktrail.attribution.v1 import config_pb2
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.postbacks.v1 import postbacks_pb2 as ppb


def enum_names(enum: Any, prefix: str) -> list[tuple[int, str]]:
    """(number, short lower-case name) of an enum's values, without _UNSPECIFIED."""
    return [(v.number, v.name.removeprefix(prefix).lower()) for v in enum.DESCRIPTOR.values if v.number != 0]


CAMPAIGN_TYPES = enum_names(lpb.CampaignType, "CAMPAIGN_TYPE_")
TRAFFIC_TYPES = enum_names(lpb.TrafficType, "TRAFFIC_TYPE_")
CAMPAIGN_STATUSES = enum_names(lpb.CampaignStatus, "CAMPAIGN_STATUS_")
DELIVERY_STATUSES = enum_names(ppb.DeliveryStatus, "DELIVERY_STATUS_")
TARIFF_MODELS = enum_names(config_pb2.TariffModel, "TARIFF_MODEL_")
DEAD_LETTERS = (ppb.DELIVERY_STATUS_FAILED, ppb.DELIVERY_STATUS_DEAD)
GOAL_KINDS = enum_names(config_pb2.GoalKind, "GOAL_KIND_")
OCCURRENCES = enum_names(config_pb2.Occurrence, "OCCURRENCE_")
TEMPLATE_TRIGGERS = enum_names(ppb.Trigger, "TRIGGER_")
SENDING_MODES = enum_names(ppb.SendingMode, "SENDING_MODE_")
HTTP_METHODS = [(n, name.upper()) for n, name in enum_names(ppb.HttpMethod, "HTTP_METHOD_")]
RULE_ACTIONS = [
    (f.name, f.name.replace("_", " ")) for f in rules_pb.RuleAction.DESCRIPTOR.oneofs_by_name["kind"].fields
]
RULE_GROUPS = ("campaign", *(f"sub{i}" for i in range(1, 11)))
REPORT_DIMENSIONS = (
    "campaign", "link", "partner", "app", "country", "device_type", "os", "day", "hour",
    *(f"sub{i}" for i in range(1, 11)),
)  # fmt: skip
FILTERABLE = tuple(d for d in REPORT_DIMENSIONS if d not in ("day", "hour"))

# The names the templates show for enum numbers (Jinja globals).
TEMPLATE_NAMES: dict[str, dict[int, str]] = {
    "status_names": dict(CAMPAIGN_STATUSES),
    "type_names": dict(CAMPAIGN_TYPES),
    "delivery_names": dict(DELIVERY_STATUSES),
    "comparisons": dict(enum_names(rules_pb.Comparison, "COMPARISON_")),
    "triggers": dict(enum_names(rules_pb.RunTrigger, "RUN_TRIGGER_")),
    "run_statuses": dict(enum_names(rules_pb.RunStatus, "RUN_STATUS_")),
    "outcomes": dict(enum_names(rules_pb.ActionOutcome, "ACTION_OUTCOME_")),
    "model_names": dict(TARIFF_MODELS),
    "kind_names": dict(GOAL_KINDS),
    "occurrence_names": dict(OCCURRENCES),
    "trigger_names": dict(TEMPLATE_TRIGGERS),
    "method_names": dict(HTTP_METHODS),
}
