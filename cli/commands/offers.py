"""`clicktrail offer ...`: offers, a network's landing with its payout and caps."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer
from clicktrail.links.v1 import affiliate_pb2 as pb
from clicktrail.links.v1 import affiliate_pb2_grpc as pb_grpc
from clicktrail.type.v1 import money_pb2

from cli.choices import CapAction, OfferStatus, PayoutType
from cli.common import (
    ApiKey,
    JsonOut,
    Limit,
    PageToken,
    UsageError,
    account_creds,
    emit,
    emit_deleted,
    emit_list,
    enum_number,
    field_mask,
    list_pages,
    rpc,
)

app = typer.Typer(
    help="Offers: a network's landing (URL template with {click_id} and any click macro), its payout, "
    "the countries it accepts and its conversion caps. A campaign's streams rotate them "
    "(`clicktrail stream`).",
    no_args_is_help=True,
)

Stub = pb_grpc.AffiliateServiceStub
PAYOUT_TYPE = pb.PayoutType.DESCRIPTOR
CAP_ACTION = pb.CapAction.DESCRIPTOR
STATUS = pb.OfferStatus.DESCRIPTOR
COLUMNS = [
    "offer_id",
    "name",
    "status",
    "partner_id",
    "payout",
    "daily_cap",
    "total_cap",
    "conversions_today",
    "capped",
]
OfferId = Annotated[str, typer.Argument(help="The offer's id.", show_default=False)]
NameOpt = Annotated[str | None, typer.Option("--name", help="The offer's name.", show_default=False)]
PartnerOpt = Annotated[
    str | None, typer.Option("--partner", help="The network running it (a partner id).", show_default=False)
]
UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url", show_default=False,
        help="URL template, http(s), with {click_id} and click macros; without {click_id}, click_id=<id> is appended.",
    ),
]  # fmt: skip
PayoutTypeOpt = Annotated[
    PayoutType | None,
    typer.Option(
        "--payout-type", case_sensitive=False, show_default=False,
        help="postback: the payout the network's postback carries (default); fixed: --payout whatever it says.",
    ),
]  # fmt: skip
PayoutOpt = Annotated[
    str | None,
    typer.Option("--payout", help="Payout per conversion, a decimal amount (e.g. 2.50).", show_default=False),
]
CurrencyOpt = Annotated[
    str | None,
    typer.Option("--currency", help="Payout currency, ISO 4217 (default: the account's).", show_default=False),
]
CountriesOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--country", show_default=False,
        help="A country it accepts (ISO alpha-2; repeatable or comma-separated: --country US,CA). None: every country.",
    ),
]  # fmt: skip
DailyCapOpt = Annotated[
    int | None,
    typer.Option("--daily-cap", help="Conversions per day (account time zone); 0: none.", show_default=False),
]
TotalCapOpt = Annotated[
    int | None, typer.Option("--total-cap", help="Conversions in all; 0: none.", show_default=False)
]
CapActionOpt = Annotated[
    CapAction | None,
    typer.Option(
        "--cap-action", case_sensitive=False, show_default=False,
        help="At the cap: next_offer (the stream's next eligible offer, default), redirect (to --cap-url when no "
        "other offer is eligible) or fallback (the campaign's fallback URL when no other offer is eligible).",
    ),
]  # fmt: skip
CapUrlOpt = Annotated[
    str | None,
    typer.Option("--cap-url", help="With --cap-action redirect: where capped traffic goes.", show_default=False),
]
StatusOpt = Annotated[
    OfferStatus | None,
    typer.Option("--status", case_sensitive=False, help="active, or paused (never chosen).", show_default=False),
]


def _money(amount: str, currency: str | None) -> money_pb2.Money:
    try:
        value = Decimal(amount)
    except InvalidOperation:
        raise UsageError(f"--payout {amount!r} is not a decimal amount") from None
    if not value.is_finite():
        raise UsageError(f"--payout {amount!r} is not a decimal amount")
    return money_pb2.Money(amount=str(value), currency_code=(currency or "").upper())


def countries(values: list[str] | None) -> list[str]:
    """--country US --country CA,MX -> ["US", "CA", "MX"] (the service checks the codes)."""
    return [c.strip().upper() for v in values or [] for c in v.split(",") if c.strip()]


def _fill(
    msg: pb.Offer, paths: list[str], *, name: str | None, partner: str | None, url: str | None,
    payout_type: str | None, payout: str | None, currency: str | None, country: list[str] | None,
    daily_cap: int | None, total_cap: int | None, cap_action: str | None, cap_url: str | None, status: str | None,
) -> None:  # fmt: skip
    """Sets each given flag's field on ``msg`` and names it in ``paths``."""
    for path, text in (("name", name), ("partner_id", partner), ("url", url), ("cap_url", cap_url)):
        if text is not None:
            setattr(msg, path, text)
            paths.append(path)
    for path, number in (("daily_cap", daily_cap), ("total_cap", total_cap)):
        if number is not None:
            setattr(msg, path, number)
            paths.append(path)
    for path, desc, choice in (
        ("payout_type", PAYOUT_TYPE, payout_type), ("cap_action", CAP_ACTION, cap_action), ("status", STATUS, status),
    ):  # fmt: skip
        if choice is not None:
            setattr(msg, path, enum_number(desc, choice))
            paths.append(path)
    if payout is not None:
        if payout != "":
            msg.payout.CopyFrom(_money(payout, currency))
        paths.append("payout")
    elif currency is not None:  # a currency alone: the currency of postback payouts that name none
        msg.payout.CopyFrom(money_pb2.Money(currency_code=currency.upper()))
        paths.append("payout")
    if country is not None:
        msg.countries.extend(countries(country))
        paths.append("countries")


