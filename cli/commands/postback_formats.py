"""`clicktrail postback-format ...`: how a partner (network) sends its postbacks —
the parameter names of each field and its status words — on top of a preset."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from clicktrail.attribution.v1 import config_pb2 as pb
from clicktrail.attribution.v1 import config_pb2_grpc as pb_grpc
from google.protobuf.message import Message

from cli.common import (
    ApiKey,
    JsonOut,
    Limit,
    PageToken,
    UsageError,
    account_creds,
    emit,
    emit_list,
    field_mask,
    list_pages,
    print_json,
    rpc,
    stdout,
    to_dict,
)
from libs.flow_text import ALIAS_SYNTAX, WORD_SYNTAX, parse_alias, parse_status_word

app = typer.Typer(
    help="Postback formats: per partner (network), the parameter names its postbacks use for each field "
    "(aliases) and its status words and codes (-> pending / approved / rejected), optionally on top of a "
    "built-in preset (`clicktrail postback-format presets`). Without one, a partner's postbacks are read "
    "with the defaults. Which format reads a postback: the partner in the URL (/postback?partner=ID), else "
    "the click's offer's partner, else the click's campaign's partner.",
    no_args_is_help=True,
)

Stub = pb_grpc.PostbackFormatServiceStub
COLUMNS = ["partner_id", "preset_id", "update_time"]
PRESET_COLUMNS = ["preset_id", "name", "kind"]
PartnerId = Annotated[str, typer.Argument(help="The partner's id.", show_default=False)]


def readable(msg: pb.PostbackFormat | pb.PostbackPreset) -> dict[str, Any]:
    """Aliases and words as the flags take them (``click_id=aff_sub,sub1``, ``reversed=rejected``)."""
    data = to_dict(msg)
    data["aliases"] = [f"{a.field}={','.join(a.params)}" for a in msg.aliases]
    data["status_words"] = [f"{w}={s}" for w, s in sorted(msg.status_words.items())]
    return data


def _emit(msg: Message, json_out: bool) -> None:
    assert isinstance(msg, pb.PostbackFormat | pb.PostbackPreset)
    emit(msg if json_out else readable(msg), json_out)


@app.command("presets")
def presets(api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """The built-in presets (networks, trackers, offerwalls) a partner's format can start from.

    Example:  clicktrail postback-format presets
    """
    resp = rpc("attribution", Stub, "ListPostbackPresets", pb.ListPostbackPresetsRequest(), account_creds(api_key))
    emit_list(list(resp.presets), "presets", PRESET_COLUMNS, json_out)


@app.command("preset")
def preset(
    preset_id: Annotated[str, typer.Argument(help="The preset's id (see `presets`).", show_default=False)],
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Show one preset: its aliases, status words, sources and notes.

    Example:  clicktrail postback-format preset everflow
    """
    resp = rpc("attribution", Stub, "ListPostbackPresets", pb.ListPostbackPresetsRequest(), account_creds(api_key))
    found = next((p for p in resp.presets if p.preset_id == preset_id), None)
    if found is None:
        raise UsageError(f"no preset {preset_id!r} (see `clicktrail postback-format presets`)")
    _emit(found, json_out)


@app.command("list")
def list_(limit: Limit = 50, page_token: PageToken = "", api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """The account's stored postback formats, by partner.

    Example:  clicktrail postback-format list
    """
    items, nxt = list_pages(
        "attribution", Stub, "ListPostbackFormats", pb.ListPostbackFormatsRequest(), "formats",
        account_creds(api_key), limit=limit, page_token=page_token,
    )  # fmt: skip
    emit_list(items, "formats", COLUMNS, json_out, nxt)


@app.command("get")
def get(partner_id: PartnerId, api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """Show a partner's stored format (not found: the partner uses the defaults).

    Example:  clicktrail postback-format get PARTNER_ID
    """
    req = pb.GetPostbackFormatRequest(partner_id=partner_id)
    _emit(rpc("attribution", Stub, "GetPostbackFormat", req, account_creds(api_key)).format, json_out)


@app.command("set")
def set_(
    partner_id: PartnerId,
    preset: Annotated[
        str | None, typer.Option("--preset", help="Start from this preset ('' none).", show_default=False)
    ] = None,
    alias: Annotated[
        list[str] | None,
        typer.Option("--alias", show_default=False, help=f"A field's parameter names, repeatable: {ALIAS_SYNTAX}."),
    ] = None,
    word: Annotated[
        list[str] | None,
        typer.Option("--word", show_default=False, help=f"A status word, repeatable: {WORD_SYNTAX}."),
    ] = None,
    clear_aliases: Annotated[bool, typer.Option("--clear-aliases", help="Drop the format's own aliases.")] = False,
    clear_words: Annotated[bool, typer.Option("--clear-words", help="Drop the format's own status words.")] = False,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Create or change a partner's format: only the flags given change. --alias and --word
    replace the format's whole list of them (repeat them for several); they win over the
    preset's, which win over the defaults.

    Example:  clicktrail postback-format set PARTNER_ID --preset everflow

    Example:  clicktrail postback-format set PARTNER_ID --alias click_id=aff_sub,sub1 --alias payout=amount \\
      --word reversed=rejected --word 1=approved
    """
    if (alias and clear_aliases) or (word and clear_words):
        raise UsageError("--alias/--clear-aliases and --word/--clear-words exclude each other")
    msg = pb.PostbackFormat(partner_id=partner_id)
    paths: list[str] = []
    if preset is not None:
        msg.preset_id = preset
        paths.append("preset_id")
    try:
        if alias is not None or clear_aliases:
            msg.aliases.extend(pb.ParameterAliases(field=f, params=p) for f, p in map(parse_alias, alias or []))
            paths.append("aliases")
        if word is not None or clear_words:
            msg.status_words.update(dict(map(parse_status_word, word or [])))
            paths.append("status_words")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    req = pb.UpdatePostbackFormatRequest(format=msg, allow_missing=True)
    req.update_mask.paths.extend(field_mask(paths))
    _emit(rpc("attribution", Stub, "UpdatePostbackFormat", req, account_creds(api_key)).format, json_out)


@app.command("delete")
def delete(partner_id: PartnerId, api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """Drop a partner's format: its postbacks are read with the defaults again.

    Example:  clicktrail postback-format delete PARTNER_ID
    """
    req = pb.DeletePostbackFormatRequest(partner_id=partner_id)
    rpc("attribution", Stub, "DeletePostbackFormat", req, account_creds(api_key))
    if json_out:
        print_json({"partner_id": partner_id, "deleted": True})
    else:
        stdout().print(f"deleted the postback format of {partner_id}", markup=False)
