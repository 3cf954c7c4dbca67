"""Shared plumbing of the ``clicktrail`` CLI: credentials, channels, calls,
errors and output. Command modules stay declarative; a new command group
(goals, events, postbacks, reports) needs only this module:

    from cli.common import ApiKey, JsonOut, account_creds, emit, rpc
    from clicktrail.attribution.v1 import attribution_pb2 as pb, attribution_pb2_grpc as pb_grpc

    app = typer.Typer(help="Goals: ...", no_args_is_help=True)

    @app.command("get")
    def get(goal_id: str, api_key: ApiKey = "", json_out: JsonOut = False) -> None:
        resp = rpc("attribution", pb_grpc.GoalServiceStub, "GetGoal",
                   pb.GetGoalRequest(goal_id=goal_id), account_creds(api_key))
        emit(resp.goal, json_out)

plus one ``add_typer`` line in cli/main.py.

Output conventions (the same for every command):
- ``--json`` prints the resource with its proto field names (snake_case); every
  field is present (empty string / 0 / false when unset), timestamps are
  RFC 3339 strings, money is ``{"amount": "7.50", "currency_code": "USD"}``.
- Enum values print as their short lowercase name, exactly as the matching CLI
  flags take them: ``CAMPAIGN_STATUS_ACTIVE`` prints ``"active"``,
  ``DEVICE_TYPE_MOBILE`` prints ``"mobile"``; an unset enum prints ``""``.
- A create or get prints the resource itself (a create that also returns a
  one-time secret adds it beside the resource's fields, e.g. ``api_key``); a
  list prints ``{"<plural>": [...], "next_page_token": "..."}``.
- Errors: one line ``error: ...`` on stderr; exit 2 for bad usage or an
  invalid argument, 1 for anything else.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import enum
import json
import os
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import grpc
import typer
from google.protobuf import json_format, timestamp_pb2
from google.protobuf.descriptor import EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from rich.console import Console
from rich.table import Table
from rich.text import Text

from libs.config import CommonSettings, ConfigError
from libs.grpc_client import make_channel
from libs.tls import channel_credentials
from libs.vocab.enums import EnumValueError, choices, parse_enum, short_name

M = TypeVar("M", bound=Message)
T = TypeVar("T")

# Where `make run` keeps its state (embedded Postgres, generated tokens).
DATA_DIR_ENV = "CLICKTRAIL_DATA_DIR"
DEFAULT_DATA_DIR = ".clicktrail"
REPO_ROOT = Path(__file__).resolve().parent.parent
# Largest page asked of a server in one call; lists follow next_page_token.
MAX_PAGE_SIZE = 100


# --------------------------------------------------------------------------- errors


class CliError(Exception):
    """Printed as one ``error: <message>`` line on stderr; exits ``exit_code``."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class UsageError(CliError):
    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=2)


# How gRPC words a failure to connect (as opposed to a service that answered UNAVAILABLE).
_CONNECT_WORDS = (
    "failed to connect",
    "connection refused",
    "connect failed",
    "dns resolution failed",
    "socket closed",
    "connection reset",
)


def _status_details(err: grpc.aio.AioRpcError) -> status_pb2.Status | None:
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            try:
                return status_pb2.Status.FromString(value)
            except Exception:  # a malformed detail must not hide the error itself
                return None
    return None


def field_violations(err: grpc.aio.AioRpcError) -> list[tuple[str, str]]:
    """The google.rpc.BadRequest field violations an error carries, if any."""
    status = _status_details(err)
    out: list[tuple[str, str]] = []
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            out.extend((v.field, v.description) for v in bad.field_violations)
    return out


def rpc_error(err: grpc.aio.AioRpcError, service: str, addr: str, *, admin: bool = False) -> CliError:
    """One clear line for a failed call."""
    code = err.code()
    details = (err.details() or "").strip()
    if code == grpc.StatusCode.UNAVAILABLE:
        if not details or any(w in details.lower() for w in _CONNECT_WORDS):
            return CliError(f"cannot reach the {service} service at {addr} — is `make run` running?")
        return CliError(f"the {service} service at {addr} is unavailable: {details}")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return CliError(f"the {service} service at {addr} did not answer in time")
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        violations = field_violations(err)
        text = "; ".join(f"{f}: {d}" for f, d in violations) if violations else details
        return CliError(text or "invalid argument", exit_code=2)
    if code == grpc.StatusCode.UNAUTHENTICATED:
        hint = (
            "check CLICKTRAIL_ADMIN_TOKEN or .clicktrail/admin-token"
            if admin
            else "check --api-key or CLICKTRAIL_API_KEY"
        )
        return CliError(f"{details or 'unauthenticated'} ({hint})")
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return CliError(f"the service at {addr} does not implement this call ({details or 'unimplemented'})")
    return CliError(details or code.name.lower().replace("_", " "))


