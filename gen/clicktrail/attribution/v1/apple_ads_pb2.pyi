import datetime

from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AppleAdsOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    APPLE_ADS_OUTCOME_UNSPECIFIED: _ClassVar[AppleAdsOutcome]
    APPLE_ADS_OUTCOME_CREDITED: _ClassVar[AppleAdsOutcome]
    APPLE_ADS_OUTCOME_RECORDED: _ClassVar[AppleAdsOutcome]
    APPLE_ADS_OUTCOME_NOT_ATTRIBUTED: _ClassVar[AppleAdsOutcome]
    APPLE_ADS_OUTCOME_INVALID_TOKEN: _ClassVar[AppleAdsOutcome]
    APPLE_ADS_OUTCOME_NOT_FOUND: _ClassVar[AppleAdsOutcome]
    APPLE_ADS_OUTCOME_EXPIRED: _ClassVar[AppleAdsOutcome]
    APPLE_ADS_OUTCOME_UNAVAILABLE: _ClassVar[AppleAdsOutcome]
APPLE_ADS_OUTCOME_UNSPECIFIED: AppleAdsOutcome
APPLE_ADS_OUTCOME_CREDITED: AppleAdsOutcome
APPLE_ADS_OUTCOME_RECORDED: AppleAdsOutcome
APPLE_ADS_OUTCOME_NOT_ATTRIBUTED: AppleAdsOutcome
APPLE_ADS_OUTCOME_INVALID_TOKEN: AppleAdsOutcome
APPLE_ADS_OUTCOME_NOT_FOUND: AppleAdsOutcome
APPLE_ADS_OUTCOME_EXPIRED: AppleAdsOutcome
APPLE_ADS_OUTCOME_UNAVAILABLE: AppleAdsOutcome

class AppleAdsSettings(_message.Message):
    __slots__ = ("enabled", "partner_id", "default_campaign_id", "update_time")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    partner_id: str
    default_campaign_id: str
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, enabled: _Optional[bool] = ..., partner_id: _Optional[str] = ..., default_campaign_id: _Optional[str] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetAppleAdsSettingsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetAppleAdsSettingsResponse(_message.Message):
    __slots__ = ("settings",)
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    settings: AppleAdsSettings
    def __init__(self, settings: _Optional[_Union[AppleAdsSettings, _Mapping]] = ...) -> None: ...

class UpdateAppleAdsSettingsRequest(_message.Message):
    __slots__ = ("settings", "update_mask")
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    settings: AppleAdsSettings
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, settings: _Optional[_Union[AppleAdsSettings, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateAppleAdsSettingsResponse(_message.Message):
    __slots__ = ("settings",)
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    settings: AppleAdsSettings
    def __init__(self, settings: _Optional[_Union[AppleAdsSettings, _Mapping]] = ...) -> None: ...

class AppleAdsMapping(_message.Message):
    __slots__ = ("apple_campaign_id", "campaign_id", "create_time")
    APPLE_CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    apple_campaign_id: int
    campaign_id: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, apple_campaign_id: _Optional[int] = ..., campaign_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateAppleAdsMappingRequest(_message.Message):
    __slots__ = ("mapping",)
    MAPPING_FIELD_NUMBER: _ClassVar[int]
    mapping: AppleAdsMapping
    def __init__(self, mapping: _Optional[_Union[AppleAdsMapping, _Mapping]] = ...) -> None: ...

class CreateAppleAdsMappingResponse(_message.Message):
    __slots__ = ("mapping",)
    MAPPING_FIELD_NUMBER: _ClassVar[int]
    mapping: AppleAdsMapping
    def __init__(self, mapping: _Optional[_Union[AppleAdsMapping, _Mapping]] = ...) -> None: ...

class ListAppleAdsMappingsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAppleAdsMappingsResponse(_message.Message):
    __slots__ = ("mappings", "next_page_token")
    MAPPINGS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    mappings: _containers.RepeatedCompositeFieldContainer[AppleAdsMapping]
    next_page_token: str
    def __init__(self, mappings: _Optional[_Iterable[_Union[AppleAdsMapping, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteAppleAdsMappingRequest(_message.Message):
    __slots__ = ("apple_campaign_id",)
    APPLE_CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    apple_campaign_id: int
    def __init__(self, apple_campaign_id: _Optional[int] = ...) -> None: ...

class DeleteAppleAdsMappingResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AppleAdsLookup(_message.Message):
    __slots__ = ("install_id", "outcome", "reason", "http_status", "attempts", "org_id", "apple_campaign_id", "ad_group_id", "keyword_id", "ad_id", "conversion_type", "country_or_region", "click_time", "campaign_id", "previous_match_type", "previous_campaign_id", "conversions_moved", "resolve_time")
    INSTALL_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    HTTP_STATUS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    APPLE_CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    AD_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    KEYWORD_ID_FIELD_NUMBER: _ClassVar[int]
    AD_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_TYPE_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_OR_REGION_FIELD_NUMBER: _ClassVar[int]
    CLICK_TIME_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_MATCH_TYPE_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSIONS_MOVED_FIELD_NUMBER: _ClassVar[int]
    RESOLVE_TIME_FIELD_NUMBER: _ClassVar[int]
    install_id: str
    outcome: AppleAdsOutcome
    reason: str
    http_status: int
    attempts: int
    org_id: int
    apple_campaign_id: int
    ad_group_id: int
    keyword_id: int
    ad_id: int
    conversion_type: str
    country_or_region: str
    click_time: _timestamp_pb2.Timestamp
    campaign_id: str
    previous_match_type: int
    previous_campaign_id: str
    conversions_moved: int
    resolve_time: _timestamp_pb2.Timestamp
    def __init__(self, install_id: _Optional[str] = ..., outcome: _Optional[_Union[AppleAdsOutcome, str]] = ..., reason: _Optional[str] = ..., http_status: _Optional[int] = ..., attempts: _Optional[int] = ..., org_id: _Optional[int] = ..., apple_campaign_id: _Optional[int] = ..., ad_group_id: _Optional[int] = ..., keyword_id: _Optional[int] = ..., ad_id: _Optional[int] = ..., conversion_type: _Optional[str] = ..., country_or_region: _Optional[str] = ..., click_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., campaign_id: _Optional[str] = ..., previous_match_type: _Optional[int] = ..., previous_campaign_id: _Optional[str] = ..., conversions_moved: _Optional[int] = ..., resolve_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListAppleAdsLookupsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "outcome", "install_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    INSTALL_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    outcome: AppleAdsOutcome
    install_id: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., outcome: _Optional[_Union[AppleAdsOutcome, str]] = ..., install_id: _Optional[str] = ...) -> None: ...

class ListAppleAdsLookupsResponse(_message.Message):
    __slots__ = ("lookups", "next_page_token")
    LOOKUPS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    lookups: _containers.RepeatedCompositeFieldContainer[AppleAdsLookup]
    next_page_token: str
    def __init__(self, lookups: _Optional[_Iterable[_Union[AppleAdsLookup, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
