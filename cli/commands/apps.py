"""`clicktrail app ...`: the apps links install, each with an events-only app key."""

from __future__ import annotations

from typing import Annotated

import typer
from clicktrail.links.v1 import links_pb2 as pb
from clicktrail.links.v1 import links_pb2_grpc as pb_grpc

from cli.choices import Platform
from cli.common import (
    ApiKey,
    JsonOut,
    Limit,
    PageToken,
    account_creds,
    emit,
    emit_deleted,
    emit_list,
    enum_number,
    field_mask,
    list_pages,
    note,
    print_json,
    rpc,
    stdout,
)

app = typer.Typer(help="Apps: the iOS, Android and web apps your campaigns drive installs to.", no_args_is_help=True)

Stub = pb_grpc.LinksServiceStub
PLATFORM = pb.Platform.DESCRIPTOR
COLUMNS = ["app_id", "name", "platform", "bundle_id", "store_url", "create_time"]
AppId = Annotated[str, typer.Argument(help="The app's id.", show_default=False)]


@app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="App name.")],
    platform: Annotated[Platform, typer.Option("--platform", case_sensitive=False, help="Platform.")],
    bundle_id: Annotated[
        str, typer.Option("--bundle-id", help="Bundle id / package name (required for ios and android).")
    ] = "",
    store_url: Annotated[str, typer.Option("--store-url", help="App Store / Google Play URL.")] = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Create an app; prints its app_id and app_key (shown once; it can only send events).

    Example:  clicktrail app create --name "Space Miner" --platform android --bundle-id com.acme.spaceminer
    """
    msg = pb.App(name=name, platform=enum_number(PLATFORM, platform), bundle_id=bundle_id, store_url=store_url)
    resp = rpc("links", Stub, "CreateApp", pb.CreateAppRequest(app=msg), account_creds(api_key))
    emit(resp.app, json_out, extra={"app_key": resp.app_key})
    if not json_out:
        note("The app key is shown only once: put it in the app's SDK configuration.")


@app.command("list")
def list_(limit: Limit = 50, page_token: PageToken = "", api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """List the account's apps.

    Example:  clicktrail app list --json
    """
    items, nxt = list_pages(
        "links",
        Stub,
        "ListApps",
        pb.ListAppsRequest(),
        "apps",
        account_creds(api_key),
        limit=limit,
        page_token=page_token,
    )
    emit_list(items, "apps", COLUMNS, json_out, nxt)


@app.command("get")
def get(app_id: AppId, api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """Show one app.

    Example:  clicktrail app get APP_ID
    """
    resp = rpc("links", Stub, "GetApp", pb.GetAppRequest(app_id=app_id), account_creds(api_key))
    emit(resp.app, json_out)


@app.command("update")
def update(
    app_id: AppId,
    name: Annotated[str | None, typer.Option("--name", help="New name.")] = None,
    bundle_id: Annotated[str | None, typer.Option("--bundle-id", help="New bundle id.")] = None,
    store_url: Annotated[str | None, typer.Option("--store-url", help="New store URL.")] = None,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Change an app's name, bundle id or store URL (only the flags given change).

    Example:  clicktrail app update APP_ID --store-url https://play.google.com/store/apps/details?id=com.acme.spaceminer
    """
    msg = pb.App(app_id=app_id)
    paths = []
    for path, value in (("name", name), ("bundle_id", bundle_id), ("store_url", store_url)):
        if value is not None:
            setattr(msg, path, value)
            paths.append(path)
    req = pb.UpdateAppRequest(app=msg)
    req.update_mask.paths.extend(field_mask(paths))
    resp = rpc("links", Stub, "UpdateApp", req, account_creds(api_key))
    emit(resp.app, json_out)


@app.command("delete")
def delete(app_id: AppId, api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """Delete an app.

    Example:  clicktrail app delete APP_ID
    """
    rpc("links", Stub, "DeleteApp", pb.DeleteAppRequest(app_id=app_id), account_creds(api_key))
    emit_deleted("app", app_id, json_out)


@app.command("rotate-key")
def rotate_key(app_id: AppId, api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """Issue a new app key; the old one stops working at once.

    Example:  clicktrail app rotate-key APP_ID
    """
    resp = rpc("links", Stub, "RotateAppKey", pb.RotateAppKeyRequest(app_id=app_id), account_creds(api_key))
    if json_out:
        print_json({"app_id": app_id, "app_key": resp.app_key})
    else:
        stdout().print(resp.app_key, markup=False)
        note("The old app key no longer works: ship the new one in the app's SDK configuration.")
