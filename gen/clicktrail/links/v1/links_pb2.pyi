import datetime

from clicktrail.type.v1 import money_pb2 as _money_pb2
from clicktrail.type.v1 import quality_pb2 as _quality_pb2
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

class Platform(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PLATFORM_UNSPECIFIED: _ClassVar[Platform]
    PLATFORM_IOS: _ClassVar[Platform]
    PLATFORM_ANDROID: _ClassVar[Platform]
    PLATFORM_WEB: _ClassVar[Platform]

class DeepLinkMatch(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEEP_LINK_MATCH_UNSPECIFIED: _ClassVar[DeepLinkMatch]
    DEEP_LINK_MATCH_CLICK_ID: _ClassVar[DeepLinkMatch]
    DEEP_LINK_MATCH_FINGERPRINT: _ClassVar[DeepLinkMatch]

class CampaignType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CAMPAIGN_TYPE_UNSPECIFIED: _ClassVar[CampaignType]
    CAMPAIGN_TYPE_APP_INSTALL: _ClassVar[CampaignType]
    CAMPAIGN_TYPE_WEB: _ClassVar[CampaignType]
    CAMPAIGN_TYPE_RETARGETING: _ClassVar[CampaignType]
    CAMPAIGN_TYPE_PREINSTALL: _ClassVar[CampaignType]

class TrafficType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRAFFIC_TYPE_UNSPECIFIED: _ClassVar[TrafficType]
    TRAFFIC_TYPE_DISPLAY: _ClassVar[TrafficType]
    TRAFFIC_TYPE_SEARCH: _ClassVar[TrafficType]
    TRAFFIC_TYPE_SOCIAL: _ClassVar[TrafficType]
    TRAFFIC_TYPE_VIDEO: _ClassVar[TrafficType]
    TRAFFIC_TYPE_NATIVE: _ClassVar[TrafficType]
    TRAFFIC_TYPE_INCENTIVIZED: _ClassVar[TrafficType]
    TRAFFIC_TYPE_EMAIL: _ClassVar[TrafficType]
    TRAFFIC_TYPE_OTHER: _ClassVar[TrafficType]

class CampaignStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CAMPAIGN_STATUS_UNSPECIFIED: _ClassVar[CampaignStatus]
    CAMPAIGN_STATUS_DRAFT: _ClassVar[CampaignStatus]
    CAMPAIGN_STATUS_ACTIVE: _ClassVar[CampaignStatus]
    CAMPAIGN_STATUS_PAUSED: _ClassVar[CampaignStatus]
    CAMPAIGN_STATUS_ARCHIVED: _ClassVar[CampaignStatus]

class InvalidTrafficAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INVALID_TRAFFIC_ACTION_UNSPECIFIED: _ClassVar[InvalidTrafficAction]
    INVALID_TRAFFIC_ACTION_REDIRECT: _ClassVar[InvalidTrafficAction]
    INVALID_TRAFFIC_ACTION_FALLBACK: _ClassVar[InvalidTrafficAction]
    INVALID_TRAFFIC_ACTION_BLOCK: _ClassVar[InvalidTrafficAction]

class TouchOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TOUCH_OUTCOME_UNSPECIFIED: _ClassVar[TouchOutcome]
    TOUCH_OUTCOME_RECORDED: _ClassVar[TouchOutcome]
    TOUCH_OUTCOME_NOT_FOUND: _ClassVar[TouchOutcome]
    TOUCH_OUTCOME_FALLBACK: _ClassVar[TouchOutcome]
    TOUCH_OUTCOME_BLOCKED: _ClassVar[TouchOutcome]
    TOUCH_OUTCOME_INVALID: _ClassVar[TouchOutcome]

class DeviceType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEVICE_TYPE_UNSPECIFIED: _ClassVar[DeviceType]
    DEVICE_TYPE_DESKTOP: _ClassVar[DeviceType]
    DEVICE_TYPE_MOBILE: _ClassVar[DeviceType]
    DEVICE_TYPE_TABLET: _ClassVar[DeviceType]
    DEVICE_TYPE_BOT: _ClassVar[DeviceType]
    DEVICE_TYPE_OTHER: _ClassVar[DeviceType]

class SubIdList(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SUB_ID_LIST_UNSPECIFIED: _ClassVar[SubIdList]
    SUB_ID_LIST_BLACKLIST: _ClassVar[SubIdList]
    SUB_ID_LIST_WHITELIST: _ClassVar[SubIdList]

class QualityList(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    QUALITY_LIST_UNSPECIFIED: _ClassVar[QualityList]
    QUALITY_LIST_BLOCK: _ClassVar[QualityList]
    QUALITY_LIST_ALLOW: _ClassVar[QualityList]

class QualityListKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    QUALITY_LIST_KIND_UNSPECIFIED: _ClassVar[QualityListKind]
    QUALITY_LIST_KIND_USER_AGENT: _ClassVar[QualityListKind]
    QUALITY_LIST_KIND_NETWORK: _ClassVar[QualityListKind]
PLATFORM_UNSPECIFIED: Platform
PLATFORM_IOS: Platform
PLATFORM_ANDROID: Platform
PLATFORM_WEB: Platform
DEEP_LINK_MATCH_UNSPECIFIED: DeepLinkMatch
DEEP_LINK_MATCH_CLICK_ID: DeepLinkMatch
DEEP_LINK_MATCH_FINGERPRINT: DeepLinkMatch
CAMPAIGN_TYPE_UNSPECIFIED: CampaignType
CAMPAIGN_TYPE_APP_INSTALL: CampaignType
CAMPAIGN_TYPE_WEB: CampaignType
CAMPAIGN_TYPE_RETARGETING: CampaignType
CAMPAIGN_TYPE_PREINSTALL: CampaignType
TRAFFIC_TYPE_UNSPECIFIED: TrafficType
TRAFFIC_TYPE_DISPLAY: TrafficType
TRAFFIC_TYPE_SEARCH: TrafficType
TRAFFIC_TYPE_SOCIAL: TrafficType
TRAFFIC_TYPE_VIDEO: TrafficType
TRAFFIC_TYPE_NATIVE: TrafficType
TRAFFIC_TYPE_INCENTIVIZED: TrafficType
TRAFFIC_TYPE_EMAIL: TrafficType
TRAFFIC_TYPE_OTHER: TrafficType
CAMPAIGN_STATUS_UNSPECIFIED: CampaignStatus
CAMPAIGN_STATUS_DRAFT: CampaignStatus
CAMPAIGN_STATUS_ACTIVE: CampaignStatus
CAMPAIGN_STATUS_PAUSED: CampaignStatus
CAMPAIGN_STATUS_ARCHIVED: CampaignStatus
INVALID_TRAFFIC_ACTION_UNSPECIFIED: InvalidTrafficAction
INVALID_TRAFFIC_ACTION_REDIRECT: InvalidTrafficAction
INVALID_TRAFFIC_ACTION_FALLBACK: InvalidTrafficAction
INVALID_TRAFFIC_ACTION_BLOCK: InvalidTrafficAction
TOUCH_OUTCOME_UNSPECIFIED: TouchOutcome
TOUCH_OUTCOME_RECORDED: TouchOutcome
TOUCH_OUTCOME_NOT_FOUND: TouchOutcome
TOUCH_OUTCOME_FALLBACK: TouchOutcome
TOUCH_OUTCOME_BLOCKED: TouchOutcome
TOUCH_OUTCOME_INVALID: TouchOutcome
DEVICE_TYPE_UNSPECIFIED: DeviceType
DEVICE_TYPE_DESKTOP: DeviceType
DEVICE_TYPE_MOBILE: DeviceType
DEVICE_TYPE_TABLET: DeviceType
DEVICE_TYPE_BOT: DeviceType
DEVICE_TYPE_OTHER: DeviceType
SUB_ID_LIST_UNSPECIFIED: SubIdList
SUB_ID_LIST_BLACKLIST: SubIdList
SUB_ID_LIST_WHITELIST: SubIdList
QUALITY_LIST_UNSPECIFIED: QualityList
QUALITY_LIST_BLOCK: QualityList
QUALITY_LIST_ALLOW: QualityList
QUALITY_LIST_KIND_UNSPECIFIED: QualityListKind
QUALITY_LIST_KIND_USER_AGENT: QualityListKind
QUALITY_LIST_KIND_NETWORK: QualityListKind

class App(_message.Message):
    __slots__ = ("app_id", "name", "platform", "bundle_id", "store_url", "create_time", "update_time", "apple_team_id", "apple_app_id", "android_sha256_fingerprints")
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_URL_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    APPLE_TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    APPLE_APP_ID_FIELD_NUMBER: _ClassVar[int]
    ANDROID_SHA256_FINGERPRINTS_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    name: str
    platform: Platform
    bundle_id: str
    store_url: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    apple_team_id: str
    apple_app_id: str
    android_sha256_fingerprints: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, app_id: _Optional[str] = ..., name: _Optional[str] = ..., platform: _Optional[_Union[Platform, str]] = ..., bundle_id: _Optional[str] = ..., store_url: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., apple_team_id: _Optional[str] = ..., apple_app_id: _Optional[str] = ..., android_sha256_fingerprints: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateAppRequest(_message.Message):
    __slots__ = ("app",)
    APP_FIELD_NUMBER: _ClassVar[int]
    app: App
    def __init__(self, app: _Optional[_Union[App, _Mapping]] = ...) -> None: ...

class CreateAppResponse(_message.Message):
    __slots__ = ("app", "app_key")
    APP_FIELD_NUMBER: _ClassVar[int]
    APP_KEY_FIELD_NUMBER: _ClassVar[int]
    app: App
    app_key: str
    def __init__(self, app: _Optional[_Union[App, _Mapping]] = ..., app_key: _Optional[str] = ...) -> None: ...

class GetAppRequest(_message.Message):
    __slots__ = ("app_id",)
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    def __init__(self, app_id: _Optional[str] = ...) -> None: ...

class GetAppResponse(_message.Message):
    __slots__ = ("app",)
    APP_FIELD_NUMBER: _ClassVar[int]
    app: App
    def __init__(self, app: _Optional[_Union[App, _Mapping]] = ...) -> None: ...

class ListAppsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "apple_app_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    APPLE_APP_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    apple_app_id: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., apple_app_id: _Optional[str] = ...) -> None: ...

class ListAppsResponse(_message.Message):
    __slots__ = ("apps", "next_page_token")
    APPS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    apps: _containers.RepeatedCompositeFieldContainer[App]
    next_page_token: str
    def __init__(self, apps: _Optional[_Iterable[_Union[App, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateAppRequest(_message.Message):
    __slots__ = ("app", "update_mask")
    APP_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    app: App
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, app: _Optional[_Union[App, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateAppResponse(_message.Message):
    __slots__ = ("app",)
    APP_FIELD_NUMBER: _ClassVar[int]
    app: App
    def __init__(self, app: _Optional[_Union[App, _Mapping]] = ...) -> None: ...

class DeleteAppRequest(_message.Message):
    __slots__ = ("app_id",)
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    def __init__(self, app_id: _Optional[str] = ...) -> None: ...

class DeleteAppResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LookupAppsRequest(_message.Message):
    __slots__ = ("apple_app_id", "account_id")
    APPLE_APP_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    apple_app_id: str
    account_id: str
    def __init__(self, apple_app_id: _Optional[str] = ..., account_id: _Optional[str] = ...) -> None: ...

class AppMatch(_message.Message):
    __slots__ = ("account_id", "app")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    APP_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    app: App
    def __init__(self, account_id: _Optional[str] = ..., app: _Optional[_Union[App, _Mapping]] = ...) -> None: ...

class LookupAppsResponse(_message.Message):
    __slots__ = ("matches",)
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    matches: _containers.RepeatedCompositeFieldContainer[AppMatch]
    def __init__(self, matches: _Optional[_Iterable[_Union[AppMatch, _Mapping]]] = ...) -> None: ...

class GetAssociatedAppsRequest(_message.Message):
    __slots__ = ("host",)
    HOST_FIELD_NUMBER: _ClassVar[int]
    host: str
    def __init__(self, host: _Optional[str] = ...) -> None: ...

class GetAssociatedAppsResponse(_message.Message):
    __slots__ = ("account_id", "apps")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    APPS_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    apps: _containers.RepeatedCompositeFieldContainer[App]
    def __init__(self, account_id: _Optional[str] = ..., apps: _Optional[_Iterable[_Union[App, _Mapping]]] = ...) -> None: ...

class ClaimDeferredDeepLinkRequest(_message.Message):
    __slots__ = ("click_id", "app_id", "client_ip", "client_user_agent")
    CLICK_ID_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_IP_FIELD_NUMBER: _ClassVar[int]
    CLIENT_USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    click_id: str
    app_id: str
    client_ip: str
    client_user_agent: str
    def __init__(self, click_id: _Optional[str] = ..., app_id: _Optional[str] = ..., client_ip: _Optional[str] = ..., client_user_agent: _Optional[str] = ...) -> None: ...

class ClaimDeferredDeepLinkResponse(_message.Message):
    __slots__ = ("deep_link", "click_id", "link_id", "match", "campaign_id")
    DEEP_LINK_FIELD_NUMBER: _ClassVar[int]
    CLICK_ID_FIELD_NUMBER: _ClassVar[int]
    LINK_ID_FIELD_NUMBER: _ClassVar[int]
    MATCH_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    deep_link: str
    click_id: str
    link_id: str
    match: DeepLinkMatch
    campaign_id: str
    def __init__(self, deep_link: _Optional[str] = ..., click_id: _Optional[str] = ..., link_id: _Optional[str] = ..., match: _Optional[_Union[DeepLinkMatch, str]] = ..., campaign_id: _Optional[str] = ...) -> None: ...

class RotateAppKeyRequest(_message.Message):
    __slots__ = ("app_id",)
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    def __init__(self, app_id: _Optional[str] = ...) -> None: ...

class RotateAppKeyResponse(_message.Message):
    __slots__ = ("app_key",)
    APP_KEY_FIELD_NUMBER: _ClassVar[int]
    app_key: str
    def __init__(self, app_key: _Optional[str] = ...) -> None: ...

class Partner(_message.Message):
    __slots__ = ("partner_id", "name", "catalog_key", "create_time", "update_time")
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CATALOG_KEY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    partner_id: str
    name: str
    catalog_key: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, partner_id: _Optional[str] = ..., name: _Optional[str] = ..., catalog_key: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreatePartnerRequest(_message.Message):
    __slots__ = ("partner",)
    PARTNER_FIELD_NUMBER: _ClassVar[int]
    partner: Partner
    def __init__(self, partner: _Optional[_Union[Partner, _Mapping]] = ...) -> None: ...

class CreatePartnerResponse(_message.Message):
    __slots__ = ("partner",)
    PARTNER_FIELD_NUMBER: _ClassVar[int]
    partner: Partner
    def __init__(self, partner: _Optional[_Union[Partner, _Mapping]] = ...) -> None: ...

class GetPartnerRequest(_message.Message):
    __slots__ = ("partner_id",)
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    partner_id: str
    def __init__(self, partner_id: _Optional[str] = ...) -> None: ...

class GetPartnerResponse(_message.Message):
    __slots__ = ("partner",)
    PARTNER_FIELD_NUMBER: _ClassVar[int]
    partner: Partner
    def __init__(self, partner: _Optional[_Union[Partner, _Mapping]] = ...) -> None: ...

class ListPartnersRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPartnersResponse(_message.Message):
    __slots__ = ("partners", "next_page_token")
    PARTNERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    partners: _containers.RepeatedCompositeFieldContainer[Partner]
    next_page_token: str
    def __init__(self, partners: _Optional[_Iterable[_Union[Partner, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdatePartnerRequest(_message.Message):
    __slots__ = ("partner", "update_mask")
    PARTNER_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    partner: Partner
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, partner: _Optional[_Union[Partner, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdatePartnerResponse(_message.Message):
    __slots__ = ("partner",)
    PARTNER_FIELD_NUMBER: _ClassVar[int]
    partner: Partner
    def __init__(self, partner: _Optional[_Union[Partner, _Mapping]] = ...) -> None: ...

class DeletePartnerRequest(_message.Message):
    __slots__ = ("partner_id",)
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    partner_id: str
    def __init__(self, partner_id: _Optional[str] = ...) -> None: ...

class DeletePartnerResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Campaign(_message.Message):
    __slots__ = ("campaign_id", "name", "type", "traffic_type", "partner_id", "app_id", "status", "fallback_url", "budget", "target_goal_id", "create_time", "update_time", "publish_time", "invalid_traffic_action", "visitor_window")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TRAFFIC_TYPE_FIELD_NUMBER: _ClassVar[int]
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_URL_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    TARGET_GOAL_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    PUBLISH_TIME_FIELD_NUMBER: _ClassVar[int]
    INVALID_TRAFFIC_ACTION_FIELD_NUMBER: _ClassVar[int]
    VISITOR_WINDOW_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    name: str
    type: CampaignType
    traffic_type: TrafficType
    partner_id: str
    app_id: str
    status: CampaignStatus
    fallback_url: str
    budget: _money_pb2.Money
    target_goal_id: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    publish_time: _timestamp_pb2.Timestamp
    invalid_traffic_action: InvalidTrafficAction
    visitor_window: _duration_pb2.Duration
    def __init__(self, campaign_id: _Optional[str] = ..., name: _Optional[str] = ..., type: _Optional[_Union[CampaignType, str]] = ..., traffic_type: _Optional[_Union[TrafficType, str]] = ..., partner_id: _Optional[str] = ..., app_id: _Optional[str] = ..., status: _Optional[_Union[CampaignStatus, str]] = ..., fallback_url: _Optional[str] = ..., budget: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., target_goal_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., publish_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., invalid_traffic_action: _Optional[_Union[InvalidTrafficAction, str]] = ..., visitor_window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class CreateCampaignRequest(_message.Message):
    __slots__ = ("campaign",)
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    campaign: Campaign
    def __init__(self, campaign: _Optional[_Union[Campaign, _Mapping]] = ...) -> None: ...

class CreateCampaignResponse(_message.Message):
    __slots__ = ("campaign",)
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    campaign: Campaign
    def __init__(self, campaign: _Optional[_Union[Campaign, _Mapping]] = ...) -> None: ...

class GetCampaignRequest(_message.Message):
    __slots__ = ("campaign_id",)
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    def __init__(self, campaign_id: _Optional[str] = ...) -> None: ...

class GetCampaignResponse(_message.Message):
    __slots__ = ("campaign",)
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    campaign: Campaign
    def __init__(self, campaign: _Optional[_Union[Campaign, _Mapping]] = ...) -> None: ...

class ListCampaignsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "status", "partner_id", "app_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    status: CampaignStatus
    partner_id: str
    app_id: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., status: _Optional[_Union[CampaignStatus, str]] = ..., partner_id: _Optional[str] = ..., app_id: _Optional[str] = ...) -> None: ...

class ListCampaignsResponse(_message.Message):
    __slots__ = ("campaigns", "next_page_token")
    CAMPAIGNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    campaigns: _containers.RepeatedCompositeFieldContainer[Campaign]
    next_page_token: str
    def __init__(self, campaigns: _Optional[_Iterable[_Union[Campaign, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateCampaignRequest(_message.Message):
    __slots__ = ("campaign", "update_mask")
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    campaign: Campaign
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, campaign: _Optional[_Union[Campaign, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateCampaignResponse(_message.Message):
    __slots__ = ("campaign",)
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    campaign: Campaign
    def __init__(self, campaign: _Optional[_Union[Campaign, _Mapping]] = ...) -> None: ...

class DeleteCampaignRequest(_message.Message):
    __slots__ = ("campaign_id",)
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    def __init__(self, campaign_id: _Optional[str] = ...) -> None: ...

class DeleteCampaignResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Link(_message.Message):
    __slots__ = ("link_id", "campaign_id", "app_id", "name", "slug", "destination_url", "ios_url", "android_url", "desktop_url", "click_url", "impression_url", "create_time", "update_time", "domain", "expire_time", "max_clicks", "redirect_status", "qr_url", "deep_link")
    LINK_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SLUG_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_URL_FIELD_NUMBER: _ClassVar[int]
    IOS_URL_FIELD_NUMBER: _ClassVar[int]
    ANDROID_URL_FIELD_NUMBER: _ClassVar[int]
    DESKTOP_URL_FIELD_NUMBER: _ClassVar[int]
    CLICK_URL_FIELD_NUMBER: _ClassVar[int]
    IMPRESSION_URL_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    MAX_CLICKS_FIELD_NUMBER: _ClassVar[int]
    REDIRECT_STATUS_FIELD_NUMBER: _ClassVar[int]
    QR_URL_FIELD_NUMBER: _ClassVar[int]
    DEEP_LINK_FIELD_NUMBER: _ClassVar[int]
    link_id: str
    campaign_id: str
    app_id: str
    name: str
    slug: str
    destination_url: str
    ios_url: str
    android_url: str
    desktop_url: str
    click_url: str
    impression_url: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    domain: str
    expire_time: _timestamp_pb2.Timestamp
    max_clicks: int
    redirect_status: int
    qr_url: str
    deep_link: str
    def __init__(self, link_id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., app_id: _Optional[str] = ..., name: _Optional[str] = ..., slug: _Optional[str] = ..., destination_url: _Optional[str] = ..., ios_url: _Optional[str] = ..., android_url: _Optional[str] = ..., desktop_url: _Optional[str] = ..., click_url: _Optional[str] = ..., impression_url: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., domain: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., max_clicks: _Optional[int] = ..., redirect_status: _Optional[int] = ..., qr_url: _Optional[str] = ..., deep_link: _Optional[str] = ...) -> None: ...

class CreateLinkRequest(_message.Message):
    __slots__ = ("link",)
    LINK_FIELD_NUMBER: _ClassVar[int]
    link: Link
    def __init__(self, link: _Optional[_Union[Link, _Mapping]] = ...) -> None: ...

class CreateLinkResponse(_message.Message):
    __slots__ = ("link",)
    LINK_FIELD_NUMBER: _ClassVar[int]
    link: Link
    def __init__(self, link: _Optional[_Union[Link, _Mapping]] = ...) -> None: ...

class GetLinkRequest(_message.Message):
    __slots__ = ("link_id",)
    LINK_ID_FIELD_NUMBER: _ClassVar[int]
    link_id: str
    def __init__(self, link_id: _Optional[str] = ...) -> None: ...

class GetLinkResponse(_message.Message):
    __slots__ = ("link",)
    LINK_FIELD_NUMBER: _ClassVar[int]
    link: Link
    def __init__(self, link: _Optional[_Union[Link, _Mapping]] = ...) -> None: ...

class ListLinksRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "campaign_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    campaign_id: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., campaign_id: _Optional[str] = ...) -> None: ...

class ListLinksResponse(_message.Message):
    __slots__ = ("links", "next_page_token")
    LINKS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    links: _containers.RepeatedCompositeFieldContainer[Link]
    next_page_token: str
    def __init__(self, links: _Optional[_Iterable[_Union[Link, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateLinkRequest(_message.Message):
    __slots__ = ("link", "update_mask")
    LINK_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    link: Link
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, link: _Optional[_Union[Link, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateLinkResponse(_message.Message):
    __slots__ = ("link",)
    LINK_FIELD_NUMBER: _ClassVar[int]
    link: Link
    def __init__(self, link: _Optional[_Union[Link, _Mapping]] = ...) -> None: ...

class DeleteLinkRequest(_message.Message):
    __slots__ = ("link_id",)
    LINK_ID_FIELD_NUMBER: _ClassVar[int]
    link_id: str
    def __init__(self, link_id: _Optional[str] = ...) -> None: ...

class DeleteLinkResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TouchInput(_message.Message):
    __slots__ = ("slug", "raw_query", "ip", "user_agent", "referrer", "purpose", "host", "accept_language", "cookies")
    class CookiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SLUG_FIELD_NUMBER: _ClassVar[int]
    RAW_QUERY_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    REFERRER_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    COOKIES_FIELD_NUMBER: _ClassVar[int]
    slug: str
    raw_query: bytes
    ip: str
    user_agent: str
    referrer: str
    purpose: str
    host: str
    accept_language: str
    cookies: _containers.ScalarMap[str, str]
    def __init__(self, slug: _Optional[str] = ..., raw_query: _Optional[bytes] = ..., ip: _Optional[str] = ..., user_agent: _Optional[str] = ..., referrer: _Optional[str] = ..., purpose: _Optional[str] = ..., host: _Optional[str] = ..., accept_language: _Optional[str] = ..., cookies: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Cookie(_message.Message):
    __slots__ = ("name", "value", "max_age_seconds")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    MAX_AGE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    max_age_seconds: int
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ..., max_age_seconds: _Optional[int] = ...) -> None: ...

class TouchResult(_message.Message):
    __slots__ = ("outcome", "location", "touch_id", "verdict", "field", "error", "redirect_status", "cookies", "click_cookie_max_age_seconds")
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    TOUCH_ID_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    REDIRECT_STATUS_FIELD_NUMBER: _ClassVar[int]
    COOKIES_FIELD_NUMBER: _ClassVar[int]
    CLICK_COOKIE_MAX_AGE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    outcome: TouchOutcome
    location: str
    touch_id: str
    verdict: _quality_pb2.Verdict
    field: str
    error: str
    redirect_status: int
    cookies: _containers.RepeatedCompositeFieldContainer[Cookie]
    click_cookie_max_age_seconds: int
    def __init__(self, outcome: _Optional[_Union[TouchOutcome, str]] = ..., location: _Optional[str] = ..., touch_id: _Optional[str] = ..., verdict: _Optional[_Union[_quality_pb2.Verdict, str]] = ..., field: _Optional[str] = ..., error: _Optional[str] = ..., redirect_status: _Optional[int] = ..., cookies: _Optional[_Iterable[_Union[Cookie, _Mapping]]] = ..., click_cookie_max_age_seconds: _Optional[int] = ...) -> None: ...

class RecordClicksRequest(_message.Message):
    __slots__ = ("clicks",)
    CLICKS_FIELD_NUMBER: _ClassVar[int]
    clicks: _containers.RepeatedCompositeFieldContainer[TouchInput]
    def __init__(self, clicks: _Optional[_Iterable[_Union[TouchInput, _Mapping]]] = ...) -> None: ...

class RecordClicksResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[TouchResult]
    def __init__(self, results: _Optional[_Iterable[_Union[TouchResult, _Mapping]]] = ...) -> None: ...

class RecordImpressionsRequest(_message.Message):
    __slots__ = ("impressions",)
    IMPRESSIONS_FIELD_NUMBER: _ClassVar[int]
    impressions: _containers.RepeatedCompositeFieldContainer[TouchInput]
    def __init__(self, impressions: _Optional[_Iterable[_Union[TouchInput, _Mapping]]] = ...) -> None: ...

class RecordImpressionsResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[TouchResult]
    def __init__(self, results: _Optional[_Iterable[_Union[TouchResult, _Mapping]]] = ...) -> None: ...

class Click(_message.Message):
    __slots__ = ("click_id", "link_id", "campaign_id", "partner_id", "app_id", "create_time", "ip", "country", "device_type", "os", "os_version", "browser", "browser_version", "device_model", "referrer", "user_agent", "sub1", "sub2", "sub3", "sub4", "sub5", "sub6", "sub7", "sub8", "sub9", "sub10", "partner_click_id", "idfa", "gaid", "params", "verdict", "reasons", "stream_id", "lander_id", "offer_id", "lander_click_time")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CLICK_ID_FIELD_NUMBER: _ClassVar[int]
    LINK_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    OS_FIELD_NUMBER: _ClassVar[int]
    OS_VERSION_FIELD_NUMBER: _ClassVar[int]
    BROWSER_FIELD_NUMBER: _ClassVar[int]
    BROWSER_VERSION_FIELD_NUMBER: _ClassVar[int]
    DEVICE_MODEL_FIELD_NUMBER: _ClassVar[int]
    REFERRER_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    SUB1_FIELD_NUMBER: _ClassVar[int]
    SUB2_FIELD_NUMBER: _ClassVar[int]
    SUB3_FIELD_NUMBER: _ClassVar[int]
    SUB4_FIELD_NUMBER: _ClassVar[int]
    SUB5_FIELD_NUMBER: _ClassVar[int]
    SUB6_FIELD_NUMBER: _ClassVar[int]
    SUB7_FIELD_NUMBER: _ClassVar[int]
    SUB8_FIELD_NUMBER: _ClassVar[int]
    SUB9_FIELD_NUMBER: _ClassVar[int]
    SUB10_FIELD_NUMBER: _ClassVar[int]
    PARTNER_CLICK_ID_FIELD_NUMBER: _ClassVar[int]
    IDFA_FIELD_NUMBER: _ClassVar[int]
    GAID_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    LANDER_ID_FIELD_NUMBER: _ClassVar[int]
    OFFER_ID_FIELD_NUMBER: _ClassVar[int]
    LANDER_CLICK_TIME_FIELD_NUMBER: _ClassVar[int]
    click_id: str
    link_id: str
    campaign_id: str
    partner_id: str
    app_id: str
    create_time: _timestamp_pb2.Timestamp
    ip: str
    country: str
    device_type: DeviceType
    os: str
    os_version: str
    browser: str
    browser_version: str
    device_model: str
    referrer: str
    user_agent: str
    sub1: str
    sub2: str
    sub3: str
    sub4: str
    sub5: str
    sub6: str
    sub7: str
    sub8: str
    sub9: str
    sub10: str
    partner_click_id: str
    idfa: str
    gaid: str
    params: _containers.ScalarMap[str, str]
    verdict: _quality_pb2.Verdict
    reasons: _containers.RepeatedScalarFieldContainer[str]
    stream_id: str
    lander_id: str
    offer_id: str
    lander_click_time: _timestamp_pb2.Timestamp
    def __init__(self, click_id: _Optional[str] = ..., link_id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., partner_id: _Optional[str] = ..., app_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ip: _Optional[str] = ..., country: _Optional[str] = ..., device_type: _Optional[_Union[DeviceType, str]] = ..., os: _Optional[str] = ..., os_version: _Optional[str] = ..., browser: _Optional[str] = ..., browser_version: _Optional[str] = ..., device_model: _Optional[str] = ..., referrer: _Optional[str] = ..., user_agent: _Optional[str] = ..., sub1: _Optional[str] = ..., sub2: _Optional[str] = ..., sub3: _Optional[str] = ..., sub4: _Optional[str] = ..., sub5: _Optional[str] = ..., sub6: _Optional[str] = ..., sub7: _Optional[str] = ..., sub8: _Optional[str] = ..., sub9: _Optional[str] = ..., sub10: _Optional[str] = ..., partner_click_id: _Optional[str] = ..., idfa: _Optional[str] = ..., gaid: _Optional[str] = ..., params: _Optional[_Mapping[str, str]] = ..., verdict: _Optional[_Union[_quality_pb2.Verdict, str]] = ..., reasons: _Optional[_Iterable[str]] = ..., stream_id: _Optional[str] = ..., lander_id: _Optional[str] = ..., offer_id: _Optional[str] = ..., lander_click_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Impression(_message.Message):
    __slots__ = ("impression_id", "link_id", "campaign_id", "partner_id", "app_id", "create_time", "ip", "country", "device_type", "os", "os_version", "browser", "browser_version", "device_model", "referrer", "user_agent", "sub1", "sub2", "sub3", "sub4", "sub5", "sub6", "sub7", "sub8", "sub9", "sub10", "partner_click_id", "idfa", "gaid", "params", "verdict", "reasons")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    IMPRESSION_ID_FIELD_NUMBER: _ClassVar[int]
    LINK_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    OS_FIELD_NUMBER: _ClassVar[int]
    OS_VERSION_FIELD_NUMBER: _ClassVar[int]
    BROWSER_FIELD_NUMBER: _ClassVar[int]
    BROWSER_VERSION_FIELD_NUMBER: _ClassVar[int]
    DEVICE_MODEL_FIELD_NUMBER: _ClassVar[int]
    REFERRER_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    SUB1_FIELD_NUMBER: _ClassVar[int]
    SUB2_FIELD_NUMBER: _ClassVar[int]
    SUB3_FIELD_NUMBER: _ClassVar[int]
    SUB4_FIELD_NUMBER: _ClassVar[int]
    SUB5_FIELD_NUMBER: _ClassVar[int]
    SUB6_FIELD_NUMBER: _ClassVar[int]
    SUB7_FIELD_NUMBER: _ClassVar[int]
    SUB8_FIELD_NUMBER: _ClassVar[int]
    SUB9_FIELD_NUMBER: _ClassVar[int]
    SUB10_FIELD_NUMBER: _ClassVar[int]
    PARTNER_CLICK_ID_FIELD_NUMBER: _ClassVar[int]
    IDFA_FIELD_NUMBER: _ClassVar[int]
    GAID_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    impression_id: str
    link_id: str
    campaign_id: str
    partner_id: str
    app_id: str
    create_time: _timestamp_pb2.Timestamp
    ip: str
    country: str
    device_type: DeviceType
    os: str
    os_version: str
    browser: str
    browser_version: str
    device_model: str
    referrer: str
    user_agent: str
    sub1: str
    sub2: str
    sub3: str
    sub4: str
    sub5: str
    sub6: str
    sub7: str
    sub8: str
    sub9: str
    sub10: str
    partner_click_id: str
    idfa: str
    gaid: str
    params: _containers.ScalarMap[str, str]
    verdict: _quality_pb2.Verdict
    reasons: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, impression_id: _Optional[str] = ..., link_id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., partner_id: _Optional[str] = ..., app_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ip: _Optional[str] = ..., country: _Optional[str] = ..., device_type: _Optional[_Union[DeviceType, str]] = ..., os: _Optional[str] = ..., os_version: _Optional[str] = ..., browser: _Optional[str] = ..., browser_version: _Optional[str] = ..., device_model: _Optional[str] = ..., referrer: _Optional[str] = ..., user_agent: _Optional[str] = ..., sub1: _Optional[str] = ..., sub2: _Optional[str] = ..., sub3: _Optional[str] = ..., sub4: _Optional[str] = ..., sub5: _Optional[str] = ..., sub6: _Optional[str] = ..., sub7: _Optional[str] = ..., sub8: _Optional[str] = ..., sub9: _Optional[str] = ..., sub10: _Optional[str] = ..., partner_click_id: _Optional[str] = ..., idfa: _Optional[str] = ..., gaid: _Optional[str] = ..., params: _Optional[_Mapping[str, str]] = ..., verdict: _Optional[_Union[_quality_pb2.Verdict, str]] = ..., reasons: _Optional[_Iterable[str]] = ...) -> None: ...

class GetClickRequest(_message.Message):
    __slots__ = ("click_id",)
    CLICK_ID_FIELD_NUMBER: _ClassVar[int]
    click_id: str
    def __init__(self, click_id: _Optional[str] = ...) -> None: ...

class GetClickResponse(_message.Message):
    __slots__ = ("click",)
    CLICK_FIELD_NUMBER: _ClassVar[int]
    click: Click
    def __init__(self, click: _Optional[_Union[Click, _Mapping]] = ...) -> None: ...

class ListClicksRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "campaign_id", "link_id", "start_time", "end_time", "verdict", "reason")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    LINK_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    campaign_id: str
    link_id: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    verdict: _quality_pb2.Verdict
    reason: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., campaign_id: _Optional[str] = ..., link_id: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., verdict: _Optional[_Union[_quality_pb2.Verdict, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class ListClicksResponse(_message.Message):
    __slots__ = ("clicks", "next_page_token")
    CLICKS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    clicks: _containers.RepeatedCompositeFieldContainer[Click]
    next_page_token: str
    def __init__(self, clicks: _Optional[_Iterable[_Union[Click, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListImpressionsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "campaign_id", "link_id", "start_time", "end_time", "verdict", "reason")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    LINK_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    campaign_id: str
    link_id: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    verdict: _quality_pb2.Verdict
    reason: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., campaign_id: _Optional[str] = ..., link_id: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., verdict: _Optional[_Union[_quality_pb2.Verdict, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class ListImpressionsResponse(_message.Message):
    __slots__ = ("impressions", "next_page_token")
    IMPRESSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    impressions: _containers.RepeatedCompositeFieldContainer[Impression]
    next_page_token: str
    def __init__(self, impressions: _Optional[_Iterable[_Union[Impression, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class Fingerprint(_message.Message):
    __slots__ = ("ip", "user_agent")
    IP_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    ip: str
    user_agent: str
    def __init__(self, ip: _Optional[str] = ..., user_agent: _Optional[str] = ...) -> None: ...

class FindTouchesRequest(_message.Message):
    __slots__ = ("device_id", "fingerprint", "start_time", "end_time", "include_impressions", "limit")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_IMPRESSIONS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    fingerprint: Fingerprint
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    include_impressions: bool
    limit: int
    def __init__(self, device_id: _Optional[str] = ..., fingerprint: _Optional[_Union[Fingerprint, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., include_impressions: _Optional[bool] = ..., limit: _Optional[int] = ...) -> None: ...

class FindTouchesResponse(_message.Message):
    __slots__ = ("clicks", "impressions")
    CLICKS_FIELD_NUMBER: _ClassVar[int]
    IMPRESSIONS_FIELD_NUMBER: _ClassVar[int]
    clicks: _containers.RepeatedCompositeFieldContainer[Click]
    impressions: _containers.RepeatedCompositeFieldContainer[Impression]
    def __init__(self, clicks: _Optional[_Iterable[_Union[Click, _Mapping]]] = ..., impressions: _Optional[_Iterable[_Union[Impression, _Mapping]]] = ...) -> None: ...

class TouchLookup(_message.Message):
    __slots__ = ("click_id", "device_id", "fingerprint", "start_time", "end_time", "include_impressions", "limit")
    CLICK_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_IMPRESSIONS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    click_id: str
    device_id: str
    fingerprint: Fingerprint
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    include_impressions: bool
    limit: int
    def __init__(self, click_id: _Optional[str] = ..., device_id: _Optional[str] = ..., fingerprint: _Optional[_Union[Fingerprint, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., include_impressions: _Optional[bool] = ..., limit: _Optional[int] = ...) -> None: ...

class LookupTouchesRequest(_message.Message):
    __slots__ = ("lookups",)
    LOOKUPS_FIELD_NUMBER: _ClassVar[int]
    lookups: _containers.RepeatedCompositeFieldContainer[TouchLookup]
    def __init__(self, lookups: _Optional[_Iterable[_Union[TouchLookup, _Mapping]]] = ...) -> None: ...

class LookupTouchesResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[FindTouchesResponse]
    def __init__(self, results: _Optional[_Iterable[_Union[FindTouchesResponse, _Mapping]]] = ...) -> None: ...

class SubIdEntry(_message.Message):
    __slots__ = ("campaign_id", "list", "sub_field", "value", "reason", "create_time")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    LIST_FIELD_NUMBER: _ClassVar[int]
    SUB_FIELD_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    list: SubIdList
    sub_field: str
    value: str
    reason: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, campaign_id: _Optional[str] = ..., list: _Optional[_Union[SubIdList, str]] = ..., sub_field: _Optional[str] = ..., value: _Optional[str] = ..., reason: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AddSubIdEntryRequest(_message.Message):
    __slots__ = ("entry",)
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    entry: SubIdEntry
    def __init__(self, entry: _Optional[_Union[SubIdEntry, _Mapping]] = ...) -> None: ...

class AddSubIdEntryResponse(_message.Message):
    __slots__ = ("entry", "created")
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    entry: SubIdEntry
    created: bool
    def __init__(self, entry: _Optional[_Union[SubIdEntry, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class RemoveSubIdEntryRequest(_message.Message):
    __slots__ = ("campaign_id", "list", "sub_field", "value")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    LIST_FIELD_NUMBER: _ClassVar[int]
    SUB_FIELD_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    list: SubIdList
    sub_field: str
    value: str
    def __init__(self, campaign_id: _Optional[str] = ..., list: _Optional[_Union[SubIdList, str]] = ..., sub_field: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class RemoveSubIdEntryResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListSubIdEntriesRequest(_message.Message):
    __slots__ = ("campaign_id", "list", "sub_field", "page_size", "page_token")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    LIST_FIELD_NUMBER: _ClassVar[int]
    SUB_FIELD_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    list: SubIdList
    sub_field: str
    page_size: int
    page_token: str
    def __init__(self, campaign_id: _Optional[str] = ..., list: _Optional[_Union[SubIdList, str]] = ..., sub_field: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSubIdEntriesResponse(_message.Message):
    __slots__ = ("entries", "next_page_token")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[SubIdEntry]
    next_page_token: str
    def __init__(self, entries: _Optional[_Iterable[_Union[SubIdEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class QualitySettings(_message.Message):
    __slots__ = ("campaign_id", "checks", "flood_ip_clicks", "flood_device_clicks", "flood_ip_user_agent_clicks", "flood_window", "duplicate_window", "update_time")
    class ChecksEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bool
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bool] = ...) -> None: ...
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    CHECKS_FIELD_NUMBER: _ClassVar[int]
    FLOOD_IP_CLICKS_FIELD_NUMBER: _ClassVar[int]
    FLOOD_DEVICE_CLICKS_FIELD_NUMBER: _ClassVar[int]
    FLOOD_IP_USER_AGENT_CLICKS_FIELD_NUMBER: _ClassVar[int]
    FLOOD_WINDOW_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_WINDOW_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    checks: _containers.ScalarMap[str, bool]
    flood_ip_clicks: int
    flood_device_clicks: int
    flood_ip_user_agent_clicks: int
    flood_window: _duration_pb2.Duration
    duplicate_window: _duration_pb2.Duration
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, campaign_id: _Optional[str] = ..., checks: _Optional[_Mapping[str, bool]] = ..., flood_ip_clicks: _Optional[int] = ..., flood_device_clicks: _Optional[int] = ..., flood_ip_user_agent_clicks: _Optional[int] = ..., flood_window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., duplicate_window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetQualitySettingsRequest(_message.Message):
    __slots__ = ("campaign_id",)
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    def __init__(self, campaign_id: _Optional[str] = ...) -> None: ...

class GetQualitySettingsResponse(_message.Message):
    __slots__ = ("settings", "effective")
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_FIELD_NUMBER: _ClassVar[int]
    settings: QualitySettings
    effective: QualitySettings
    def __init__(self, settings: _Optional[_Union[QualitySettings, _Mapping]] = ..., effective: _Optional[_Union[QualitySettings, _Mapping]] = ...) -> None: ...

class UpdateQualitySettingsRequest(_message.Message):
    __slots__ = ("settings", "update_mask")
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    settings: QualitySettings
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, settings: _Optional[_Union[QualitySettings, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateQualitySettingsResponse(_message.Message):
    __slots__ = ("settings", "effective")
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_FIELD_NUMBER: _ClassVar[int]
    settings: QualitySettings
    effective: QualitySettings
    def __init__(self, settings: _Optional[_Union[QualitySettings, _Mapping]] = ..., effective: _Optional[_Union[QualitySettings, _Mapping]] = ...) -> None: ...

class QualityListEntry(_message.Message):
    __slots__ = ("list", "kind", "value", "note", "create_time")
    LIST_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    list: QualityList
    kind: QualityListKind
    value: str
    note: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, list: _Optional[_Union[QualityList, str]] = ..., kind: _Optional[_Union[QualityListKind, str]] = ..., value: _Optional[str] = ..., note: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AddQualityListEntryRequest(_message.Message):
    __slots__ = ("entry",)
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    entry: QualityListEntry
    def __init__(self, entry: _Optional[_Union[QualityListEntry, _Mapping]] = ...) -> None: ...

class AddQualityListEntryResponse(_message.Message):
    __slots__ = ("entry", "created")
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    entry: QualityListEntry
    created: bool
    def __init__(self, entry: _Optional[_Union[QualityListEntry, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class RemoveQualityListEntryRequest(_message.Message):
    __slots__ = ("list", "kind", "value")
    LIST_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    list: QualityList
    kind: QualityListKind
    value: str
    def __init__(self, list: _Optional[_Union[QualityList, str]] = ..., kind: _Optional[_Union[QualityListKind, str]] = ..., value: _Optional[str] = ...) -> None: ...

class RemoveQualityListEntryResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListQualityListEntriesRequest(_message.Message):
    __slots__ = ("list", "kind", "page_size", "page_token")
    LIST_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    list: QualityList
    kind: QualityListKind
    page_size: int
    page_token: str
    def __init__(self, list: _Optional[_Union[QualityList, str]] = ..., kind: _Optional[_Union[QualityListKind, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListQualityListEntriesResponse(_message.Message):
    __slots__ = ("entries", "next_page_token")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[QualityListEntry]
    next_page_token: str
    def __init__(self, entries: _Optional[_Iterable[_Union[QualityListEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class OverruleTouchVerdictRequest(_message.Message):
    __slots__ = ("click_id", "impression_id", "verdict", "note")
    CLICK_ID_FIELD_NUMBER: _ClassVar[int]
    IMPRESSION_ID_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    click_id: str
    impression_id: str
    verdict: _quality_pb2.Verdict
    note: str
    def __init__(self, click_id: _Optional[str] = ..., impression_id: _Optional[str] = ..., verdict: _Optional[_Union[_quality_pb2.Verdict, str]] = ..., note: _Optional[str] = ...) -> None: ...

class TouchOverrule(_message.Message):
    __slots__ = ("overrule_id", "click_id", "impression_id", "touch_time", "previous_verdict", "verdict", "note", "create_time")
    OVERRULE_ID_FIELD_NUMBER: _ClassVar[int]
    CLICK_ID_FIELD_NUMBER: _ClassVar[int]
    IMPRESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TOUCH_TIME_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_VERDICT_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    overrule_id: str
    click_id: str
    impression_id: str
    touch_time: _timestamp_pb2.Timestamp
    previous_verdict: _quality_pb2.Verdict
    verdict: _quality_pb2.Verdict
    note: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, overrule_id: _Optional[str] = ..., click_id: _Optional[str] = ..., impression_id: _Optional[str] = ..., touch_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., previous_verdict: _Optional[_Union[_quality_pb2.Verdict, str]] = ..., verdict: _Optional[_Union[_quality_pb2.Verdict, str]] = ..., note: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class OverruleTouchVerdictResponse(_message.Message):
    __slots__ = ("overrule", "click", "impression")
    OVERRULE_FIELD_NUMBER: _ClassVar[int]
    CLICK_FIELD_NUMBER: _ClassVar[int]
    IMPRESSION_FIELD_NUMBER: _ClassVar[int]
    overrule: TouchOverrule
    click: Click
    impression: Impression
    def __init__(self, overrule: _Optional[_Union[TouchOverrule, _Mapping]] = ..., click: _Optional[_Union[Click, _Mapping]] = ..., impression: _Optional[_Union[Impression, _Mapping]] = ...) -> None: ...

class FlaggedSubId(_message.Message):
    __slots__ = ("campaign_id", "sub_field", "value", "reason", "create_time", "expire_time")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    SUB_FIELD_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    sub_field: str
    value: str
    reason: str
    create_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, campaign_id: _Optional[str] = ..., sub_field: _Optional[str] = ..., value: _Optional[str] = ..., reason: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class FlagSubIdsRequest(_message.Message):
    __slots__ = ("sub_ids",)
    SUB_IDS_FIELD_NUMBER: _ClassVar[int]
    sub_ids: _containers.RepeatedCompositeFieldContainer[FlaggedSubId]
    def __init__(self, sub_ids: _Optional[_Iterable[_Union[FlaggedSubId, _Mapping]]] = ...) -> None: ...

class FlagSubIdsResponse(_message.Message):
    __slots__ = ("flagged",)
    FLAGGED_FIELD_NUMBER: _ClassVar[int]
    flagged: int
    def __init__(self, flagged: _Optional[int] = ...) -> None: ...

class ListFlaggedSubIdsRequest(_message.Message):
    __slots__ = ("campaign_id", "include_expired", "page_size", "page_token")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_EXPIRED_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    include_expired: bool
    page_size: int
    page_token: str
    def __init__(self, campaign_id: _Optional[str] = ..., include_expired: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListFlaggedSubIdsResponse(_message.Message):
    __slots__ = ("sub_ids", "next_page_token")
    SUB_IDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    sub_ids: _containers.RepeatedCompositeFieldContainer[FlaggedSubId]
    next_page_token: str
    def __init__(self, sub_ids: _Optional[_Iterable[_Union[FlaggedSubId, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
