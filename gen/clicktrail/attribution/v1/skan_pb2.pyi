import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SkanKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SKAN_KIND_UNSPECIFIED: _ClassVar[SkanKind]
    SKAN_KIND_SKADNETWORK: _ClassVar[SkanKind]
    SKAN_KIND_ADATTRIBUTIONKIT: _ClassVar[SkanKind]

class SkanChannel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SKAN_CHANNEL_UNSPECIFIED: _ClassVar[SkanChannel]
    SKAN_CHANNEL_DEVELOPER_COPY: _ClassVar[SkanChannel]
    SKAN_CHANNEL_NETWORK: _ClassVar[SkanChannel]
SKAN_KIND_UNSPECIFIED: SkanKind
SKAN_KIND_SKADNETWORK: SkanKind
SKAN_KIND_ADATTRIBUTIONKIT: SkanKind
SKAN_CHANNEL_UNSPECIFIED: SkanChannel
SKAN_CHANNEL_DEVELOPER_COPY: SkanChannel
SKAN_CHANNEL_NETWORK: SkanChannel

class SkanPostback(_message.Message):
    __slots__ = ("postback_id", "transaction_id", "kind", "version", "app_id", "store_app_id", "ad_network_id", "source_identifier", "campaign_id", "partner_id", "source_app_id", "source_domain", "fidelity_type", "redownload", "did_win", "sequence_index", "fine_value", "coarse_value", "installs", "conversions", "revenue", "currency", "received_via", "receive_time", "signing_key", "raw_json")
    POSTBACK_ID_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_APP_ID_FIELD_NUMBER: _ClassVar[int]
    AD_NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_APP_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_DOMAIN_FIELD_NUMBER: _ClassVar[int]
    FIDELITY_TYPE_FIELD_NUMBER: _ClassVar[int]
    REDOWNLOAD_FIELD_NUMBER: _ClassVar[int]
    DID_WIN_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_INDEX_FIELD_NUMBER: _ClassVar[int]
    FINE_VALUE_FIELD_NUMBER: _ClassVar[int]
    COARSE_VALUE_FIELD_NUMBER: _ClassVar[int]
    INSTALLS_FIELD_NUMBER: _ClassVar[int]
    CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    REVENUE_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_VIA_FIELD_NUMBER: _ClassVar[int]
    RECEIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    SIGNING_KEY_FIELD_NUMBER: _ClassVar[int]
    RAW_JSON_FIELD_NUMBER: _ClassVar[int]
    postback_id: str
    transaction_id: str
    kind: SkanKind
    version: str
    app_id: str
    store_app_id: str
    ad_network_id: str
    source_identifier: str
    campaign_id: str
    partner_id: str
    source_app_id: str
    source_domain: str
    fidelity_type: int
    redownload: bool
    did_win: bool
    sequence_index: int
    fine_value: int
    coarse_value: str
    installs: int
    conversions: int
    revenue: str
    currency: str
    received_via: SkanChannel
    receive_time: _timestamp_pb2.Timestamp
    signing_key: str
    raw_json: str
    def __init__(self, postback_id: _Optional[str] = ..., transaction_id: _Optional[str] = ..., kind: _Optional[_Union[SkanKind, str]] = ..., version: _Optional[str] = ..., app_id: _Optional[str] = ..., store_app_id: _Optional[str] = ..., ad_network_id: _Optional[str] = ..., source_identifier: _Optional[str] = ..., campaign_id: _Optional[str] = ..., partner_id: _Optional[str] = ..., source_app_id: _Optional[str] = ..., source_domain: _Optional[str] = ..., fidelity_type: _Optional[int] = ..., redownload: _Optional[bool] = ..., did_win: _Optional[bool] = ..., sequence_index: _Optional[int] = ..., fine_value: _Optional[int] = ..., coarse_value: _Optional[str] = ..., installs: _Optional[int] = ..., conversions: _Optional[int] = ..., revenue: _Optional[str] = ..., currency: _Optional[str] = ..., received_via: _Optional[_Union[SkanChannel, str]] = ..., receive_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., signing_key: _Optional[str] = ..., raw_json: _Optional[str] = ...) -> None: ...

class RecordSkanPostbackRequest(_message.Message):
    __slots__ = ("body", "kind", "channel", "account_id", "app_id", "postback_token")
    BODY_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    POSTBACK_TOKEN_FIELD_NUMBER: _ClassVar[int]
    body: bytes
    kind: SkanKind
    channel: SkanChannel
    account_id: str
    app_id: str
    postback_token: str
    def __init__(self, body: _Optional[bytes] = ..., kind: _Optional[_Union[SkanKind, str]] = ..., channel: _Optional[_Union[SkanChannel, str]] = ..., account_id: _Optional[str] = ..., app_id: _Optional[str] = ..., postback_token: _Optional[str] = ...) -> None: ...

