"""`clicktrail privacy ...`: GDPR erasure of one person's data across every service."""

from __future__ import annotations

import secrets
from typing import Annotated

import typer
from clicktrail.privacy.v1 import privacy_pb2 as pb
from clicktrail.privacy.v1 import privacy_pb2_grpc as pb_grpc

from cli.common import (
    ApiKey,
    JsonOut,
    Limit,
    PageToken,
    UsageError,
    account_creds,
    emit_list,
    list_pages,
    print_json,
    rpc,
    stdout,
)
from libs.ids import new_id

app = typer.Typer(help="GDPR: erase a person's personal data, keeping the aggregates.", no_args_is_help=True)

Stub = pb_grpc.PrivacyServiceStub
# Where the person's ids link to more of their ids (an install's device, a click's device ...).
FINDERS = ("ingest", "attribution", "links")
# Erased in this order: the services that link ids last, so an erasure cut short
# can simply be run again and still finds everything.
ERASERS = ("postbacks", "links", "attribution", "ingest", "analytics")
MAX_ROUNDS = 4


@app.command("erase")
def erase(
    user_id: Annotated[list[str] | None, typer.Option("--user-id", help="The person's user id (repeatable).")] = None,
    device_id: Annotated[
        list[str] | None, typer.Option("--device-id", help="An IDFA, GAID, IDFV or Android id (repeatable).")
    ] = None,
    click_id: Annotated[
        list[str] | None, typer.Option("--click-id", help="One of their click ids (repeatable).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show what would be erased.")] = False,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Erase one person's personal data in every service.

    Finds every id linked to the ones given (the devices of their events and
    installs, the clicks they came from), then, in each service: removes device
    ids, IP addresses, User-Agents, referrers and free-form properties; replaces
    user ids with one pseudonym, so DAU, installs, conversions, revenue and every
    report stay the same; cancels postbacks not sent yet and redacts sent ones
    (their ids and the IP addresses found on their rows); reaches their jobs in
    every work queue, dead letters included, and the inbound postback log.
    Each service logs the erasure (`clicktrail privacy list`). Running it again
    for the same person erases nothing more.

    Example:  clicktrail privacy erase --user-id player-42 --device-id 6d92078a-8246-4ba4-ae5b-76104861e7dc
    """
    creds = account_creds(api_key)
    users, devices, clicks = set(user_id or []), {d.lower() for d in device_id or []}, set(click_id or [])
    ips: set[str] = set()  # found on their rows: redacted with their ids
    if not (users or devices or clicks):
        raise UsageError("name the person: give --user-id, --device-id or --click-id")
    erasure_id = new_id()
    pseudonym = "erased:" + secrets.token_hex(16)

    def request(validate_only: bool) -> pb.ErasePersonalDataRequest:
        return pb.ErasePersonalDataRequest(
            user_ids=sorted(users), device_ids=sorted(devices), click_ids=sorted(clicks),
            erasure_id=erasure_id, pseudonym=pseudonym, validate_only=validate_only, ips=sorted(ips),
        )  # fmt: skip

    # Grow the set of ids until no service knows of another one.
    for _ in range(MAX_ROUNDS):
        before = len(users) + len(devices) + len(clicks)
        for service in FINDERS:
            found = rpc(service, Stub, "ErasePersonalData", request(True), creds)
            users.update(found.user_ids)
            devices.update(found.device_ids)
            clicks.update(found.click_ids)
            ips.update(found.ips)
        if len(users) + len(devices) + len(clicks) == before:
            break
    rows: dict[str, dict[str, int]] = {}
    for service in ERASERS:
        done = rpc(service, Stub, "ErasePersonalData", request(dry_run), creds)
        rows[service] = dict(sorted(done.rows.items()))
    result = {
        "erasure_id": "" if dry_run else erasure_id,
        "dry_run": dry_run,
        "ids": {"user_ids": len(users), "device_ids": len(devices), "click_ids": len(clicks)},
        "rows": rows,
    }
    if json_out:
        print_json(result)
        return
    out = stdout()
    verb = "would erase" if dry_run else "erased"
    out.print(f"{verb}: {len(users)} user ids, {len(devices)} device ids, {len(clicks)} click ids", markup=False)
    for tables in rows.values():
        for table, n in tables.items():
            out.print(f"  {table:<28} {n:>8} rows", markup=False)
    if not dry_run:
        out.print(f"erasure {erasure_id} (logged by each service)", markup=False)


@app.command("list")
def list_erasures(
    service: Annotated[
        str, typer.Option("--service", help="Whose log: links, ingest, attribution, postbacks or analytics.")
    ] = "links",
    limit: Limit = 50,
    page_token: PageToken = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """List the erasures a service carried out for the account, newest first.

    Example:  clicktrail privacy list --service ingest
    """
    if service not in ERASERS:
        raise UsageError(f"--service must be one of {', '.join(ERASERS)}")
    items, nxt = list_pages(
        service, Stub, "ListErasures", pb.ListErasuresRequest(), "erasures", account_creds(api_key),
        limit=limit, page_token=page_token,
    )  # fmt: skip
    emit_list(items, "erasures", ["erasure_id", "service", "erase_time", "rows"], json_out, nxt)
