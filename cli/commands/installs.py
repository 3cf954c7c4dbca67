"""`clicktrail install ...`: installs the attribution engine recorded."""

from __future__ import annotations

from typing import Annotated

import typer
from clicktrail.attribution.v1 import attribution_pb2 as pb
from clicktrail.attribution.v1 import attribution_pb2_grpc as pb_grpc

from cli.common import ApiKey, JsonOut, Limit, PageToken, account_creds, emit, emit_list, enum_number, list_pages, rpc

app = typer.Typer(help="Installs, each credited to a campaign's touch or organic, newest first.", no_args_is_help=True)

Stub = pb_grpc.AttributionServiceStub
COLUMNS = ["install_id", "campaign_id", "click_id", "match_type", "install_time"]


@app.command("list")
def list_installs(
    campaign: Annotated[str | None, typer.Option("--campaign", help="Only this campaign's installs.")] = None,
    app_id: Annotated[str | None, typer.Option("--app", help="Only this app's installs.")] = None,
    match_type: Annotated[
        str | None, typer.Option("--match-type", help="Only these: click_id, device_id, fingerprint or organic.")
    ] = None,
    limit: Limit = 50,
    page_token: PageToken = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """List attributed installs, newest first.

    Shows install_id, campaign_id, click_id (the credited touch), match_type
    (click_id, device_id, fingerprint, organic) and install_time; --json has
    every field (partner, link, touch type and time, device ids).

    Example:  clicktrail install list --campaign CAMPAIGN_ID --json
    """
    req = pb.ListInstallsRequest(
        campaign_id=campaign or "", app_id=app_id or "", match_type=enum_number(pb.MatchType.DESCRIPTOR, match_type)
    )
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
