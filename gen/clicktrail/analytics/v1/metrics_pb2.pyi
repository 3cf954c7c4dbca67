import datetime

from clicktrail.type.v1 import money_pb2 as _money_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RevenueKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REVENUE_KIND_UNSPECIFIED: _ClassVar[RevenueKind]
    REVENUE_KIND_WEB2: _ClassVar[RevenueKind]
    REVENUE_KIND_WEB3: _ClassVar[RevenueKind]
REVENUE_KIND_UNSPECIFIED: RevenueKind
REVENUE_KIND_WEB2: RevenueKind
REVENUE_KIND_WEB3: RevenueKind

class GetActiveUsersRequest(_message.Message):
    __slots__ = ("app_id", "start_date", "end_date", "time_zone")
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    start_date: str
    end_date: str
    time_zone: str
    def __init__(self, app_id: _Optional[str] = ..., start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., time_zone: _Optional[str] = ...) -> None: ...

class ActiveUsersDay(_message.Message):
    __slots__ = ("date", "dau", "wau", "mau")
    DATE_FIELD_NUMBER: _ClassVar[int]
    DAU_FIELD_NUMBER: _ClassVar[int]
    WAU_FIELD_NUMBER: _ClassVar[int]
    MAU_FIELD_NUMBER: _ClassVar[int]
    date: str
    dau: int
    wau: int
    mau: int
    def __init__(self, date: _Optional[str] = ..., dau: _Optional[int] = ..., wau: _Optional[int] = ..., mau: _Optional[int] = ...) -> None: ...

class GetActiveUsersResponse(_message.Message):
    __slots__ = ("days",)
    DAYS_FIELD_NUMBER: _ClassVar[int]
    days: _containers.RepeatedCompositeFieldContainer[ActiveUsersDay]
    def __init__(self, days: _Optional[_Iterable[_Union[ActiveUsersDay, _Mapping]]] = ...) -> None: ...

class GetUserFlowRequest(_message.Message):
    __slots__ = ("app_id", "start_date", "end_date", "time_zone", "lookback_days")
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    LOOKBACK_DAYS_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    start_date: str
    end_date: str
    time_zone: str
    lookback_days: int
    def __init__(self, app_id: _Optional[str] = ..., start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., time_zone: _Optional[str] = ..., lookback_days: _Optional[int] = ...) -> None: ...

class UserFlowDay(_message.Message):
    __slots__ = ("date", "active_users", "new_users", "retained_users", "re_engaged_users")
    DATE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_USERS_FIELD_NUMBER: _ClassVar[int]
    NEW_USERS_FIELD_NUMBER: _ClassVar[int]
    RETAINED_USERS_FIELD_NUMBER: _ClassVar[int]
    RE_ENGAGED_USERS_FIELD_NUMBER: _ClassVar[int]
    date: str
    active_users: int
    new_users: int
    retained_users: int
    re_engaged_users: int
    def __init__(self, date: _Optional[str] = ..., active_users: _Optional[int] = ..., new_users: _Optional[int] = ..., retained_users: _Optional[int] = ..., re_engaged_users: _Optional[int] = ...) -> None: ...

class GetUserFlowResponse(_message.Message):
    __slots__ = ("days", "lookback_days")
    DAYS_FIELD_NUMBER: _ClassVar[int]
    LOOKBACK_DAYS_FIELD_NUMBER: _ClassVar[int]
    days: _containers.RepeatedCompositeFieldContainer[UserFlowDay]
    lookback_days: int
    def __init__(self, days: _Optional[_Iterable[_Union[UserFlowDay, _Mapping]]] = ..., lookback_days: _Optional[int] = ...) -> None: ...

class GetRetentionRequest(_message.Message):
    __slots__ = ("app_id", "start_date", "end_date", "time_zone", "days")
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    DAYS_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    start_date: str
    end_date: str
    time_zone: str
    days: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, app_id: _Optional[str] = ..., start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., time_zone: _Optional[str] = ..., days: _Optional[_Iterable[int]] = ...) -> None: ...

class RetentionPoint(_message.Message):
    __slots__ = ("day", "users", "rate", "complete")
    DAY_FIELD_NUMBER: _ClassVar[int]
    USERS_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    day: int
    users: int
    rate: float
    complete: bool
    def __init__(self, day: _Optional[int] = ..., users: _Optional[int] = ..., rate: _Optional[float] = ..., complete: _Optional[bool] = ...) -> None: ...