# --------------------------------------------------------------------------- settings and credentials


def settings() -> CommonSettings:
    """What the CLI reads: service addresses, the deadline and TLS (CommonSettings)."""
    try:
        return CommonSettings.load()
    except ConfigError as exc:
        raise UsageError(str(exc)) from exc


def data_dirs() -> list[Path]:
    """Where `make run` may have written its tokens, most specific first."""
    configured = os.environ.get(DATA_DIR_ENV, "")
    dirs = [Path(configured)] if configured else []
    dirs += [Path.cwd() / DEFAULT_DATA_DIR, REPO_ROOT / DEFAULT_DATA_DIR]
    out: list[Path] = []
    for d in dirs:
        if d not in out:
            out.append(d)
    return out


def admin_token() -> str:
    """CLICKTRAIL_ADMIN_TOKEN, else the admin-token file `make run` wrote."""
    token = os.environ.get("CLICKTRAIL_ADMIN_TOKEN", "").strip()
    if token:
        return token
    for d in data_dirs():
        path = d / "admin-token"
        try:
            token = path.read_text().strip()
        except OSError:
            continue
        if token:
            return token
    raise UsageError(
        "no admin token: set CLICKTRAIL_ADMIN_TOKEN, or run this where `make run` wrote .clicktrail/admin-token"
    )


@dataclasses.dataclass(frozen=True)
class Creds:
    """What a call authenticates with: a bearer token, and for the admin token
    acting on one account, that account's id."""

    token: str
    account_id: str = ""
    admin: bool = False


def admin_creds(account_id: str = "") -> Creds:
    return Creds(admin_token(), account_id=account_id, admin=True)


def account_creds(api_key: str = "") -> Creds:
    return Creds(account_key(api_key))


def account_key(api_key: str = "") -> str:
    """The account API key: --api-key, else CLICKTRAIL_API_KEY."""
    key = (api_key or os.environ.get("CLICKTRAIL_API_KEY", "")).strip()
    if not key:
        raise UsageError(
            "no API key: pass --api-key or set CLICKTRAIL_API_KEY (`clicktrail account create` prints one)"
        )
    return key


def service_addr(service: str) -> str:
    """host:port of a service: CLICKTRAIL_<SERVICE>_ADDR, else its default."""
    return settings().addr_of(service)


# --------------------------------------------------------------------------- calls


def run_async(make: Callable[[grpc.aio.Channel], Awaitable[T]], service: str, creds: Creds) -> T:
    """Open one channel to ``service``, run ``make(channel)``, close it; map gRPC errors."""
    addr = service_addr(service)
    deadline = max(settings().grpc_deadline_s, 10.0)
    try:
        tls = channel_credentials(settings())
    except ConfigError as exc:
        raise UsageError(str(exc)) from exc

    async def go() -> T:
        async with make_channel(
            addr, token=creds.token, account_id=creds.account_id, deadline_s=deadline, tls=tls
        ) as ch:
            return await make(ch)

    try:
        return asyncio.run(go())
    except grpc.aio.AioRpcError as err:
        raise rpc_error(err, service, addr, admin=creds.admin) from None


def rpc(service: str, stub: Callable[[grpc.aio.Channel], Any], method: str, request: Message, creds: Creds) -> Any:
    """One unary call, e.g. ``rpc("links", LinksServiceStub, "GetApp", req, account_creds(key))``."""

    async def call(ch: grpc.aio.Channel) -> Any:
        return await getattr(stub(ch), method)(request)

    return run_async(call, service, creds)


def list_pages(
    service: str,
    stub: Callable[[grpc.aio.Channel], Any],
    method: str,
    request: Message,
    items: str,
    creds: Creds,
    *,
    limit: int,
    page_token: str = "",
) -> tuple[list[Any], str]:
    """Calls a List method page after page (``page_size``/``page_token``/
    ``next_page_token``) until ``limit`` items or the last page; returns the
    items and the token to continue from ("" when there is nothing more)."""
    if limit < 1:
        raise UsageError("--limit must be at least 1")

    async def call(ch: grpc.aio.Channel) -> tuple[list[Any], str]:
        method_fn = getattr(stub(ch), method)
        got: list[Any] = []
        token_ = page_token
        while True:
            req = type(request)()
            req.CopyFrom(request)
            req.page_size = min(MAX_PAGE_SIZE, limit - len(got))  # type: ignore[attr-defined]
            req.page_token = token_  # type: ignore[attr-defined]
            resp = await method_fn(req)
            page = list(getattr(resp, items))
            got.extend(page[: limit - len(got)])
            token_ = resp.next_page_token
            if not token_ or len(got) >= limit or not page:
                return got, token_

    return run_async(call, service, creds)


