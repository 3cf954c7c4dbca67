"""`clicktrail settings ...`: the account's attribution windows (each change
is a dated breakpoint that applies to events after it, for every campaign);
`settings quality` and `settings revenue-range`: the install and conversion
checks of traffic quality."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer
from clicktrail.attribution.v1 import config_pb2 as pb
from clicktrail.attribution.v1 import config_pb2_grpc as pb_grpc
from rich.table import Table
from rich.text import Text

from cli.commands.quality.attribution import install_checks, revenue_ranges
from cli.common import (
    ApiKey,
    JsonOut,
    Limit,
    PageToken,
    _print_table,
    account_creds,
    emit,
    field_mask,
    list_pages,
    note,
    print_json,
    rpc,
    timestamp,
    to_dict,
)
from cli.options import duration_opt, human
from cli.options import parse_duration as parse_duration

app = typer.Typer(
    help="Attribution settings: click and view lookback windows, the fingerprint window, the conversion "
    "window and the retargeting windows (re-engagement, reinstall). Each change is kept as a dated breakpoint "
    "(see `settings history`).",
    no_args_is_help=True,
)

Stub = pb_grpc.AttributionSettingsServiceStub
WINDOWS = (
    "click_lookback", "view_lookback", "fingerprint_window", "conversion_window", "re_engagement_window",
    "reinstall_window",
)  # fmt: skip


def _text(s: pb.AttributionSettings) -> dict[str, Any]:
    data: dict[str, Any] = {w: human(getattr(s, w)) for w in WINDOWS}
    data["effective_time"] = to_dict(s).get("effective_time", "") or "(defaults, never changed)"
    return data


@app.command("get")
def get(
    at: Annotated[
        dt.datetime | None,
        typer.Option("--at", help="The settings in force at this time (UTC unless it has an offset); default now."),
    ] = None,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Show the attribution windows in force now (or at --at).

    Durations print as 7d, 24h...; with --json as proto JSON durations ("604800s").

    Example:  clicktrail settings get --at 2026-03-01T00:00:00
    """
    req = pb.GetSettingsRequest(time=timestamp(at))
    resp = rpc("attribution", Stub, "GetSettings", req, account_creds(api_key))
    emit(resp.settings if json_out else _text(resp.settings), json_out)


@app.command("set")
def set_(
    click_lookback: Annotated[str | None, duration_opt("--click-lookback", "Click lookback (1h to 90d).")] = None,
    view_lookback: Annotated[str | None, duration_opt("--view-lookback", "View lookback (1h to 30d).")] = None,
    fingerprint_window: Annotated[
        str | None, duration_opt("--fingerprint-window", "IP + User-Agent match window (1m to 7d).")
    ] = None,
    conversion_window: Annotated[
        str | None, duration_opt("--conversion-window", "Conversion window (1h to 90d).")
    ] = None,
    re_engagement_window: Annotated[
        str | None,
        duration_opt(
            "--re-engagement-window",
            "How long a re-engagement or re-attribution credits the user's "
            "conversions to its retargeting campaign (1h to 90d; default 30d).",
        ),
    ] = None,
    reinstall_window: Annotated[
        str | None,
        duration_opt(
            "--reinstall-window",
            "From the install, a reinstall inside it is only a reinstall unless a "
            "retargeting click brought it; after it, it is re-attributed (1d to 730d; default 90d).",
        ),
    ] = None,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Change windows: only the flags given change. Records a breakpoint effective now,
    applying to events after it for every campaign (nothing is recorded when no value changes).

    Example:  clicktrail settings set --click-lookback 14d --conversion-window 7d
              clicktrail settings set --re-engagement-window 7d --reinstall-window 180d
    """
    msg = pb.AttributionSettings()
    paths: list[str] = []
    for name, value in (
        ("click_lookback", click_lookback), ("view_lookback", view_lookback),
        ("fingerprint_window", fingerprint_window), ("conversion_window", conversion_window),
        ("re_engagement_window", re_engagement_window), ("reinstall_window", reinstall_window),
    ):  # fmt: skip
        if value is not None:
            getattr(msg, name).CopyFrom(parse_duration("--" + name.replace("_", "-"), value))
            paths.append(name)
    req = pb.UpdateSettingsRequest(settings=msg)
    req.update_mask.paths.extend(field_mask(paths))
    resp = rpc("attribution", Stub, "UpdateSettings", req, account_creds(api_key))
    if json_out:
        emit(resp.settings, True, extra={"changed": resp.changed})
        return
    emit({**_text(resp.settings), "changed": resp.changed}, False)


@app.command("history")
def history(limit: Limit = 50, page_token: PageToken = "", api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """List the settings breakpoints, newest first: when each change took effect, what it
    changed and the windows in force from then on.

    Example:  clicktrail settings history --json
    """
    items, nxt = list_pages(
        "attribution", Stub, "ListSettingsHistory", pb.ListSettingsHistoryRequest(), "breakpoints",
        account_creds(api_key), limit=limit, page_token=page_token,
    )  # fmt: skip
    if json_out:
        print_json({"breakpoints": [to_dict(b) for b in items], "next_page_token": nxt})
        return
    rows = [
        {
            "breakpoint_id": b.breakpoint_id,
            "effective_time": to_dict(b).get("effective_time", ""),
            **{w: human(getattr(b.settings, w)) for w in WINDOWS},
            "changed": ",".join(b.changed_fields),
        }
        for b in items
    ]
    _table(rows, nxt)


def _table(rows: list[dict[str, Any]], nxt: str) -> None:
    if not rows:
        note("no breakpoints: the defaults are in force (7d click, 24h view, 24h fingerprint, 30d conversion, "
             "30d re-engagement, 90d reinstall)")  # fmt: skip
    else:
        table = Table(box=None, pad_edge=False, header_style="bold")
        for col in rows[0]:
            table.add_column(col, overflow="fold")
        for row in rows:
            table.add_row(*(Text(str(v)) for v in row.values()))
        _print_table(table)
    if nxt:
        note(f"more: --page-token {nxt}")


# The install and conversion checks of traffic quality live with the click-time ones (cli/commands/quality/).
app.add_typer(install_checks, name="quality")
app.add_typer(revenue_ranges, name="revenue-range")
