"""`clicktrail quality ...`: traffic quality on the click path. Every click and
impression gets a verdict (clean, suspicious, invalid) and reason codes from
the click-time checks; these commands tune the checks, keep the account's
block and allow lists, and show the sub-ids the analytics job flagged.
(`clicktrail click overrule` changes one touch's verdict.)"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from clicktrail.links.v1 import links_pb2 as pb
from clicktrail.links.v1 import links_pb2_grpc as pb_grpc

from cli.commands.quality.shared import CampaignOpt, emit_settings
from cli.common import (
    ApiKey,
    JsonOut,
    Limit,
    PageToken,
    UsageError,
    account_creds,
    emit,
    emit_list,
    list_pages,
    print_json,
    rpc,
    stdout,
)
from cli.options import human, parse_duration
from libs import quality as q

Stub = pb_grpc.LinksServiceStub
CHECKS = tuple(r.code for r in q.REASONS if r.applies_to == "touch")
COUNTS = {
    "flood_ip_clicks": "--flood-ip",
    "flood_device_clicks": "--flood-device",
    "flood_ip_user_agent_clicks": "--flood-ip-ua",
}
WINDOWS = {"flood_window": "--flood-window", "duplicate_window": "--duplicate-window"}
LISTS = {"block": pb.QUALITY_LIST_BLOCK, "allow": pb.QUALITY_LIST_ALLOW}
KINDS = {"user-agent": pb.QUALITY_LIST_KIND_USER_AGENT, "network": pb.QUALITY_LIST_KIND_NETWORK}

app = typer.Typer(
    help="Traffic quality: the click-time checks that give every click and impression a verdict "
    "(clean, suspicious, invalid) with reasons. Tune them per account and campaign, keep block and "
    "allow lists, see flagged sub-ids.",
    no_args_is_help=True,
)
settings_app = typer.Typer(
    help="The click-time checks' settings: the account's defaults, or one campaign's overrides (--campaign).",
    no_args_is_help=True,
)
lists_app = typer.Typer(
    help="The account's block and allow lists. block: a matching click is invalid (blocked_user_agent / "
    "blocked_network). allow: a click from a matching address or User-Agent skips the User-Agent and "
    "network checks (QA devices, an office).",
    no_args_is_help=True,
)
flagged_app = typer.Typer(
    help="Sub-ids flagged for click volume far out of line with their installs (by the analytics job): "
    "their clicks get the reason flood_sub_id (suspicious) until the flag expires.",
    no_args_is_help=True,
)
app.add_typer(settings_app, name="settings")
app.add_typer(lists_app, name="list")
app.add_typer(flagged_app, name="flagged")


def _settings_text(s: pb.QualitySettings, effective: pb.QualitySettings) -> dict[str, Any]:
    """Each value with where it comes from: set here, or inherited."""
    out: dict[str, Any] = {"level": f"campaign {s.campaign_id}" if s.campaign_id else "account defaults"}
    for f in COUNTS:
        out[f] = f"{getattr(effective, f)}" + ("" if s.HasField(f) else "  (inherited)")
    for f in WINDOWS:
        out[f] = human(getattr(effective, f)) + ("" if s.HasField(f) else "  (inherited)")
    off = [c for c in CHECKS if not effective.checks.get(c, True)]
    out["checks_off"] = ", ".join(off) or "(none: every check is on)"
    if s.checks:
        out["set_here"] = ", ".join(f"{c}={'on' if on else 'off'}" for c, on in sorted(s.checks.items()))
    return out


def _emit_settings(resp: Any, json_out: bool) -> None:
    emit_settings(resp, json_out, _settings_text(resp.settings, resp.effective))


@settings_app.command("get")
def settings_get(campaign: CampaignOpt = "", api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """Show the settings in force: flood thresholds and window, duplicate window, and
    which checks are off. "(inherited)" marks values that come from the account (or the
    built-in default) rather than this level.

    Example:  clicktrail quality settings get --campaign CAMPAIGN_ID
    """
    resp = rpc(
        "links", Stub, "GetQualitySettings", pb.GetQualitySettingsRequest(campaign_id=campaign), account_creds(api_key)
    )
    _emit_settings(resp, json_out)


def _count_opt(flag: str, what: str) -> Any:
    return typer.Option(flag, help=f"{what} 1 to 100,000; 0 goes back to inheriting.", show_default=False)


@settings_app.command("set")
def settings_set(
    campaign: CampaignOpt = "",
    check: Annotated[
        list[str] | None,
        typer.Option(
            "--check",
            help="CHECK=on|off|inherit, repeatable. Checks: " + ", ".join(CHECKS) + ".",
            show_default=False,
        ),
    ] = None,
    flood_ip: Annotated[
        int | None, _count_opt("--flood-ip", "Clicks from one IP per campaign per flood window (default 20).")
    ] = None,
    flood_device: Annotated[
        int | None, _count_opt("--flood-device", "Clicks from one IDFA / GAID per campaign per window (default 10).")
    ] = None,
    flood_ip_ua: Annotated[
        int | None, _count_opt("--flood-ip-ua", "Clicks from one IP + User-Agent per campaign per window (default 10).")
    ] = None,
    flood_window: Annotated[
        str | None,
        typer.Option(
            "--flood-window", help="Flood window, 1m to 24h (default 1h); 'inherit' to unset.", show_default=False
        ),
    ] = None,
    duplicate_window: Annotated[
        str | None,
        typer.Option(
            "--duplicate-window",
            help="Same IP + User-Agent + link inside this is a duplicate, 1s to 1h (default 10s); 'inherit' to unset.",
            show_default=False,
        ),
    ] = None,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Change settings: only the flags given change. Takes effect on clicks within a
    couple of seconds on every links replica. Flood counts are kept per replica.

    Examples:
      clicktrail quality settings set --flood-ip 50 --check prefetch=off
      clicktrail quality settings set --campaign CAMPAIGN_ID --flood-device 3 --duplicate-window 30s
      clicktrail quality settings set --campaign CAMPAIGN_ID --check prefetch=inherit --flood-ip 0
    """
    s = pb.QualitySettings(campaign_id=campaign)
    paths: list[str] = []
    for item in check or []:
        name, sep, state = item.partition("=")
        name, state = name.strip(), state.strip().lower()
        if not sep or state not in ("on", "off", "inherit"):
            raise UsageError(f"--check {item!r}: write CHECK=on, CHECK=off or CHECK=inherit")
        if name not in CHECKS:
            raise UsageError(f"--check {item!r}: {name!r} is not a check; checks: {', '.join(CHECKS)}")
        if state != "inherit":
            s.checks[name] = state == "on"
        paths.append(f"checks.{name}")
    counts = {
        "flood_ip_clicks": flood_ip,
        "flood_device_clicks": flood_device,
        "flood_ip_user_agent_clicks": flood_ip_ua,
    }
    for field, value in counts.items():
        if value is not None:
            if value:
                setattr(s, field, value)
            paths.append(field)
    for field, text in (("flood_window", flood_window), ("duplicate_window", duplicate_window)):
        if text is not None:
            if text.strip().lower() != "inherit":
                getattr(s, field).CopyFrom(parse_duration(WINDOWS[field], text))
            paths.append(field)
    if not paths:
        raise UsageError("nothing to change: give --check, --flood-ip, --flood-device, --flood-ip-ua or a window")
    req = pb.UpdateQualitySettingsRequest(settings=s)
    req.update_mask.paths.extend(paths)
    _emit_settings(rpc("links", Stub, "UpdateQualitySettings", req, account_creds(api_key)), json_out)


