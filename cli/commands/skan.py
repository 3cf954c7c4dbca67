"""`clicktrail skan ...`: SKAdNetwork / AdAttributionKit postbacks received
(verified with Apple's keys, one per transaction id) and the mappings of ad
networks' source identifiers / campaign ids to campaigns."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from clicktrail.attribution.v1 import skan_pb2 as pb
from clicktrail.attribution.v1 import skan_pb2_grpc as pb_grpc

from cli.common import (
    ApiKey,
    JsonOut,
    Limit,
    PageToken,
    UsageError,
    account_creds,
    emit,
    emit_deleted,
    emit_list,
    list_pages,
    rpc,
    timestamp,
)

app = typer.Typer(
    help="SKAdNetwork / AdAttributionKit: Apple's postbacks received (developer copies at "
    "/.well-known/skadnetwork/report-attribution/ and /.well-known/appattribution/report-attribution/, "
    "networks' copies at /skan/postback) and which campaign each ad network's source identifier stands for.",
    no_args_is_help=True,
)
Stub = pb_grpc.SkanServiceStub
MAPPING_COLUMNS = ["mapping_id", "ad_network_id", "source_identifier", "store_app_id", "campaign_id", "partner_id"]
POSTBACK_COLUMNS = [
    "receive_time", "transaction_id", "kind", "version", "app_id", "ad_network_id", "source_identifier",
    "campaign_id", "sequence_index", "did_win", "installs", "fine_value", "coarse_value", "conversions", "revenue",
    "currency", "received_via",
]  # fmt: skip
KINDS = {"skadnetwork": pb.SKAN_KIND_SKADNETWORK, "adattributionkit": pb.SKAN_KIND_ADATTRIBUTIONKIT}


@app.command("map")
def map_(
    ad_network: Annotated[
        str,
        typer.Option(
            "--ad-network", help="The ad network's SKAdNetwork id, e.g. cstr6suwn9.skadnetwork.", show_default=False
        ),
    ],
    source: Annotated[
        str,
        typer.Option(
            "--source",
            help="The source identifier (SKAN 4 / AdAttributionKit: 2-4 digits, as the "
            "postbacks carry it) or the campaign id (SKAN 1-3).",
            show_default=False,
        ),
    ],
    campaign: Annotated[str, typer.Option("--campaign", help="Our campaign id.", show_default=False)],
    store_app: Annotated[
        str, typer.Option("--store-app", help="Only postbacks for this App Store id (default: any app).")
    ] = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Map an ad network's source identifier (or SKAN 1-3 campaign id) to a campaign: postbacks that
    carry it credit the campaign (and its partner). Postbacks stored unmapped before are credited now.

    A mapping for an exact --store-app wins over an any-app one. A SKAN 4 /
    AdAttributionKit postback below the top privacy tier carries only the last 2
    or 3 digits of the source identifier: with no exact mapping it goes to the
    campaign every mapping ending with them names (several campaigns: unmapped;
    map the short identifier itself to decide). SKAN 1-3 campaign ids match exactly.

    Examples:
      clicktrail skan map --ad-network cstr6suwn9.skadnetwork --source 5239 --campaign cmp_123
      clicktrail skan map --ad-network com.example --source 39 --store-app 525463029 --campaign cmp_123
    """
    mapping = pb.SkanMapping(ad_network_id=ad_network, source_identifier=source, store_app_id=store_app,
                             campaign_id=campaign)  # fmt: skip
    resp = rpc("attribution", Stub, "CreateSkanMapping", pb.CreateSkanMappingRequest(mapping=mapping),
               account_creds(api_key))  # fmt: skip
    emit(resp.mapping, json_out, extra={"remapped": resp.remapped})


