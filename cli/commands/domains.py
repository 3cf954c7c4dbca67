"""`clicktrail domain ...`: the account's custom tracking domains."""

from __future__ import annotations

from typing import Annotated

import typer
from clicktrail.links.v1 import affiliate_pb2 as pb
from clicktrail.links.v1 import affiliate_pb2_grpc as pb_grpc

from cli.common import (
    ApiKey,
    JsonOut,
    Limit,
    PageToken,
    account_creds,
    emit,
    emit_list,
    list_pages,
    print_json,
    rpc,
    stdout,
)

app = typer.Typer(
    help="Custom tracking domains: links with --domain are served on them (and only there), and their "
    "click_url uses the domain. Point the domain's DNS at your reverse proxy, which terminates TLS "
    "(README: Caddy / Traefik) in front of the gateway. One account per domain.",
    no_args_is_help=True,
)

Stub = pb_grpc.AffiliateServiceStub
COLUMNS = ["name", "root_url", "create_time"]
DomainName = Annotated[str, typer.Argument(help="The host name, e.g. track.example.com.", show_default=False)]


@app.command("add")
def add(
    name: DomainName,
    root_url: Annotated[
        str, typer.Option("--root-url", help="Where a request for the domain's root (/) goes; default: 404.")
    ] = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Register a tracking domain for the account (refused when another account has it).

    Example:  clicktrail domain add track.acme.example --root-url https://acme.example/
    Then:     clicktrail link create --campaign CAMPAIGN_ID --url 'https://…' --domain track.acme.example
    """
    msg = pb.Domain(name=name, root_url=root_url)
    resp = rpc("links", Stub, "CreateDomain", pb.CreateDomainRequest(domain=msg), account_creds(api_key))
    emit(resp.domain, json_out)


@app.command("list")
def list_(limit: Limit = 50, page_token: PageToken = "", api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """List the account's tracking domains.

    Example:  clicktrail domain list
    """
    items, nxt = list_pages(
        "links", Stub, "ListDomains", pb.ListDomainsRequest(), "domains", account_creds(api_key),
        limit=limit, page_token=page_token,
    )  # fmt: skip
    emit_list(items, "domains", COLUMNS, json_out, nxt)


@app.command("get")
def get(name: DomainName, api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """Show one tracking domain.

    Example:  clicktrail domain get track.acme.example
    """
    resp = rpc("links", Stub, "GetDomain", pb.GetDomainRequest(name=name), account_creds(api_key))
    emit(resp.domain, json_out)


@app.command("delete")
def delete(name: DomainName, api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """Remove a tracking domain (refused while links are served on it: move them first).

    Example:  clicktrail domain delete track.acme.example
    """
    rpc("links", Stub, "DeleteDomain", pb.DeleteDomainRequest(name=name), account_creds(api_key))
    if json_out:
        print_json({"name": name, "deleted": True})
    else:
        stdout().print(f"deleted domain {name}", markup=False)
