"""`clicktrail lander ...`: landers and pre-landers, the pages a stream shows before the offer."""

from __future__ import annotations

from typing import Annotated

import typer
from clicktrail.links.v1 import affiliate_pb2 as pb
from clicktrail.links.v1 import affiliate_pb2_grpc as pb_grpc

from cli.choices import LanderType
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
    enum_number,
    field_mask,
    list_pages,
    rpc,
)

app = typer.Typer(
    help="Landers and pre-landers: pages a stream sends the visitor to before the offer. Their call to action "
    "points at {lander_click_url} (the tracker's /lp/click for the click), which records a lander click and "
    "sends the visitor on to the offer chosen for the click.",
    no_args_is_help=True,
)

Stub = pb_grpc.AffiliateServiceStub
TYPE = pb.LanderType.DESCRIPTOR
COLUMNS = ["lander_id", "name", "type", "url", "create_time"]
LanderId = Annotated[str, typer.Argument(help="The lander's id.", show_default=False)]
TypeOpt = Annotated[
    LanderType | None,
    typer.Option("--type", case_sensitive=False, help="lander or prelander (a review, a quiz).", show_default=False),
]
MacrosOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--macro", show_default=False,
        help="The lander's own macro NAME=VALUE ({NAME} in the URL becomes VALUE); repeatable.",
    ),
]  # fmt: skip


def macros(values: list[str] | None) -> dict[str, str]:
    """--macro headline=Save 50% --macro color=red -> {"headline": "Save 50%", "color": "red"}."""
    out: dict[str, str] = {}
    for text in values or []:
        name, sep, value = text.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--macro takes NAME=VALUE, got {text!r}")
        out[name.strip()] = value
    return out


@app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="The lander's name.")],
    url: Annotated[
        str, typer.Option("--url", help="Page URL template, http(s), with click macros and {lander_click_url}.")
    ],
    type_: TypeOpt = None,
    macro: MacrosOpt = None,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Create a lander; prints its lander_id. Rotate it in a stream with `stream create --lander ID:WEIGHT`.

    Example:  clicktrail lander create --name "Quiz A" --type prelander \\
      --url 'https://pages.example/quiz?next={lander_click_url}&h={headline}' --macro 'headline=Win big'
    """
    msg = pb.Lander(name=name, url=url, type=enum_number(TYPE, type_), macros=macros(macro))
    resp = rpc("links", Stub, "CreateLander", pb.CreateLanderRequest(lander=msg), account_creds(api_key))
    emit(resp.lander, json_out)


@app.command("list")
def list_(limit: Limit = 50, page_token: PageToken = "", api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """List the account's landers.

    Example:  clicktrail lander list
    """
    items, nxt = list_pages(
        "links", Stub, "ListLanders", pb.ListLandersRequest(), "landers", account_creds(api_key),
        limit=limit, page_token=page_token,
    )  # fmt: skip
    emit_list(items, "landers", COLUMNS, json_out, nxt)


@app.command("get")
def get(lander_id: LanderId, api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """Show one lander.

    Example:  clicktrail lander get LANDER_ID
    """
    resp = rpc("links", Stub, "GetLander", pb.GetLanderRequest(lander_id=lander_id), account_creds(api_key))
    emit(resp.lander, json_out)


@app.command("update")
def update(
    lander_id: LanderId,
    name: Annotated[str | None, typer.Option("--name", help="New name.", show_default=False)] = None,
    url: Annotated[str | None, typer.Option("--url", help="New page URL template.", show_default=False)] = None,
    type_: TypeOpt = None,
    macro: MacrosOpt = None,
    clear_macros: Annotated[bool, typer.Option("--clear-macros", help="Remove every macro of the lander.")] = False,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Change a lander: only the flags given change. --macro replaces all of its macros.

    Example:  clicktrail lander update LANDER_ID --url 'https://pages.example/quiz-v2?next={lander_click_url}'
    """
    msg = pb.Lander(lander_id=lander_id)
    paths: list[str] = []
    for path, value in (("name", name), ("url", url)):
        if value is not None:
            setattr(msg, path, value)
            paths.append(path)
    if type_ is not None:
        msg.type = enum_number(TYPE, type_)
        paths.append("type")
    if macro is not None or clear_macros:
        if macro and clear_macros:
            raise UsageError("--macro and --clear-macros exclude each other")
        msg.macros.update(macros(macro))
        paths.append("macros")
    req = pb.UpdateLanderRequest(lander=msg)
    req.update_mask.paths.extend(field_mask(paths))
    resp = rpc("links", Stub, "UpdateLander", req, account_creds(api_key))
    emit(resp.lander, json_out)


@app.command("delete")
def delete(lander_id: LanderId, api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """Delete a lander (refused while a stream rotates it).

    Example:  clicktrail lander delete LANDER_ID
    """
    rpc("links", Stub, "DeleteLander", pb.DeleteLanderRequest(lander_id=lander_id), account_creds(api_key))
    emit_deleted("lander", lander_id, json_out)
