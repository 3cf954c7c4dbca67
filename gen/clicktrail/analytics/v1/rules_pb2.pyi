import datetime

from clicktrail.type.v1 import money_pb2 as _money_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RuleGrouping(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RULE_GROUPING_UNSPECIFIED: _ClassVar[RuleGrouping]
    RULE_GROUPING_CAMPAIGN: _ClassVar[RuleGrouping]
    RULE_GROUPING_SUB_ID: _ClassVar[RuleGrouping]

class Comparison(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMPARISON_UNSPECIFIED: _ClassVar[Comparison]
    COMPARISON_LESS: _ClassVar[Comparison]
    COMPARISON_LESS_OR_EQUAL: _ClassVar[Comparison]
    COMPARISON_GREATER: _ClassVar[Comparison]
    COMPARISON_GREATER_OR_EQUAL: _ClassVar[Comparison]
    COMPARISON_EQUAL: _ClassVar[Comparison]
    COMPARISON_NOT_EQUAL: _ClassVar[Comparison]

class RunTrigger(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUN_TRIGGER_UNSPECIFIED: _ClassVar[RunTrigger]
    RUN_TRIGGER_SCHEDULE: _ClassVar[RunTrigger]
    RUN_TRIGGER_MANUAL: _ClassVar[RunTrigger]

class RunStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUN_STATUS_UNSPECIFIED: _ClassVar[RunStatus]
    RUN_STATUS_RUNNING: _ClassVar[RunStatus]
    RUN_STATUS_SUCCEEDED: _ClassVar[RunStatus]
    RUN_STATUS_PARTIAL: _ClassVar[RunStatus]
    RUN_STATUS_FAILED: _ClassVar[RunStatus]

class ActionOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTION_OUTCOME_UNSPECIFIED: _ClassVar[ActionOutcome]
    ACTION_OUTCOME_APPLIED: _ClassVar[ActionOutcome]
    ACTION_OUTCOME_DRY_RUN: _ClassVar[ActionOutcome]
    ACTION_OUTCOME_SKIPPED: _ClassVar[ActionOutcome]
    ACTION_OUTCOME_FAILED: _ClassVar[ActionOutcome]
RULE_GROUPING_UNSPECIFIED: RuleGrouping
RULE_GROUPING_CAMPAIGN: RuleGrouping
RULE_GROUPING_SUB_ID: RuleGrouping
COMPARISON_UNSPECIFIED: Comparison
COMPARISON_LESS: Comparison
COMPARISON_LESS_OR_EQUAL: Comparison
COMPARISON_GREATER: Comparison
COMPARISON_GREATER_OR_EQUAL: Comparison
COMPARISON_EQUAL: Comparison
COMPARISON_NOT_EQUAL: Comparison
RUN_TRIGGER_UNSPECIFIED: RunTrigger
RUN_TRIGGER_SCHEDULE: RunTrigger
RUN_TRIGGER_MANUAL: RunTrigger
RUN_STATUS_UNSPECIFIED: RunStatus
RUN_STATUS_RUNNING: RunStatus
RUN_STATUS_SUCCEEDED: RunStatus
RUN_STATUS_PARTIAL: RunStatus
RUN_STATUS_FAILED: RunStatus
ACTION_OUTCOME_UNSPECIFIED: ActionOutcome
ACTION_OUTCOME_APPLIED: ActionOutcome
ACTION_OUTCOME_DRY_RUN: ActionOutcome
ACTION_OUTCOME_SKIPPED: ActionOutcome
ACTION_OUTCOME_FAILED: ActionOutcome

class Condition(_message.Message):
    __slots__ = ("metric", "comparison", "value")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    COMPARISON_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    metric: str
    comparison: Comparison
    value: str
    def __init__(self, metric: _Optional[str] = ..., comparison: _Optional[_Union[Comparison, str]] = ..., value: _Optional[str] = ...) -> None: ...

class PauseCampaign(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ChangeBudget(_message.Message):
    __slots__ = ("percent",)
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    percent: str
    def __init__(self, percent: _Optional[str] = ...) -> None: ...

class SetBudget(_message.Message):
    __slots__ = ("budget",)
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    budget: _money_pb2.Money
    def __init__(self, budget: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...

class BlacklistSubId(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RuleAction(_message.Message):
    __slots__ = ("pause_campaign", "change_budget", "set_budget", "blacklist_sub_id")
    PAUSE_CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    CHANGE_BUDGET_FIELD_NUMBER: _ClassVar[int]
    SET_BUDGET_FIELD_NUMBER: _ClassVar[int]
    BLACKLIST_SUB_ID_FIELD_NUMBER: _ClassVar[int]
    pause_campaign: PauseCampaign
    change_budget: ChangeBudget
    set_budget: SetBudget
    blacklist_sub_id: BlacklistSubId
    def __init__(self, pause_campaign: _Optional[_Union[PauseCampaign, _Mapping]] = ..., change_budget: _Optional[_Union[ChangeBudget, _Mapping]] = ..., set_budget: _Optional[_Union[SetBudget, _Mapping]] = ..., blacklist_sub_id: _Optional[_Union[BlacklistSubId, _Mapping]] = ...) -> None: ...

class Rule(_message.Message):
    __slots__ = ("rule_id", "name", "enabled", "dry_run", "campaign_ids", "grouping", "sub_id_field", "window", "conditions", "action", "currency_code", "create_time", "update_time", "last_run_time", "next_run_time")
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_IDS_FIELD_NUMBER: _ClassVar[int]
    GROUPING_FIELD_NUMBER: _ClassVar[int]
    SUB_ID_FIELD_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    CONDITIONS_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_RUN_TIME_FIELD_NUMBER: _ClassVar[int]
    NEXT_RUN_TIME_FIELD_NUMBER: _ClassVar[int]
    rule_id: str
    name: str
    enabled: bool
    dry_run: bool
    campaign_ids: _containers.RepeatedScalarFieldContainer[str]
    grouping: RuleGrouping
    sub_id_field: str
    window: _duration_pb2.Duration
    conditions: _containers.RepeatedCompositeFieldContainer[Condition]
    action: RuleAction
    currency_code: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    last_run_time: _timestamp_pb2.Timestamp
    next_run_time: _timestamp_pb2.Timestamp
    def __init__(self, rule_id: _Optional[str] = ..., name: _Optional[str] = ..., enabled: _Optional[bool] = ..., dry_run: _Optional[bool] = ..., campaign_ids: _Optional[_Iterable[str]] = ..., grouping: _Optional[_Union[RuleGrouping, str]] = ..., sub_id_field: _Optional[str] = ..., window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., conditions: _Optional[_Iterable[_Union[Condition, _Mapping]]] = ..., action: _Optional[_Union[RuleAction, _Mapping]] = ..., currency_code: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_run_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_run_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateRuleRequest(_message.Message):
    __slots__ = ("rule",)
    RULE_FIELD_NUMBER: _ClassVar[int]
    rule: Rule
    def __init__(self, rule: _Optional[_Union[Rule, _Mapping]] = ...) -> None: ...

class CreateRuleResponse(_message.Message):
    __slots__ = ("rule",)
    RULE_FIELD_NUMBER: _ClassVar[int]
    rule: Rule
    def __init__(self, rule: _Optional[_Union[Rule, _Mapping]] = ...) -> None: ...

class GetRuleRequest(_message.Message):
    __slots__ = ("rule_id",)
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    rule_id: str
    def __init__(self, rule_id: _Optional[str] = ...) -> None: ...

class GetRuleResponse(_message.Message):
    __slots__ = ("rule",)
    RULE_FIELD_NUMBER: _ClassVar[int]
    rule: Rule
    def __init__(self, rule: _Optional[_Union[Rule, _Mapping]] = ...) -> None: ...

class ListRulesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRulesResponse(_message.Message):
    __slots__ = ("rules", "next_page_token")
    RULES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    rules: _containers.RepeatedCompositeFieldContainer[Rule]
    next_page_token: str
    def __init__(self, rules: _Optional[_Iterable[_Union[Rule, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateRuleRequest(_message.Message):
    __slots__ = ("rule", "update_mask")
    RULE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    rule: Rule
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, rule: _Optional[_Union[Rule, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateRuleResponse(_message.Message):
    __slots__ = ("rule",)
    RULE_FIELD_NUMBER: _ClassVar[int]
    rule: Rule
    def __init__(self, rule: _Optional[_Union[Rule, _Mapping]] = ...) -> None: ...

class DeleteRuleRequest(_message.Message):
    __slots__ = ("rule_id",)
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    rule_id: str
    def __init__(self, rule_id: _Optional[str] = ...) -> None: ...

class DeleteRuleResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RuleActionRecord(_message.Message):
    __slots__ = ("campaign_id", "sub_id_field", "sub_id_value", "action", "outcome", "detail", "metrics", "create_time")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    SUB_ID_FIELD_FIELD_NUMBER: _ClassVar[int]
    SUB_ID_VALUE_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    sub_id_field: str
    sub_id_value: str
    action: str
    outcome: ActionOutcome
    detail: str
    metrics: _containers.ScalarMap[str, str]
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, campaign_id: _Optional[str] = ..., sub_id_field: _Optional[str] = ..., sub_id_value: _Optional[str] = ..., action: _Optional[str] = ..., outcome: _Optional[_Union[ActionOutcome, str]] = ..., detail: _Optional[str] = ..., metrics: _Optional[_Mapping[str, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RuleRun(_message.Message):
    __slots__ = ("run_id", "rule_id", "trigger", "dry_run", "status", "error", "start_time", "end_time", "window_start", "window_end", "groups_evaluated", "groups_matched", "actions")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_FIELD_NUMBER: _ClassVar[int]
    GROUPS_EVALUATED_FIELD_NUMBER: _ClassVar[int]
    GROUPS_MATCHED_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    rule_id: str
    trigger: RunTrigger
    dry_run: bool
    status: RunStatus
    error: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    window_start: _timestamp_pb2.Timestamp
    window_end: _timestamp_pb2.Timestamp
    groups_evaluated: int
    groups_matched: int
    actions: _containers.RepeatedCompositeFieldContainer[RuleActionRecord]
    def __init__(self, run_id: _Optional[str] = ..., rule_id: _Optional[str] = ..., trigger: _Optional[_Union[RunTrigger, str]] = ..., dry_run: _Optional[bool] = ..., status: _Optional[_Union[RunStatus, str]] = ..., error: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., groups_evaluated: _Optional[int] = ..., groups_matched: _Optional[int] = ..., actions: _Optional[_Iterable[_Union[RuleActionRecord, _Mapping]]] = ...) -> None: ...

class RunRuleRequest(_message.Message):
    __slots__ = ("rule_id", "dry_run")
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    rule_id: str
    dry_run: bool
    def __init__(self, rule_id: _Optional[str] = ..., dry_run: _Optional[bool] = ...) -> None: ...

class RunRuleResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: RuleRun
    def __init__(self, run: _Optional[_Union[RuleRun, _Mapping]] = ...) -> None: ...

class ListRuleRunsRequest(_message.Message):
    __slots__ = ("rule_id", "page_size", "page_token")
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    rule_id: str
    page_size: int
    page_token: str
    def __init__(self, rule_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRuleRunsResponse(_message.Message):
    __slots__ = ("runs", "next_page_token")
    RUNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[RuleRun]
    next_page_token: str
    def __init__(self, runs: _Optional[_Iterable[_Union[RuleRun, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
