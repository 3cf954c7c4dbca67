"""AffiliateService: offers (a network's landing, payout, countries, caps)."""

from __future__ import annotations

import dataclasses
import decimal
from typing import Any

import asyncpg
from clicktrail.links.v1 import affiliate_pb2 as apb
from google.protobuf import field_mask_pb2

from libs import auth
from libs.api import parse_money, update_paths
from libs.errors import InvalidArgument, NotFound, Validator
from libs.ids import new_resource_id
from services.links import affiliate_store as astore
from services.links import store
from services.links.affiliate_messages import offer_msg
from services.links.affiliate_rules import COUNTRIES
from services.links.affiliate_store import clear_flows
from services.links.base import LinksBase
from services.links.rules import check_name, check_plain_url, check_template, enum_ok

OFFER_UPDATABLE = (
    "name", "partner_id", "url", "payout_type", "payout", "countries", "daily_cap", "total_cap",
    "cap_action", "cap_url", "status",
)  # fmt: skip
MAX_COUNTRIES = 300
# Active ISO 4217 codes (and the precious metals and SDR, which some networks pay in).
CURRENCIES = frozenset(
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD CAD CDF"
    " CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD"
    " GNF GTQ GYD HKD HNL HRK HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP"
    " LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN"
    " PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS"
    " TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG XAU XCD XCG XDR XOF XPD"
    " XPF XPT YER ZAR ZMW ZWG ZWL".split()
)


@dataclasses.dataclass(frozen=True)
class OfferValues:
    """An offer's columns as stored (affiliate_store.OFFER_COLUMNS order)."""

    name: str
    partner_id: str
    url: str
    payout_type: int
    payout_amount: decimal.Decimal | None
    payout_currency: str | None
    countries: list[str]
    daily_cap: int
    total_cap: int
    cap_action: int
    cap_url: str
    status: int

    def row(self) -> tuple[Any, ...]:
        return dataclasses.astuple(self)


def _payout(v: Validator, o: apb.Offer, payout_type: int) -> tuple[decimal.Decimal | None, str | None]:
    amount, currency = o.payout.amount.strip(), o.payout.currency_code.strip().upper()
    if not amount:
        v.check(payout_type != apb.PAYOUT_TYPE_FIXED, "offer.payout.amount", "is required for a fixed payout")
        if currency and currency not in CURRENCIES:
            v.add("offer.payout.currency_code", f"{currency[:20]!r} is not an ISO 4217 currency code like USD")
        return None, currency or None
    try:
        value, currency = parse_money(amount, currency, "offer.payout")
    except InvalidArgument as e:
        v.violations.extend(e.violations)
        return None, None
    v.check(value >= 0, "offer.payout.amount", "must not be negative")
    v.check(currency in CURRENCIES, "offer.payout.currency_code", f"{currency!r} is not an ISO 4217 currency code")
    return value, currency


def check_offer(o: apb.Offer) -> tuple[Validator, OfferValues]:
    """Validates a whole offer (a new one, or the current one with an update's
    fields merged in); returns the validator (the store adds its partner check)
    and the values to store, defaults applied."""
    v = Validator()
    check_name(v, "offer.name", o.name)
    v.check(bool(o.partner_id), "offer.partner_id", "is required: the network (a partner) that runs the offer")
    check_template(v, "offer.url", o.url, required=True)
    payout_type = o.payout_type or apb.PAYOUT_TYPE_POSTBACK
    v.check(enum_ok(apb.PayoutType, payout_type), "offer.payout_type", "is not a payout type: postback or fixed")
    amount, currency = _payout(v, o, payout_type)
    countries: list[str] = []
    v.check(len(o.countries) <= MAX_COUNTRIES, "offer.countries", f"at most {MAX_COUNTRIES} countries")
    for i, raw in enumerate(o.countries[:MAX_COUNTRIES]):
        code = raw.strip().upper()
        if code not in COUNTRIES:
            v.add(f"offer.countries[{i}]", f"{raw[:20]!r} is not an ISO 3166-1 alpha-2 country code like US")
        elif code not in countries:
            countries.append(code)
    v.check(o.daily_cap >= 0, "offer.daily_cap", "must not be negative (0: no daily cap)")
    v.check(o.total_cap >= 0, "offer.total_cap", "must not be negative (0: no total cap)")
    cap_action = o.cap_action or apb.CAP_ACTION_NEXT_OFFER
    v.check(
        enum_ok(apb.CapAction, cap_action), "offer.cap_action", "is not a cap action: next_offer, redirect, fallback"
    )
    if cap_action == apb.CAP_ACTION_REDIRECT and not o.cap_url:
        v.add("offer.cap_url", "is required when cap_action is REDIRECT")
    check_plain_url(v, "offer.cap_url", o.cap_url)
    status = o.status or apb.OFFER_STATUS_ACTIVE
    v.check(enum_ok(apb.OfferStatus, status), "offer.status", "is not an offer status: active or paused")
    values = OfferValues(
        o.name.strip(), o.partner_id, o.url, payout_type, amount, currency, countries,
        o.daily_cap, o.total_cap, cap_action, o.cap_url, status,
    )  # fmt: skip
    return v, values


