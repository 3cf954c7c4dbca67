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

class GoalKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GOAL_KIND_UNSPECIFIED: _ClassVar[GoalKind]
    GOAL_KIND_PURCHASE: _ClassVar[GoalKind]
    GOAL_KIND_CUSTOM: _ClassVar[GoalKind]

class Occurrence(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OCCURRENCE_UNSPECIFIED: _ClassVar[Occurrence]
    OCCURRENCE_FIRST: _ClassVar[Occurrence]
    OCCURRENCE_EVERY: _ClassVar[Occurrence]
    OCCURRENCE_NTH: _ClassVar[Occurrence]

class Operator(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OPERATOR_UNSPECIFIED: _ClassVar[Operator]
    OPERATOR_EQUALS: _ClassVar[Operator]
    OPERATOR_NOT_EQUALS: _ClassVar[Operator]
    OPERATOR_GREATER_THAN: _ClassVar[Operator]
    OPERATOR_GREATER_OR_EQUAL: _ClassVar[Operator]
    OPERATOR_LESS_THAN: _ClassVar[Operator]
    OPERATOR_LESS_OR_EQUAL: _ClassVar[Operator]
    OPERATOR_IN: _ClassVar[Operator]
    OPERATOR_CONTAINS: _ClassVar[Operator]
    OPERATOR_EXISTS: _ClassVar[Operator]
    OPERATOR_NOT_EXISTS: _ClassVar[Operator]

class TariffModel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TARIFF_MODEL_UNSPECIFIED: _ClassVar[TariffModel]
    TARIFF_MODEL_CPC: _ClassVar[TariffModel]
    TARIFF_MODEL_CPM: _ClassVar[TariffModel]
    TARIFF_MODEL_CPI: _ClassVar[TariffModel]
    TARIFF_MODEL_CPA: _ClassVar[TariffModel]
    TARIFF_MODEL_REVSHARE: _ClassVar[TariffModel]
GOAL_KIND_UNSPECIFIED: GoalKind
GOAL_KIND_PURCHASE: GoalKind
GOAL_KIND_CUSTOM: GoalKind
OCCURRENCE_UNSPECIFIED: Occurrence
OCCURRENCE_FIRST: Occurrence
OCCURRENCE_EVERY: Occurrence
OCCURRENCE_NTH: Occurrence
OPERATOR_UNSPECIFIED: Operator
OPERATOR_EQUALS: Operator
OPERATOR_NOT_EQUALS: Operator
OPERATOR_GREATER_THAN: Operator
OPERATOR_GREATER_OR_EQUAL: Operator
OPERATOR_LESS_THAN: Operator
OPERATOR_LESS_OR_EQUAL: Operator
OPERATOR_IN: Operator
OPERATOR_CONTAINS: Operator
OPERATOR_EXISTS: Operator
OPERATOR_NOT_EXISTS: Operator
TARIFF_MODEL_UNSPECIFIED: TariffModel
TARIFF_MODEL_CPC: TariffModel
TARIFF_MODEL_CPM: TariffModel
TARIFF_MODEL_CPI: TariffModel
TARIFF_MODEL_CPA: TariffModel
TARIFF_MODEL_REVSHARE: TariffModel

class Condition(_message.Message):
    __slots__ = ("field", "operator", "value", "values")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    field: str
    operator: Operator
    value: str
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, field: _Optional[str] = ..., operator: _Optional[_Union[Operator, str]] = ..., value: _Optional[str] = ..., values: _Optional[_Iterable[str]] = ...) -> None: ...

class Goal(_message.Message):
    __slots__ = ("goal_id", "name", "kind", "event", "conditions", "occurrence", "nth", "value_path", "currency_path", "create_time", "update_time")
    GOAL_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    CONDITIONS_FIELD_NUMBER: _ClassVar[int]
    OCCURRENCE_FIELD_NUMBER: _ClassVar[int]
    NTH_FIELD_NUMBER: _ClassVar[int]
    VALUE_PATH_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_PATH_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    goal_id: str
    name: str
    kind: GoalKind
    event: str
    conditions: _containers.RepeatedCompositeFieldContainer[Condition]
    occurrence: Occurrence
    nth: int
    value_path: str
    currency_path: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, goal_id: _Optional[str] = ..., name: _Optional[str] = ..., kind: _Optional[_Union[GoalKind, str]] = ..., event: _Optional[str] = ..., conditions: _Optional[_Iterable[_Union[Condition, _Mapping]]] = ..., occurrence: _Optional[_Union[Occurrence, str]] = ..., nth: _Optional[int] = ..., value_path: _Optional[str] = ..., currency_path: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateGoalRequest(_message.Message):
    __slots__ = ("goal",)
    GOAL_FIELD_NUMBER: _ClassVar[int]
    goal: Goal
    def __init__(self, goal: _Optional[_Union[Goal, _Mapping]] = ...) -> None: ...

class CreateGoalResponse(_message.Message):
    __slots__ = ("goal",)
    GOAL_FIELD_NUMBER: _ClassVar[int]
    goal: Goal
    def __init__(self, goal: _Optional[_Union[Goal, _Mapping]] = ...) -> None: ...

class GetGoalRequest(_message.Message):
    __slots__ = ("goal_id",)
    GOAL_ID_FIELD_NUMBER: _ClassVar[int]
    goal_id: str
    def __init__(self, goal_id: _Optional[str] = ...) -> None: ...

class GetGoalResponse(_message.Message):
    __slots__ = ("goal",)
    GOAL_FIELD_NUMBER: _ClassVar[int]
    goal: Goal
    def __init__(self, goal: _Optional[_Union[Goal, _Mapping]] = ...) -> None: ...

class ListGoalsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListGoalsResponse(_message.Message):
    __slots__ = ("goals", "next_page_token")
    GOALS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    goals: _containers.RepeatedCompositeFieldContainer[Goal]
    next_page_token: str
    def __init__(self, goals: _Optional[_Iterable[_Union[Goal, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateGoalRequest(_message.Message):
    __slots__ = ("goal", "update_mask")
    GOAL_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    goal: Goal
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, goal: _Optional[_Union[Goal, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateGoalResponse(_message.Message):
    __slots__ = ("goal",)
    GOAL_FIELD_NUMBER: _ClassVar[int]
    goal: Goal
    def __init__(self, goal: _Optional[_Union[Goal, _Mapping]] = ...) -> None: ...

class DeleteGoalRequest(_message.Message):
    __slots__ = ("goal_id",)
    GOAL_ID_FIELD_NUMBER: _ClassVar[int]
    goal_id: str
    def __init__(self, goal_id: _Optional[str] = ...) -> None: ...

class DeleteGoalResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AttributionSettings(_message.Message):
    __slots__ = ("click_lookback", "view_lookback", "fingerprint_window", "conversion_window", "effective_time", "re_engagement_window", "reinstall_window")
    CLICK_LOOKBACK_FIELD_NUMBER: _ClassVar[int]
    VIEW_LOOKBACK_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_WINDOW_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_WINDOW_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    RE_ENGAGEMENT_WINDOW_FIELD_NUMBER: _ClassVar[int]
    REINSTALL_WINDOW_FIELD_NUMBER: _ClassVar[int]
    click_lookback: _duration_pb2.Duration
    view_lookback: _duration_pb2.Duration
    fingerprint_window: _duration_pb2.Duration
    conversion_window: _duration_pb2.Duration
    effective_time: _timestamp_pb2.Timestamp
    re_engagement_window: _duration_pb2.Duration
    reinstall_window: _duration_pb2.Duration
    def __init__(self, click_lookback: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., view_lookback: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., fingerprint_window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., conversion_window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., effective_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., re_engagement_window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., reinstall_window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class GetSettingsRequest(_message.Message):
    __slots__ = ("time",)
    TIME_FIELD_NUMBER: _ClassVar[int]
    time: _timestamp_pb2.Timestamp
    def __init__(self, time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetSettingsResponse(_message.Message):
    __slots__ = ("settings",)
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    settings: AttributionSettings
    def __init__(self, settings: _Optional[_Union[AttributionSettings, _Mapping]] = ...) -> None: ...

class UpdateSettingsRequest(_message.Message):
    __slots__ = ("settings", "update_mask")
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    settings: AttributionSettings
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, settings: _Optional[_Union[AttributionSettings, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateSettingsResponse(_message.Message):
    __slots__ = ("settings", "changed")
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    settings: AttributionSettings
    changed: bool
    def __init__(self, settings: _Optional[_Union[AttributionSettings, _Mapping]] = ..., changed: _Optional[bool] = ...) -> None: ...

class SettingsBreakpoint(_message.Message):
    __slots__ = ("breakpoint_id", "effective_time", "settings", "changed_fields")
    BREAKPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELDS_FIELD_NUMBER: _ClassVar[int]
    breakpoint_id: str
    effective_time: _timestamp_pb2.Timestamp
    settings: AttributionSettings
    changed_fields: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, breakpoint_id: _Optional[str] = ..., effective_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., settings: _Optional[_Union[AttributionSettings, _Mapping]] = ..., changed_fields: _Optional[_Iterable[str]] = ...) -> None: ...

class ListSettingsHistoryRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSettingsHistoryResponse(_message.Message):
    __slots__ = ("breakpoints", "next_page_token")
    BREAKPOINTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    breakpoints: _containers.RepeatedCompositeFieldContainer[SettingsBreakpoint]
    next_page_token: str
    def __init__(self, breakpoints: _Optional[_Iterable[_Union[SettingsBreakpoint, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class Tariff(_message.Message):
    __slots__ = ("tariff_id", "campaign_id", "model", "amount", "percent", "goal_id", "effective_date", "create_time")
    TARIFF_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    GOAL_ID_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_DATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    tariff_id: str
    campaign_id: str
    model: TariffModel
    amount: _money_pb2.Money
    percent: str
    goal_id: str
    effective_date: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, tariff_id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., model: _Optional[_Union[TariffModel, str]] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., percent: _Optional[str] = ..., goal_id: _Optional[str] = ..., effective_date: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateTariffRequest(_message.Message):
    __slots__ = ("tariff", "replace")
    TARIFF_FIELD_NUMBER: _ClassVar[int]
    REPLACE_FIELD_NUMBER: _ClassVar[int]
    tariff: Tariff
    replace: bool
    def __init__(self, tariff: _Optional[_Union[Tariff, _Mapping]] = ..., replace: _Optional[bool] = ...) -> None: ...

class CreateTariffResponse(_message.Message):
    __slots__ = ("tariff",)
    TARIFF_FIELD_NUMBER: _ClassVar[int]
    tariff: Tariff
    def __init__(self, tariff: _Optional[_Union[Tariff, _Mapping]] = ...) -> None: ...

class ListTariffsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "campaign_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    campaign_id: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., campaign_id: _Optional[str] = ...) -> None: ...

class ListTariffsResponse(_message.Message):
    __slots__ = ("tariffs", "next_page_token")
    TARIFFS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tariffs: _containers.RepeatedCompositeFieldContainer[Tariff]
    next_page_token: str
    def __init__(self, tariffs: _Optional[_Iterable[_Union[Tariff, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteTariffRequest(_message.Message):
    __slots__ = ("tariff_id",)
    TARIFF_ID_FIELD_NUMBER: _ClassVar[int]
    tariff_id: str
    def __init__(self, tariff_id: _Optional[str] = ...) -> None: ...

class DeleteTariffResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Correction(_message.Message):
    __slots__ = ("correction_id", "campaign_id", "amount", "start_date", "end_date", "note", "create_time")
    CORRECTION_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    correction_id: str
    campaign_id: str
    amount: _money_pb2.Money
    start_date: str
    end_date: str
    note: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, correction_id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., note: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateCorrectionRequest(_message.Message):
    __slots__ = ("correction",)
    CORRECTION_FIELD_NUMBER: _ClassVar[int]
    correction: Correction
    def __init__(self, correction: _Optional[_Union[Correction, _Mapping]] = ...) -> None: ...

class CreateCorrectionResponse(_message.Message):
    __slots__ = ("correction",)
    CORRECTION_FIELD_NUMBER: _ClassVar[int]
    correction: Correction
    def __init__(self, correction: _Optional[_Union[Correction, _Mapping]] = ...) -> None: ...

class ListCorrectionsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "campaign_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    campaign_id: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., campaign_id: _Optional[str] = ...) -> None: ...

class ListCorrectionsResponse(_message.Message):
    __slots__ = ("corrections", "next_page_token")
    CORRECTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    corrections: _containers.RepeatedCompositeFieldContainer[Correction]
    next_page_token: str
    def __init__(self, corrections: _Optional[_Iterable[_Union[Correction, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteCorrectionRequest(_message.Message):
    __slots__ = ("correction_id",)
    CORRECTION_ID_FIELD_NUMBER: _ClassVar[int]
    correction_id: str
    def __init__(self, correction_id: _Optional[str] = ...) -> None: ...

class DeleteCorrectionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AttributionQualitySettings(_message.Message):
    __slots__ = ("campaign_id", "checks", "click_injection_time", "click_flooding_time", "install_burst_ip", "install_burst_subnet", "install_burst_window", "too_soon_after_install_time", "update_time")
    class ChecksEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bool
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bool] = ...) -> None: ...
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    CHECKS_FIELD_NUMBER: _ClassVar[int]
    CLICK_INJECTION_TIME_FIELD_NUMBER: _ClassVar[int]
    CLICK_FLOODING_TIME_FIELD_NUMBER: _ClassVar[int]
    INSTALL_BURST_IP_FIELD_NUMBER: _ClassVar[int]
    INSTALL_BURST_SUBNET_FIELD_NUMBER: _ClassVar[int]
    INSTALL_BURST_WINDOW_FIELD_NUMBER: _ClassVar[int]
    TOO_SOON_AFTER_INSTALL_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    checks: _containers.ScalarMap[str, bool]
    click_injection_time: _duration_pb2.Duration
    click_flooding_time: _duration_pb2.Duration
    install_burst_ip: int
    install_burst_subnet: int
    install_burst_window: _duration_pb2.Duration
    too_soon_after_install_time: _duration_pb2.Duration
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, campaign_id: _Optional[str] = ..., checks: _Optional[_Mapping[str, bool]] = ..., click_injection_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., click_flooding_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., install_burst_ip: _Optional[int] = ..., install_burst_subnet: _Optional[int] = ..., install_burst_window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., too_soon_after_install_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetAttributionQualitySettingsRequest(_message.Message):
    __slots__ = ("campaign_id",)
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    def __init__(self, campaign_id: _Optional[str] = ...) -> None: ...

class GetAttributionQualitySettingsResponse(_message.Message):
    __slots__ = ("settings", "effective")
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_FIELD_NUMBER: _ClassVar[int]
    settings: AttributionQualitySettings
    effective: AttributionQualitySettings
    def __init__(self, settings: _Optional[_Union[AttributionQualitySettings, _Mapping]] = ..., effective: _Optional[_Union[AttributionQualitySettings, _Mapping]] = ...) -> None: ...

class UpdateAttributionQualitySettingsRequest(_message.Message):
    __slots__ = ("settings", "update_mask")
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    settings: AttributionQualitySettings
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, settings: _Optional[_Union[AttributionQualitySettings, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateAttributionQualitySettingsResponse(_message.Message):
    __slots__ = ("settings", "effective")
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_FIELD_NUMBER: _ClassVar[int]
    settings: AttributionQualitySettings
    effective: AttributionQualitySettings
    def __init__(self, settings: _Optional[_Union[AttributionQualitySettings, _Mapping]] = ..., effective: _Optional[_Union[AttributionQualitySettings, _Mapping]] = ...) -> None: ...

class RevenueRange(_message.Message):
    __slots__ = ("range_id", "goal_id", "currency", "min_amount", "max_amount", "create_time", "update_time")
    RANGE_ID_FIELD_NUMBER: _ClassVar[int]
    GOAL_ID_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    MIN_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    MAX_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    range_id: str
    goal_id: str
    currency: str
    min_amount: str
    max_amount: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, range_id: _Optional[str] = ..., goal_id: _Optional[str] = ..., currency: _Optional[str] = ..., min_amount: _Optional[str] = ..., max_amount: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateRevenueRangeRequest(_message.Message):
    __slots__ = ("range",)
    RANGE_FIELD_NUMBER: _ClassVar[int]
    range: RevenueRange
    def __init__(self, range: _Optional[_Union[RevenueRange, _Mapping]] = ...) -> None: ...

class CreateRevenueRangeResponse(_message.Message):
    __slots__ = ("range",)
    RANGE_FIELD_NUMBER: _ClassVar[int]
    range: RevenueRange
    def __init__(self, range: _Optional[_Union[RevenueRange, _Mapping]] = ...) -> None: ...

class ListRevenueRangesRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "goal_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    GOAL_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    goal_id: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., goal_id: _Optional[str] = ...) -> None: ...

class ListRevenueRangesResponse(_message.Message):
    __slots__ = ("ranges", "next_page_token")
    RANGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ranges: _containers.RepeatedCompositeFieldContainer[RevenueRange]
    next_page_token: str
    def __init__(self, ranges: _Optional[_Iterable[_Union[RevenueRange, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateRevenueRangeRequest(_message.Message):
    __slots__ = ("range", "update_mask")
    RANGE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    range: RevenueRange
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, range: _Optional[_Union[RevenueRange, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateRevenueRangeResponse(_message.Message):
    __slots__ = ("range",)
    RANGE_FIELD_NUMBER: _ClassVar[int]
    range: RevenueRange
    def __init__(self, range: _Optional[_Union[RevenueRange, _Mapping]] = ...) -> None: ...

class DeleteRevenueRangeRequest(_message.Message):
    __slots__ = ("range_id",)
    RANGE_ID_FIELD_NUMBER: _ClassVar[int]
    range_id: str
    def __init__(self, range_id: _Optional[str] = ...) -> None: ...

class DeleteRevenueRangeResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ParameterAliases(_message.Message):
    __slots__ = ("field", "params")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    field: str
    params: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, field: _Optional[str] = ..., params: _Optional[_Iterable[str]] = ...) -> None: ...

class PostbackFormat(_message.Message):
    __slots__ = ("partner_id", "preset_id", "aliases", "status_words", "create_time", "update_time")
    class StatusWordsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    PRESET_ID_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    STATUS_WORDS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    partner_id: str
    preset_id: str
    aliases: _containers.RepeatedCompositeFieldContainer[ParameterAliases]
    status_words: _containers.ScalarMap[str, str]
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, partner_id: _Optional[str] = ..., preset_id: _Optional[str] = ..., aliases: _Optional[_Iterable[_Union[ParameterAliases, _Mapping]]] = ..., status_words: _Optional[_Mapping[str, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PostbackPreset(_message.Message):
    __slots__ = ("preset_id", "name", "kind", "aliases", "status_words", "sources", "notes")
    class StatusWordsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PRESET_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    STATUS_WORDS_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    preset_id: str
    name: str
    kind: str
    aliases: _containers.RepeatedCompositeFieldContainer[ParameterAliases]
    status_words: _containers.ScalarMap[str, str]
    sources: _containers.RepeatedScalarFieldContainer[str]
    notes: str
    def __init__(self, preset_id: _Optional[str] = ..., name: _Optional[str] = ..., kind: _Optional[str] = ..., aliases: _Optional[_Iterable[_Union[ParameterAliases, _Mapping]]] = ..., status_words: _Optional[_Mapping[str, str]] = ..., sources: _Optional[_Iterable[str]] = ..., notes: _Optional[str] = ...) -> None: ...

class GetPostbackFormatRequest(_message.Message):
    __slots__ = ("partner_id",)
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    partner_id: str
    def __init__(self, partner_id: _Optional[str] = ...) -> None: ...

class GetPostbackFormatResponse(_message.Message):
    __slots__ = ("format",)
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    format: PostbackFormat
    def __init__(self, format: _Optional[_Union[PostbackFormat, _Mapping]] = ...) -> None: ...

class ListPostbackFormatsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPostbackFormatsResponse(_message.Message):
    __slots__ = ("formats", "next_page_token")
    FORMATS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    formats: _containers.RepeatedCompositeFieldContainer[PostbackFormat]
    next_page_token: str
    def __init__(self, formats: _Optional[_Iterable[_Union[PostbackFormat, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdatePostbackFormatRequest(_message.Message):
    __slots__ = ("format", "update_mask", "allow_missing")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    ALLOW_MISSING_FIELD_NUMBER: _ClassVar[int]
    format: PostbackFormat
    update_mask: _field_mask_pb2.FieldMask
    allow_missing: bool
    def __init__(self, format: _Optional[_Union[PostbackFormat, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., allow_missing: _Optional[bool] = ...) -> None: ...

class UpdatePostbackFormatResponse(_message.Message):
    __slots__ = ("format",)
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    format: PostbackFormat
    def __init__(self, format: _Optional[_Union[PostbackFormat, _Mapping]] = ...) -> None: ...

class DeletePostbackFormatRequest(_message.Message):
    __slots__ = ("partner_id",)
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    partner_id: str
    def __init__(self, partner_id: _Optional[str] = ...) -> None: ...

class DeletePostbackFormatResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListPostbackPresetsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListPostbackPresetsResponse(_message.Message):
    __slots__ = ("presets",)
    PRESETS_FIELD_NUMBER: _ClassVar[int]
    presets: _containers.RepeatedCompositeFieldContainer[PostbackPreset]
    def __init__(self, presets: _Optional[_Iterable[_Union[PostbackPreset, _Mapping]]] = ...) -> None: ...
