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
from google.protobuf import duration_pb2
from rich.table import Table
from rich.text import Text

from cli.common import (
    ApiKey,
    JsonOut,
    Limit,
    PageToken,
    UsageError,
    _print_table,
    account_creds,
    emit,
    emit_deleted,
    emit_list,
    field_mask,
    list_pages,
    note,
    print_json,
    rpc,
    timestamp,
    to_dict,
)
from libs.vocab.timetext import duration_seconds, format_duration

app = typer.Typer(
    help="Attribution settings: click and view lookback windows, the fingerprint window and the conversion "
    "window. Each change is kept as a dated breakpoint (see `settings history`).",
    no_args_is_help=True,
)

Stub = pb_grpc.AttributionSettingsServiceStub
WINDOWS = ("click_lookback", "view_lookback", "fingerprint_window", "conversion_window")


def parse_duration(flag: str, text: str) -> duration_pb2.Duration:
    """'7d', '24h', '90m', '1d12h', '3600s' (or a bare number of seconds)."""
    try:
        seconds = duration_seconds(text)
    except ValueError:
        raise UsageError(f"{flag} {text!r} is not a duration like 7d, 24h, 90m or 1d12h") from None
    d = duration_pb2.Duration()
    d.FromTimedelta(dt.timedelta(seconds=seconds))
    return d


def human(d: duration_pb2.Duration) -> str:
    return format_duration(d.seconds)


def _text(s: pb.AttributionSettings) -> dict[str, Any]:
    data: dict[str, Any] = {w: human(getattr(s, w)) for w in WINDOWS}
    data["effective_time"] = to_dict(s).get("effective_time", "") or "(defaults, never changed)"
    return data