class OfferRpcs(LinksBase):
    async def _offer_msgs(self, account_id: str, rows: list[asyncpg.Record]) -> list[apb.Offer]:
        """The rows as messages with their cap counts (one query for all)."""
        offers = [offer_msg(r) for r in rows]
        counts = await self.caps.counts(account_id, [o.offer_id for o in offers]) if offers else {}
        for o in offers:
            c = counts.get(o.offer_id)
            if c is not None:
                o.conversions_today, o.conversions_total, o.capped = c.today, c.total, c.capped
        return offers

    async def _check_offer_partner(self, v: Validator, conn: Any, account_id: str, partner_id: str) -> None:
        if partner_id and not await store.exists(conn, store.PARTNER_EXISTS, account_id, partner_id):
            v.add("offer.partner_id", f"partner {partner_id!r} not found")

    def _offer_changed(self, account_id: str) -> None:
        self.caps.invalidate(account_id)  # the caps and status the click path checks
        clear_flows(self)

    async def CreateOffer(self, request: apb.CreateOfferRequest, context: Any) -> apb.CreateOfferResponse:
        account_id = auth.require_account()
        v, values = check_offer(request.offer)
        await self._check_offer_partner(v, self._pool, account_id, values.partner_id)
        v.raise_if_any()
        row = await self._pool.fetchrow(astore.INSERT_OFFER, account_id, new_resource_id("off"), *values.row())
        self._offer_changed(account_id)
        return apb.CreateOfferResponse(offer=(await self._offer_msgs(account_id, [row]))[0])

    async def GetOffer(self, request: apb.GetOfferRequest, context: Any) -> apb.GetOfferResponse:
        account_id = auth.require_account()
        row = await self._get(astore.GET_OFFER, "offer", account_id, request.offer_id)
        return apb.GetOfferResponse(offer=(await self._offer_msgs(account_id, [row]))[0])

    async def ListOffers(self, request: apb.ListOffersRequest, context: Any) -> apb.ListOffersResponse:
        account_id = auth.require_account()
        rows, token = await self._page_after(
            request, astore.LIST_OFFERS, "offer_id", account_id, request.partner_id or None, request.status or None
        )
        return apb.ListOffersResponse(offers=await self._offer_msgs(account_id, rows), next_page_token=token)

    async def UpdateOffer(self, request: apb.UpdateOfferRequest, context: Any) -> apb.UpdateOfferResponse:
        account_id = auth.require_account()
        paths = update_paths(request.update_mask, request.offer, OFFER_UPDATABLE)
        offer_id = request.offer.offer_id
        async with self._pool.acquire() as conn, conn.transaction():
            cur = await conn.fetchrow(astore.LOCK_OFFER, account_id, offer_id)
            if cur is None:
                raise NotFound(f"offer {offer_id!r} not found")
            merged = offer_msg(cur)
            field_mask_pb2.FieldMask(paths=paths).MergeMessage(
                request.offer, merged, replace_message_field=True, replace_repeated_field=True
            )
            v, values = check_offer(merged)
            if "partner_id" in paths:
                await self._check_offer_partner(v, conn, account_id, values.partner_id)
            v.raise_if_any()
            row = await conn.fetchrow(astore.UPDATE_OFFER, account_id, offer_id, *values.row())
        self._offer_changed(account_id)
        return apb.UpdateOfferResponse(offer=(await self._offer_msgs(account_id, [row]))[0])

    async def DeleteOffer(self, request: apb.DeleteOfferRequest, context: Any) -> apb.DeleteOfferResponse:
        account_id = auth.require_account()
        await astore.delete_unless_rotated(
            self._pool, "offer", account_id, request.offer_id,
            (astore.LOCK_OFFER, astore.STREAM_USING_OFFER, astore.DELETE_OFFER), " (or pause the offer)",
        )  # fmt: skip
        self._offer_changed(account_id)
        return apb.DeleteOfferResponse()
