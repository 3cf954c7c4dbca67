"""`clicktrail skan-schema ...`: an app's SKAdNetwork / AdAttributionKit
conversion-value schema (what each fine / coarse value stands for, and what the
SDK applies to set it), versioned."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer
from clicktrail.attribution.v1 import skan_schema_pb2 as pb
from clicktrail.attribution.v1 import skan_schema_pb2_grpc as pb_grpc

from cli.common import (
    ApiKey,
    JsonOut,
    Limit,
    PageToken,
    UsageError,
    account_creds,
    emit,
    list_pages,
    note,
    print_json,
    rpc,
    stdout,
    to_dict,
)

FORMAT_HELP = """\b
The schema file (JSON):
{
  "currency": "USD",
  "fine_values": [
    {"value": 0},
    {"value": 1, "value_to": 9, "revenue_min": "0.01", "revenue_max": "10",
     "events": [{"name": "purchase", "count": 1}]},
    {"value": 10, "revenue_min": "10", "revenue": "25",
     "events": ["purchase", "tutorial_done"]}
  ],
  "coarse_values": [
    {"postback": 1, "value": "high", "revenue_min": "10"},
    {"postback": 2, "value": "medium", "events": ["purchase"]},
    {"postback": 3, "value": "low", "events": [{"name": "login", "count": 3}]}
  ],
  "lock_windows": [{"postback": 1, "lock_after_hours": 24},
                   {"postback": 2, "lock_on_event": "purchase"}]
}

\b
- fine_values: postback 1 only (days 0-2 after install), value 0-63 or a range
  value..value_to (inclusive); at most one rule per value.
- coarse_values: per postback 1, 2, 3 (days 0-2, 3-7, 8-35) and value low |
  medium | high; postbacks 2 and 3 carry only coarse values.
- revenue_min (inclusive) .. revenue_max (exclusive): the revenue bucket, a
  decimal string in `currency`; revenue_min alone = "and above". Not negative.
  revenue: an explicit estimate; else decoding takes the bucket's midpoint
  (an open bucket: its min).
- events: goal / action names the value stands for, with counts (default 1);
  a postback's conversions = the sum of the counts.
- The same fields are the SDK's conditions: it sets the highest fine value
  whose revenue bucket and event counts all hold. Rules with the same events
  must not have overlapping buckets.
- lock_windows: lock a postback's value early after lock_after_hours
  (postback 1: 1-48, 2: 49-168, 3: 169-840) and/or at lock_on_event.

\b
Every update writes a new version; old versions stay. A postback is decoded
with the version in force when it is received."""

app = typer.Typer(
    help="SKAN conversion-value schemas: per app, what each SKAdNetwork / AdAttributionKit value stands for "
    "(revenue buckets, events) and what the SDK applies to set it (GET /v1/skan/schema). Versioned.",
    no_args_is_help=True,
)

Stub = pb_grpc.SkanSchemaServiceStub
AppId = Annotated[str, typer.Argument(help="The app's id (`clicktrail app list`).", show_default=False)]


@app.command("show")
def show(
    app_id: AppId,
    version: Annotated[int, typer.Option("--version", min=0, help="A past version; default the current one.")] = 0,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Print the app's schema as its JSON file (the version and note go to stderr), ready to edit and `set`.

    With --json: the version's fields (version, create_time, note, the rules) as the API returns them.

    Examples:
      clicktrail skan-schema show app_123 > schema.json
      clicktrail skan-schema show app_123 --version 2
    """
    resp = rpc("attribution", Stub, "GetSkanSchema", pb.GetSkanSchemaRequest(app_id=app_id, version=version),
               account_creds(api_key))  # fmt: skip
    if json_out:
        emit(resp.schema, True)
        return
    s = resp.schema
    note(f"version {s.version}, {s.create_time.ToJsonString()}" + (f": {s.note}" if s.note else ""))
    print_json(orjson.loads(resp.schema_json))


@app.command("set", epilog=FORMAT_HELP)
def set_(
    app_id: AppId,
    file: Annotated[
        str,
        typer.Option("--file", "-f", help="The schema JSON file (format below); - reads stdin.", show_default=False),
    ],
    note_: Annotated[str, typer.Option("--note", help="What this version changes (kept with it).")] = "",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check the file; store nothing.")] = False,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Write a new version of the app's schema from a JSON file. Every problem is named by its field
    (e.g. schema.fine_values[3].revenue_min) and nothing is stored; the same schema again writes nothing.

    Examples:
      clicktrail skan-schema set app_123 --file schema.json --note "purchase buckets"
      clicktrail skan-schema set app_123 --file schema.json --dry-run
    """
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--file {file}: cannot read it ({exc})") from None
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise UsageError(f"--file {file}: not JSON ({exc}); see `clicktrail skan-schema set --help`") from None
    req = pb.UpdateSkanSchemaRequest(app_id=app_id, schema_json=text, note=note_, validate_only=dry_run)
    resp = rpc("attribution", Stub, "UpdateSkanSchema", req, account_creds(api_key))
    for warning in resp.warnings:
        note(f"warning: {warning}")
    if json_out:
        emit(resp.schema, True, extra={"changed": resp.changed, "dry_run": dry_run})
        return
    if dry_run:
        stdout().print(f"valid: it would be version {resp.schema.version}", markup=False)
    elif resp.changed:
        stdout().print(f"wrote version {resp.schema.version} of {app_id}'s SKAN schema", markup=False)
    else:
        stdout().print(f"unchanged: version {resp.schema.version} is already this schema", markup=False)


@app.command("versions")
def versions(
    app_id: AppId,
    limit: Limit = 50,
    page_token: PageToken = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """List the app's schema versions, newest first (`show --version N` prints one).

    Example:  clicktrail skan-schema versions app_01HZX3K5Q2W8 --json
    """
    items, token = list_pages(
        "attribution", Stub, "ListSkanSchemaVersions", pb.ListSkanSchemaVersionsRequest(app_id=app_id),
        "versions", account_creds(api_key), limit=limit, page_token=page_token,
    )  # fmt: skip
    if json_out:
        print_json({"versions": [to_dict(v) for v in items], "next_page_token": token})
        return
    if not items:
        note("no versions")
    for v in items:
        rules = f"{len(v.fine_values)} fine, {len(v.coarse_values)} coarse rules"
        line = f"v{v.version}  {v.create_time.ToJsonString()}  {v.currency}  {rules}" + (
            f"  {v.note}" if v.note else ""
        )
        stdout().print(line, markup=False)
    if token:
        note(f"more: --page-token {token}")
