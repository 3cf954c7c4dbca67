"""`clicktrail campaign blacklist|whitelist ...`: a campaign's sub-id black- and
whitelist. A click whose sub-id value is blacklisted (and matches nothing
whitelisted) is recorded but sent to the campaign's fallback URL."""

from __future__ import annotations

from typing import Annotated

import typer
from clicktrail.links.v1 import links_pb2 as pb
from clicktrail.links.v1 import links_pb2_grpc as pb_grpc

from cli.common import (
    ApiKey,
    JsonOut,
    Limit,
    PageToken,
    account_creds,
    emit,
    emit_list,
    list_pages,
    print_json,
    rpc,
    stdout,
)

Stub = pb_grpc.LinksServiceStub
COLUMNS = ["sub_field", "value", "reason", "create_time"]
CampaignId = Annotated[str, typer.Argument(help="The campaign's id.", show_default=False)]
Field = Annotated[
    str,
    typer.Argument(
        help="sub1 .. sub10, or an alias: subid (sub1), source (sub2), creative (sub3).", show_default=False
    ),
]
Value = Annotated[str, typer.Argument(help="The exact sub-id value (case-sensitive).", show_default=False)]

DESCRIPTIONS = {
    pb.SUB_ID_LIST_BLACKLIST: "Blacklist: clicks whose sub-id value is here go to the campaign's fallback URL "
    "(404 without one); they are still recorded. A whitelisted value wins.",
    pb.SUB_ID_LIST_WHITELIST: "Whitelist: sub-id values kept safe. A click matching it is never sent to the "
    "fallback URL, and automation rules never blacklist the value.",
}


def make(list_: pb.SubIdList) -> typer.Typer:
    """The add/remove/list commands of one list."""
    name = "blacklist" if list_ == pb.SUB_ID_LIST_BLACKLIST else "whitelist"
    group = typer.Typer(help=DESCRIPTIONS[list_], no_args_is_help=True)

    def add(
        campaign_id: CampaignId,
        field: Field,
        value: Value,
        reason: Annotated[str, typer.Option("--reason", help="Why (kept with the entry).")] = "",
        api_key: ApiKey = "",
        json_out: JsonOut = False,
    ) -> None:
        entry = pb.SubIdEntry(campaign_id=campaign_id, list=list_, sub_field=field, value=value, reason=reason)
        resp = rpc("links", Stub, "AddSubIdEntry", pb.AddSubIdEntryRequest(entry=entry), account_creds(api_key))
        emit(resp.entry, json_out, extra={"created": resp.created})

    add.__doc__ = f"""Add a sub-id value to the campaign's {name}; adding it again changes nothing.

    Example:  clicktrail campaign {name} add CAMPAIGN_ID sub1 pub-123 --reason "no installs"
    """

    def remove(
        campaign_id: CampaignId, field: Field, value: Value, api_key: ApiKey = "", json_out: JsonOut = False
    ) -> None:
        req = pb.RemoveSubIdEntryRequest(campaign_id=campaign_id, list=list_, sub_field=field, value=value)
        rpc("links", Stub, "RemoveSubIdEntry", req, account_creds(api_key))
        if json_out:
            print_json({"campaign_id": campaign_id, "sub_field": field, "value": value, "removed": True})
        else:
            stdout().print(f"removed {field}={value} from campaign {campaign_id}'s {name}", markup=False)

    remove.__doc__ = f"""Remove a sub-id value from the campaign's {name}.

    Example:  clicktrail campaign {name} remove CAMPAIGN_ID sub1 pub-123
    """

    def list_entries(
        campaign_id: CampaignId,
        field: Annotated[str, typer.Option("--field", help="Only this sub field.")] = "",
        limit: Limit = 100,
        page_token: PageToken = "",
        api_key: ApiKey = "",
        json_out: JsonOut = False,
    ) -> None:
        req = pb.ListSubIdEntriesRequest(campaign_id=campaign_id, list=list_, sub_field=field)
        items, nxt = list_pages(
            "links", Stub, "ListSubIdEntries", req, "entries", account_creds(api_key),
            limit=limit, page_token=page_token,
        )  # fmt: skip
        emit_list(items, "entries", COLUMNS, json_out, nxt)

    list_entries.__doc__ = f"""List the campaign's {name}.

    Example:  clicktrail campaign {name} list CAMPAIGN_ID --field sub1
    """

    group.command("add")(add)
    group.command("remove")(remove)
    group.command("list")(list_entries)
    return group


blacklist = make(pb.SUB_ID_LIST_BLACKLIST)
whitelist = make(pb.SUB_ID_LIST_WHITELIST)