def field_mask(paths: Iterable[str]) -> list[str]:
    out = list(paths)
    if not out:
        raise UsageError("nothing to update: give at least one field flag (see --help)")
    return out


def timestamp(value: dt.datetime | None) -> timestamp_pb2.Timestamp | None:
    """A Timestamp from a CLI datetime; naive times are taken as UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value)
    return ts


# --------------------------------------------------------------------------- enums
# The short names come from libs.vocab.enums; enum_number turns a bad name into a usage error.

enum_short = short_name
enum_choices = choices


def enum_number(desc: EnumDescriptor, short: str | enum.Enum | None) -> Any:
    """``active`` (or ``CAMPAIGN_STATUS_ACTIVE``) -> its number; None/"" -> 0."""
    try:
        return parse_enum(desc, short)
    except EnumValueError as exc:
        raise UsageError(str(exc)) from None


# --------------------------------------------------------------------------- output

_WELL_KNOWN_AS_STRINGS = {
    "google.protobuf.Timestamp",
    "google.protobuf.Duration",
    "google.protobuf.FieldMask",
}


def _friendly(desc: Any, data: dict[str, Any]) -> dict[str, Any]:
    for field in desc.fields:
        if field.name not in data:
            continue
        value = data[field.name]
        if field.type == FieldDescriptor.TYPE_ENUM:
            enum_desc = field.enum_type
            if isinstance(value, list):
                data[field.name] = [enum_short(enum_desc, v) for v in value]
            else:
                data[field.name] = enum_short(enum_desc, value)
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            sub = field.message_type
            if sub.full_name in _WELL_KNOWN_AS_STRINGS or sub.GetOptions().map_entry:
                continue
            if isinstance(value, list):
                data[field.name] = [_friendly(sub, v) for v in value]
            elif isinstance(value, dict):
                data[field.name] = _friendly(sub, value)
    # Declaration order, as in the .proto (MessageToDict puts set fields first).
    ordered = {f.name: data.pop(f.name) for f in desc.fields if f.name in data}
    ordered.update(data)
    return ordered


def to_dict(msg: Message) -> dict[str, Any]:
    """A message as the CLI prints it: proto field names, every field present,
    enums as short lowercase names (see the module docstring)."""
    data = json_format.MessageToDict(msg, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
    return _friendly(msg.DESCRIPTOR, data)


def stdout() -> Console:
    # Piped output is not squeezed into 80 columns: tables take their natural width.
    return Console(soft_wrap=False, highlight=False, width=None if sys.stdout.isatty() else 10_000)


def stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def note(text: str) -> None:
    """A hint for humans, on stderr so stdout stays the result."""
    stderr().print(text, style="dim", markup=False)


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        if set(value) == {"amount", "currency_code"}:
            return f"{value['amount']} {value['currency_code']}".strip()
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _print_table(table: Table) -> None:
    console = stdout()
    with console.capture() as captured:
        console.print(table)
    text = "\n".join(line.rstrip() for line in captured.get().splitlines())
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def emit(resource: Message | dict[str, Any], json_out: bool, *, extra: dict[str, Any] | None = None) -> None:
    """Print one resource: JSON, or aligned ``field  value`` lines (empty fields left out)."""
    data = to_dict(resource) if isinstance(resource, Message) else dict(resource)
    if extra:
        data.update(extra)
    if json_out:
        print_json(data)
        return
    rows = [(key, _cell(value)) for key, value in data.items() if value not in ("", None, [], {})]
    width = max((len(key) for key, _ in rows), default=0)
    console = Console(soft_wrap=True, highlight=False)
    for key, value in rows:
        console.print(Text.assemble((key.ljust(width), "bold cyan"), "  ", value))


def emit_list(
    items: Sequence[Message], plural: str, columns: Sequence[str], json_out: bool, next_page_token: str = ""
) -> None:
    """Print a list: ``{"<plural>": [...], "next_page_token": ...}`` or a table of ``columns``."""
    rows = [to_dict(m) for m in items]
    if json_out:
        print_json({plural: rows, "next_page_token": next_page_token})
        return
    if not rows:
        note(f"no {plural}")
    else:
        table = Table(box=None, pad_edge=False, header_style="bold")
        for col in columns:
            table.add_column(col, overflow="fold")
        for row in rows:
            table.add_row(*(Text(_cell(row.get(col, ""))) for col in columns))  # Text: no markup
        _print_table(table)
    if next_page_token:
        note(f"more: --page-token {next_page_token}")


def emit_deleted(kind: str, resource_id: str, json_out: bool) -> None:
    if json_out:
        print_json({f"{kind}_id": resource_id, "deleted": True})
    else:
        stdout().print(f"deleted {kind} {resource_id}", markup=False)


# --------------------------------------------------------------------------- shared options

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
