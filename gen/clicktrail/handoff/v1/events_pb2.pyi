from clicktrail.ingest.v1 import ingest_pb2 as _ingest_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StoredEvents(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[StoredEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[StoredEvent, _Mapping]]] = ...) -> None: ...

class StoredEvent(_message.Message):
    __slots__ = ("account_id", "app_id", "event_uuid", "event", "event_time", "receive_time", "session_id", "session_offset", "user_id", "ref", "idfa", "gaid", "idfv", "android_id", "platform", "os_version", "device_model", "locale", "ip", "user_agent", "action", "properties", "click_id", "claimed_ip", "claimed_user_agent", "install_begin_time", "referrer_click_time", "adservices_token", "app_instance_id", "tracking_status", "app_version")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_UUID_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    RECEIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_OFFSET_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    IDFA_FIELD_NUMBER: _ClassVar[int]
    GAID_FIELD_NUMBER: _ClassVar[int]
    IDFV_FIELD_NUMBER: _ClassVar[int]
    ANDROID_ID_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    OS_VERSION_FIELD_NUMBER: _ClassVar[int]
    DEVICE_MODEL_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    CLICK_ID_FIELD_NUMBER: _ClassVar[int]
    CLAIMED_IP_FIELD_NUMBER: _ClassVar[int]
    CLAIMED_USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    INSTALL_BEGIN_TIME_FIELD_NUMBER: _ClassVar[int]
    REFERRER_CLICK_TIME_FIELD_NUMBER: _ClassVar[int]
    ADSERVICES_TOKEN_FIELD_NUMBER: _ClassVar[int]
    APP_INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    TRACKING_STATUS_FIELD_NUMBER: _ClassVar[int]
    APP_VERSION_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    app_id: str
    event_uuid: str
    event: _ingest_pb2.EventType
    event_time: str
    receive_time: str
    session_id: str
    session_offset: int
    user_id: str
    ref: str
    idfa: str
    gaid: str
    idfv: str
    android_id: str
    platform: _ingest_pb2.DevicePlatform
    os_version: str
    device_model: str
    locale: str
    ip: str
    user_agent: str
    action: str
    properties: str
    click_id: str
    claimed_ip: str
    claimed_user_agent: str
    install_begin_time: str
    referrer_click_time: str
    adservices_token: str
    app_instance_id: str
    tracking_status: _ingest_pb2.TrackingStatus
    app_version: str
    def __init__(self, account_id: _Optional[str] = ..., app_id: _Optional[str] = ..., event_uuid: _Optional[str] = ..., event: _Optional[_Union[_ingest_pb2.EventType, str]] = ..., event_time: _Optional[str] = ..., receive_time: _Optional[str] = ..., session_id: _Optional[str] = ..., session_offset: _Optional[int] = ..., user_id: _Optional[str] = ..., ref: _Optional[str] = ..., idfa: _Optional[str] = ..., gaid: _Optional[str] = ..., idfv: _Optional[str] = ..., android_id: _Optional[str] = ..., platform: _Optional[_Union[_ingest_pb2.DevicePlatform, str]] = ..., os_version: _Optional[str] = ..., device_model: _Optional[str] = ..., locale: _Optional[str] = ..., ip: _Optional[str] = ..., user_agent: _Optional[str] = ..., action: _Optional[str] = ..., properties: _Optional[str] = ..., click_id: _Optional[str] = ..., claimed_ip: _Optional[str] = ..., claimed_user_agent: _Optional[str] = ..., install_begin_time: _Optional[str] = ..., referrer_click_time: _Optional[str] = ..., adservices_token: _Optional[str] = ..., app_instance_id: _Optional[str] = ..., tracking_status: _Optional[_Union[_ingest_pb2.TrackingStatus, str]] = ..., app_version: _Optional[str] = ...) -> None: ...
