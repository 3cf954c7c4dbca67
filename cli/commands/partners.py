"""`clicktrail partner ...`: ad networks and other traffic sources."""

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
    UsageError,
    account_creds,
    emit,
    emit_deleted,
    emit_list,
    field_mask,
    list_pages,
    rpc,
)

app = typer.Typer(help="Partners: the ad networks and channels that send you traffic.", no_args_is_help=True)

Stub = pb_grpc.LinksServiceStub
COLUMNS = ["partner_id", "name", "catalog_key", "create_time"]
PartnerId = Annotated[str, typer.Argument(help="The partner's id.", show_default=False)]


@app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="Partner name (default: the catalog entry's name).")] = "",
    catalog_key: Annotated[
        str, typer.Option("--catalog-key", help="Integrated-partner catalog entry this partner is made from.")
    ] = "",
    from_catalog: Annotated[
        str,
        typer.Option("--from-catalog", help="Catalog entry (`clicktrail catalog list`): also creates its postbacks."),
    ] = "",
    settings: Annotated[
        list[str] | None, typer.Option("--setting", help="Catalog setting KEY=VALUE (e.g. sdk_key=...); repeatable.")
    ] = None,
    app_id: Annotated[str, typer.Option("--app", help="With --from-catalog: postbacks for this app only.")] = "",
    send: Annotated[
        list[str] | None,
        typer.Option("--send", help="With --from-catalog: send only this template (its name in `catalog list"
                     " --json`, or its index from 0); repeatable. The others are created disabled. Default: every"
                     " template."),
    ] = None,
    goals: Annotated[
        list[str] | None,
        typer.Option("--goal", help="With --from-catalog: TEMPLATE=GOAL_ID, a conversion template sends only that"
                     " goal's conversions; repeatable."),
    ] = None,
    modes: Annotated[
        list[str] | None,
        typer.Option("--mode", help="With --from-catalog: TEMPLATE=attributed|all, the template's sending mode"
                     " (default: the catalog's); repeatable."),
    ] = None,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:  # fmt: skip
    """Create a partner; prints its partner_id. With --from-catalog, the partner
    also gets the catalog entry's postback templates, as chosen with --send,
    --goal and --mode, in one call that is all or nothing.

    Example:  clicktrail partner create --name "Unity Ads"
    Example:  clicktrail partner create --from-catalog applovin --setting sdk_key=KEY --setting package_name=com.example.game --setting platform=android
    Example:  clicktrail partner create --from-catalog applovin --setting sdk_key=KEY --setting package_name=com.example.game --setting platform=android --send "In-app event" --goal "In-app event=GOAL_ID" --mode "In-app event=attributed"
    """  # noqa: E501
    if from_catalog:
        from cli.commands.postbacks import create_from_catalog

        create_from_catalog(from_catalog, name, settings or [], app_id, api_key, json_out,
                            send=send or [], goals=goals or [], modes=modes or [])  # fmt: skip
        return
    if send or goals or modes:
        raise UsageError("--send, --goal and --mode go with --from-catalog")
    if not name:
        raise UsageError("--name is required (or use --from-catalog KEY)")
    msg = pb.Partner(name=name, catalog_key=catalog_key)
    resp = rpc("links", Stub, "CreatePartner", pb.CreatePartnerRequest(partner=msg), account_creds(api_key))
    emit(resp.partner, json_out)


@app.command("list")
def list_(limit: Limit = 50, page_token: PageToken = "", api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """List the account's partners.

    Example:  clicktrail partner list
    """
    items, nxt = list_pages(
        "links",
        Stub,
        "ListPartners",
        pb.ListPartnersRequest(),
        "partners",
        account_creds(api_key),
        limit=limit,
        page_token=page_token,
    )
    emit_list(items, "partners", COLUMNS, json_out, nxt)


@app.command("get")
def get(partner_id: PartnerId, api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """Show one partner.

    Example:  clicktrail partner get PARTNER_ID
    """
    resp = rpc("links", Stub, "GetPartner", pb.GetPartnerRequest(partner_id=partner_id), account_creds(api_key))
    emit(resp.partner, json_out)


@app.command("update")
def update(
    partner_id: PartnerId,
    name: Annotated[str | None, typer.Option("--name", help="New name.")] = None,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Rename a partner.

    Example:  clicktrail partner update PARTNER_ID --name "Unity Ads (EU)"
    """
    msg = pb.Partner(partner_id=partner_id)
    paths = []
    if name is not None:
        msg.name = name
        paths.append("name")
    req = pb.UpdatePartnerRequest(partner=msg)
    req.update_mask.paths.extend(field_mask(paths))
    resp = rpc("links", Stub, "UpdatePartner", req, account_creds(api_key))
    emit(resp.partner, json_out)


@app.command("delete")
def delete(partner_id: PartnerId, api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """Delete a partner.

    Example:  clicktrail partner delete PARTNER_ID
    """
    rpc("links", Stub, "DeletePartner", pb.DeletePartnerRequest(partner_id=partner_id), account_creds(api_key))
    emit_deleted("partner", partner_id, json_out)
