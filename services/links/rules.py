"""The links service's domain rules, pure (no database, no I/O): what a valid app,
partner, campaign, link, sub-id list entry and touch look-up is, and which
campaign changes are allowed. The servicers call these before they touch the store."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import ipaddress
from typing import Any

from clicktrail.links.v1 import links_pb2 as pb

from libs import quality as q
from libs.api import from_timestamp, parse_money
from libs.errors import FailedPrecondition, InvalidArgument, Validator
from libs.ids import id_time, is_valid_id
from libs.macros import check_url_template
from libs.vocab.windows import MAX_TOUCH_WINDOW
from services.links import deep_link_rules
from services.links.subids import BLACKLIST, WHITELIST, canonical_sub_field, sub_field_choices
from services.links.subids import MAX_VALUE as MAX_SUB_VALUE
from services.links.touches import DESTINATION_MACROS

MAX_NAME = 200
MAX_CATALOG_KEY = 64
MAX_BUNDLE_ID = 255
MAX_TOUCH_BATCH = 5000
MAX_LOOKUPS = 1000
MAX_WINDOW = MAX_TOUCH_WINDOW

# Allowed status moves: publish, pause/resume, archive (terminal).
TRANSITIONS = {
    pb.CAMPAIGN_STATUS_DRAFT: {pb.CAMPAIGN_STATUS_ACTIVE, pb.CAMPAIGN_STATUS_ARCHIVED},
    pb.CAMPAIGN_STATUS_ACTIVE: {pb.CAMPAIGN_STATUS_PAUSED, pb.CAMPAIGN_STATUS_ARCHIVED},
    pb.CAMPAIGN_STATUS_PAUSED: {pb.CAMPAIGN_STATUS_ACTIVE, pb.CAMPAIGN_STATUS_ARCHIVED},
    pb.CAMPAIGN_STATUS_ARCHIVED: set(),
}
INTERNAL_CAMPAIGN_PATHS = frozenset({"status", "budget"})  # what analytics' rules change
FROZEN_WHEN_PUBLISHED = ("type", "traffic_type", "partner_id", "app_id", "target_goal_id")
CAMPAIGN_UPDATABLE = (
    "name", "status", "fallback_url", "budget", "invalid_traffic_action", "visitor_window", *FROZEN_WHEN_PUBLISHED
)  # fmt: skip
# The columns a campaign update writes (its budget is two; the visitor window is in seconds).
CAMPAIGN_COLUMNS = (
    *(p for p in CAMPAIGN_UPDATABLE if p not in ("budget", "visitor_window")),
    "budget_amount", "budget_currency", "visitor_window_s",
)  # fmt: skip
APP_UPDATABLE = ("name", "store_url", "bundle_id", "apple_team_id", "apple_app_id", "android_sha256_fingerprints")
LINK_UPDATABLE = (
    "name", "destination_url", "ios_url", "android_url", "desktop_url", "app_id",
    "domain", "expire_time", "max_clicks", "redirect_status", "deep_link",
)  # fmt: skip
REDIRECT_STATUSES = (0, 301, 302, 307)
# A campaign's returning-visitor window (Campaign.visitor_window).
VISITOR_WINDOW_DEFAULT_S = 86400
VISITOR_WINDOW_MIN_S = 60
VISITOR_WINDOW_MAX_S = 90 * 86400
LINK_URLS = ("ios_url", "android_url", "desktop_url")


def status_name(value: int) -> str:
    return pb.CampaignStatus.Name(value).removeprefix("CAMPAIGN_STATUS_").lower()


def list_name(value: int) -> str:
    return "blacklist" if value == BLACKLIST else "whitelist"


def check_name(v: Validator, field: str, name: str) -> None:
    v.check(bool(name.strip()), field, "is required")
    v.check(len(name) <= MAX_NAME, field, f"must be at most {MAX_NAME} characters")


def check_plain_url(v: Validator, field: str, url: str) -> None:
    """A URL without macros (fallback and store URLs)."""
    if url:
        problem = check_url_template(url, ())
        if problem:
            v.add(field, problem)


def check_template(v: Validator, field: str, url: str, required: bool) -> None:
    if url or required:
        problem = check_url_template(url, DESTINATION_MACROS)
        if problem:
            known = ", ".join("{" + m + "}" for m in DESTINATION_MACROS)
            v.add(field, problem + ("" if "macro" not in problem else f"; known: {known}"))


def enum_ok(enum: Any, value: int) -> bool:
    return value in enum.values() and value != 0


def check_invalid_action(v: Validator, value: int) -> None:
    v.check(
        value in pb.InvalidTrafficAction.values(),
        "campaign.invalid_traffic_action",
        "is not an action: redirect, fallback or block",
    )


# ----- apps and partners -------------------------------------------------------------


def validate_app(app: pb.App, paths: list[str] | None) -> None:
    """``paths`` None: a new app."""
    v = Validator()
    if paths is None or "name" in paths:
        check_name(v, "app.name", app.name)
    if paths is None:
        v.check(enum_ok(pb.Platform, app.platform), "app.platform", "is required: ios, android or web")
        if app.platform in (pb.PLATFORM_IOS, pb.PLATFORM_ANDROID):
            v.check(bool(app.bundle_id.strip()), "app.bundle_id", "is required for iOS and Android apps")
    if paths is None or "store_url" in paths:
        check_plain_url(v, "app.store_url", app.store_url)
    v.check(len(app.bundle_id) <= MAX_BUNDLE_ID, "app.bundle_id", f"must be at most {MAX_BUNDLE_ID} characters")
    new = paths is None
    deep_link_rules.check_app_identity(
        v,
        team=app.apple_team_id if new or "apple_team_id" in paths else None,  # type: ignore[operator]
        app_store_id=app.apple_app_id if new or "apple_app_id" in paths else None,  # type: ignore[operator]
        prints=list(app.android_sha256_fingerprints)
        if new or "android_sha256_fingerprints" in paths  # type: ignore[operator]
        else None,
    )
    v.raise_if_any()


def validate_new_partner(partner: pb.Partner, *, internal: bool) -> None:
    """A caller-chosen id (the postbacks service's catalog creation) makes the create
    idempotent. Only a service may choose it: an account that could would mint ids
    that exist elsewhere."""
    v = Validator()
    check_name(v, "partner.name", partner.name)
    v.check(
        len(partner.catalog_key) <= MAX_CATALOG_KEY,
        "partner.catalog_key",
        f"must be at most {MAX_CATALOG_KEY} characters",
    )
    given = partner.partner_id
    if given and not internal:
        v.add("partner.partner_id", "is assigned by the server: leave it empty")
    elif given:
        v.check(given.startswith("prt_") and is_valid_id(given[4:]), "partner.partner_id",
                "must be an id from the postbacks service (prt_...), or empty")  # fmt: skip
    v.raise_if_any()


# ----- campaigns ---------------------------------------------------------------------


def budget_of(c: pb.Campaign) -> tuple[decimal.Decimal | None, str | None]:
    if not c.HasField("budget") or (not c.budget.amount and not c.budget.currency_code):
        return None, None
    amount, currency = parse_money(c.budget.amount, c.budget.currency_code, "campaign.budget")
    if amount < 0:
        raise InvalidArgument("campaign.budget.amount", "must not be negative")
    return amount, currency


def visitor_window_of(v: Validator, c: pb.Campaign) -> int:
    """The campaign's visitor window in seconds (unset: the default), checked into ``v``."""
    if not c.HasField("visitor_window"):
        return VISITOR_WINDOW_DEFAULT_S
    seconds, nanos = c.visitor_window.seconds, c.visitor_window.nanos
    v.check(
        VISITOR_WINDOW_MIN_S <= seconds <= VISITOR_WINDOW_MAX_S and nanos == 0,
        "campaign.visitor_window",
        "must be whole seconds between 1 minute and 90 days (unset: 24 hours)",
    )
    return seconds


@dataclasses.dataclass(frozen=True)
class NewCampaign:
    type: int
    status: int
    visitor_window_s: int


def check_new_campaign(v: Validator, c: pb.Campaign) -> NewCampaign:
    """Checks a new campaign's own fields (its partner and app are the store's);
    returns its type and status with their defaults applied."""
    check_name(v, "campaign.name", c.name)
    ctype = c.type or (pb.CAMPAIGN_TYPE_APP_INSTALL if c.app_id else pb.CAMPAIGN_TYPE_WEB)
    v.check(enum_ok(pb.CampaignType, ctype), "campaign.type", "is not a campaign type")
    v.check(c.traffic_type in pb.TrafficType.values(), "campaign.traffic_type", "is not a traffic type")
    status = c.status or pb.CAMPAIGN_STATUS_DRAFT
    v.check(
        status in (pb.CAMPAIGN_STATUS_DRAFT, pb.CAMPAIGN_STATUS_ACTIVE),
        "campaign.status",
        "a new campaign is draft or active",
    )
    check_plain_url(v, "campaign.fallback_url", c.fallback_url)
    check_invalid_action(v, c.invalid_traffic_action)
    return NewCampaign(ctype, status, visitor_window_of(v, c))


def check_internal_campaign_paths(paths: list[str]) -> str | None:
    """The automation rules pause and budget campaigns; the shared service token may
    not repoint any account's traffic (its URLs) or change anything else."""
    if set(paths) <= INTERNAL_CAMPAIGN_PATHS:
        return None
    return f"the internal token may update only {', '.join(sorted(INTERNAL_CAMPAIGN_PATHS))}"


def check_campaign_update(
    v: Validator, c: pb.Campaign, current: pb.Campaign, paths: list[str], *, published: bool
) -> None:
    """Checks an update of ``current`` to ``c`` on ``paths``: field violations into
    ``v``; a forbidden status move or a change of a published campaign's frozen
    fields raises FailedPrecondition."""
    if "name" in paths:
        check_name(v, "campaign.name", c.name)
    if "type" in paths:
        v.check(enum_ok(pb.CampaignType, c.type), "campaign.type", "is not a campaign type")
    if "traffic_type" in paths:
        v.check(c.traffic_type in pb.TrafficType.values(), "campaign.traffic_type", "is not a traffic type")
    if "fallback_url" in paths:
        check_plain_url(v, "campaign.fallback_url", c.fallback_url)
    if "invalid_traffic_action" in paths:
        check_invalid_action(v, c.invalid_traffic_action)
    if "visitor_window" in paths:
        visitor_window_of(v, c)
    if "status" in paths and c.status != current.status:
        if c.status not in TRANSITIONS:
            v.add("campaign.status", "is not a campaign status")
        elif c.status not in TRANSITIONS[current.status]:
            raise FailedPrecondition(
                f"campaign {c.campaign_id} is {status_name(current.status)}: it cannot become "
                f"{status_name(c.status)}"
                + (" (archived is final)" if current.status == pb.CAMPAIGN_STATUS_ARCHIVED else "")
            )
    changed_frozen = [p for p in paths if p in FROZEN_WHEN_PUBLISHED and getattr(c, p) != getattr(current, p)]
    if published and changed_frozen:
        raise FailedPrecondition(
            f"campaign {c.campaign_id} is published: {', '.join(changed_frozen)} cannot change;"
            " only name, status, fallback_url, budget, invalid_traffic_action and visitor_window can"
        )


def campaign_values(c: pb.Campaign, paths: list[str]) -> dict[str, Any]:
    """Column -> new value of an update on ``paths``."""
    values: dict[str, Any] = {}
    for p in paths:
        if p == "budget":
            values["budget_amount"], values["budget_currency"] = budget_of(c)
        elif p == "app_id":
            values["app_id"] = c.app_id or None
        elif p == "name":
            values["name"] = c.name.strip()
        elif p == "visitor_window":
            values["visitor_window_s"] = visitor_window_of(Validator(), c)
        else:
            values[p] = getattr(c, p)
    return values


def publishes(status: int) -> bool:
    """Whether a campaign becoming ``status`` is published (from then on)."""
    return status == pb.CAMPAIGN_STATUS_ACTIVE


# ----- links -------------------------------------------------------------------------


def validate_link(link: pb.Link, paths: list[str] | None) -> Validator:
    """``paths`` None: a new link. Returns the validator: the store adds its checks."""
    v = Validator()
    if paths is None or "name" in paths:
        v.check(len(link.name) <= MAX_NAME, "link.name", f"must be at most {MAX_NAME} characters")
    if paths is None or "destination_url" in paths:
        check_template(v, "link.destination_url", link.destination_url, required=True)
    for f in LINK_URLS:
        if paths is None or f in paths:
            check_template(v, f"link.{f}", getattr(link, f), required=False)
    if paths is None or "max_clicks" in paths:
        v.check(link.max_clicks >= 0, "link.max_clicks", "must not be negative (0: no limit)")
    if paths is None or "redirect_status" in paths:
        v.check(
            link.redirect_status in REDIRECT_STATUSES,
            "link.redirect_status",
            f"must be 301, 302 or 307 (0: 302), not {link.redirect_status}",
        )
    if paths is None or "deep_link" in paths:
        deep_link_rules.check_deep_link(v, "link.deep_link", link.deep_link)
    if link.HasField("expire_time") and (paths is None or "expire_time" in paths):
        try:
            expire = from_timestamp(link.expire_time)
        except (ValueError, OverflowError):  # outside RFC 3339 (0001..9999)
            v.add("link.expire_time", "must be a time between the years 1 and 9999")
        else:
            if paths is None:
                v.check(
                    expire is None or expire > dt.datetime.now(dt.UTC), "link.expire_time", "must be in the future"
                )
    return v


def link_values(link: pb.Link, paths: list[str], domain: str | None) -> dict[str, Any]:
    """Column -> new value of a link update on ``paths``; ``domain`` the normalised
    one (None: none)."""
    values: dict[str, Any] = {}
    for p in paths:
        if p == "app_id":
            values[p] = link.app_id or None
        elif p == "domain":
            values[p] = domain
        elif p == "expire_time":
            values[p] = from_timestamp(link.expire_time)
        elif p == "deep_link":
            values[p] = link.deep_link.strip()
        else:
            values[p] = getattr(link, p)
    return values


# ----- sub-id lists ------------------------------------------------------------------


def check_entry_key(v: Validator, prefix: str, campaign_id: str, list_: int, sub_field: str, value: str) -> str:
    """Validates a list entry's key (raising every violation); returns the canonical sub field."""
    v.check(list_ in (BLACKLIST, WHITELIST), f"{prefix}list", "is required: blacklist or whitelist")
    field = canonical_sub_field(sub_field)
    v.check(field is not None, f"{prefix}sub_field", f"{sub_field!r} is not a sub-id field; use {sub_field_choices()}")
    v.check(bool(value), f"{prefix}value", "is required")
    v.check(len(value) <= MAX_SUB_VALUE, f"{prefix}value", f"must be at most {MAX_SUB_VALUE} characters")
    v.check("\x00" not in value, f"{prefix}value", "must not contain NUL characters")
    v.check(bool(campaign_id), f"{prefix}campaign_id", "is required")
    v.raise_if_any()
    return field or ""


def check_entry_filter(campaign_id: str, list_: int, sub_field: str) -> str:
    """The filters of a ListSubIdEntries call; returns the canonical sub field ("" for every field)."""
    v = Validator()
    v.check(bool(campaign_id), "campaign_id", "is required")
    v.check(list_ in (0, BLACKLIST, WHITELIST), "list", "is not a list: blacklist, whitelist or unset for both")
    field = canonical_sub_field(sub_field) if sub_field else ""
    v.check(field is not None, "sub_field", f"{sub_field!r} is not a sub-id field; use {sub_field_choices()}")
    v.raise_if_any()
    return field or ""


# ----- touches -----------------------------------------------------------------------


def check_touch_filter(request: Any) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The verdict / reason / time filters of ListClicks and ListImpressions; returns
    the time window."""
    v = Validator()
    v.check(
        request.verdict in (0, q.CLEAN, q.SUSPICIOUS, q.INVALID),
        "verdict",
        "is not a verdict: clean, suspicious, invalid or unset",
    )
    v.check(
        not request.reason or request.reason in q.BY_CODE,
        "reason",
        f"{request.reason!r} is not a reason code; codes: {', '.join(r.code for r in q.REASONS)}",
    )
    v.raise_if_any()
    start, end = from_timestamp(request.start_time), from_timestamp(request.end_time)
    if start and end and end <= start:
        raise InvalidArgument("end_time", "must be after start_time")
    return start, end


@dataclasses.dataclass(frozen=True, slots=True)
class Lookup:
    kind: str  # click_id | device_id | fingerprint
    args: tuple[Any, ...]  # the key's columns, then (for device ids and fingerprints) start, end and limit
    impressions: bool = False


def check_lookup(v: Validator, prefix: str, request: Any, key: str | None) -> Lookup | None:
    """Validates one FindTouchesRequest or TouchLookup (field names under
    `prefix`); None when there is nothing to look up (no key, or a malformed
    click id, which finds nothing as GetClick finds nothing)."""
    if key == "click_id":
        click_id = request.click_id
        v.check(bool(click_id), f"{prefix}click_id", "is required")
        if not is_valid_id(click_id):
            return None
        return Lookup("click_id", (click_id, id_time(click_id)))
    start, end = from_timestamp(request.start_time), from_timestamp(request.end_time)
    v.check(start is not None, f"{prefix}start_time", "is required")
    v.check(end is not None, f"{prefix}end_time", "is required")
    if start and end:
        v.check(end > start, f"{prefix}end_time", "must be after start_time")
        v.check(end - start <= MAX_WINDOW, f"{prefix}end_time", "the window is at most 90 days")
    limit = request.limit or 10
    v.check(0 < limit <= 100, f"{prefix}limit", "must be between 1 and 100")
    window = (start, end, limit)
    if key == "device_id":
        device_id = request.device_id.strip().lower()
        v.check(bool(device_id), f"{prefix}device_id", "is required")
        return Lookup("device_id", (device_id, *window), request.include_impressions)
    if key == "fingerprint":
        fp = request.fingerprint
        v.check(bool(fp.ip), f"{prefix}fingerprint.ip", "is required")
        try:
            ipaddress.ip_address(fp.ip)
        except ValueError:
            if fp.ip:
                v.add(f"{prefix}fingerprint.ip", "is not an IP address")
        return Lookup("fingerprint", (fp.ip, fp.user_agent or None, *window), request.include_impressions)
    return None
