"""`clicktrail account ...`: tenants, their API keys and postback tokens."""

from __future__ import annotations

from typing import Annotated

import typer
from clicktrail.accounts.v1 import accounts_pb2 as pb
from clicktrail.accounts.v1 import accounts_pb2_grpc as pb_grpc

from cli.common import (
    ApiKey,
    Creds,
    JsonOut,
    Limit,
    PageToken,
    account_creds,
    admin_creds,
    emit,
    emit_list,
    list_pages,
    note,
    print_json,
    rpc,
    stdout,
)

app = typer.Typer(
    help="Accounts (tenants). Creating and listing them takes the operator admin token "
    "(CLICKTRAIL_ADMIN_TOKEN or .clicktrail/admin-token).",
    no_args_is_help=True,
)

Stub = pb_grpc.AccountServiceStub
AccountIdArg = Annotated[
    str,
    typer.Argument(
        show_default=False,
        help="Another account's id (needs the admin token); default: the account of the API key.",
    ),
]


def _creds(account_id: str, api_key: str) -> Creds:
    """Admin token for an explicit account id, else the account's own key."""
    return admin_creds(account_id) if account_id else account_creds(api_key)


@app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="Account name.")],
    currency: Annotated[str, typer.Option("--currency", help="Reporting currency, ISO 4217.")] = "USD",
    time_zone: Annotated[str, typer.Option("--time-zone", help="IANA time zone for reports.")] = "UTC",
    json_out: JsonOut = False,
) -> None:
    """Create an account; prints its account_id, api_key and postback_token.

    The API key and postback token are shown only once: keep them.

    Example:  clicktrail account create --name "Acme Games" --currency EUR --time-zone Europe/Berlin
    """
    req = pb.CreateAccountRequest(name=name, currency_code=currency, time_zone=time_zone)
    resp = rpc("accounts", Stub, "CreateAccount", req, admin_creds())
    emit(resp.account, json_out, extra={"api_key": resp.api_key, "postback_token": resp.postback_token})
    if not json_out:
        note("The API key and postback token are shown only once. Use the key with:")
        note(f"  export CLICKTRAIL_API_KEY={resp.api_key}")


@app.command("get")
def get(account_id: AccountIdArg = "", api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """Show an account (default: the account of the API key).

    Example:  clicktrail account get
    """
    resp = rpc("accounts", Stub, "GetAccount", pb.GetAccountRequest(account_id=account_id), _creds(account_id, api_key))
    emit(resp.account, json_out)


@app.command("list")
def list_(limit: Limit = 50, page_token: PageToken = "", json_out: JsonOut = False) -> None:
    """List every account (operator only: takes the admin token).

    Example:  clicktrail account list --limit 10
    """
    items, nxt = list_pages(
        "accounts",
        Stub,
        "ListAccounts",
        pb.ListAccountsRequest(),
        "accounts",
        admin_creds(),
        limit=limit,
        page_token=page_token,
    )
    emit_list(items, "accounts", ["account_id", "name", "currency_code", "time_zone", "create_time"], json_out, nxt)


@app.command("rotate-key")
def rotate_key(account_id: AccountIdArg = "", api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """Issue a new API key; the old one stops working at once.

    Example:  clicktrail account rotate-key
    """
    resp = rpc(
        "accounts", Stub, "RotateApiKey", pb.RotateApiKeyRequest(account_id=account_id), _creds(account_id, api_key)
    )
    if json_out:
        print_json({"api_key": resp.api_key})
    else:
        stdout().print(resp.api_key, markup=False)
        note("The old key no longer works. Use the new one with:")
        note(f"  export CLICKTRAIL_API_KEY={resp.api_key}")


@app.command("rotate-postback-token")
def rotate_postback_token(account_id: AccountIdArg = "", api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """Issue a new inbound-postback token; the old one stops working at once.

    Update the token in every network's postback URL afterwards.

    Example:  clicktrail account rotate-postback-token --json
    """
    resp = rpc(
        "accounts",
        Stub,
        "RotatePostbackToken",
        pb.RotatePostbackTokenRequest(account_id=account_id),
        _creds(account_id, api_key),
    )
    if json_out:
        print_json({"postback_token": resp.postback_token})
    else:
        stdout().print(resp.postback_token, markup=False)
        note("The old postback token no longer works.")
