import datetime

from clicktrail.type.v1 import quality_pb2 as _quality_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MatchType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MATCH_TYPE_UNSPECIFIED: _ClassVar[MatchType]
    MATCH_TYPE_CLICK_ID: _ClassVar[MatchType]
    MATCH_TYPE_DEVICE_ID: _ClassVar[MatchType]
    MATCH_TYPE_FINGERPRINT: _ClassVar[MatchType]
    MATCH_TYPE_ORGANIC: _ClassVar[MatchType]
    MATCH_TYPE_APPLE_ADS: _ClassVar[MatchType]

class TouchType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TOUCH_TYPE_UNSPECIFIED: _ClassVar[TouchType]
    TOUCH_TYPE_CLICK: _ClassVar[TouchType]
    TOUCH_TYPE_IMPRESSION: _ClassVar[TouchType]

class ConversionStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONVERSION_STATUS_UNSPECIFIED: _ClassVar[ConversionStatus]
    CONVERSION_STATUS_PENDING: _ClassVar[ConversionStatus]
    CONVERSION_STATUS_APPROVED: _ClassVar[ConversionStatus]
    CONVERSION_STATUS_REJECTED: _ClassVar[ConversionStatus]

class ConversionSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONVERSION_SOURCE_UNSPECIFIED: _ClassVar[ConversionSource]
    CONVERSION_SOURCE_EVENT: _ClassVar[ConversionSource]
    CONVERSION_SOURCE_POSTBACK: _ClassVar[ConversionSource]
MATCH_TYPE_UNSPECIFIED: MatchType
MATCH_TYPE_CLICK_ID: MatchType
MATCH_TYPE_DEVICE_ID: MatchType
MATCH_TYPE_FINGERPRINT: MatchType
MATCH_TYPE_ORGANIC: MatchType
MATCH_TYPE_APPLE_ADS: MatchType
TOUCH_TYPE_UNSPECIFIED: TouchType
TOUCH_TYPE_CLICK: TouchType
TOUCH_TYPE_IMPRESSION: TouchType
CONVERSION_STATUS_UNSPECIFIED: ConversionStatus
CONVERSION_STATUS_PENDING: ConversionStatus
CONVERSION_STATUS_APPROVED: ConversionStatus
CONVERSION_STATUS_REJECTED: ConversionStatus
CONVERSION_SOURCE_UNSPECIFIED: ConversionSource
CONVERSION_SOURCE_EVENT: ConversionSource
CONVERSION_SOURCE_POSTBACK: ConversionSource

