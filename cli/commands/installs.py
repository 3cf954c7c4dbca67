"""`clicktrail install ...`: installs the attribution engine recorded."""

from __future__ import annotations

from typing import Annotated

import typer
from clicktrail.attribution.v1 import attribution_pb2 as pb
from clicktrail.attribution.v1 import attribution_pb2_grpc as pb_grpc
from clicktrail.attribution.v1 import reengagement_pb2 as rpb
from clicktrail.attribution.v1 import reengagement_pb2_grpc as rpb_grpc

from cli.choices import Verdict
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
from cli.verdicts import VERDICT, note_option, overrule_verdict_option, reason_filter
from libs import quality as q

app = typer.Typer(help="Installs, each credited to a campaign's touch or organic, newest first.", no_args_is_help=True)

Stub = pb_grpc.AttributionServiceStub
COLUMNS = ["install_id", "campaign_id", "click_id", "match_type", "install_time", "verdict", "reasons"]
INSTALL_REASONS = [r.code for r in q.REASONS if r.applies_to in ("install", "any")]
VerdictOpt = Annotated[
    Verdict | None,
    typer.Option("--verdict", case_sensitive=False, show_default=False,
                 help="Only installs with this traffic-quality verdict (invalid: the rejected ones)."),
]  # fmt: skip
ReasonOpt = Annotated[
    str | None,
    typer.Option("--reason", show_default=False,
                 help="Only installs with this reason code: " + ", ".join(INSTALL_REASONS) + "."),
]  # fmt: skip
OverruleVerdict = Annotated[Verdict, overrule_verdict_option("postbacks")]
NoteOpt = Annotated[str, note_option("install")]


@app.command("list")
def list_installs(
    campaign: Annotated[str | None, typer.Option("--campaign", help="Only this campaign's installs.")] = None,
    app_id: Annotated[str | None, typer.Option("--app", help="Only this app's installs.")] = None,
    match_type: Annotated[
        str | None,
        typer.Option("--match-type", help="Only these: click_id, apple_ads, device_id, fingerprint or organic."),
    ] = None,
    verdict: VerdictOpt = None,
    reason: ReasonOpt = None,
    limit: Limit = 50,
    page_token: PageToken = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """List attributed installs, newest first.

    Shows install_id, campaign_id, click_id (the credited touch), match_type
    (click_id, device_id, fingerprint, organic), install_time and the
    traffic-quality verdict with its reasons; --json has every field (partner,
    link, touch type and time, device ids, the invalid touches passed over).

    Example:  clicktrail install list --campaign CAMPAIGN_ID --json
              clicktrail install list --verdict invalid --reason click_injection
    """
    req = pb.ListInstallsRequest(
        campaign_id=campaign or "", app_id=app_id or "", match_type=enum_number(pb.MatchType.DESCRIPTOR, match_type),
        verdict=enum_number(VERDICT, verdict), reason=reason_filter(reason, INSTALL_REASONS, "an install"),
    )  # fmt: skip
    items, nxt = list_pages(
        "attribution", Stub, "ListInstalls", req, "installs", account_creds(api_key), limit=limit, page_token=page_token
    )
    emit_list(items, "installs", COLUMNS, json_out, nxt)


@app.command("get")
def get_install(
    install_id: Annotated[str, typer.Argument(help="The install id.", show_default=False)],
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Show one install.

    Example:  clicktrail install get INSTALL_ID
    """
    resp = rpc("attribution", Stub, "GetInstall", pb.GetInstallRequest(install_id=install_id), account_creds(api_key))
    emit(resp.install, json_out)


@app.command("overrule")
def overrule_install(
    install_id: Annotated[str, typer.Argument(help="The install id.", show_default=False)],
    verdict: OverruleVerdict,
    note: NoteOpt = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Overrule an install's traffic-quality verdict. It keeps its reasons and gains
    `operator`; reports and cost follow. Overruled from invalid, its normal postback
    goes out (if it had not); to invalid, `rejected` postback templates fire. Its
    event conversions follow (rejected_install), unless overruled themselves.

    Example:  clicktrail install overrule INSTALL_ID --verdict clean --note "our QA phone"
    """
    req = pb.OverruleInstallVerdictRequest(install_id=install_id, verdict=enum_number(VERDICT, verdict), note=note)
    resp = rpc("attribution", Stub, "OverruleInstallVerdict", req, account_creds(api_key))
    emit(resp.install, json_out, extra={"changed": resp.changed, "conversions_changed": resp.conversions_changed})


REATTRIBUTION_COLUMNS = [
    "reattribution_id", "kind", "install_id", "campaign_id", "click_id", "event_time", "window_end",
]  # fmt: skip


@app.command("reattributions")
def list_reattributions(
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind",
            help="Only these: re_engagement (an installed app opened through a retargeting "
            "click) or re_attribution (a reinstall credited to its click's campaign).",
        ),
    ] = None,
    install_id: Annotated[str | None, typer.Option("--install", help="Only this install's.")] = None,
    campaign: Annotated[str | None, typer.Option("--campaign", help="Only those credited to this campaign.")] = None,
    app_id: Annotated[str | None, typer.Option("--app", help="Only this app's.")] = None,
    limit: Limit = 50,
    page_token: PageToken = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """List re-engagements and re-attributions (retargeting), newest first.

    A re-engagement: a user whose device has an install opened the app through a
    retargeting campaign's click (the SDK's `deeplink_open` / `reengage` track
    event with the click id). A re-attribution: a reinstall matched to a click
    after the reinstall window (or inside it through a retargeting click). Until
    window_end (event time + the re-engagement window) the user's conversions
    credit the row's campaign, unless a newer click wins them. The windows:
    `clicktrail settings set --re-engagement-window 30d --reinstall-window 90d`.

    Example:  clicktrail install reattributions --kind re_engagement --campaign CAMPAIGN_ID --json
    """  # fmt: skip
    req = rpb.ListReattributionsRequest(
        kind=enum_number(rpb.ReattributionKind.DESCRIPTOR, kind), install_id=install_id or "",
        campaign_id=campaign or "", app_id=app_id or "",
    )  # fmt: skip
    items, nxt = list_pages(
        "attribution", rpb_grpc.ReattributionServiceStub, "ListReattributions", req, "reattributions",
        account_creds(api_key), limit=limit, page_token=page_token,
    )  # fmt: skip
    emit_list(items, "reattributions", REATTRIBUTION_COLUMNS, json_out, nxt)
