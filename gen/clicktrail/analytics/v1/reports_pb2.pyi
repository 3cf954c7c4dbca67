import datetime

from clicktrail.type.v1 import money_pb2 as _money_pb2
from clicktrail.type.v1 import quality_pb2 as _quality_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RecordKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RECORD_KIND_UNSPECIFIED: _ClassVar[RecordKind]
    RECORD_KIND_CLICK: _ClassVar[RecordKind]
    RECORD_KIND_IMPRESSION: _ClassVar[RecordKind]
    RECORD_KIND_INSTALL: _ClassVar[RecordKind]
    RECORD_KIND_CONVERSION: _ClassVar[RecordKind]
RECORD_KIND_UNSPECIFIED: RecordKind
RECORD_KIND_CLICK: RecordKind
RECORD_KIND_IMPRESSION: RecordKind
RECORD_KIND_INSTALL: RecordKind
RECORD_KIND_CONVERSION: RecordKind

class ReportFilter(_message.Message):
    __slots__ = ("dimension", "values")
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    dimension: str
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, dimension: _Optional[str] = ..., values: _Optional[_Iterable[str]] = ...) -> None: ...

class RunCampaignReportRequest(_message.Message):
    __slots__ = ("start_date", "end_date", "time_zone", "group_by", "filters", "order_by", "page_size", "page_token", "verdicts")
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    VERDICTS_FIELD_NUMBER: _ClassVar[int]
    start_date: str
    end_date: str
    time_zone: str
    group_by: _containers.RepeatedScalarFieldContainer[str]
    filters: _containers.RepeatedCompositeFieldContainer[ReportFilter]
    order_by: str
    page_size: int
    page_token: str
    verdicts: _containers.RepeatedScalarFieldContainer[_quality_pb2.Verdict]
    def __init__(self, start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., time_zone: _Optional[str] = ..., group_by: _Optional[_Iterable[str]] = ..., filters: _Optional[_Iterable[_Union[ReportFilter, _Mapping]]] = ..., order_by: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., verdicts: _Optional[_Iterable[_Union[_quality_pb2.Verdict, str]]] = ...) -> None: ...

class VerdictCounts(_message.Message):
    __slots__ = ("clean", "suspicious", "invalid")
    CLEAN_FIELD_NUMBER: _ClassVar[int]
    SUSPICIOUS_FIELD_NUMBER: _ClassVar[int]
    INVALID_FIELD_NUMBER: _ClassVar[int]
    clean: int
    suspicious: int
    invalid: int
    def __init__(self, clean: _Optional[int] = ..., suspicious: _Optional[int] = ..., invalid: _Optional[int] = ...) -> None: ...

class ReasonCount(_message.Message):
    __slots__ = ("reason", "kind", "count")
    REASON_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    reason: str
    kind: RecordKind
    count: int
    def __init__(self, reason: _Optional[str] = ..., kind: _Optional[_Union[RecordKind, str]] = ..., count: _Optional[int] = ...) -> None: ...

class GoalConversions(_message.Message):
    __slots__ = ("goal_id", "conversions", "approved", "revenue")
    GOAL_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    APPROVED_FIELD_NUMBER: _ClassVar[int]
    REVENUE_FIELD_NUMBER: _ClassVar[int]
    goal_id: str
    conversions: int
    approved: int
    revenue: _containers.RepeatedCompositeFieldContainer[_money_pb2.Money]
    def __init__(self, goal_id: _Optional[str] = ..., conversions: _Optional[int] = ..., approved: _Optional[int] = ..., revenue: _Optional[_Iterable[_Union[_money_pb2.Money, _Mapping]]] = ...) -> None: ...

