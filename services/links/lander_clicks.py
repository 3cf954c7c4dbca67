"""AffiliateService.RecordLanderClicks: the lander click-through (/lp/click).

The gateway forwards the click id a lander's call to action carries (or the
`ctc` cookie); each is recorded once on its click (links.lander_clicks) and
answered with the offer the click was given, rendered for that click, while
it is still eligible (active, country allowed, not capped); else another
eligible offer of the click's stream, else the cap action / campaign fallback.
A click of a campaign paused or archived since goes to the campaign's fallback,
unrecorded (as its link's /c does). The click's offer as GetClick /
LookupTouches show it is the one its click-through went to (store.GET_CLICK)."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import asyncpg
from clicktrail.links.v1 import affiliate_pb2 as apb
from clicktrail.links.v1 import links_pb2 as pb

from libs import auth
from libs.errors import InvalidArgument
from libs.ids import id_time, is_valid_id
from services.links import lander_store as ls
from services.links import rules
from services.links.base import LinksBase
from services.links.flow import Flow, choose_offer, click_values, render_offer_url
from services.links.flow_cache import LIVE, caps_view

NOT_FOUND = pb.TouchResult(outcome=pb.TOUCH_OUTCOME_NOT_FOUND)
_rng = random.Random()


class LanderClickRpcs(LinksBase):
    async def RecordLanderClicks(
        self, request: apb.RecordLanderClicksRequest, context: Any
    ) -> apb.RecordLanderClicksResponse:
        auth.require_gateway()
        if len(request.clicks) > rules.MAX_TOUCH_BATCH:
            raise InvalidArgument("clicks", f"at most {rules.MAX_TOUCH_BATCH} per call")
        rows = await self._find_clicks(request.clicks)
        now = dt.datetime.now(dt.UTC)
        found = [r for r in rows if r is not None]
        flows: dict[tuple[str, str], Flow | None] = await self.flows.get_many(
            {(r["account_id"], r["campaign_id"]) for r in found}
        )
        # Last before the decisions (no await between): the caps as fresh as they get.
        await self.caps.ensure({r["account_id"] for r in found}, now)
        inserts: list[tuple[Any, ...]] = []
        answered: dict[tuple[str, str], pb.TouchResult] = {}
        first: dict[tuple[str, str], asyncpg.Record] = {}
        for row in rows:
            if row is None:
                continue
            key = (row["account_id"], row["click_id"])
            if key in answered:  # asked twice in one call: one choice
                continue
            first[key] = row
            if row["campaign_status"] not in LIVE:  # paused / archived since the click: as /c, unrecorded
                answered[key] = _result(row, pb.TOUCH_OUTCOME_FALLBACK, row["fallback_url"] or "")
                continue
            keep = row["through_offer_id"] if row["through"] else row["offer_id"]
            answered[key], offer_id = self._through(row, flows.get((row["account_id"], row["campaign_id"])), now, keep)
            if not row["through"]:
                inserts.append((
                    row["account_id"], row["click_id"], row["create_time"], row["campaign_id"], row["link_id"],
                    row["stream_id"], row["lander_id"], offer_id,
                ))  # fmt: skip
        # A concurrent click-through of the same click was recorded first: the
        # visitor goes where it went (its offer, while still eligible), the offer
        # the lander click names.
        for key, stored in (await ls.insert_lander_clicks(self._pool, inserts)).items():
            row = first[key]
            answered[key] = self._through(row, flows.get((row["account_id"], row["campaign_id"])), now, stored)[0]
        results = [NOT_FOUND if r is None else answered[(r["account_id"], r["click_id"])] for r in rows]
        return apb.RecordLanderClicksResponse(results=results)

    async def _find_clicks(self, inputs: Any) -> list[asyncpg.Record | None]:
        """The click row of each input that went to a lander (None: not found).
        On a registered custom domain, only the domain's account's clicks; on a host
        that is neither one nor the tracker's own, none."""
        hosts = [ls.normalise_host(c.host) for c in inputs]
        owners = await ls.domain_accounts(self._pool, hosts)
        by_id: list[int] = []
        by_account: list[int] = []
        for n, c in enumerate(inputs):
            if not is_valid_id(c.click_id):
                continue
            if hosts[n] in owners:
                by_account.append(n)
            elif not hosts[n] or self.own_hosts is None or hosts[n] in self.own_hosts:  # else an unknown host
                by_id.append(n)
        rows: list[asyncpg.Record | None] = [None] * len(inputs)
        if by_id:
            got = await ls.clicks_by_id(
                self._pool, [inputs[n].click_id for n in by_id], [id_time(inputs[n].click_id) for n in by_id]
            )
            for n in by_id:
                rows[n] = got.get(inputs[n].click_id)
        if by_account:
            accounts = [owners[hosts[n]] for n in by_account]
            got_of = await ls.clicks_of_accounts(
                self._pool,
                [inputs[n].click_id for n in by_account],
                [id_time(inputs[n].click_id) for n in by_account],
                accounts,
            )
            for n, account_id in zip(by_account, accounts, strict=True):
                rows[n] = got_of.get((account_id, inputs[n].click_id))
        # A click that went to no lander has no click-through.
        return [r if r is not None and r["lander_id"] and r["stream_id"] else None for r in rows]

    def _through(
        self, row: asyncpg.Record, flow: Flow | None, now: dt.datetime, keep: str | None
    ) -> tuple[pb.TouchResult, str | None]:
        """The click-through's answer and the offer it goes to (None: none). ``keep``:
        the offer to keep while it is eligible (a repeat click-through keeps the
        offer the first one went to; a first one, the click's)."""
        stream = flow.by_id.get(row["stream_id"]) if flow is not None else None
        if flow is None or stream is None:  # the flow or the stream was deleted since the click
            return _result(row, pb.TOUCH_OUTCOME_FALLBACK, row["fallback_url"] or ""), None
        capped = caps_view(self.caps, row["account_id"], now)
        pick = choose_offer(flow, stream, row["country"] or "", capped, _rng, keep=keep)
        if pick.offer is None:  # the cap action's URL, else the campaign's fallback
            return _result(row, pb.TOUCH_OUTCOME_FALLBACK, pick.location), None
        location = render_offer_url(pick.offer, click_values(row))
        return _result(row, pb.TOUCH_OUTCOME_RECORDED, location), pick.offer.offer_id


def _result(row: asyncpg.Record, outcome: pb.TouchOutcome, location: str) -> pb.TouchResult:
    return pb.TouchResult(outcome=outcome, location=location, touch_id=row["click_id"], verdict=row["verdict"])
