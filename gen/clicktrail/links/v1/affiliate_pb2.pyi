import datetime

from clicktrail.links.v1 import links_pb2 as _links_pb2
from clicktrail.type.v1 import money_pb2 as _money_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PayoutType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PAYOUT_TYPE_UNSPECIFIED: _ClassVar[PayoutType]
    PAYOUT_TYPE_POSTBACK: _ClassVar[PayoutType]
    PAYOUT_TYPE_FIXED: _ClassVar[PayoutType]

class CapAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CAP_ACTION_UNSPECIFIED: _ClassVar[CapAction]
    CAP_ACTION_NEXT_OFFER: _ClassVar[CapAction]
    CAP_ACTION_REDIRECT: _ClassVar[CapAction]
    CAP_ACTION_FALLBACK: _ClassVar[CapAction]

class OfferStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OFFER_STATUS_UNSPECIFIED: _ClassVar[OfferStatus]
    OFFER_STATUS_ACTIVE: _ClassVar[OfferStatus]
    OFFER_STATUS_PAUSED: _ClassVar[OfferStatus]

class LanderType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LANDER_TYPE_UNSPECIFIED: _ClassVar[LanderType]
    LANDER_TYPE_LANDER: _ClassVar[LanderType]
    LANDER_TYPE_PRELANDER: _ClassVar[LanderType]

class StreamAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STREAM_ACTION_UNSPECIFIED: _ClassVar[StreamAction]
    STREAM_ACTION_ROTATE: _ClassVar[StreamAction]
    STREAM_ACTION_URL: _ClassVar[StreamAction]
    STREAM_ACTION_FALLBACK: _ClassVar[StreamAction]
    STREAM_ACTION_SAFE_PAGE: _ClassVar[StreamAction]

class QrFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    QR_FORMAT_UNSPECIFIED: _ClassVar[QrFormat]
    QR_FORMAT_SVG: _ClassVar[QrFormat]
    QR_FORMAT_PNG: _ClassVar[QrFormat]
PAYOUT_TYPE_UNSPECIFIED: PayoutType
PAYOUT_TYPE_POSTBACK: PayoutType
PAYOUT_TYPE_FIXED: PayoutType
CAP_ACTION_UNSPECIFIED: CapAction
CAP_ACTION_NEXT_OFFER: CapAction
CAP_ACTION_REDIRECT: CapAction
CAP_ACTION_FALLBACK: CapAction
OFFER_STATUS_UNSPECIFIED: OfferStatus
OFFER_STATUS_ACTIVE: OfferStatus
OFFER_STATUS_PAUSED: OfferStatus
LANDER_TYPE_UNSPECIFIED: LanderType
LANDER_TYPE_LANDER: LanderType
LANDER_TYPE_PRELANDER: LanderType
STREAM_ACTION_UNSPECIFIED: StreamAction
STREAM_ACTION_ROTATE: StreamAction
STREAM_ACTION_URL: StreamAction
STREAM_ACTION_FALLBACK: StreamAction
STREAM_ACTION_SAFE_PAGE: StreamAction
QR_FORMAT_UNSPECIFIED: QrFormat
QR_FORMAT_SVG: QrFormat
QR_FORMAT_PNG: QrFormat

class Offer(_message.Message):
    __slots__ = ("offer_id", "name", "partner_id", "url", "payout_type", "payout", "countries", "daily_cap", "total_cap", "cap_action", "cap_url", "status", "conversions_today", "conversions_total", "capped", "create_time", "update_time")
    OFFER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    PAYOUT_TYPE_FIELD_NUMBER: _ClassVar[int]
    PAYOUT_FIELD_NUMBER: _ClassVar[int]
    COUNTRIES_FIELD_NUMBER: _ClassVar[int]
    DAILY_CAP_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CAP_FIELD_NUMBER: _ClassVar[int]
    CAP_ACTION_FIELD_NUMBER: _ClassVar[int]
    CAP_URL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CONVERSIONS_TODAY_FIELD_NUMBER: _ClassVar[int]
    CONVERSIONS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    CAPPED_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    offer_id: str
    name: str
    partner_id: str
    url: str
    payout_type: PayoutType
    payout: _money_pb2.Money
    countries: _containers.RepeatedScalarFieldContainer[str]
    daily_cap: int
    total_cap: int
    cap_action: CapAction
    cap_url: str
    status: OfferStatus
    conversions_today: int
    conversions_total: int
    capped: bool
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, offer_id: _Optional[str] = ..., name: _Optional[str] = ..., partner_id: _Optional[str] = ..., url: _Optional[str] = ..., payout_type: _Optional[_Union[PayoutType, str]] = ..., payout: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., countries: _Optional[_Iterable[str]] = ..., daily_cap: _Optional[int] = ..., total_cap: _Optional[int] = ..., cap_action: _Optional[_Union[CapAction, str]] = ..., cap_url: _Optional[str] = ..., status: _Optional[_Union[OfferStatus, str]] = ..., conversions_today: _Optional[int] = ..., conversions_total: _Optional[int] = ..., capped: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateOfferRequest(_message.Message):
    __slots__ = ("offer",)
    OFFER_FIELD_NUMBER: _ClassVar[int]
    offer: Offer
    def __init__(self, offer: _Optional[_Union[Offer, _Mapping]] = ...) -> None: ...

