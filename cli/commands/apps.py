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
COLUMNS = ["app_id", "name", "platform", "bundle_id", "apple_app_id", "store_url", "create_time"]
AppId = Annotated[str, typer.Argument(help="The app's id.", show_default=False)]
# Deep links and SKAdNetwork: the app's Apple and Android identities.
TEAM_HELP = (
    "Apple Developer Team ID (10 characters A-Z 0-9, developer.apple.com > Membership): with the bundle id it "
    "makes the app id TEAMID.bundle of /.well-known/apple-app-site-association (universal links)."
)
APP_STORE_HELP = "App Store id, digits only (apps.apple.com/app/id<THIS>): SKAdNetwork postbacks name the app by it."
PRINT_HELP = (
    "SHA-256 fingerprint of an Android signing certificate (AA:BB:..., 32 pairs; `keytool -list -v` or Play "
    "Console > App integrity), for /.well-known/assetlinks.json (App Links). Repeat for several."
)
TeamId = Annotated[str | None, typer.Option("--apple-team-id", help=TEAM_HELP, show_default=False)]
AppStoreId = Annotated[str | None, typer.Option("--apple-app-id", help=APP_STORE_HELP, show_default=False)]
Fingerprints = Annotated[list[str] | None, typer.Option("--android-fingerprint", help=PRINT_HELP, show_default=False)]


@app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="App name.")],
    platform: Annotated[Platform, typer.Option("--platform", case_sensitive=False, help="Platform.")],
    bundle_id: Annotated[
        str, typer.Option("--bundle-id", help="Bundle id / package name (required for ios and android).")
    ] = "",
    store_url: Annotated[str, typer.Option("--store-url", help="App Store / Google Play URL.")] = "",
    apple_team_id: TeamId = None,
    apple_app_id: AppStoreId = None,
    android_fingerprints: Fingerprints = None,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Create an app; prints its app_id and app_key (shown once; it can only send events).

    Example:  clicktrail app create --name "Space Miner" --platform android --bundle-id com.acme.spaceminer
    --android-fingerprint 14:6D:E9:...:5E

    Example:  clicktrail app create --name "Space Miner" --platform ios --bundle-id com.acme.spaceminer
    --apple-team-id ABCDE12345 --apple-app-id 1234567890
    """
    msg = pb.App(
        name=name, platform=enum_number(PLATFORM, platform), bundle_id=bundle_id, store_url=store_url,
        apple_team_id=apple_team_id or "", apple_app_id=apple_app_id or "",
        android_sha256_fingerprints=android_fingerprints or [],
    )  # fmt: skip
    resp = rpc("links", Stub, "CreateApp", pb.CreateAppRequest(app=msg), account_creds(api_key))
    emit(resp.app, json_out, extra={"app_key": resp.app_key})
    if not json_out:
        note("The app key is shown only once: put it in the app's SDK configuration.")


@app.command("list")
def list_(
    limit: Limit = 50,
    page_token: PageToken = "",
    apple_app_id: Annotated[
        str, typer.Option("--apple-app-id", help="Only the app with this App Store id.", show_default=False)
    ] = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """List the account's apps.

    Example:  clicktrail app list --json

    Example:  clicktrail app list --apple-app-id 1234567890
    """
    items, nxt = list_pages(
        "links",
        Stub,
        "ListApps",
        pb.ListAppsRequest(apple_app_id=apple_app_id),
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
    apple_team_id: TeamId = None,
    apple_app_id: AppStoreId = None,
    android_fingerprints: Annotated[
        list[str] | None,
        typer.Option("--android-fingerprint", help=PRINT_HELP + " Replaces the app's list.", show_default=False),
    ] = None,
    clear_android_fingerprints: Annotated[
        bool, typer.Option("--clear-android-fingerprints", help="Remove every Android signing fingerprint.")
    ] = False,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Change an app's name, bundle id, store URL, Apple team id / App Store id or Android
    signing fingerprints (only the flags given change; "" clears a text field).

    Example:  clicktrail app update APP_ID --store-url https://play.google.com/store/apps/details?id=com.acme.spaceminer

    Example:  clicktrail app update APP_ID --apple-team-id ABCDE12345 --apple-app-id 1234567890
    """
    msg = pb.App(app_id=app_id)
    paths = []
    for path, value in (
        ("name", name), ("bundle_id", bundle_id), ("store_url", store_url), ("apple_team_id", apple_team_id),
        ("apple_app_id", apple_app_id),
    ):  # fmt: skip
        if value is not None:
            setattr(msg, path, value)
            paths.append(path)
    if android_fingerprints is not None or clear_android_fingerprints:
        msg.android_sha256_fingerprints.extend([] if clear_android_fingerprints else android_fingerprints or [])
        paths.append("android_sha256_fingerprints")
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
