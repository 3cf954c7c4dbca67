"""LinksService: apps (and their app keys)."""

from __future__ import annotations

from typing import Any

import asyncpg
from clicktrail.links.v1 import links_pb2 as pb

from libs import auth
from libs.api import update_paths
from libs.errors import FailedPrecondition, InvalidArgument, NotFound
from libs.ids import new_resource_id
from services.accounts.secrets import issue_secret
from services.links import deep_link_rules, rules, store
from services.links.base import LinksBase
from services.links.messages import app_msg


def _app_value(app: pb.App, path: str) -> Any:
    """The stored form of an updatable App field."""
    if path == "android_sha256_fingerprints":
        return deep_link_rules.fingerprints(list(app.android_sha256_fingerprints))
    if path == "apple_team_id":
        return deep_link_rules.team_id(app.apple_team_id)
    return getattr(app, path).strip()


class AppRpcs(LinksBase):
    async def CreateApp(self, request: pb.CreateAppRequest, context: Any) -> pb.CreateAppResponse:
        account_id = auth.require_account()
        app = request.app
        rules.validate_app(app, None)
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                store.INSERT_APP, account_id, new_resource_id("app"), app.name.strip(), app.platform,
                app.bundle_id.strip(), app.store_url, deep_link_rules.team_id(app.apple_team_id),
                app.apple_app_id.strip(), deep_link_rules.fingerprints(list(app.android_sha256_fingerprints)),
            )  # fmt: skip
            app_key = await issue_secret(conn, self._keys, account_id, "app", row["app_id"])
        return pb.CreateAppResponse(app=app_msg(row), app_key=app_key)

    async def GetApp(self, request: pb.GetAppRequest, context: Any) -> pb.GetAppResponse:
        account_id = auth.require_account()
        row = await self._get(store.GET_APP, "app", account_id, request.app_id)
        return pb.GetAppResponse(app=app_msg(row))

    async def ListApps(self, request: pb.ListAppsRequest, context: Any) -> pb.ListAppsResponse:
        account_id = auth.require_account()
        rows, token = await self._page_after(
            request, store.LIST_APPS, "app_id", account_id, request.apple_app_id.strip() or None
        )
        return pb.ListAppsResponse(apps=[app_msg(r) for r in rows], next_page_token=token)

    async def UpdateApp(self, request: pb.UpdateAppRequest, context: Any) -> pb.UpdateAppResponse:
        account_id = auth.require_account()
        paths = update_paths(request.update_mask, request.app, rules.APP_UPDATABLE)
        rules.validate_app(request.app, paths)
        row = await self._pool.fetchrow(
            store.update_sql("apps", "app_id", paths, rules.APP_UPDATABLE),
            account_id,
            request.app.app_id,
            *[_app_value(request.app, p) for p in paths],
        )
        if row is None:
            raise NotFound(f"app {request.app.app_id!r} not found")
        return pb.UpdateAppResponse(app=app_msg(row))

    async def DeleteApp(self, request: pb.DeleteAppRequest, context: Any) -> pb.DeleteAppResponse:
        account_id = auth.require_account()
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                deleted = await conn.fetchval(store.DELETE_APP, account_id, request.app_id)
                if deleted is None:
                    raise NotFound(f"app {request.app_id!r} not found")
                keys = await conn.fetch(store.REVOKE_APP_KEYS, account_id, request.app_id)
        except asyncpg.ForeignKeyViolationError:
            raise FailedPrecondition(
                f"app {request.app_id} is used by campaigns or links; change or delete those first"
            ) from None
        for k in keys:
            self._keys.invalidate(k["key_id"])
        return pb.DeleteAppResponse()

    async def RotateAppKey(self, request: pb.RotateAppKeyRequest, context: Any) -> pb.RotateAppKeyResponse:
        account_id = auth.require_account()
        async with self._pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval(store.LOCK_APP, account_id, request.app_id):
                raise NotFound(f"app {request.app_id!r} not found")
            key = await issue_secret(conn, self._keys, account_id, "app", request.app_id)
        return pb.RotateAppKeyResponse(app_key=key)

    async def LookupApps(self, request: pb.LookupAppsRequest, context: Any) -> pb.LookupAppsResponse:
        """Apps by App Store id: across accounts for the internal / gateway / admin
        tokens (narrowed to request.account_id when set); an account key sees its own."""
        apple_app_id = request.apple_app_id.strip()
        if not deep_link_rules.APPLE_APP_ID.fullmatch(apple_app_id):
            raise InvalidArgument("apple_app_id", f"must be the App Store id (digits only); got {apple_app_id!r}")
        p = auth.principal()
        if p.kind in ("internal", "gateway", "admin"):
            account_id: str | None = request.account_id or p.account_id or None
        else:
            account_id = auth.require_account()
        rows = await self._pool.fetch(store.LOOKUP_APPS, apple_app_id, account_id)
        return pb.LookupAppsResponse(matches=[pb.AppMatch(account_id=r["account_id"], app=app_msg(r)) for r in rows])
