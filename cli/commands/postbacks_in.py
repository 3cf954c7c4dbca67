"""`clicktrail postback-in ...`: the inbound postbacks networks sent, with what came of each."""

from __future__ import annotations

from typing import Annotated

import typer
from clicktrail.attribution.v1 import attribution_pb2 as pb
from clicktrail.attribution.v1 import attribution_pb2_grpc as pb_grpc

from cli.common import ApiKey, JsonOut, Limit, PageToken, account_creds, emit_list, list_pages

app = typer.Typer(help="Inbound postbacks (GET|POST /postback) and their results, newest first.",
                  no_args_is_help=True)  # fmt: skip

COLUMNS = ["postback_id", "receive_time", "click_id", "txid", "http_status", "outcome", "conversion_id", "error"]


@app.command("list")
def list_postbacks(
    click: Annotated[str | None, typer.Option("--click", help="Only this click's postbacks.")] = None,
    limit: Limit = 50,
    page_token: PageToken = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """List inbound postbacks, newest first: the request (params, method, IP) and
    the result (HTTP status, outcome, conversion, error and the field it named).

    Example:  clicktrail postback-in list --click CLICK_ID --json
    """
    req = pb.ListInboundPostbacksRequest(click_id=click or "")
    items, nxt = list_pages(
        "attribution", pb_grpc.AttributionServiceStub, "ListInboundPostbacks", req, "postbacks",
        account_creds(api_key), limit=limit, page_token=page_token,
    )  # fmt: skip
    emit_list(items, "postbacks", COLUMNS, json_out, nxt)