class Install(_message.Message):
    __slots__ = ("install_id", "app_id", "campaign_id", "partner_id", "link_id", "click_id", "touch_type", "match_type", "install_time", "touch_time", "create_time", "event_uuid", "user_id", "idfa", "gaid", "ip", "verdict", "reasons", "passed_over", "update_time", "verdict_note", "apple_ads_org_id", "apple_ads_campaign_id", "apple_ads_ad_group_id", "apple_ads_keyword_id", "apple_ads_ad_id", "apple_ads_click_time")
    INSTALL_ID_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    LINK_ID_FIELD_NUMBER: _ClassVar[int]
    CLICK_ID_FIELD_NUMBER: _ClassVar[int]
    TOUCH_TYPE_FIELD_NUMBER: _ClassVar[int]
    MATCH_TYPE_FIELD_NUMBER: _ClassVar[int]
    INSTALL_TIME_FIELD_NUMBER: _ClassVar[int]
    TOUCH_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    EVENT_UUID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    IDFA_FIELD_NUMBER: _ClassVar[int]
    GAID_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    PASSED_OVER_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    VERDICT_NOTE_FIELD_NUMBER: _ClassVar[int]
    APPLE_ADS_ORG_ID_FIELD_NUMBER: _ClassVar[int]
    APPLE_ADS_CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    APPLE_ADS_AD_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    APPLE_ADS_KEYWORD_ID_FIELD_NUMBER: _ClassVar[int]
    APPLE_ADS_AD_ID_FIELD_NUMBER: _ClassVar[int]
    APPLE_ADS_CLICK_TIME_FIELD_NUMBER: _ClassVar[int]
    install_id: str
    app_id: str
    campaign_id: str
    partner_id: str
    link_id: str
    click_id: str
    touch_type: TouchType
    match_type: MatchType
    install_time: _timestamp_pb2.Timestamp
    touch_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    event_uuid: str
    user_id: str
    idfa: str
    gaid: str
    ip: str
    verdict: _quality_pb2.Verdict
    reasons: _containers.RepeatedScalarFieldContainer[str]
    passed_over: _containers.RepeatedCompositeFieldContainer[PassedOverTouch]
    update_time: _timestamp_pb2.Timestamp
    verdict_note: str
    apple_ads_org_id: int
    apple_ads_campaign_id: int
    apple_ads_ad_group_id: int
    apple_ads_keyword_id: int
    apple_ads_ad_id: int
    apple_ads_click_time: _timestamp_pb2.Timestamp
    def __init__(self, install_id: _Optional[str] = ..., app_id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., partner_id: _Optional[str] = ..., link_id: _Optional[str] = ..., click_id: _Optional[str] = ..., touch_type: _Optional[_Union[TouchType, str]] = ..., match_type: _Optional[_Union[MatchType, str]] = ..., install_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., touch_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., event_uuid: _Optional[str] = ..., user_id: _Optional[str] = ..., idfa: _Optional[str] = ..., gaid: _Optional[str] = ..., ip: _Optional[str] = ..., verdict: _Optional[_Union[_quality_pb2.Verdict, str]] = ..., reasons: _Optional[_Iterable[str]] = ..., passed_over: _Optional[_Iterable[_Union[PassedOverTouch, _Mapping]]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., verdict_note: _Optional[str] = ..., apple_ads_org_id: _Optional[int] = ..., apple_ads_campaign_id: _Optional[int] = ..., apple_ads_ad_group_id: _Optional[int] = ..., apple_ads_keyword_id: _Optional[int] = ..., apple_ads_ad_id: _Optional[int] = ..., apple_ads_click_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PassedOverTouch(_message.Message):
    __slots__ = ("touch_id", "touch_type", "reasons")
    TOUCH_ID_FIELD_NUMBER: _ClassVar[int]
    TOUCH_TYPE_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    touch_id: str
    touch_type: TouchType
    reasons: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, touch_id: _Optional[str] = ..., touch_type: _Optional[_Union[TouchType, str]] = ..., reasons: _Optional[_Iterable[str]] = ...) -> None: ...

class Conversion(_message.Message):
    __slots__ = ("conversion_id", "goal_id", "goal", "status", "payout", "currency", "txid", "click_id", "campaign_id", "partner_id", "link_id", "install_id", "source", "event_uuid", "user_id", "event_time", "create_time", "update_time", "kind", "verdict", "reasons", "verdict_note", "offer_id", "lander_id", "stream_id")
    CONVERSION_ID_FIELD_NUMBER: _ClassVar[int]
    GOAL_ID_FIELD_NUMBER: _ClassVar[int]
    GOAL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAYOUT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    TXID_FIELD_NUMBER: _ClassVar[int]
    CLICK_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    LINK_ID_FIELD_NUMBER: _ClassVar[int]
    INSTALL_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    EVENT_UUID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    VERDICT_NOTE_FIELD_NUMBER: _ClassVar[int]
    OFFER_ID_FIELD_NUMBER: _ClassVar[int]
    LANDER_ID_FIELD_NUMBER: _ClassVar[int]
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    conversion_id: str
    goal_id: str
    goal: str
    status: ConversionStatus
    payout: str
    currency: str
    txid: str
    click_id: str
    campaign_id: str
    partner_id: str
    link_id: str
    install_id: str
    source: ConversionSource
    event_uuid: str
    user_id: str
    event_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    kind: str
    verdict: _quality_pb2.Verdict
    reasons: _containers.RepeatedScalarFieldContainer[str]
    verdict_note: str
    offer_id: str
    lander_id: str
    stream_id: str
    def __init__(self, conversion_id: _Optional[str] = ..., goal_id: _Optional[str] = ..., goal: _Optional[str] = ..., status: _Optional[_Union[ConversionStatus, str]] = ..., payout: _Optional[str] = ..., currency: _Optional[str] = ..., txid: _Optional[str] = ..., click_id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., partner_id: _Optional[str] = ..., link_id: _Optional[str] = ..., install_id: _Optional[str] = ..., source: _Optional[_Union[ConversionSource, str]] = ..., event_uuid: _Optional[str] = ..., user_id: _Optional[str] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., kind: _Optional[str] = ..., verdict: _Optional[_Union[_quality_pb2.Verdict, str]] = ..., reasons: _Optional[_Iterable[str]] = ..., verdict_note: _Optional[str] = ..., offer_id: _Optional[str] = ..., lander_id: _Optional[str] = ..., stream_id: _Optional[str] = ...) -> None: ...

class RecordPostbackRequest(_message.Message):
    __slots__ = ("click_id", "status", "payout", "currency", "goal", "txid", "params", "method", "client_ip", "user_agent", "partner_id")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CLICK_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAYOUT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    GOAL_FIELD_NUMBER: _ClassVar[int]
    TXID_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    CLIENT_IP_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    click_id: str
    status: str
    payout: str
    currency: str
    goal: str
    txid: str
    params: _containers.ScalarMap[str, str]
    method: str
    client_ip: str
    user_agent: str
    partner_id: str
    def __init__(self, click_id: _Optional[str] = ..., status: _Optional[str] = ..., payout: _Optional[str] = ..., currency: _Optional[str] = ..., goal: _Optional[str] = ..., txid: _Optional[str] = ..., params: _Optional[_Mapping[str, str]] = ..., method: _Optional[str] = ..., client_ip: _Optional[str] = ..., user_agent: _Optional[str] = ..., partner_id: _Optional[str] = ...) -> None: ...

class LogRefusedPostbackRequest(_message.Message):
    __slots__ = ("params", "method", "client_ip", "user_agent", "http_status", "error", "field")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    CLIENT_IP_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    HTTP_STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    params: _containers.ScalarMap[str, str]
    method: str
    client_ip: str
    user_agent: str
    http_status: int
    error: str
    field: str
    def __init__(self, params: _Optional[_Mapping[str, str]] = ..., method: _Optional[str] = ..., client_ip: _Optional[str] = ..., user_agent: _Optional[str] = ..., http_status: _Optional[int] = ..., error: _Optional[str] = ..., field: _Optional[str] = ...) -> None: ...

class LogRefusedPostbackResponse(_message.Message):
    __slots__ = ("postback_id",)
    POSTBACK_ID_FIELD_NUMBER: _ClassVar[int]
    postback_id: str
    def __init__(self, postback_id: _Optional[str] = ...) -> None: ...

class RecordPostbackResponse(_message.Message):
    __slots__ = ("conversion", "created", "changed", "postback_id", "previous_status")
    CONVERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    POSTBACK_ID_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_STATUS_FIELD_NUMBER: _ClassVar[int]
    conversion: Conversion
    created: bool
    changed: bool
    postback_id: str
    previous_status: ConversionStatus
    def __init__(self, conversion: _Optional[_Union[Conversion, _Mapping]] = ..., created: _Optional[bool] = ..., changed: _Optional[bool] = ..., postback_id: _Optional[str] = ..., previous_status: _Optional[_Union[ConversionStatus, str]] = ...) -> None: ...

class UpdateConversionStatusRequest(_message.Message):
    __slots__ = ("conversion_id", "status")
    CONVERSION_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    conversion_id: str
    status: ConversionStatus
    def __init__(self, conversion_id: _Optional[str] = ..., status: _Optional[_Union[ConversionStatus, str]] = ...) -> None: ...

class UpdateConversionStatusResponse(_message.Message):
    __slots__ = ("conversion", "previous_status", "changed")
    CONVERSION_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_STATUS_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    conversion: Conversion
    previous_status: ConversionStatus
    changed: bool
    def __init__(self, conversion: _Optional[_Union[Conversion, _Mapping]] = ..., previous_status: _Optional[_Union[ConversionStatus, str]] = ..., changed: _Optional[bool] = ...) -> None: ...

class GetInstallRequest(_message.Message):
    __slots__ = ("install_id",)
    INSTALL_ID_FIELD_NUMBER: _ClassVar[int]
    install_id: str
    def __init__(self, install_id: _Optional[str] = ...) -> None: ...

class GetInstallResponse(_message.Message):
    __slots__ = ("install",)
    INSTALL_FIELD_NUMBER: _ClassVar[int]
    install: Install
    def __init__(self, install: _Optional[_Union[Install, _Mapping]] = ...) -> None: ...

class ListInstallsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "campaign_id", "app_id", "match_type", "verdict", "reason")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    MATCH_TYPE_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    campaign_id: str
    app_id: str
    match_type: MatchType
    verdict: _quality_pb2.Verdict
    reason: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., campaign_id: _Optional[str] = ..., app_id: _Optional[str] = ..., match_type: _Optional[_Union[MatchType, str]] = ..., verdict: _Optional[_Union[_quality_pb2.Verdict, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class ListInstallsResponse(_message.Message):
    __slots__ = ("installs", "next_page_token")
    INSTALLS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    installs: _containers.RepeatedCompositeFieldContainer[Install]
    next_page_token: str
    def __init__(self, installs: _Optional[_Iterable[_Union[Install, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetConversionRequest(_message.Message):
    __slots__ = ("conversion_id",)
    CONVERSION_ID_FIELD_NUMBER: _ClassVar[int]
    conversion_id: str
    def __init__(self, conversion_id: _Optional[str] = ...) -> None: ...

class GetConversionResponse(_message.Message):
    __slots__ = ("conversion",)
    CONVERSION_FIELD_NUMBER: _ClassVar[int]
    conversion: Conversion
    def __init__(self, conversion: _Optional[_Union[Conversion, _Mapping]] = ...) -> None: ...

class ListConversionsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "campaign_id", "goal_id", "status", "click_id", "verdict", "reason")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    GOAL_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CLICK_ID_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    campaign_id: str
    goal_id: str
    status: ConversionStatus
    click_id: str
    verdict: _quality_pb2.Verdict
    reason: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., campaign_id: _Optional[str] = ..., goal_id: _Optional[str] = ..., status: _Optional[_Union[ConversionStatus, str]] = ..., click_id: _Optional[str] = ..., verdict: _Optional[_Union[_quality_pb2.Verdict, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class ListConversionsResponse(_message.Message):
    __slots__ = ("conversions", "next_page_token")
    CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    conversions: _containers.RepeatedCompositeFieldContainer[Conversion]
    next_page_token: str
    def __init__(self, conversions: _Optional[_Iterable[_Union[Conversion, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class InboundPostback(_message.Message):
    __slots__ = ("postback_id", "receive_time", "method", "client_ip", "click_id", "txid", "http_status", "outcome", "error", "field", "conversion_id", "status", "params", "partner_id")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    POSTBACK_ID_FIELD_NUMBER: _ClassVar[int]
    RECEIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    CLIENT_IP_FIELD_NUMBER: _ClassVar[int]
    CLICK_ID_FIELD_NUMBER: _ClassVar[int]
    TXID_FIELD_NUMBER: _ClassVar[int]
    HTTP_STATUS_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    postback_id: str
    receive_time: _timestamp_pb2.Timestamp
    method: str
    client_ip: str
    click_id: str
    txid: str
    http_status: int
    outcome: str
    error: str
    field: str
    conversion_id: str
    status: ConversionStatus
    params: _containers.ScalarMap[str, str]
    partner_id: str
    def __init__(self, postback_id: _Optional[str] = ..., receive_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., method: _Optional[str] = ..., client_ip: _Optional[str] = ..., click_id: _Optional[str] = ..., txid: _Optional[str] = ..., http_status: _Optional[int] = ..., outcome: _Optional[str] = ..., error: _Optional[str] = ..., field: _Optional[str] = ..., conversion_id: _Optional[str] = ..., status: _Optional[_Union[ConversionStatus, str]] = ..., params: _Optional[_Mapping[str, str]] = ..., partner_id: _Optional[str] = ...) -> None: ...

class ListInboundPostbacksRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "click_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CLICK_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    click_id: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., click_id: _Optional[str] = ...) -> None: ...

class ListInboundPostbacksResponse(_message.Message):
    __slots__ = ("postbacks", "next_page_token")
    POSTBACKS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    postbacks: _containers.RepeatedCompositeFieldContainer[InboundPostback]
    next_page_token: str
    def __init__(self, postbacks: _Optional[_Iterable[_Union[InboundPostback, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class OverruleInstallVerdictRequest(_message.Message):
    __slots__ = ("install_id", "verdict", "note")
    INSTALL_ID_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    install_id: str
    verdict: _quality_pb2.Verdict
    note: str
    def __init__(self, install_id: _Optional[str] = ..., verdict: _Optional[_Union[_quality_pb2.Verdict, str]] = ..., note: _Optional[str] = ...) -> None: ...

class OverruleInstallVerdictResponse(_message.Message):
    __slots__ = ("install", "previous_verdict", "changed", "conversions_changed")
    INSTALL_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_VERDICT_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    CONVERSIONS_CHANGED_FIELD_NUMBER: _ClassVar[int]
    install: Install
    previous_verdict: _quality_pb2.Verdict
    changed: bool
    conversions_changed: int
    def __init__(self, install: _Optional[_Union[Install, _Mapping]] = ..., previous_verdict: _Optional[_Union[_quality_pb2.Verdict, str]] = ..., changed: _Optional[bool] = ..., conversions_changed: _Optional[int] = ...) -> None: ...

class OverruleConversionVerdictRequest(_message.Message):
    __slots__ = ("conversion_id", "verdict", "note")
    CONVERSION_ID_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    conversion_id: str
    verdict: _quality_pb2.Verdict
    note: str
    def __init__(self, conversion_id: _Optional[str] = ..., verdict: _Optional[_Union[_quality_pb2.Verdict, str]] = ..., note: _Optional[str] = ...) -> None: ...

class OverruleConversionVerdictResponse(_message.Message):
    __slots__ = ("conversion", "previous_verdict", "changed")
    CONVERSION_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_VERDICT_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    conversion: Conversion
    previous_verdict: _quality_pb2.Verdict
    changed: bool
    def __init__(self, conversion: _Optional[_Union[Conversion, _Mapping]] = ..., previous_verdict: _Optional[_Union[_quality_pb2.Verdict, str]] = ..., changed: _Optional[bool] = ...) -> None: ...
