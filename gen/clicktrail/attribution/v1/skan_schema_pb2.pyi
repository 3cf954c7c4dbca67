import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SkanEventCount(_message.Message):
    __slots__ = ("name", "count")
    NAME_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    name: str
    count: int
    def __init__(self, name: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class SkanFineValue(_message.Message):
    __slots__ = ("value", "value_to", "revenue_min", "revenue_max", "revenue", "events")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    VALUE_TO_FIELD_NUMBER: _ClassVar[int]
    REVENUE_MIN_FIELD_NUMBER: _ClassVar[int]
    REVENUE_MAX_FIELD_NUMBER: _ClassVar[int]
    REVENUE_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    value: int
    value_to: int
    revenue_min: str
    revenue_max: str
    revenue: str
    events: _containers.RepeatedCompositeFieldContainer[SkanEventCount]
    def __init__(self, value: _Optional[int] = ..., value_to: _Optional[int] = ..., revenue_min: _Optional[str] = ..., revenue_max: _Optional[str] = ..., revenue: _Optional[str] = ..., events: _Optional[_Iterable[_Union[SkanEventCount, _Mapping]]] = ...) -> None: ...

class SkanCoarseValue(_message.Message):
    __slots__ = ("postback", "value", "revenue_min", "revenue_max", "revenue", "events")
    POSTBACK_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    REVENUE_MIN_FIELD_NUMBER: _ClassVar[int]
    REVENUE_MAX_FIELD_NUMBER: _ClassVar[int]
    REVENUE_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    postback: int
    value: str
    revenue_min: str
    revenue_max: str
    revenue: str
    events: _containers.RepeatedCompositeFieldContainer[SkanEventCount]
    def __init__(self, postback: _Optional[int] = ..., value: _Optional[str] = ..., revenue_min: _Optional[str] = ..., revenue_max: _Optional[str] = ..., revenue: _Optional[str] = ..., events: _Optional[_Iterable[_Union[SkanEventCount, _Mapping]]] = ...) -> None: ...

class SkanLockWindow(_message.Message):
    __slots__ = ("postback", "lock_after_hours", "lock_on_event")
    POSTBACK_FIELD_NUMBER: _ClassVar[int]
    LOCK_AFTER_HOURS_FIELD_NUMBER: _ClassVar[int]
    LOCK_ON_EVENT_FIELD_NUMBER: _ClassVar[int]
    postback: int
    lock_after_hours: int
    lock_on_event: str
    def __init__(self, postback: _Optional[int] = ..., lock_after_hours: _Optional[int] = ..., lock_on_event: _Optional[str] = ...) -> None: ...

class SkanSchema(_message.Message):
    __slots__ = ("app_id", "version", "create_time", "currency", "fine_values", "coarse_values", "lock_windows", "note")
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    FINE_VALUES_FIELD_NUMBER: _ClassVar[int]
    COARSE_VALUES_FIELD_NUMBER: _ClassVar[int]
    LOCK_WINDOWS_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    version: int
    create_time: _timestamp_pb2.Timestamp
    currency: str
    fine_values: _containers.RepeatedCompositeFieldContainer[SkanFineValue]
    coarse_values: _containers.RepeatedCompositeFieldContainer[SkanCoarseValue]
    lock_windows: _containers.RepeatedCompositeFieldContainer[SkanLockWindow]
    note: str
    def __init__(self, app_id: _Optional[str] = ..., version: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., currency: _Optional[str] = ..., fine_values: _Optional[_Iterable[_Union[SkanFineValue, _Mapping]]] = ..., coarse_values: _Optional[_Iterable[_Union[SkanCoarseValue, _Mapping]]] = ..., lock_windows: _Optional[_Iterable[_Union[SkanLockWindow, _Mapping]]] = ..., note: _Optional[str] = ...) -> None: ...

class GetSkanSchemaRequest(_message.Message):
    __slots__ = ("app_id", "version")
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    version: int
    def __init__(self, app_id: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class GetSkanSchemaResponse(_message.Message):
    __slots__ = ("schema", "schema_json")
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    schema: SkanSchema
    schema_json: str
    def __init__(self, schema: _Optional[_Union[SkanSchema, _Mapping]] = ..., schema_json: _Optional[str] = ...) -> None: ...

class UpdateSkanSchemaRequest(_message.Message):
    __slots__ = ("app_id", "schema", "schema_json", "note", "validate_only")
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    schema: SkanSchema
    schema_json: str
    note: str
    validate_only: bool
    def __init__(self, app_id: _Optional[str] = ..., schema: _Optional[_Union[SkanSchema, _Mapping]] = ..., schema_json: _Optional[str] = ..., note: _Optional[str] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class UpdateSkanSchemaResponse(_message.Message):
    __slots__ = ("schema", "schema_json", "changed", "warnings")
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    schema: SkanSchema
    schema_json: str
    changed: bool
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, schema: _Optional[_Union[SkanSchema, _Mapping]] = ..., schema_json: _Optional[str] = ..., changed: _Optional[bool] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...

class ListSkanSchemaVersionsRequest(_message.Message):
    __slots__ = ("app_id", "page_size", "page_token")
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    page_size: int
    page_token: str
    def __init__(self, app_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSkanSchemaVersionsResponse(_message.Message):
    __slots__ = ("versions", "next_page_token")
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[SkanSchema]
    next_page_token: str
    def __init__(self, versions: _Optional[_Iterable[_Union[SkanSchema, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
