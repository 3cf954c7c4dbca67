"""`clicktrail apple-ads ...`: Apple Ads attribution (AdServices): the account's
settings (on/off, the Apple Ads partner, the default campaign), the Apple
campaign -> campaign mappings, and what Apple answered for each install token."""

from __future__ import annotations

from typing import Annotated

import typer
from clicktrail.attribution.v1 import apple_ads_pb2 as pb
from clicktrail.attribution.v1 import apple_ads_pb2_grpc as pb_grpc

from cli.common import (
    ApiKey,
    JsonOut,
    Limit,
    PageToken,
    UsageError,
    account_creds,
    emit,
    emit_list,
    enum_number,
    field_mask,
    list_pages,
    note,
    print_json,
    rpc,
    stdout,
)

app = typer.Typer(
    help="Apple Ads attribution (AdServices): the SDK sends the install's AdServices token; an install not "
    "matched by a click id is resolved with Apple's attribution API and, when Apple says it came from Apple "
    "Ads, credited to the campaign its Apple campaign is mapped to (else the default campaign). Ranking: "
    "click id > Apple Ads > device id > fingerprint > organic.",
    no_args_is_help=True,
)

Stub = pb_grpc.AppleAdsServiceStub
MAPPING_COLUMNS = ["apple_campaign_id", "campaign_id", "create_time"]
LOOKUP_COLUMNS = ["install_id", "outcome", "apple_campaign_id", "campaign_id", "reason", "resolve_time"]
OUTCOMES = ", ".join(v.name.removeprefix("APPLE_ADS_OUTCOME_").lower() for v in pb.AppleAdsOutcome.DESCRIPTOR.values
                     if v.number)  # fmt: skip
PARTNER_HELP = "The Apple Ads partner's id (create it from the catalog: apple_search_ads); '' clears it."
DEFAULT_HELP = (
    "The campaign unmapped Apple campaigns are credited to; '' clears it (such installs then keep their match, "
    "the Apple ids recorded)."
)
AppleCampaign = Annotated[
    int, typer.Argument(help="Apple's campaign id (the attribution API's campaignId).", show_default=False, min=1)
]


@app.command("show")
def show(api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """Show the account's Apple Ads settings.

    Example:  clicktrail apple-ads show --json
    """
    resp = rpc("attribution", Stub, "GetAppleAdsSettings", pb.GetAppleAdsSettingsRequest(), account_creds(api_key))
    s = resp.settings
    if json_out:
        emit(s, True)
        return
    emit({
        "enabled": "yes" if s.enabled else "no (install tokens are not sent to Apple)",
        "partner_id": s.partner_id or "(none)",
        "default_campaign_id": s.default_campaign_id or "(none: unmapped Apple campaigns keep the install's match)",
    }, False)  # fmt: skip


@app.command("set")
def set_(
    enable: Annotated[
        bool | None,
        typer.Option("--enable/--disable", help="Resolve install tokens with Apple (or stop).", show_default=False),
    ] = None,
    partner: Annotated[str | None, typer.Option("--partner", show_default=False, help=PARTNER_HELP)] = None,
    default_campaign: Annotated[
        str | None, typer.Option("--default-campaign", show_default=False, help=DEFAULT_HELP)
    ] = None,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Change the Apple Ads settings: only the flags given change.

    With a partner set, the default and mapped campaigns must be that partner's.

    Example:  clicktrail apple-ads set --enable --partner PARTNER_ID --default-campaign CAMPAIGN_ID
    """
    paths: list[str] = []
    s = pb.AppleAdsSettings()
    if enable is not None:
        s.enabled = enable
        paths.append("enabled")
    if partner is not None:
        s.partner_id = partner.strip()
        paths.append("partner_id")
    if default_campaign is not None:
        s.default_campaign_id = default_campaign.strip()
        paths.append("default_campaign_id")
    if not paths:
        raise UsageError("nothing to change: give --enable/--disable, --partner or --default-campaign")
    req = pb.UpdateAppleAdsSettingsRequest(settings=s)
    req.update_mask.paths.extend(field_mask(paths))
    resp = rpc("attribution", Stub, "UpdateAppleAdsSettings", req, account_creds(api_key))
    emit(resp.settings, json_out)


@app.command("map")
def map_(
    apple_campaign_id: AppleCampaign,
    campaign: Annotated[str, typer.Option("--campaign", help="Our campaign it is credited to.", show_default=False)],
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Map an Apple campaign to one of our campaigns: its installs are credited there.

    Example:  clicktrail apple-ads map 542370539 --campaign CAMPAIGN_ID
    """
    req = pb.CreateAppleAdsMappingRequest(
        mapping=pb.AppleAdsMapping(apple_campaign_id=apple_campaign_id, campaign_id=campaign)
    )
    resp = rpc("attribution", Stub, "CreateAppleAdsMapping", req, account_creds(api_key))
    emit(resp.mapping, json_out)


@app.command("unmap")
def unmap(apple_campaign_id: AppleCampaign, api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """Delete an Apple campaign's mapping (its later installs go to the default campaign).

    Example:  clicktrail apple-ads unmap 542370539
    """
    req = pb.DeleteAppleAdsMappingRequest(apple_campaign_id=apple_campaign_id)
    rpc("attribution", Stub, "DeleteAppleAdsMapping", req, account_creds(api_key))
    if json_out:
        print_json({"apple_campaign_id": apple_campaign_id, "deleted": True})
    else:
        stdout().print(f"deleted the mapping of Apple campaign {apple_campaign_id}", markup=False)


@app.command("mappings")
def mappings(limit: Limit = 50, page_token: PageToken = "", api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """List the Apple campaign mappings, by Apple campaign id.

    Example:  clicktrail apple-ads mappings --json
    """
    items, nxt = list_pages(
        "attribution", Stub, "ListAppleAdsMappings", pb.ListAppleAdsMappingsRequest(), "mappings",
        account_creds(api_key), limit=limit, page_token=page_token,
    )  # fmt: skip
    emit_list(items, "mappings", MAPPING_COLUMNS, json_out, nxt)


@app.command("lookups")
def lookups(
    outcome: Annotated[
        str | None, typer.Option("--outcome", show_default=False, help=f"Only this outcome: {OUTCOMES}.")
    ] = None,
    install: Annotated[str | None, typer.Option("--install", help="Only this install.", show_default=False)] = None,
    limit: Limit = 50,
    page_token: PageToken = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """List what Apple answered for install tokens, newest first.

    Outcomes: credited (the install moved to Apple Ads), recorded (Apple ids kept,
    match kept), not_attributed, invalid_token (Apple's 400, with its reason),
    not_found (404 after the retries), expired (24 h) or unavailable (Apple failed
    on every attempt).

    Example:  clicktrail apple-ads lookups --outcome invalid_token
    """
    req = pb.ListAppleAdsLookupsRequest(
        outcome=enum_number(pb.AppleAdsOutcome.DESCRIPTOR, outcome), install_id=install or ""
    )
    items, nxt = list_pages(
        "attribution", Stub, "ListAppleAdsLookups", req, "lookups", account_creds(api_key), limit=limit,
        page_token=page_token,
    )  # fmt: skip
    emit_list(items, "lookups", LOOKUP_COLUMNS, json_out, nxt)
    if not json_out and not items and not outcome and not install:
        note("no install token resolved yet (is Apple Ads enabled? `clicktrail apple-ads show`)")
