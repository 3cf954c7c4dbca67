"""`clicktrail event ...`: events the ingest service stored, for debugging an integration."""

from __future__ import annotations

from typing import Annotated

import typer
from clicktrail.ingest.v1 import ingest_pb2 as pb
from clicktrail.ingest.v1 import ingest_pb2_grpc as pb_grpc

from cli.choices import EventType
from cli.commands.touches import SinceOpt, UntilOpt
from cli.common import ApiKey, JsonOut, Limit, PageToken, account_creds, emit_list, enum_number, list_pages, timestamp

app = typer.Typer(help="Events sent by apps, sites and back ends, newest first.", no_args_is_help=True)

COLUMNS = ["uuid", "receive_time", "event", "action", "user_id", "session_id", "app_id", "ip"]


@app.command("list")
def list_events(
    app_id: Annotated[str | None, typer.Option("--app", help="Only this app's events.")] = None,
    user: Annotated[str | None, typer.Option("--user", help="Only this user id's events.")] = None,
    device: Annotated[
        str | None, typer.Option("--device", help="Only this device's (IDFA, GAID, IDFV or Android id).")
    ] = None,
    event: Annotated[EventType | None, typer.Option("--event", help="Only this event type.")] = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    limit: Limit = 50,
    page_token: PageToken = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """List stored events, newest first (by receive time).

    --json has every stored field, action_properties_json included.

    Example:  clicktrail event list --app APP_ID --user user-42 --limit 20
    """
    req = pb.ListEventsRequest(
        app_id=app_id or "", user_id=user or "", device_id=device or "",
        event=enum_number(pb.EventType.DESCRIPTOR, event),
    )  # fmt: skip
    start, end = timestamp(since), timestamp(until)
    if start is not None:
        req.start_time.CopyFrom(start)
    if end is not None:
        req.end_time.CopyFrom(end)
    items, nxt = list_pages(
        "ingest", pb_grpc.IngestServiceStub, "ListEvents", req, "events", account_creds(api_key),
        limit=limit, page_token=page_token,
    )  # fmt: skip
    emit_list(items, "events", COLUMNS, json_out, nxt)
