"""AffiliateService: landers and pre-landers (pages before the offer)."""

from __future__ import annotations

import re
from typing import Any

import orjson
from clicktrail.links.v1 import affiliate_pb2 as apb
from google.protobuf import field_mask_pb2

from libs import auth
from libs.api import update_paths
from libs.errors import NotFound, Validator
from libs.ids import new_resource_id
from libs.macros import check_url_template
from services.links import affiliate_store as astore
from services.links.affiliate_messages import lander_msg
from services.links.affiliate_store import clear_flows
from services.links.base import LinksBase
from services.links.rules import check_name, enum_ok
from services.links.touches import DESTINATION_MACROS

LANDER_UPDATABLE = ("name", "url", "type", "macros")
# Where the lander's call to action points: the tracker's /lp/click for this click.
LANDER_CLICK_MACRO = "lander_click_url"
RESERVED_MACROS = frozenset((*DESTINATION_MACROS, LANDER_CLICK_MACRO))
MACRO_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")
MAX_MACROS = 50
MAX_MACRO_VALUE = 1024


def check_lander(lander: apb.Lander) -> tuple[str, str, int, dict[str, str]]:
    """Validates a whole lander (raising every violation); returns its name, URL,
    type and macros as stored."""
    v = Validator()
    check_name(v, "lander.name", lander.name)
    lander_type = lander.type or apb.LANDER_TYPE_LANDER
    v.check(enum_ok(apb.LanderType, lander_type), "lander.type", "is not a lander type: lander or prelander")
    v.check(len(lander.macros) <= MAX_MACROS, "lander.macros", f"at most {MAX_MACROS} macros")
    for name, value in sorted(lander.macros.items()):
        field = f"lander.macros[{name[:64]!r}]"
        if not MACRO_NAME.match(name):
            v.add(field, "a macro name is 1 to 64 letters, digits or underscores")
        elif name in RESERVED_MACROS:
            v.add(field, f"{{{name}}} is a click macro; the lander's own macros need other names")
        v.check(len(value) <= MAX_MACRO_VALUE, field, f"the value must be at most {MAX_MACRO_VALUE} characters")
    problem = check_url_template(lander.url, (*RESERVED_MACROS, *lander.macros))
    if problem:
        v.add("lander.url", problem)
    v.raise_if_any()
    return lander.name.strip(), lander.url, lander_type, dict(lander.macros)


class LanderRpcs(LinksBase):
    async def CreateLander(self, request: apb.CreateLanderRequest, context: Any) -> apb.CreateLanderResponse:
        account_id = auth.require_account()
        name, url, lander_type, macros = check_lander(request.lander)
        row = await self._pool.fetchrow(
            astore.INSERT_LANDER, account_id, new_resource_id("lnd"), name, url, lander_type,
            orjson.dumps(macros).decode(),
        )  # fmt: skip
        return apb.CreateLanderResponse(lander=lander_msg(row))

    async def GetLander(self, request: apb.GetLanderRequest, context: Any) -> apb.GetLanderResponse:
        account_id = auth.require_account()
        row = await self._get(astore.GET_LANDER, "lander", account_id, request.lander_id)
        return apb.GetLanderResponse(lander=lander_msg(row))

    async def ListLanders(self, request: apb.ListLandersRequest, context: Any) -> apb.ListLandersResponse:
        account_id = auth.require_account()
        rows, token = await self._page_after(request, astore.LIST_LANDERS, "lander_id", account_id)
        return apb.ListLandersResponse(landers=[lander_msg(r) for r in rows], next_page_token=token)

    async def UpdateLander(self, request: apb.UpdateLanderRequest, context: Any) -> apb.UpdateLanderResponse:
        account_id = auth.require_account()
        paths = update_paths(request.update_mask, request.lander, LANDER_UPDATABLE)
        lander_id = request.lander.lander_id
        async with self._pool.acquire() as conn, conn.transaction():
            cur = await conn.fetchrow(astore.LOCK_LANDER, account_id, lander_id)
            if cur is None:
                raise NotFound(f"lander {lander_id!r} not found")
            merged = lander_msg(cur)
            field_mask_pb2.FieldMask(paths=paths).MergeMessage(
                request.lander, merged, replace_message_field=True, replace_repeated_field=True
            )
            name, url, lander_type, macros = check_lander(merged)
            row = await conn.fetchrow(
                astore.UPDATE_LANDER, account_id, lander_id, name, url, lander_type, orjson.dumps(macros).decode()
            )
        clear_flows(self)
        return apb.UpdateLanderResponse(lander=lander_msg(row))

    async def DeleteLander(self, request: apb.DeleteLanderRequest, context: Any) -> apb.DeleteLanderResponse:
        account_id = auth.require_account()
        await astore.delete_unless_rotated(
            self._pool, "lander", account_id, request.lander_id,
            (astore.LOCK_LANDER, astore.STREAM_USING_LANDER, astore.DELETE_LANDER),
        )  # fmt: skip
        clear_flows(self)
        return apb.DeleteLanderResponse()