class RetentionCohort(_message.Message):
    __slots__ = ("date", "users", "points")
    DATE_FIELD_NUMBER: _ClassVar[int]
    USERS_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    date: str
    users: int
    points: _containers.RepeatedCompositeFieldContainer[RetentionPoint]
    def __init__(self, date: _Optional[str] = ..., users: _Optional[int] = ..., points: _Optional[_Iterable[_Union[RetentionPoint, _Mapping]]] = ...) -> None: ...

class GetRetentionResponse(_message.Message):
    __slots__ = ("cohorts",)
    COHORTS_FIELD_NUMBER: _ClassVar[int]
    cohorts: _containers.RepeatedCompositeFieldContainer[RetentionCohort]
    def __init__(self, cohorts: _Optional[_Iterable[_Union[RetentionCohort, _Mapping]]] = ...) -> None: ...

class GetSessionsRequest(_message.Message):
    __slots__ = ("app_id", "start_date", "end_date", "time_zone")
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    start_date: str
    end_date: str
    time_zone: str
    def __init__(self, app_id: _Optional[str] = ..., start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., time_zone: _Optional[str] = ...) -> None: ...

class DurationBucket(_message.Message):
    __slots__ = ("lower_bound", "upper_bound", "sessions")
    LOWER_BOUND_FIELD_NUMBER: _ClassVar[int]
    UPPER_BOUND_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    lower_bound: _duration_pb2.Duration
    upper_bound: _duration_pb2.Duration
    sessions: int
    def __init__(self, lower_bound: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., upper_bound: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., sessions: _Optional[int] = ...) -> None: ...

class SessionsDay(_message.Message):
    __slots__ = ("date", "sessions", "average_duration", "median_duration", "p90_duration", "buckets")
    DATE_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_DURATION_FIELD_NUMBER: _ClassVar[int]
    MEDIAN_DURATION_FIELD_NUMBER: _ClassVar[int]
    P90_DURATION_FIELD_NUMBER: _ClassVar[int]
    BUCKETS_FIELD_NUMBER: _ClassVar[int]
    date: str
    sessions: int
    average_duration: _duration_pb2.Duration
    median_duration: _duration_pb2.Duration
    p90_duration: _duration_pb2.Duration
    buckets: _containers.RepeatedCompositeFieldContainer[DurationBucket]
    def __init__(self, date: _Optional[str] = ..., sessions: _Optional[int] = ..., average_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., median_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., p90_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., buckets: _Optional[_Iterable[_Union[DurationBucket, _Mapping]]] = ...) -> None: ...

class GetSessionsResponse(_message.Message):
    __slots__ = ("days", "total")
    DAYS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    days: _containers.RepeatedCompositeFieldContainer[SessionsDay]
    total: SessionsDay
    def __init__(self, days: _Optional[_Iterable[_Union[SessionsDay, _Mapping]]] = ..., total: _Optional[_Union[SessionsDay, _Mapping]] = ...) -> None: ...

class FunnelStep(_message.Message):
    __slots__ = ("screen", "action")
    SCREEN_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    screen: str
    action: str
    def __init__(self, screen: _Optional[str] = ..., action: _Optional[str] = ...) -> None: ...