class CurrencyFigures(_message.Message):
    __slots__ = ("currency_code", "revenue", "cost", "profit", "roi", "epc", "cpi")
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    REVENUE_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    PROFIT_FIELD_NUMBER: _ClassVar[int]
    ROI_FIELD_NUMBER: _ClassVar[int]
    EPC_FIELD_NUMBER: _ClassVar[int]
    CPI_FIELD_NUMBER: _ClassVar[int]
    currency_code: str
    revenue: _money_pb2.Money
    cost: _money_pb2.Money
    profit: _money_pb2.Money
    roi: float
    epc: _money_pb2.Money
    cpi: _money_pb2.Money
    def __init__(self, currency_code: _Optional[str] = ..., revenue: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., cost: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., profit: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., roi: _Optional[float] = ..., epc: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., cpi: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...

class ReportRow(_message.Message):
    __slots__ = ("dimensions", "clicks", "unique_clicks", "impressions", "installs", "conversions", "approved_conversions", "cr", "goals", "money", "click_verdicts", "impression_verdicts", "install_verdicts", "conversion_verdicts", "invalid_rate", "top_reasons", "lander_views", "lander_clicks", "lander_ctr", "skan_installs", "skan_conversions", "skan_revenue", "re_engagements", "re_attributions")
    class DimensionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    CLICKS_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_CLICKS_FIELD_NUMBER: _ClassVar[int]
    IMPRESSIONS_FIELD_NUMBER: _ClassVar[int]
    INSTALLS_FIELD_NUMBER: _ClassVar[int]
    CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    APPROVED_CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    CR_FIELD_NUMBER: _ClassVar[int]
    GOALS_FIELD_NUMBER: _ClassVar[int]
    MONEY_FIELD_NUMBER: _ClassVar[int]
    CLICK_VERDICTS_FIELD_NUMBER: _ClassVar[int]
    IMPRESSION_VERDICTS_FIELD_NUMBER: _ClassVar[int]
    INSTALL_VERDICTS_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_VERDICTS_FIELD_NUMBER: _ClassVar[int]
    INVALID_RATE_FIELD_NUMBER: _ClassVar[int]
    TOP_REASONS_FIELD_NUMBER: _ClassVar[int]
    LANDER_VIEWS_FIELD_NUMBER: _ClassVar[int]
    LANDER_CLICKS_FIELD_NUMBER: _ClassVar[int]
    LANDER_CTR_FIELD_NUMBER: _ClassVar[int]
    SKAN_INSTALLS_FIELD_NUMBER: _ClassVar[int]
    SKAN_CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    SKAN_REVENUE_FIELD_NUMBER: _ClassVar[int]
    RE_ENGAGEMENTS_FIELD_NUMBER: _ClassVar[int]
    RE_ATTRIBUTIONS_FIELD_NUMBER: _ClassVar[int]
    dimensions: _containers.ScalarMap[str, str]
    clicks: int
    unique_clicks: int
    impressions: int
    installs: int
    conversions: int
    approved_conversions: int
    cr: float
    goals: _containers.RepeatedCompositeFieldContainer[GoalConversions]
    money: _containers.RepeatedCompositeFieldContainer[CurrencyFigures]
    click_verdicts: VerdictCounts
    impression_verdicts: VerdictCounts
    install_verdicts: VerdictCounts
    conversion_verdicts: VerdictCounts
    invalid_rate: float
    top_reasons: _containers.RepeatedCompositeFieldContainer[ReasonCount]
    lander_views: int
    lander_clicks: int
    lander_ctr: float
    skan_installs: int
    skan_conversions: int
    skan_revenue: _containers.RepeatedCompositeFieldContainer[_money_pb2.Money]
    re_engagements: int
    re_attributions: int
    def __init__(self, dimensions: _Optional[_Mapping[str, str]] = ..., clicks: _Optional[int] = ..., unique_clicks: _Optional[int] = ..., impressions: _Optional[int] = ..., installs: _Optional[int] = ..., conversions: _Optional[int] = ..., approved_conversions: _Optional[int] = ..., cr: _Optional[float] = ..., goals: _Optional[_Iterable[_Union[GoalConversions, _Mapping]]] = ..., money: _Optional[_Iterable[_Union[CurrencyFigures, _Mapping]]] = ..., click_verdicts: _Optional[_Union[VerdictCounts, _Mapping]] = ..., impression_verdicts: _Optional[_Union[VerdictCounts, _Mapping]] = ..., install_verdicts: _Optional[_Union[VerdictCounts, _Mapping]] = ..., conversion_verdicts: _Optional[_Union[VerdictCounts, _Mapping]] = ..., invalid_rate: _Optional[float] = ..., top_reasons: _Optional[_Iterable[_Union[ReasonCount, _Mapping]]] = ..., lander_views: _Optional[int] = ..., lander_clicks: _Optional[int] = ..., lander_ctr: _Optional[float] = ..., skan_installs: _Optional[int] = ..., skan_conversions: _Optional[int] = ..., skan_revenue: _Optional[_Iterable[_Union[_money_pb2.Money, _Mapping]]] = ..., re_engagements: _Optional[int] = ..., re_attributions: _Optional[int] = ...) -> None: ...

class ConversionWindowBreakpoint(_message.Message):
    __slots__ = ("breakpoint_id", "effective_time", "conversion_window", "click_lookback", "view_lookback", "changed_fields")
    BREAKPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_WINDOW_FIELD_NUMBER: _ClassVar[int]
    CLICK_LOOKBACK_FIELD_NUMBER: _ClassVar[int]
    VIEW_LOOKBACK_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELDS_FIELD_NUMBER: _ClassVar[int]
    breakpoint_id: str
    effective_time: _timestamp_pb2.Timestamp
    conversion_window: _duration_pb2.Duration
    click_lookback: _duration_pb2.Duration
    view_lookback: _duration_pb2.Duration
    changed_fields: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, breakpoint_id: _Optional[str] = ..., effective_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., conversion_window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., click_lookback: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., view_lookback: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., changed_fields: _Optional[_Iterable[str]] = ...) -> None: ...

class RunCampaignReportResponse(_message.Message):
    __slots__ = ("rows", "totals", "breakpoints", "next_page_token", "total_rows", "start_time", "end_time")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    BREAKPOINTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_ROWS_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[ReportRow]
    totals: ReportRow
    breakpoints: _containers.RepeatedCompositeFieldContainer[ConversionWindowBreakpoint]
    next_page_token: str
    total_rows: int
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, rows: _Optional[_Iterable[_Union[ReportRow, _Mapping]]] = ..., totals: _Optional[_Union[ReportRow, _Mapping]] = ..., breakpoints: _Optional[_Iterable[_Union[ConversionWindowBreakpoint, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_rows: _Optional[int] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RecountReportRollupsRequest(_message.Message):
    __slots__ = ("start_date", "end_date")
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    start_date: str
    end_date: str
    def __init__(self, start_date: _Optional[str] = ..., end_date: _Optional[str] = ...) -> None: ...

class RecountReportRollupsResponse(_message.Message):
    __slots__ = ("start_time", "end_time")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
