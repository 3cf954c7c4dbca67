"""`clicktrail settings quality ...` and `settings revenue-range ...`: the install and
conversion checks of traffic quality (the attribution service), beside the click-time
checks of `clicktrail quality` (cli/commands/quality/touch.py)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from clicktrail.attribution.v1 import config_pb2 as pb
from clicktrail.attribution.v1 import config_pb2_grpc as pb_grpc

from cli.commands.quality.shared import CampaignOpt, emit_settings
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
)
from cli.options import duration_opt, human, parse_duration

install_checks = typer.Typer(
    help="Install and conversion checks of traffic quality: which run, and their thresholds, for the account "
    "or (overriding it) one campaign. A change applies within seconds.",
    no_args_is_help=True,
)
revenue_ranges = typer.Typer(
    help="Revenue ranges: the revenue a goal's conversions may carry in one currency; outside it a conversion "
    "is revenue_out_of_range (invalid).",
    no_args_is_help=True,
)

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


@install_checks.command("get")
def quality_get(campaign: CampaignOpt = "", api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """Show the install and conversion checks in force for the account (or a campaign):
    each check on or off and each threshold, and whether it is set here or inherited.
    --json has `settings` (what this level sets) and `effective`.

    Example:  clicktrail settings quality get --campaign CAMPAIGN_ID
    """
    req = pb.GetAttributionQualitySettingsRequest(campaign_id=campaign)
    resp = rpc("attribution", QualityStub, "GetAttributionQualitySettings", req, account_creds(api_key))
    emit_settings(resp, json_out, _quality_text(resp))


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


@install_checks.command("set")
def quality_set(
    campaign: CampaignOpt = "",
    check: Annotated[
        list[str] | None,
        typer.Option("--check", help="CODE=on or CODE=off (repeatable); checks: " + ", ".join(QUALITY_CHECKS) + "."),
    ] = None,
    click_injection: Annotated[
        str | None, duration_opt("--click-injection", "click_injection below this click-to-install time (1s-1h).")
    ] = None,
    click_flooding: Annotated[
        str | None, duration_opt("--click-flooding", "click_flooding above this click-to-install time (1m-90d).")
    ] = None,
    burst_ip: Annotated[
        int | None, typer.Option("--burst-ip", help="install_burst: more installs than this from one address.")
    ] = None,
    burst_subnet: Annotated[
        int | None, typer.Option("--burst-subnet", help="install_burst: more than this from one /24 (IPv6 /64).")
    ] = None,
    burst_window: Annotated[str | None, duration_opt("--burst-window", "install_burst window (1m-7d).")] = None,
    too_soon: Annotated[
        str | None, duration_opt("--too-soon", "too_soon_after_install below this after the install (1s-1d).")
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
    emit_settings(resp, json_out, _quality_text(resp))


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
