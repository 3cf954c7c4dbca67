"""The options every command shares, and the duration flags' parsing."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer
from google.protobuf import duration_pb2

from cli.errors import UsageError
from libs.vocab.timetext import duration_seconds, format_duration

ApiKey = Annotated[
    str,
    typer.Option(
        "--api-key",
        envvar="CLICKTRAIL_API_KEY",
        show_envvar=True,
        show_default=False,
        help="Account API key (from `clicktrail account create`).",
    ),
]
JsonOut = Annotated[bool, typer.Option("--json", help="Print JSON with proto field names.")]
Limit = Annotated[int, typer.Option("--limit", min=1, help="Print at most this many.")]
PageToken = Annotated[str, typer.Option("--page-token", show_default=False, help="Continue a previous list from here.")]


# ---- durations: 7d, 24h, 90m, 1d12h (libs.vocab.timetext)


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


def duration_opt(flag: str, what: str) -> Any:
    return typer.Option(flag, help=f"{what} Like 7d, 24h, 90m or 1d12h.", show_default=False)
