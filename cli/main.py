"""The `clicktrail` command line: everything an operator does, over gRPC.

Entry point ``clicktrail = "cli.main:main"``. Commands live in cli/commands/,
one module per resource; the shared plumbing is cli/common.py.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import typer

# typer 0.29 vendors click; its exception classes live here (typer is pinned).
from typer._click import exceptions as click_exc

from cli.commands import (
    accounts,
    apple_ads,
    apps,
    attribution_settings,
    campaigns,
    conversions,
    domains,
    events,
    goals,
    installs,
    landers,
    links,
    metrics,
    offers,
    partners,
    postback_formats,
    postbacks,
    postbacks_in,
    privacy,
    quality,
    reports,
    rules,
    skan,
    skan_schema,
    streams,
    sub_id_lists,
    tariffs,
    touches,
)
from cli.common import CliError, stderr
from libs.text import NUL_PROBLEM, text_problem

app = typer.Typer(
    name="clicktrail",
    help=(
        "Clicktrail: self-hosted ad tracking. Manage accounts, apps, partners, campaigns and "
        "tracking links, and read recorded clicks, impressions and events.\n\n"
        "Start the suite with `make run`, then: clicktrail account create --name Acme"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(accounts.app, name="account")
app.add_typer(apps.app, name="app")
app.add_typer(partners.app, name="partner")
app.add_typer(campaigns.app, name="campaign")
app.add_typer(links.app, name="link")
app.add_typer(offers.app, name="offer")
app.add_typer(landers.app, name="lander")
app.add_typer(streams.app, name="stream")
app.add_typer(domains.app, name="domain")
app.add_typer(touches.clicks, name="click")
app.add_typer(touches.impressions, name="impression")
app.add_typer(events.app, name="event")
app.add_typer(installs.app, name="install")
app.add_typer(conversions.app, name="conversion")
app.add_typer(postbacks_in.app, name="postback-in")
app.add_typer(postbacks.app, name="postback")
app.add_typer(postbacks.deliveries, name="delivery")
app.add_typer(postbacks.catalog, name="catalog")
app.add_typer(postback_formats.app, name="postback-format")
app.add_typer(goals.app, name="goal")
app.add_typer(attribution_settings.app, name="settings")
app.add_typer(tariffs.tariffs, name="tariff")
app.add_typer(tariffs.corrections, name="correction")
app.add_typer(rules.app, name="rule")
campaigns.app.add_typer(sub_id_lists.blacklist, name="blacklist")
campaigns.app.add_typer(sub_id_lists.whitelist, name="whitelist")
app.add_typer(privacy.app, name="privacy")
app.add_typer(metrics.app, name="metrics")
app.add_typer(reports.app, name="report")
app.add_typer(quality.app, name="quality")
app.add_typer(skan.app, name="skan")
app.add_typer(skan_schema.app, name="skan-schema")
app.add_typer(apple_ads.app, name="apple-ads")


def _error(message: str) -> None:
    stderr().print(f"error: {message}", markup=False, highlight=False)


def unstorable_argument(args: Sequence[str]) -> str | None:
    """A usage error for the first argument holding text Postgres cannot store: bytes
    that are not UTF-8 (Python hands them over as lone surrogates) or a NUL."""
    for i, arg in enumerate(args):
        problem = text_problem(arg)
        if problem is None:
            continue
        if arg.startswith("--") and "=" in arg:
            name = arg.partition("=")[0]
        elif i and args[i - 1].startswith("-"):
            name = args[i - 1]
        else:
            name = f"argument {i + 1}"
        why = problem if problem == NUL_PROBLEM else "is not valid UTF-8 text (check the terminal's encoding)"
        return f"{name}: {why}"
    return None


def _command(args: list[str]) -> Any:
    """The click command for a command line: only the named group's tree when the line
    names one (typer reads every command's signature to build the whole tree, ~0.3 s of
    a `clicktrail` process's start), else the whole tree (help, an unknown command)."""
    group = next((g for g in app.registered_groups if args and g.name == args[0]), None)
    if group is None:
        return typer.main.get_command(app)
    one = typer.Typer(name=app.info.name, help=app.info.help, no_args_is_help=True, add_completion=False,
                      pretty_exceptions_enable=False, context_settings=app.info.context_settings)  # fmt: skip
    one.registered_groups.append(group)
    return typer.main.get_command(one)


def run(argv: Sequence[str] | None = None) -> int:
    """Run one command line; returns the exit status (0 ok, 1 failure, 2 usage)."""
    bad = unstorable_argument(list(argv) if argv is not None else sys.argv[1:])
    if bad is not None:
        _error(bad)
        return 2
    command = _command(list(argv) if argv is not None else sys.argv[1:])
    try:
        result = command.main(
            args=list(argv) if argv is not None else None, prog_name="clicktrail", standalone_mode=False
        )
    except CliError as err:
        _error(err.message)
        return err.exit_code
    except click_exc.NoArgsIsHelpError as err:
        # With rich help, building the error already printed the help.
        if err.format_message().strip():
            print(err.format_message())
        return 0
    except click_exc.UsageError as err:
        where = err.ctx.command_path if err.ctx else "clicktrail"
        _error(f"{err.format_message()} (see `{where} --help`)")
        return 2
    except click_exc.ClickException as err:
        _error(err.format_message())
        return err.exit_code
    except (typer.Abort, KeyboardInterrupt):
        _error("interrupted")
        return 130
    except BrokenPipeError:
        return 1
    return result if isinstance(result, int) else 0


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