class GetFunnelRequest(_message.Message):
    __slots__ = ("app_id", "start_date", "end_date", "time_zone", "steps", "window")
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    start_date: str
    end_date: str
    time_zone: str
    steps: _containers.RepeatedCompositeFieldContainer[FunnelStep]
    window: _duration_pb2.Duration
    def __init__(self, app_id: _Optional[str] = ..., start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., time_zone: _Optional[str] = ..., steps: _Optional[_Iterable[_Union[FunnelStep, _Mapping]]] = ..., window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class FunnelStepResult(_message.Message):
    __slots__ = ("step", "users", "conversion_from_previous", "conversion_from_first")
    STEP_FIELD_NUMBER: _ClassVar[int]
    USERS_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_FROM_PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_FROM_FIRST_FIELD_NUMBER: _ClassVar[int]
    step: FunnelStep
    users: int
    conversion_from_previous: float
    conversion_from_first: float
    def __init__(self, step: _Optional[_Union[FunnelStep, _Mapping]] = ..., users: _Optional[int] = ..., conversion_from_previous: _Optional[float] = ..., conversion_from_first: _Optional[float] = ...) -> None: ...

class GetFunnelResponse(_message.Message):
    __slots__ = ("steps", "window")
    STEPS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    steps: _containers.RepeatedCompositeFieldContainer[FunnelStepResult]
    window: _duration_pb2.Duration
    def __init__(self, steps: _Optional[_Iterable[_Union[FunnelStepResult, _Mapping]]] = ..., window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class GetErrorsRequest(_message.Message):
    __slots__ = ("app_id", "start_date", "end_date", "time_zone", "top_messages")
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    TOP_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    start_date: str
    end_date: str
    time_zone: str
    top_messages: int
    def __init__(self, app_id: _Optional[str] = ..., start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., time_zone: _Optional[str] = ..., top_messages: _Optional[int] = ...) -> None: ...

class ErrorCount(_message.Message):
    __slots__ = ("date", "level", "code", "count")
    DATE_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    date: str
    level: str
    code: str
    count: int
    def __init__(self, date: _Optional[str] = ..., level: _Optional[str] = ..., code: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class ErrorMessage(_message.Message):
    __slots__ = ("message", "level", "code", "count")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    message: str
    level: str
    code: str
    count: int
    def __init__(self, message: _Optional[str] = ..., level: _Optional[str] = ..., code: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class GetErrorsResponse(_message.Message):
    __slots__ = ("counts", "total_by_level", "top_messages")
    class TotalByLevelEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BY_LEVEL_FIELD_NUMBER: _ClassVar[int]
    TOP_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    counts: _containers.RepeatedCompositeFieldContainer[ErrorCount]
    total_by_level: _containers.ScalarMap[str, int]
    top_messages: _containers.RepeatedCompositeFieldContainer[ErrorMessage]
    def __init__(self, counts: _Optional[_Iterable[_Union[ErrorCount, _Mapping]]] = ..., total_by_level: _Optional[_Mapping[str, int]] = ..., top_messages: _Optional[_Iterable[_Union[ErrorMessage, _Mapping]]] = ...) -> None: ...

class GetRevenueRequest(_message.Message):
    __slots__ = ("app_id", "start_date", "end_date", "time_zone")
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    start_date: str
    end_date: str
    time_zone: str
    def __init__(self, app_id: _Optional[str] = ..., start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., time_zone: _Optional[str] = ...) -> None: ...

class RevenueRow(_message.Message):
    __slots__ = ("date", "kind", "revenue", "platform", "bundle_id", "purchases", "paying_users")
    DATE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    REVENUE_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_ID_FIELD_NUMBER: _ClassVar[int]
    PURCHASES_FIELD_NUMBER: _ClassVar[int]
    PAYING_USERS_FIELD_NUMBER: _ClassVar[int]
    date: str
    kind: RevenueKind
    revenue: _money_pb2.Money
    platform: str
    bundle_id: str
    purchases: int
    paying_users: int
    def __init__(self, date: _Optional[str] = ..., kind: _Optional[_Union[RevenueKind, str]] = ..., revenue: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., platform: _Optional[str] = ..., bundle_id: _Optional[str] = ..., purchases: _Optional[int] = ..., paying_users: _Optional[int] = ...) -> None: ...

class RevenueTotal(_message.Message):
    __slots__ = ("kind", "revenue", "purchases", "paying_users", "active_users", "arpu", "arppu")
    KIND_FIELD_NUMBER: _ClassVar[int]
    REVENUE_FIELD_NUMBER: _ClassVar[int]
    PURCHASES_FIELD_NUMBER: _ClassVar[int]
    PAYING_USERS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_USERS_FIELD_NUMBER: _ClassVar[int]
    ARPU_FIELD_NUMBER: _ClassVar[int]
    ARPPU_FIELD_NUMBER: _ClassVar[int]
    kind: RevenueKind
    revenue: _money_pb2.Money
    purchases: int
    paying_users: int
    active_users: int
    arpu: _money_pb2.Money
    arppu: _money_pb2.Money
    def __init__(self, kind: _Optional[_Union[RevenueKind, str]] = ..., revenue: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., purchases: _Optional[int] = ..., paying_users: _Optional[int] = ..., active_users: _Optional[int] = ..., arpu: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., arppu: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...

class GetRevenueResponse(_message.Message):
    __slots__ = ("rows", "totals")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[RevenueRow]
    totals: _containers.RepeatedCompositeFieldContainer[RevenueTotal]
    def __init__(self, rows: _Optional[_Iterable[_Union[RevenueRow, _Mapping]]] = ..., totals: _Optional[_Iterable[_Union[RevenueTotal, _Mapping]]] = ...) -> None: ...