class BatchRecordSkanPostbacksRequest(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[RecordSkanPostbackRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[RecordSkanPostbackRequest, _Mapping]]] = ...) -> None: ...

class BatchRecordSkanPostbacksResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[SkanPostbackResult]
    def __init__(self, results: _Optional[_Iterable[_Union[SkanPostbackResult, _Mapping]]] = ...) -> None: ...

class SkanPostbackResult(_message.Message):
    __slots__ = ("response", "code", "message", "field")
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    response: RecordSkanPostbackResponse
    code: int
    message: str
    field: str
    def __init__(self, response: _Optional[_Union[RecordSkanPostbackResponse, _Mapping]] = ..., code: _Optional[int] = ..., message: _Optional[str] = ..., field: _Optional[str] = ...) -> None: ...

class RecordSkanPostbackResponse(_message.Message):
    __slots__ = ("postback", "duplicate")
    POSTBACK_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    postback: SkanPostback
    duplicate: bool
    def __init__(self, postback: _Optional[_Union[SkanPostback, _Mapping]] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class ListSkanPostbacksRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "campaign_id", "app_id", "ad_network_id", "unmapped", "kind", "start_time", "end_time", "store_app_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    AD_NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    UNMAPPED_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    STORE_APP_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    campaign_id: str
    app_id: str
    ad_network_id: str
    unmapped: bool
    kind: SkanKind
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    store_app_id: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., campaign_id: _Optional[str] = ..., app_id: _Optional[str] = ..., ad_network_id: _Optional[str] = ..., unmapped: _Optional[bool] = ..., kind: _Optional[_Union[SkanKind, str]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., store_app_id: _Optional[str] = ...) -> None: ...

class ListSkanPostbacksResponse(_message.Message):
    __slots__ = ("postbacks", "next_page_token")
    POSTBACKS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    postbacks: _containers.RepeatedCompositeFieldContainer[SkanPostback]
    next_page_token: str
    def __init__(self, postbacks: _Optional[_Iterable[_Union[SkanPostback, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetSkanPostbackRequest(_message.Message):
    __slots__ = ("postback_id",)
    POSTBACK_ID_FIELD_NUMBER: _ClassVar[int]
    postback_id: str
    def __init__(self, postback_id: _Optional[str] = ...) -> None: ...

class GetSkanPostbackResponse(_message.Message):
    __slots__ = ("postback",)
    POSTBACK_FIELD_NUMBER: _ClassVar[int]
    postback: SkanPostback
    def __init__(self, postback: _Optional[_Union[SkanPostback, _Mapping]] = ...) -> None: ...

class SkanMapping(_message.Message):
    __slots__ = ("mapping_id", "ad_network_id", "source_identifier", "store_app_id", "campaign_id", "partner_id", "create_time")
    MAPPING_ID_FIELD_NUMBER: _ClassVar[int]
    AD_NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    STORE_APP_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    mapping_id: str
    ad_network_id: str
    source_identifier: str
    store_app_id: str
    campaign_id: str
    partner_id: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, mapping_id: _Optional[str] = ..., ad_network_id: _Optional[str] = ..., source_identifier: _Optional[str] = ..., store_app_id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., partner_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateSkanMappingRequest(_message.Message):
    __slots__ = ("mapping",)
    MAPPING_FIELD_NUMBER: _ClassVar[int]
    mapping: SkanMapping
    def __init__(self, mapping: _Optional[_Union[SkanMapping, _Mapping]] = ...) -> None: ...

class CreateSkanMappingResponse(_message.Message):
    __slots__ = ("mapping", "remapped")
    MAPPING_FIELD_NUMBER: _ClassVar[int]
    REMAPPED_FIELD_NUMBER: _ClassVar[int]
    mapping: SkanMapping
    remapped: int
    def __init__(self, mapping: _Optional[_Union[SkanMapping, _Mapping]] = ..., remapped: _Optional[int] = ...) -> None: ...

class ListSkanMappingsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "ad_network_id", "campaign_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    AD_NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    ad_network_id: str
    campaign_id: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., ad_network_id: _Optional[str] = ..., campaign_id: _Optional[str] = ...) -> None: ...

class ListSkanMappingsResponse(_message.Message):
    __slots__ = ("mappings", "next_page_token")
    MAPPINGS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    mappings: _containers.RepeatedCompositeFieldContainer[SkanMapping]
    next_page_token: str
    def __init__(self, mappings: _Optional[_Iterable[_Union[SkanMapping, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteSkanMappingRequest(_message.Message):
    __slots__ = ("mapping_id",)
    MAPPING_ID_FIELD_NUMBER: _ClassVar[int]
    mapping_id: str
    def __init__(self, mapping_id: _Optional[str] = ...) -> None: ...

class DeleteSkanMappingResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