@app.command("unmap")
def unmap(
    mapping_id: Annotated[str, typer.Argument(help="The mapping's id (skm_..., `clicktrail skan mappings`).")],
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Delete a mapping. Postbacks it credited keep their campaign; later ones arrive unmapped.

    Example:  clicktrail skan unmap skm_01HZX3K5Q2W8 --json
    """
    rpc("attribution", Stub, "DeleteSkanMapping", pb.DeleteSkanMappingRequest(mapping_id=mapping_id),
        account_creds(api_key))  # fmt: skip
    emit_deleted("mapping", mapping_id, json_out)


@app.command("mappings")
def mappings(
    ad_network: Annotated[str, typer.Option("--ad-network", help="Only this ad network's mappings.")] = "",
    campaign: Annotated[str, typer.Option("--campaign", help="Only this campaign's mappings.")] = "",
    limit: Limit = 50,
    page_token: PageToken = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """List the account's mappings.

    Example:  clicktrail skan mappings --ad-network cstr6suwn9.skadnetwork --json
    """
    req = pb.ListSkanMappingsRequest(ad_network_id=ad_network, campaign_id=campaign)
    items, nxt = list_pages("attribution", Stub, "ListSkanMappings", req, "mappings", account_creds(api_key),
                            limit=limit, page_token=page_token)  # fmt: skip
    emit_list(items, "mappings", MAPPING_COLUMNS, json_out, nxt)


@app.command("postbacks")
def postbacks(
    campaign: Annotated[str, typer.Option("--campaign", help="Only postbacks credited to this campaign.")] = "",
    app_id: Annotated[str, typer.Option("--app", help="Only this app's postbacks (our app id).")] = "",
    store_app: Annotated[str, typer.Option("--store-app", help="Only this App Store id's postbacks.")] = "",
    ad_network: Annotated[str, typer.Option("--ad-network", help="Only this ad network's postbacks.")] = "",
    unmapped: Annotated[bool, typer.Option("--unmapped", help="Only postbacks no mapping covered.")] = False,
    kind: Annotated[str, typer.Option("--kind", help="skadnetwork or adattributionkit.")] = "",
    since: Annotated[
        dt.datetime | None, typer.Option("--since", help="Received at or after (UTC unless an offset is given).")
    ] = None,
    until: Annotated[dt.datetime | None, typer.Option("--until", help="Received before.")] = None,
    limit: Limit = 50,
    page_token: PageToken = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """List the postbacks received, newest first: version, ad network, source identifier, the campaign it
    was mapped to, postback 1-3 (sequence_index), whether it won, the install it counts (1 for the winning
    first postback), the fine / coarse value and what the app's schema decoded it to.

    Examples:
      clicktrail skan postbacks --unmapped
      clicktrail skan postbacks --campaign cmp_123 --since 2026-12-01 --json
    """
    if kind and kind not in KINDS:
        raise UsageError(f"--kind must be one of {', '.join(KINDS)}")
    req = pb.ListSkanPostbacksRequest(
        campaign_id=campaign, app_id=app_id, store_app_id=store_app, ad_network_id=ad_network, unmapped=unmapped,
        kind=KINDS.get(kind, pb.SKAN_KIND_UNSPECIFIED), start_time=timestamp(since), end_time=timestamp(until),
    )  # fmt: skip
    items, nxt = list_pages("attribution", Stub, "ListSkanPostbacks", req, "postbacks", account_creds(api_key),
                            limit=limit, page_token=page_token)  # fmt: skip
    emit_list(items, "postbacks", POSTBACK_COLUMNS, json_out, nxt)


@app.command("postback")
def postback(
    postback_id: Annotated[str, typer.Argument(help="The postback id (skp_...) or its transaction id.")],
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Show one postback, with the JSON Apple (or the network) sent (raw_json).

    Example:  clicktrail skan postback skp_01HZX3K5Q2W8 --json
    """
    resp = rpc("attribution", Stub, "GetSkanPostback", pb.GetSkanPostbackRequest(postback_id=postback_id),
               account_creds(api_key))  # fmt: skip
    emit(resp.postback, json_out)