def _duration_opt(flag: str, what: str) -> Any:
    return typer.Option(flag, help=f"{what} Like 7d, 24h, 90m or 1d12h.", show_default=False)


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
    click_lookback: Annotated[str | None, _duration_opt("--click-lookback", "Click lookback (1h to 90d).")] = None,
    view_lookback: Annotated[str | None, _duration_opt("--view-lookback", "View lookback (1h to 30d).")] = None,
    fingerprint_window: Annotated[
        str | None, _duration_opt("--fingerprint-window", "IP + User-Agent match window (1m to 7d).")
    ] = None,
    conversion_window: Annotated[
        str | None, _duration_opt("--conversion-window", "Conversion window (1h to 90d).")
    ] = None,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Change windows: only the flags given change. Records a breakpoint effective now,
    applying to events after it for every campaign (nothing is recorded when no value changes).

    Example:  clicktrail settings set --click-lookback 14d --conversion-window 7d
    """
    msg = pb.AttributionSettings()
    paths: list[str] = []
    for name, value in (
        ("click_lookback", click_lookback), ("view_lookback", view_lookback),
        ("fingerprint_window", fingerprint_window), ("conversion_window", conversion_window),
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
        note("no breakpoints: the defaults are in force (7d click, 24h view, 24h fingerprint, 30d conversion)")
    else:
        table = Table(box=None, pad_edge=False, header_style="bold")
        for col in rows[0]:
            table.add_column(col, overflow="fold")
        for row in rows:
            table.add_row(*(Text(str(v)) for v in row.values()))
        _print_table(table)
    if nxt:
        note(f"more: --page-token {nxt}")


# ----------------------------------------------------------------------------- traffic quality

quality = typer.Typer(
    help="Install and conversion checks of traffic quality: which run, and their thresholds, for the account "
    "or (overriding it) one campaign. A change applies within seconds.",
    no_args_is_help=True,
)
revenue_ranges = typer.Typer(
    help="Revenue ranges: the revenue a goal's conversions may carry in one currency; outside it a conversion "
    "is revenue_out_of_range (invalid).",
    no_args_is_help=True,
)
app.add_typer(quality, name="quality")
app.add_typer(revenue_ranges, name="revenue-range")

QualityStub = pb_grpc.AttributionQualityServiceStub
QUALITY_CHECKS = (
    "click_injection", "install_before_click", "click_flooding", "install_burst", "client_mismatch",
    "too_soon_after_install", "revenue_out_of_range", "rejected_install",
)  # fmt: skip
# --flag -> (proto field, is a duration)
QUALITY_VALUES = {
    "click_injection_time": True, "click_flooding_time": True, "install_burst_ip": False,
    "install_burst_subnet": False, "install_burst_window": True, "too_soon_after_install_time": True,
}  # fmt: skip
RANGE_COLUMNS = ["range_id", "goal_id", "currency", "min_amount", "max_amount"]
CampaignOpt = Annotated[
    str, typer.Option("--campaign", help="A campaign's overrides instead of the account's.", show_default=False)
]


def _quality_text(resp: Any) -> dict[str, Any]:
    """The effective settings, each marked with where it comes from."""
    own, eff = resp.settings, resp.effective
    scope = "campaign" if own.campaign_id else "account"
    data: dict[str, Any] = {"campaign_id": own.campaign_id or "(the account's)"}
    for code in QUALITY_CHECKS:
        origin = scope if code in own.checks else "inherited"
        data[f"check {code}"] = f"{'on' if eff.checks[code] else 'off'} ({origin})"
    for name, is_duration in QUALITY_VALUES.items():
        value = human(getattr(eff, name)) if is_duration else f"{getattr(eff, name):,}"
        data[name] = f"{value} ({scope if own.HasField(name) else 'inherited'})"
    return data


@quality.command("get")
def quality_get(campaign: CampaignOpt = "", api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """Show the install and conversion checks in force for the account (or a campaign):
    each check on or off and each threshold, and whether it is set here or inherited.
    --json has `settings` (what this level sets) and `effective`.

    Example:  clicktrail settings quality get --campaign CAMPAIGN_ID
    """
    req = pb.GetAttributionQualitySettingsRequest(campaign_id=campaign)
    resp = rpc("attribution", QualityStub, "GetAttributionQualitySettings", req, account_creds(api_key))
    if json_out:
        print_json({"settings": to_dict(resp.settings), "effective": to_dict(resp.effective)})
        return
    emit(_quality_text(resp), False)


def _check_flags(values: list[str]) -> dict[str, bool]:
    out: dict[str, bool] = {}
    for item in values:
        code, sep, state = item.partition("=")
        if not sep or state.lower() not in ("on", "off"):
            raise UsageError(f"--check {item!r} is not CODE=on or CODE=off")
        if code not in QUALITY_CHECKS:
            raise UsageError(f"--check {code!r} is not a check; checks: {', '.join(QUALITY_CHECKS)}")
        out[code] = state.lower() == "on"
    return out


@quality.command("set")
def quality_set(
    campaign: CampaignOpt = "",
    check: Annotated[
        list[str] | None,
        typer.Option("--check", help="CODE=on or CODE=off (repeatable); checks: " + ", ".join(QUALITY_CHECKS) + "."),
    ] = None,
    click_injection: Annotated[
        str | None, _duration_opt("--click-injection", "click_injection below this click-to-install time (1s-1h).")
    ] = None,
    click_flooding: Annotated[
        str | None, _duration_opt("--click-flooding", "click_flooding above this click-to-install time (1m-90d).")
    ] = None,
    burst_ip: Annotated[
        int | None, typer.Option("--burst-ip", help="install_burst: more installs than this from one address.")
    ] = None,
    burst_subnet: Annotated[
        int | None, typer.Option("--burst-subnet", help="install_burst: more than this from one /24 (IPv6 /64).")
    ] = None,
    burst_window: Annotated[str | None, _duration_opt("--burst-window", "install_burst window (1m-7d).")] = None,
    too_soon: Annotated[
        str | None, _duration_opt("--too-soon", "too_soon_after_install below this after the install (1s-1d).")
    ] = None,
    inherit: Annotated[
        list[str] | None,
        typer.Option(
            "--inherit",
            help="Drop this level's value so it inherits again (repeatable): a check code or one of "
            + ", ".join(QUALITY_VALUES)
            + ".",
        ),
    ] = None,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Change check settings of the account (or, with --campaign, that campaign's overrides);
    only what is given changes. Prints the result as `get` does.

    Example:  clicktrail settings quality set --click-injection 15s --check client_mismatch=off
              clicktrail settings quality set --campaign CAMPAIGN_ID --burst-ip 3 --inherit click_injection_time
    """
    msg = pb.AttributionQualitySettings(campaign_id=campaign)
    paths: list[str] = []
    for code, on in _check_flags(check or []).items():
        msg.checks[code] = on
        paths.append(f"checks.{code}")
    for name, flag, value in (
        ("click_injection_time", "--click-injection", click_injection),
        ("click_flooding_time", "--click-flooding", click_flooding),
        ("install_burst_window", "--burst-window", burst_window),
        ("too_soon_after_install_time", "--too-soon", too_soon),
    ):
        if value is not None:
            getattr(msg, name).CopyFrom(parse_duration(flag, value))
            paths.append(name)
    for name, number in (("install_burst_ip", burst_ip), ("install_burst_subnet", burst_subnet)):
        if number is not None:
            setattr(msg, name, number)
            paths.append(name)
    for item in inherit or []:
        if item in QUALITY_CHECKS:
            paths.append(f"checks.{item}")
        elif item in QUALITY_VALUES:
            paths.append(item)
        else:
            raise UsageError(f"--inherit {item!r} is neither a check nor a setting")
    if not paths:
        raise UsageError("nothing to change: give --check, a threshold or --inherit")
    req = pb.UpdateAttributionQualitySettingsRequest(settings=msg)
    req.update_mask.paths.extend(paths)
    resp = rpc("attribution", QualityStub, "UpdateAttributionQualitySettings", req, account_creds(api_key))
    if json_out:
        print_json({"settings": to_dict(resp.settings), "effective": to_dict(resp.effective)})
        return
    emit(_quality_text(resp), False)


