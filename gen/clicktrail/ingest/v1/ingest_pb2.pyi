import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_TYPE_UNSPECIFIED: _ClassVar[EventType]
    EVENT_TYPE_INSTALL: _ClassVar[EventType]
    EVENT_TYPE_IDENTIFY: _ClassVar[EventType]
    EVENT_TYPE_TRACK: _ClassVar[EventType]
    EVENT_TYPE_SCREEN: _ClassVar[EventType]
    EVENT_TYPE_HEARTBEAT: _ClassVar[EventType]

class DevicePlatform(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEVICE_PLATFORM_UNSPECIFIED: _ClassVar[DevicePlatform]
    DEVICE_PLATFORM_IOS: _ClassVar[DevicePlatform]
    DEVICE_PLATFORM_ANDROID: _ClassVar[DevicePlatform]
    DEVICE_PLATFORM_WEB: _ClassVar[DevicePlatform]
    DEVICE_PLATFORM_OTHER: _ClassVar[DevicePlatform]

class TrackingStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRACKING_STATUS_UNSPECIFIED: _ClassVar[TrackingStatus]
    TRACKING_STATUS_AUTHORIZED: _ClassVar[TrackingStatus]
    TRACKING_STATUS_DENIED: _ClassVar[TrackingStatus]
    TRACKING_STATUS_RESTRICTED: _ClassVar[TrackingStatus]
    TRACKING_STATUS_NOT_DETERMINED: _ClassVar[TrackingStatus]

class EventStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_STATUS_UNSPECIFIED: _ClassVar[EventStatus]
    EVENT_STATUS_ACCEPTED: _ClassVar[EventStatus]
    EVENT_STATUS_DUPLICATE: _ClassVar[EventStatus]
    EVENT_STATUS_REJECTED: _ClassVar[EventStatus]
EVENT_TYPE_UNSPECIFIED: EventType
EVENT_TYPE_INSTALL: EventType
EVENT_TYPE_IDENTIFY: EventType
EVENT_TYPE_TRACK: EventType
EVENT_TYPE_SCREEN: EventType
EVENT_TYPE_HEARTBEAT: EventType
DEVICE_PLATFORM_UNSPECIFIED: DevicePlatform
DEVICE_PLATFORM_IOS: DevicePlatform
DEVICE_PLATFORM_ANDROID: DevicePlatform
DEVICE_PLATFORM_WEB: DevicePlatform
DEVICE_PLATFORM_OTHER: DevicePlatform
TRACKING_STATUS_UNSPECIFIED: TrackingStatus
TRACKING_STATUS_AUTHORIZED: TrackingStatus
TRACKING_STATUS_DENIED: TrackingStatus
TRACKING_STATUS_RESTRICTED: TrackingStatus
TRACKING_STATUS_NOT_DETERMINED: TrackingStatus
EVENT_STATUS_UNSPECIFIED: EventStatus
EVENT_STATUS_ACCEPTED: EventStatus
EVENT_STATUS_DUPLICATE: EventStatus
EVENT_STATUS_REJECTED: EventStatus

class Device(_message.Message):
    __slots__ = ("idfa", "gaid", "idfv", "android_id", "platform", "os_version", "device_model", "locale", "tracking_status")
    IDFA_FIELD_NUMBER: _ClassVar[int]
    GAID_FIELD_NUMBER: _ClassVar[int]
    IDFV_FIELD_NUMBER: _ClassVar[int]
    ANDROID_ID_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    OS_VERSION_FIELD_NUMBER: _ClassVar[int]
    DEVICE_MODEL_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    TRACKING_STATUS_FIELD_NUMBER: _ClassVar[int]
    idfa: str
    gaid: str
    idfv: str
    android_id: str
    platform: DevicePlatform
    os_version: str
    device_model: str
    locale: str
    tracking_status: TrackingStatus
    def __init__(self, idfa: _Optional[str] = ..., gaid: _Optional[str] = ..., idfv: _Optional[str] = ..., android_id: _Optional[str] = ..., platform: _Optional[_Union[DevicePlatform, str]] = ..., os_version: _Optional[str] = ..., device_model: _Optional[str] = ..., locale: _Optional[str] = ..., tracking_status: _Optional[_Union[TrackingStatus, str]] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("uuid", "event", "timestamp", "receive_time", "session_id", "offset", "user_id", "ref", "app_id", "device", "ip", "user_agent", "action", "action_properties_json", "click_id", "account_id", "install_begin_time", "referrer_click_time", "claimed_ip", "claimed_user_agent", "adservices_token", "app_instance_id", "app_version")
    UUID_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    RECEIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    ACTION_PROPERTIES_JSON_FIELD_NUMBER: _ClassVar[int]
    CLICK_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    INSTALL_BEGIN_TIME_FIELD_NUMBER: _ClassVar[int]
    REFERRER_CLICK_TIME_FIELD_NUMBER: _ClassVar[int]
    CLAIMED_IP_FIELD_NUMBER: _ClassVar[int]
    CLAIMED_USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    ADSERVICES_TOKEN_FIELD_NUMBER: _ClassVar[int]
    APP_INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    APP_VERSION_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    event: EventType
    timestamp: _timestamp_pb2.Timestamp
    receive_time: _timestamp_pb2.Timestamp
    session_id: str
    offset: int
    user_id: str
    ref: str
    app_id: str
    device: Device
    ip: str
    user_agent: str
    action: str
    action_properties_json: str
    click_id: str
    account_id: str
    install_begin_time: _timestamp_pb2.Timestamp
    referrer_click_time: _timestamp_pb2.Timestamp
    claimed_ip: str
    claimed_user_agent: str
    adservices_token: str
    app_instance_id: str
    app_version: str
    def __init__(self, uuid: _Optional[str] = ..., event: _Optional[_Union[EventType, str]] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., receive_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., session_id: _Optional[str] = ..., offset: _Optional[int] = ..., user_id: _Optional[str] = ..., ref: _Optional[str] = ..., app_id: _Optional[str] = ..., device: _Optional[_Union[Device, _Mapping]] = ..., ip: _Optional[str] = ..., user_agent: _Optional[str] = ..., action: _Optional[str] = ..., action_properties_json: _Optional[str] = ..., click_id: _Optional[str] = ..., account_id: _Optional[str] = ..., install_begin_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., referrer_click_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., claimed_ip: _Optional[str] = ..., claimed_user_agent: _Optional[str] = ..., adservices_token: _Optional[str] = ..., app_instance_id: _Optional[str] = ..., app_version: _Optional[str] = ...) -> None: ...

class EventResult(_message.Message):
    __slots__ = ("index", "uuid", "status", "field", "reason")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    UUID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    index: int
    uuid: str
    status: EventStatus
    field: str
    reason: str
    def __init__(self, index: _Optional[int] = ..., uuid: _Optional[str] = ..., status: _Optional[_Union[EventStatus, str]] = ..., field: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class SendEventsRequest(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[Event]
    def __init__(self, events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ...) -> None: ...

class SendEventsResponse(_message.Message):
    __slots__ = ("results", "accepted", "duplicates", "rejected")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[EventResult]
    accepted: int
    duplicates: int
    rejected: int
    def __init__(self, results: _Optional[_Iterable[_Union[EventResult, _Mapping]]] = ..., accepted: _Optional[int] = ..., duplicates: _Optional[int] = ..., rejected: _Optional[int] = ...) -> None: ...

class SendEventsJsonRequest(_message.Message):
    __slots__ = ("body", "gzip", "client_ip", "client_user_agent")
    BODY_FIELD_NUMBER: _ClassVar[int]
    GZIP_FIELD_NUMBER: _ClassVar[int]
    CLIENT_IP_FIELD_NUMBER: _ClassVar[int]
    CLIENT_USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    body: bytes
    gzip: bool
    client_ip: str
    client_user_agent: str
    def __init__(self, body: _Optional[bytes] = ..., gzip: _Optional[bool] = ..., client_ip: _Optional[str] = ..., client_user_agent: _Optional[str] = ...) -> None: ...

class CheckEventsKeyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CheckEventsKeyResponse(_message.Message):
    __slots__ = ("kind", "account_id", "app_id")
    KIND_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    kind: str
    account_id: str
    app_id: str
    def __init__(self, kind: _Optional[str] = ..., account_id: _Optional[str] = ..., app_id: _Optional[str] = ...) -> None: ...

class SendEventsJsonResponse(_message.Message):
    __slots__ = ("results", "accepted", "duplicates", "rejected")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[EventResult]
    accepted: int
    duplicates: int
    rejected: int
    def __init__(self, results: _Optional[_Iterable[_Union[EventResult, _Mapping]]] = ..., accepted: _Optional[int] = ..., duplicates: _Optional[int] = ..., rejected: _Optional[int] = ...) -> None: ...

class ListEventsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "app_id", "user_id", "device_id", "start_time", "end_time", "event")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    app_id: str
    user_id: str
    device_id: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    event: EventType
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., app_id: _Optional[str] = ..., user_id: _Optional[str] = ..., device_id: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., event: _Optional[_Union[EventType, str]] = ...) -> None: ...

class ListEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[Event]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