class CreateOfferResponse(_message.Message):
    __slots__ = ("offer",)
    OFFER_FIELD_NUMBER: _ClassVar[int]
    offer: Offer
    def __init__(self, offer: _Optional[_Union[Offer, _Mapping]] = ...) -> None: ...

class GetOfferRequest(_message.Message):
    __slots__ = ("offer_id",)
    OFFER_ID_FIELD_NUMBER: _ClassVar[int]
    offer_id: str
    def __init__(self, offer_id: _Optional[str] = ...) -> None: ...

class GetOfferResponse(_message.Message):
    __slots__ = ("offer",)
    OFFER_FIELD_NUMBER: _ClassVar[int]
    offer: Offer
    def __init__(self, offer: _Optional[_Union[Offer, _Mapping]] = ...) -> None: ...

class ListOffersRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "partner_id", "status")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    partner_id: str
    status: OfferStatus
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., partner_id: _Optional[str] = ..., status: _Optional[_Union[OfferStatus, str]] = ...) -> None: ...

class ListOffersResponse(_message.Message):
    __slots__ = ("offers", "next_page_token")
    OFFERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    offers: _containers.RepeatedCompositeFieldContainer[Offer]
    next_page_token: str
    def __init__(self, offers: _Optional[_Iterable[_Union[Offer, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateOfferRequest(_message.Message):
    __slots__ = ("offer", "update_mask")
    OFFER_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    offer: Offer
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, offer: _Optional[_Union[Offer, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateOfferResponse(_message.Message):
    __slots__ = ("offer",)
    OFFER_FIELD_NUMBER: _ClassVar[int]
    offer: Offer
    def __init__(self, offer: _Optional[_Union[Offer, _Mapping]] = ...) -> None: ...

class DeleteOfferRequest(_message.Message):
    __slots__ = ("offer_id",)
    OFFER_ID_FIELD_NUMBER: _ClassVar[int]
    offer_id: str
    def __init__(self, offer_id: _Optional[str] = ...) -> None: ...

class DeleteOfferResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Lander(_message.Message):
    __slots__ = ("lander_id", "name", "url", "type", "macros", "create_time", "update_time")
    class MacrosEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    LANDER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    MACROS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    lander_id: str
    name: str
    url: str
    type: LanderType
    macros: _containers.ScalarMap[str, str]
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, lander_id: _Optional[str] = ..., name: _Optional[str] = ..., url: _Optional[str] = ..., type: _Optional[_Union[LanderType, str]] = ..., macros: _Optional[_Mapping[str, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateLanderRequest(_message.Message):
    __slots__ = ("lander",)
    LANDER_FIELD_NUMBER: _ClassVar[int]
    lander: Lander
    def __init__(self, lander: _Optional[_Union[Lander, _Mapping]] = ...) -> None: ...

class CreateLanderResponse(_message.Message):
    __slots__ = ("lander",)
    LANDER_FIELD_NUMBER: _ClassVar[int]
    lander: Lander
    def __init__(self, lander: _Optional[_Union[Lander, _Mapping]] = ...) -> None: ...

class GetLanderRequest(_message.Message):
    __slots__ = ("lander_id",)
    LANDER_ID_FIELD_NUMBER: _ClassVar[int]
    lander_id: str
    def __init__(self, lander_id: _Optional[str] = ...) -> None: ...

class GetLanderResponse(_message.Message):
    __slots__ = ("lander",)
    LANDER_FIELD_NUMBER: _ClassVar[int]
    lander: Lander
    def __init__(self, lander: _Optional[_Union[Lander, _Mapping]] = ...) -> None: ...

class ListLandersRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListLandersResponse(_message.Message):
    __slots__ = ("landers", "next_page_token")
    LANDERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    landers: _containers.RepeatedCompositeFieldContainer[Lander]
    next_page_token: str
    def __init__(self, landers: _Optional[_Iterable[_Union[Lander, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateLanderRequest(_message.Message):
    __slots__ = ("lander", "update_mask")
    LANDER_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    lander: Lander
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, lander: _Optional[_Union[Lander, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateLanderResponse(_message.Message):
    __slots__ = ("lander",)
    LANDER_FIELD_NUMBER: _ClassVar[int]
    lander: Lander
    def __init__(self, lander: _Optional[_Union[Lander, _Mapping]] = ...) -> None: ...

class DeleteLanderRequest(_message.Message):
    __slots__ = ("lander_id",)
    LANDER_ID_FIELD_NUMBER: _ClassVar[int]
    lander_id: str
    def __init__(self, lander_id: _Optional[str] = ...) -> None: ...

class DeleteLanderResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StreamFilter(_message.Message):
    __slots__ = ("field", "exclude", "values")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    field: str
    exclude: bool
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, field: _Optional[str] = ..., exclude: _Optional[bool] = ..., values: _Optional[_Iterable[str]] = ...) -> None: ...

class WeightedLander(_message.Message):
    __slots__ = ("lander_id", "weight")
    LANDER_ID_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    lander_id: str
    weight: int
    def __init__(self, lander_id: _Optional[str] = ..., weight: _Optional[int] = ...) -> None: ...

class WeightedOffer(_message.Message):
    __slots__ = ("offer_id", "weight")
    OFFER_ID_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    offer_id: str
    weight: int
    def __init__(self, offer_id: _Optional[str] = ..., weight: _Optional[int] = ...) -> None: ...

class Stream(_message.Message):
    __slots__ = ("stream_id", "campaign_id", "name", "position", "filters", "action", "landers", "offers", "url", "paused", "is_default", "create_time", "update_time")
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    LANDERS_FIELD_NUMBER: _ClassVar[int]
    OFFERS_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    campaign_id: str
    name: str
    position: int
    filters: _containers.RepeatedCompositeFieldContainer[StreamFilter]
    action: StreamAction
    landers: _containers.RepeatedCompositeFieldContainer[WeightedLander]
    offers: _containers.RepeatedCompositeFieldContainer[WeightedOffer]
    url: str
    paused: bool
    is_default: bool
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, stream_id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., name: _Optional[str] = ..., position: _Optional[int] = ..., filters: _Optional[_Iterable[_Union[StreamFilter, _Mapping]]] = ..., action: _Optional[_Union[StreamAction, str]] = ..., landers: _Optional[_Iterable[_Union[WeightedLander, _Mapping]]] = ..., offers: _Optional[_Iterable[_Union[WeightedOffer, _Mapping]]] = ..., url: _Optional[str] = ..., paused: _Optional[bool] = ..., is_default: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateStreamRequest(_message.Message):
    __slots__ = ("stream",)
    STREAM_FIELD_NUMBER: _ClassVar[int]
    stream: Stream
    def __init__(self, stream: _Optional[_Union[Stream, _Mapping]] = ...) -> None: ...

class CreateStreamResponse(_message.Message):
    __slots__ = ("stream",)
    STREAM_FIELD_NUMBER: _ClassVar[int]
    stream: Stream
    def __init__(self, stream: _Optional[_Union[Stream, _Mapping]] = ...) -> None: ...

class GetStreamRequest(_message.Message):
    __slots__ = ("stream_id",)
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    def __init__(self, stream_id: _Optional[str] = ...) -> None: ...

class GetStreamResponse(_message.Message):
    __slots__ = ("stream",)
    STREAM_FIELD_NUMBER: _ClassVar[int]
    stream: Stream
    def __init__(self, stream: _Optional[_Union[Stream, _Mapping]] = ...) -> None: ...

class ListStreamsRequest(_message.Message):
    __slots__ = ("campaign_id", "page_size", "page_token")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    page_size: int
    page_token: str
    def __init__(self, campaign_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListStreamsResponse(_message.Message):
    __slots__ = ("streams", "next_page_token")
    STREAMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    streams: _containers.RepeatedCompositeFieldContainer[Stream]
    next_page_token: str
    def __init__(self, streams: _Optional[_Iterable[_Union[Stream, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateStreamRequest(_message.Message):
    __slots__ = ("stream", "update_mask")
    STREAM_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    stream: Stream
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, stream: _Optional[_Union[Stream, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateStreamResponse(_message.Message):
    __slots__ = ("stream",)
    STREAM_FIELD_NUMBER: _ClassVar[int]
    stream: Stream
    def __init__(self, stream: _Optional[_Union[Stream, _Mapping]] = ...) -> None: ...

class DeleteStreamRequest(_message.Message):
    __slots__ = ("stream_id",)
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    def __init__(self, stream_id: _Optional[str] = ...) -> None: ...

class DeleteStreamResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Domain(_message.Message):
    __slots__ = ("name", "root_url", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROOT_URL_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    root_url: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., root_url: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateDomainRequest(_message.Message):
    __slots__ = ("domain",)
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    domain: Domain
    def __init__(self, domain: _Optional[_Union[Domain, _Mapping]] = ...) -> None: ...

class CreateDomainResponse(_message.Message):
    __slots__ = ("domain",)
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    domain: Domain
    def __init__(self, domain: _Optional[_Union[Domain, _Mapping]] = ...) -> None: ...

class GetDomainRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetDomainResponse(_message.Message):
    __slots__ = ("domain",)
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    domain: Domain
    def __init__(self, domain: _Optional[_Union[Domain, _Mapping]] = ...) -> None: ...

class ListDomainsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDomainsResponse(_message.Message):
    __slots__ = ("domains", "next_page_token")
    DOMAINS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    domains: _containers.RepeatedCompositeFieldContainer[Domain]
    next_page_token: str
    def __init__(self, domains: _Optional[_Iterable[_Union[Domain, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteDomainRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteDomainResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CheckDomainRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class CheckDomainResponse(_message.Message):
    __slots__ = ("registered", "root_url")
    REGISTERED_FIELD_NUMBER: _ClassVar[int]
    ROOT_URL_FIELD_NUMBER: _ClassVar[int]
    registered: bool
    root_url: str
    def __init__(self, registered: _Optional[bool] = ..., root_url: _Optional[str] = ...) -> None: ...

class GetLinkQrCodeRequest(_message.Message):
    __slots__ = ("link_id", "format", "scale", "slug")
    LINK_ID_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    SLUG_FIELD_NUMBER: _ClassVar[int]
    link_id: str
    format: QrFormat
    scale: int
    slug: str
    def __init__(self, link_id: _Optional[str] = ..., format: _Optional[_Union[QrFormat, str]] = ..., scale: _Optional[int] = ..., slug: _Optional[str] = ...) -> None: ...

class GetLinkQrCodeResponse(_message.Message):
    __slots__ = ("url", "content_type", "image")
    URL_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    url: str
    content_type: str
    image: bytes
    def __init__(self, url: _Optional[str] = ..., content_type: _Optional[str] = ..., image: _Optional[bytes] = ...) -> None: ...

class LanderClickInput(_message.Message):
    __slots__ = ("click_id", "host", "ip", "user_agent")
    CLICK_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    click_id: str
    host: str
    ip: str
    user_agent: str
    def __init__(self, click_id: _Optional[str] = ..., host: _Optional[str] = ..., ip: _Optional[str] = ..., user_agent: _Optional[str] = ...) -> None: ...

class RecordLanderClicksRequest(_message.Message):
    __slots__ = ("clicks",)
    CLICKS_FIELD_NUMBER: _ClassVar[int]
    clicks: _containers.RepeatedCompositeFieldContainer[LanderClickInput]
    def __init__(self, clicks: _Optional[_Iterable[_Union[LanderClickInput, _Mapping]]] = ...) -> None: ...

class RecordLanderClicksResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[_links_pb2.TouchResult]
    def __init__(self, results: _Optional[_Iterable[_Union[_links_pb2.TouchResult, _Mapping]]] = ...) -> None: ...

class OfferConversion(_message.Message):
    __slots__ = ("offer_id", "conversion_id", "event_time", "rejected")
    OFFER_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    offer_id: str
    conversion_id: str
    event_time: _timestamp_pb2.Timestamp
    rejected: bool
    def __init__(self, offer_id: _Optional[str] = ..., conversion_id: _Optional[str] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., rejected: _Optional[bool] = ...) -> None: ...

class RecordOfferConversionsRequest(_message.Message):
    __slots__ = ("conversions",)
    CONVERSIONS_FIELD_NUMBER: _ClassVar[int]
    conversions: _containers.RepeatedCompositeFieldContainer[OfferConversion]
    def __init__(self, conversions: _Optional[_Iterable[_Union[OfferConversion, _Mapping]]] = ...) -> None: ...

class RecordOfferConversionsResponse(_message.Message):
    __slots__ = ("counted",)
    COUNTED_FIELD_NUMBER: _ClassVar[int]
    counted: int
    def __init__(self, counted: _Optional[int] = ...) -> None: ...
