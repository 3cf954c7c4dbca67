"""`clicktrail conversion ...`: conversions from goals and from inbound postbacks."""

from __future__ import annotations

from typing import Annotated

import typer
from clicktrail.attribution.v1 import attribution_pb2 as pb
from clicktrail.attribution.v1 import attribution_pb2_grpc as pb_grpc

from cli.common import ApiKey, JsonOut, Limit, PageToken, account_creds, emit, emit_list, enum_number, list_pages, rpc

app = typer.Typer(help="Conversions (goal events and inbound postbacks), newest first.", no_args_is_help=True)

Stub = pb_grpc.AttributionServiceStub
COLUMNS = ["conversion_id", "goal", "status", "payout", "currency", "txid", "click_id"]


@app.command("list")
def list_conversions(
    campaign: Annotated[str | None, typer.Option("--campaign", help="Only this campaign's conversions.")] = None,
    goal: Annotated[str | None, typer.Option("--goal", help="Only this goal's (goal id).")] = None,
    status: Annotated[str | None, typer.Option("--status", help="Only these: pending, approved or rejected.")] = None,
    click: Annotated[str | None, typer.Option("--click", help="Only this click's.")] = None,
    limit: Limit = 50,
    page_token: PageToken = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """List conversions, newest first.

    Shows conversion_id, goal, status, payout, currency, txid and click_id;
    --json has every field (campaign, install, source, event uuid, times).

    Example:  clicktrail conversion list --campaign CAMPAIGN_ID --status approved
    """
    req = pb.ListConversionsRequest(
        campaign_id=campaign or "", goal_id=goal or "", click_id=click or "",
        status=enum_number(pb.ConversionStatus.DESCRIPTOR, status),
    )  # fmt: skip
    items, nxt = list_pages(
        "attribution", Stub, "ListConversions", req, "conversions", account_creds(api_key),
        limit=limit, page_token=page_token,
    )  # fmt: skip
    emit_list(items, "conversions", COLUMNS, json_out, nxt)


@app.command("get")
def get_conversion(
    conversion_id: Annotated[str, typer.Argument(help="The conversion id.", show_default=False)],
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Show one conversion.

    Example:  clicktrail conversion get CONVERSION_ID --json
    """
    req = pb.GetConversionRequest(conversion_id=conversion_id)
    emit(rpc("attribution", Stub, "GetConversion", req, account_creds(api_key)).conversion, json_out)


@app.command("set-status")
def set_status(
    conversion_id: Annotated[str, typer.Argument(help="The conversion id.", show_default=False)],
    status: Annotated[str, typer.Argument(help="approved or rejected (or pending).", show_default=False)],
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Move a conversion: pending -> approved, pending -> rejected, approved -> rejected.

    Example:  clicktrail conversion set-status CONVERSION_ID rejected
    """
    req = pb.UpdateConversionStatusRequest(
        conversion_id=conversion_id, status=enum_number(pb.ConversionStatus.DESCRIPTOR, status)
    )
    emit(rpc("attribution", Stub, "UpdateConversionStatus", req, account_creds(api_key)).conversion, json_out)