@app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="The offer's name.")],
    partner: Annotated[str, typer.Option("--partner", help="The network running it (a partner id).")],
    url: Annotated[str, typer.Option("--url", help="URL template, http(s), with {click_id} and click macros.")],
    payout_type: PayoutTypeOpt = None,
    payout: PayoutOpt = None,
    currency: CurrencyOpt = None,
    country: CountriesOpt = None,
    daily_cap: DailyCapOpt = None,
    total_cap: TotalCapOpt = None,
    cap_action: CapActionOpt = None,
    cap_url: CapUrlOpt = None,
    status: StatusOpt = None,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Create an offer; prints its offer_id.

    Example:  clicktrail offer create --name "VPN trial US" --partner PARTNER_ID \\
      --url 'https://net.example/aff?offer=42&aff_sub={click_id}&s2={sub1}' --payout-type fixed --payout 2.50 \\
      --currency USD --country US,CA --daily-cap 100 --cap-action next_offer
    """
    msg = pb.Offer()
    _fill(
        msg, [], name=name, partner=partner, url=url, payout_type=payout_type, payout=payout, currency=currency,
        country=country, daily_cap=daily_cap, total_cap=total_cap, cap_action=cap_action, cap_url=cap_url,
        status=status,
    )  # fmt: skip
    resp = rpc("links", Stub, "CreateOffer", pb.CreateOfferRequest(offer=msg), account_creds(api_key))
    emit(resp.offer, json_out)


@app.command("list")
def list_(
    partner: Annotated[str | None, typer.Option("--partner", help="Only this network's offers.")] = None,
    status: StatusOpt = None,
    limit: Limit = 50,
    page_token: PageToken = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """List the account's offers with today's conversions and whether a cap is reached.

    Example:  clicktrail offer list --status active
    """
    req = pb.ListOffersRequest(partner_id=partner or "", status=enum_number(STATUS, status))
    items, nxt = list_pages(
        "links", Stub, "ListOffers", req, "offers", account_creds(api_key), limit=limit, page_token=page_token
    )
    emit_list(items, "offers", COLUMNS, json_out, nxt)


@app.command("get")
def get(offer_id: OfferId, api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """Show one offer, with the conversions counted against its caps (today, in all).

    Example:  clicktrail offer get OFFER_ID
    """
    resp = rpc("links", Stub, "GetOffer", pb.GetOfferRequest(offer_id=offer_id), account_creds(api_key))
    emit(resp.offer, json_out)


@app.command("update")
def update(
    offer_id: OfferId,
    name: NameOpt = None,
    partner: PartnerOpt = None,
    url: UrlOpt = None,
    payout_type: PayoutTypeOpt = None,
    payout: PayoutOpt = None,
    currency: CurrencyOpt = None,
    country: CountriesOpt = None,
    daily_cap: DailyCapOpt = None,
    total_cap: TotalCapOpt = None,
    cap_action: CapActionOpt = None,
    cap_url: CapUrlOpt = None,
    status: StatusOpt = None,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Change an offer: only the flags given change.

    --country replaces the whole list (--country '' accepts every country again);
    --payout '' clears the payout. Pause with --status paused.

    Example:  clicktrail offer update OFFER_ID --daily-cap 200 --status paused
    """
    msg = pb.Offer(offer_id=offer_id)
    paths: list[str] = []
    _fill(
        msg, paths, name=name, partner=partner, url=url, payout_type=payout_type, payout=payout, currency=currency,
        country=country, daily_cap=daily_cap, total_cap=total_cap, cap_action=cap_action, cap_url=cap_url,
        status=status,
    )  # fmt: skip
    req = pb.UpdateOfferRequest(offer=msg)
    req.update_mask.paths.extend(field_mask(paths))
    resp = rpc("links", Stub, "UpdateOffer", req, account_creds(api_key))
    emit(resp.offer, json_out)


@app.command("delete")
def delete(offer_id: OfferId, api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """Delete an offer (refused while a stream rotates it: take it out of the stream first).

    Example:  clicktrail offer delete OFFER_ID
    """
    rpc("links", Stub, "DeleteOffer", pb.DeleteOfferRequest(offer_id=offer_id), account_creds(api_key))
    emit_deleted("offer", offer_id, json_out)
