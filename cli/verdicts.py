"""What the touch, install and conversion commands share about traffic-quality
verdicts: the enum, the --reason filter's check and the overrule options."""

from __future__ import annotations

from typing import Any

import typer
from clicktrail.type.v1 import quality_pb2

from cli.common import UsageError

VERDICT = quality_pb2.Verdict.DESCRIPTOR


def reason_filter(reason: str | None, known: list[str], what: str) -> str:
    """The --reason value to send ('' for none); a usage error names the known codes."""
    if not reason:
        return ""
    if reason not in known:
        raise UsageError(f"--reason {reason!r} is not {what} reason; reasons: {', '.join(known)}")
    return reason


def overrule_verdict_option(follow: str) -> Any:
    """The overrule commands' --verdict; ``follow``: what follows the new verdict besides reports and cost."""
    return typer.Option(
        "--verdict", case_sensitive=False, show_default=False,
        help=f"The verdict it gets: clean, suspicious or invalid. Reports, cost and {follow} follow it.",
    )  # fmt: skip


def note_option(kept_with: str) -> Any:
    """The overrule commands' --note; ``kept_with``: where the note is kept."""
    return typer.Option("--note", help=f"Why (kept with the {kept_with}, at most 500 characters).")