# ---- lists ---------------------------------------------------------------------

ListArg = Annotated[str, typer.Argument(help="block or allow.", show_default=False)]
KindArg = Annotated[
    str, typer.Argument(help="user-agent (a pattern) or network (an address, a CIDR or an ASN).", show_default=False)
]
ValueArg = Annotated[
    str,
    typer.Argument(
        help="A User-Agent pattern (a case-insensitive substring), or a network: 203.0.113.0/24, "
        "2001:db8::/32, 198.51.100.7 or AS13335.",
        show_default=False,
    ),
]
ENTRY_COLUMNS = ["list", "kind", "value", "note", "create_time"]


def _list_kind(list_: str, kind: str) -> tuple[Any, Any]:
    lv = LISTS.get(list_.strip().lower())
    if lv is None:
        raise UsageError(f"{list_!r} is not a list: block or allow")
    kv = KINDS.get(kind.strip().lower().replace("_", "-"))
    if kv is None:
        raise UsageError(f"{kind!r} is not a kind: user-agent or network")
    return lv, kv


@lists_app.command("add")
def list_add(
    list_: ListArg,
    kind: KindArg,
    value: ValueArg,
    note: Annotated[str, typer.Option("--note", help="Why it is there (kept with the entry).")] = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Add an entry; adding it again changes nothing. A malformed value is refused.

    Examples:
      clicktrail quality list add block network 203.0.113.0/24 --note "fraud ring"
      clicktrail quality list add block network AS14061
      clicktrail quality list add allow network 198.51.100.7 --note "office"
      clicktrail quality list add allow user-agent "AcmeQA/"
    """
    lv, kv = _list_kind(list_, kind)
    entry = pb.QualityListEntry(list=lv, kind=kv, value=value, note=note)
    resp = rpc("links", Stub, "AddQualityListEntry", pb.AddQualityListEntryRequest(entry=entry), account_creds(api_key))
    emit(resp.entry, json_out, extra={"created": resp.created})


@lists_app.command("remove")
def list_remove(
    list_: ListArg, kind: KindArg, value: ValueArg, api_key: ApiKey = "", json_out: JsonOut = False
) -> None:
    """Remove an entry.

    Example:  clicktrail quality list remove block network 203.0.113.0/24
    """
    lv, kv = _list_kind(list_, kind)
    req = pb.RemoveQualityListEntryRequest(list=lv, kind=kv, value=value)
    rpc("links", Stub, "RemoveQualityListEntry", req, account_creds(api_key))
    if json_out:
        print_json({"list": list_, "kind": kind, "value": value, "removed": True})
    else:
        stdout().print(f"removed {kind} {value} from the {list_} list", markup=False)


@lists_app.command("ls")
def list_ls(
    list_: Annotated[str, typer.Option("--list", help="Only block or allow.")] = "",
    kind: Annotated[str, typer.Option("--kind", help="Only user-agent or network.")] = "",
    limit: Limit = 100,
    page_token: PageToken = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """List the block and allow lists.

    Example:  clicktrail quality list ls --list block --kind network
    """
    req = pb.ListQualityListEntriesRequest()
    if list_:
        req.list = _list_kind(list_, "network")[0]
    if kind:
        req.kind = _list_kind("block", kind)[1]
    items, nxt = list_pages(
        "links", Stub, "ListQualityListEntries", req, "entries", account_creds(api_key),
        limit=limit, page_token=page_token,
    )  # fmt: skip
    emit_list(items, "entries", ENTRY_COLUMNS, json_out, nxt)


@flagged_app.command("ls")
def flagged_ls(
    campaign: Annotated[str, typer.Option("--campaign", help="Only this campaign's.")] = "",
    expired: Annotated[bool, typer.Option("--expired", help="Also flags that expired (kept a week).")] = False,
    limit: Limit = 100,
    page_token: PageToken = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """List flagged sub-ids.

    Example:  clicktrail quality flagged ls --campaign CAMPAIGN_ID
    """
    req = pb.ListFlaggedSubIdsRequest(campaign_id=campaign, include_expired=expired)
    items, nxt = list_pages(
        "links", Stub, "ListFlaggedSubIds", req, "sub_ids", account_creds(api_key), limit=limit, page_token=page_token
    )
    emit_list(items, "sub_ids", ["campaign_id", "sub_field", "value", "reason", "expire_time"], json_out, nxt)
