"""What the click-time and the install / conversion quality commands share."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli.common import emit, print_json, to_dict

CampaignOpt = Annotated[
    str,
    typer.Option("--campaign", help="A campaign's overrides instead of the account's defaults.", show_default=False),
]


def emit_settings(resp: Any, json_out: bool, text: dict[str, Any]) -> None:
    """A Get/Update*QualitySettings answer: --json has `settings` (what this level sets)
    and `effective`; else ``text``, the effective values marked with where they come from."""
    if json_out:
        print_json({"settings": to_dict(resp.settings), "effective": to_dict(resp.effective)})
        return
    emit(text, False)
