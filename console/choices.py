"""The option lists of the console's forms and the names its pages show, derived
from the proto enums (short lower-case names, without _UNSPECIFIED)."""

from __future__ import annotations

from clicktrail.analytics.v1 import rules_pb2 as rules_pb
from clicktrail.attribution.v1 import config_pb2
from clicktrail.links.v1 import affiliate_pb2 as apb
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.postbacks.v1 import postbacks_pb2 as ppb

from libs.vocab.enums import names as enum_names
from libs.vocab.subids import SUB_IDS

CAMPAIGN_TYPES = enum_names(lpb.CampaignType)
TRAFFIC_TYPES = enum_names(lpb.TrafficType)
CAMPAIGN_STATUSES = enum_names(lpb.CampaignStatus)
DELIVERY_STATUSES = enum_names(ppb.DeliveryStatus)
TARIFF_MODELS = enum_names(config_pb2.TariffModel)
DEAD_LETTERS = (ppb.DELIVERY_STATUS_FAILED, ppb.DELIVERY_STATUS_DEAD)
GOAL_KINDS = enum_names(config_pb2.GoalKind)
OCCURRENCES = enum_names(config_pb2.Occurrence)
TEMPLATE_TRIGGERS = enum_names(ppb.Trigger)
SENDING_MODES = enum_names(ppb.SendingMode)
HTTP_METHODS = [(n, name.upper()) for n, name in enum_names(ppb.HttpMethod)]
RULE_ACTIONS = [
    (f.name, f.name.replace("_", " ")) for f in rules_pb.RuleAction.DESCRIPTOR.oneofs_by_name["kind"].fields
]
RULE_GROUPS = ("campaign", *SUB_IDS)
REPORT_DIMENSIONS = ("campaign", "link", "partner", "app", "country", "device_type", "os", "day", "hour", *SUB_IDS)
PAYOUT_TYPES = enum_names(apb.PayoutType)
CAP_ACTIONS = enum_names(apb.CapAction)
OFFER_STATUSES = enum_names(apb.OfferStatus)
LANDER_TYPES = enum_names(apb.LanderType)
STREAM_ACTIONS = enum_names(apb.StreamAction)
FILTERABLE = tuple(d for d in REPORT_DIMENSIONS if d not in ("day", "hour"))

# The names the templates show for enum numbers (Jinja globals).
TEMPLATE_NAMES: dict[str, dict[int, str]] = {
    "status_names": dict(CAMPAIGN_STATUSES),
    "type_names": dict(CAMPAIGN_TYPES),
    "delivery_names": dict(DELIVERY_STATUSES),
    "comparisons": dict(enum_names(rules_pb.Comparison)),
    "triggers": dict(enum_names(rules_pb.RunTrigger)),
    "run_statuses": dict(enum_names(rules_pb.RunStatus)),
    "outcomes": dict(enum_names(rules_pb.ActionOutcome)),
    "model_names": dict(TARIFF_MODELS),
    "kind_names": dict(GOAL_KINDS),
    "occurrence_names": dict(OCCURRENCES),
    "trigger_names": dict(TEMPLATE_TRIGGERS),
    "method_names": dict(HTTP_METHODS),
    "payout_type_names": dict(PAYOUT_TYPES),
    "cap_action_names": dict(CAP_ACTIONS),
    "offer_status_names": dict(OFFER_STATUSES),
    "lander_type_names": dict(LANDER_TYPES),
    "action_names": dict(STREAM_ACTIONS),
}