GoalOpt = Annotated[str, typer.Option("--goal", help="The goal's id.", show_default=False)]
MinOpt = Annotated[str | None, typer.Option("--min", help="Lowest allowed revenue ('' for open).")]
MaxOpt = Annotated[str | None, typer.Option("--max", help="Highest allowed revenue ('' for open).")]


@revenue_ranges.command("add")
def range_add(
    goal: GoalOpt,
    currency: Annotated[str, typer.Option("--currency", help="ISO 4217 code.", show_default=False)],
    min_amount: MinOpt = None,
    max_amount: MaxOpt = None,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Allow a goal's conversions in one currency only this revenue (both bounds included;
    one may be left open).

    Example:  clicktrail settings revenue-range add --goal GOAL_ID --currency USD --min 0.99 --max 500
    """
    r = pb.RevenueRange(goal_id=goal, currency=currency, min_amount=min_amount or "", max_amount=max_amount or "")
    resp = rpc("attribution", QualityStub, "CreateRevenueRange", pb.CreateRevenueRangeRequest(range=r),
               account_creds(api_key))  # fmt: skip
    emit(resp.range, json_out)


@revenue_ranges.command("list")
def range_list(
    goal: Annotated[str, typer.Option("--goal", help="Only this goal's.")] = "",
    limit: Limit = 50,
    page_token: PageToken = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """List revenue ranges by goal, then currency.

    Example:  clicktrail settings revenue-range list --goal GOAL_ID
    """
    items, nxt = list_pages(
        "attribution", QualityStub, "ListRevenueRanges", pb.ListRevenueRangesRequest(goal_id=goal), "ranges",
        account_creds(api_key), limit=limit, page_token=page_token,
    )  # fmt: skip
    emit_list(items, "ranges", RANGE_COLUMNS, json_out, nxt)


@revenue_ranges.command("update")
def range_update(
    range_id: Annotated[str, typer.Argument(help="The range's id.", show_default=False)],
    min_amount: MinOpt = None,
    max_amount: MaxOpt = None,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Change a range's bounds; only the given ones change ('' opens a bound).

    Example:  clicktrail settings revenue-range update RANGE_ID --max 1000
    """
    r = pb.RevenueRange(range_id=range_id, min_amount=min_amount or "", max_amount=max_amount or "")
    paths = [p for p, v in (("min_amount", min_amount), ("max_amount", max_amount)) if v is not None]
    if not paths:
        raise UsageError("nothing to change: give --min and/or --max")
    req = pb.UpdateRevenueRangeRequest(range=r)
    req.update_mask.paths.extend(paths)
    emit(rpc("attribution", QualityStub, "UpdateRevenueRange", req, account_creds(api_key)).range, json_out)


@revenue_ranges.command("delete")
def range_delete(
    range_id: Annotated[str, typer.Argument(help="The range's id.", show_default=False)],
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Delete a revenue range: the goal's conversions in that currency are no longer checked.

    Example:  clicktrail settings revenue-range delete RANGE_ID
    """
    rpc("attribution", QualityStub, "DeleteRevenueRange", pb.DeleteRevenueRangeRequest(range_id=range_id),
        account_creds(api_key))  # fmt: skip
    emit_deleted("revenue_range", range_id, json_out)
