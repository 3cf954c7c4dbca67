"""`clicktrail conversion ...`: conversions from goals and from inbound postbacks."""

from __future__ import annotations

from typing import Annotated

import typer
from clicktrail.attribution.v1 import attribution_pb2 as pb
from clicktrail.attribution.v1 import attribution_pb2_grpc as pb_grpc

from cli.choices import Verdict
from cli.commands.installs import OverruleVerdict
from cli.common import (
    ApiKey,
    JsonOut,
    Limit,
    PageToken,
    account_creds,
    emit,
    emit_list,
    enum_number,
    list_pages,
    rpc,
)
from cli.verdicts import VERDICT, note_option, reason_filter
from libs import quality as q

app = typer.Typer(help="Conversions (goal events and inbound postbacks), newest first.", no_args_is_help=True)

Stub = pb_grpc.AttributionServiceStub
COLUMNS = ["conversion_id", "goal", "status", "payout", "currency", "txid", "click_id", "verdict", "reasons"]
CONVERSION_REASONS = [r.code for r in q.REASONS if r.applies_to in ("conversion", "any")]


@app.command("list")
def list_conversions(
    campaign: Annotated[str | None, typer.Option("--campaign", help="Only this campaign's conversions.")] = None,
    goal: Annotated[str | None, typer.Option("--goal", help="Only this goal's (goal id).")] = None,
    status: Annotated[str | None, typer.Option("--status", help="Only these: pending, approved or rejected.")] = None,
    click: Annotated[str | None, typer.Option("--click", help="Only this click's.")] = None,
    verdict: Annotated[
        Verdict | None,
        typer.Option(
            "--verdict",
            case_sensitive=False,
            show_default=False,
            help="Only conversions with this traffic-quality verdict (invalid: the rejected ones).",
        ),
    ] = None,
    reason: Annotated[
        str | None,
        typer.Option(
            "--reason",
            show_default=False,
            help="Only conversions with this reason code: " + ", ".join(CONVERSION_REASONS) + ".",
        ),
    ] = None,
    limit: Limit = 50,
    page_token: PageToken = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """List conversions, newest first.

    Shows conversion_id, goal, status, payout, currency, txid, click_id and the
    traffic-quality verdict with its reasons; --json has every field (campaign,
    install, source, event uuid, times). An invalid conversion is never
    counted, paid for or posted back as attributed, whatever its status.

    Example:  clicktrail conversion list --campaign CAMPAIGN_ID --status approved
              clicktrail conversion list --verdict invalid --reason revenue_out_of_range
    """
    req = pb.ListConversionsRequest(
        campaign_id=campaign or "", goal_id=goal or "", click_id=click or "",
        status=enum_number(pb.ConversionStatus.DESCRIPTOR, status), verdict=enum_number(VERDICT, verdict),
        reason=reason_filter(reason, CONVERSION_REASONS, "a conversion"),
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


@app.command("overrule")
def overrule_conversion(
    conversion_id: Annotated[str, typer.Argument(help="The conversion id.", show_default=False)],
    verdict: OverruleVerdict,
    note: Annotated[str, note_option("conversion")] = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Overrule a conversion's traffic-quality verdict (as `install overrule`): it
    gains `operator`, reports, cost and postbacks follow, and its install's
    verdict no longer moves it.

    Example:  clicktrail conversion overrule CONVERSION_ID --verdict invalid --note "refund fraud"
    """
    req = pb.OverruleConversionVerdictRequest(
        conversion_id=conversion_id, verdict=enum_number(VERDICT, verdict), note=note
    )
    resp = rpc("attribution", Stub, "OverruleConversionVerdict", req, account_creds(api_key))
    emit(resp.conversion, json_out, extra={"changed": resp.changed})
