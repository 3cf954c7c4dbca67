import datetime

from clicktrail.attribution.v1 import attribution_pb2 as _attribution_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReattributionKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REATTRIBUTION_KIND_UNSPECIFIED: _ClassVar[ReattributionKind]
    REATTRIBUTION_KIND_RE_ENGAGEMENT: _ClassVar[ReattributionKind]
    REATTRIBUTION_KIND_RE_ATTRIBUTION: _ClassVar[ReattributionKind]
REATTRIBUTION_KIND_UNSPECIFIED: ReattributionKind
REATTRIBUTION_KIND_RE_ENGAGEMENT: ReattributionKind
REATTRIBUTION_KIND_RE_ATTRIBUTION: ReattributionKind

class Reattribution(_message.Message):
    __slots__ = ("reattribution_id", "kind", "install_id", "app_id", "event_uuid", "event_time", "match_type", "click_id", "touch_time", "campaign_id", "partner_id", "link_id", "window_end", "create_time")
    REATTRIBUTION_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    INSTALL_ID_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_UUID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    MATCH_TYPE_FIELD_NUMBER: _ClassVar[int]
    CLICK_ID_FIELD_NUMBER: _ClassVar[int]
    TOUCH_TIME_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    LINK_ID_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    reattribution_id: str
    kind: ReattributionKind
    install_id: str
    app_id: str
    event_uuid: str
    event_time: _timestamp_pb2.Timestamp
    match_type: _attribution_pb2.MatchType
    click_id: str
    touch_time: _timestamp_pb2.Timestamp
    campaign_id: str
    partner_id: str
    link_id: str
    window_end: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, reattribution_id: _Optional[str] = ..., kind: _Optional[_Union[ReattributionKind, str]] = ..., install_id: _Optional[str] = ..., app_id: _Optional[str] = ..., event_uuid: _Optional[str] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., match_type: _Optional[_Union[_attribution_pb2.MatchType, str]] = ..., click_id: _Optional[str] = ..., touch_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., campaign_id: _Optional[str] = ..., partner_id: _Optional[str] = ..., link_id: _Optional[str] = ..., window_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListReattributionsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "kind", "install_id", "campaign_id", "app_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    INSTALL_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    kind: ReattributionKind
    install_id: str
    campaign_id: str
    app_id: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., kind: _Optional[_Union[ReattributionKind, str]] = ..., install_id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., app_id: _Optional[str] = ...) -> None: ...

class ListReattributionsResponse(_message.Message):
    __slots__ = ("reattributions", "next_page_token")
    REATTRIBUTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    reattributions: _containers.RepeatedCompositeFieldContainer[Reattribution]
    next_page_token: str
    def __init__(self, reattributions: _Optional[_Iterable[_Union[Reattribution, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
