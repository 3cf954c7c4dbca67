"""`clicktrail tariff ...` and `clicktrail correction ...`: what campaigns cost.
Tariffs price each counted event from a date on; corrections add a sum over a
period (spread evenly over its days by analytics)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from clicktrail.attribution.v1 import config_pb2 as pb
from clicktrail.attribution.v1 import config_pb2_grpc as pb_grpc
from clicktrail.type.v1 import money_pb2

from cli.choices import TariffModel
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
    list_pages,
    rpc,
)

tariffs = typer.Typer(
    help="Tariffs: a campaign's price model (cpc, cpm, cpi, cpa per goal, revshare) from a date on; "
    "they give the campaign's cost per counted event.",
    no_args_is_help=True,
)
corrections = typer.Typer(
    help="Corrections: a sum added to a campaign's cost over a date range (fines, bonuses, fixed fees), "
    "spread evenly over the days of the range.",
    no_args_is_help=True,
)

TariffStub = pb_grpc.TariffServiceStub
CorrectionStub = pb_grpc.CorrectionServiceStub
MODEL = pb.TariffModel.DESCRIPTOR
TARIFF_COLUMNS = ["tariff_id", "campaign_id", "model", "amount", "percent", "goal_id", "effective_date"]
CORRECTION_COLUMNS = ["correction_id", "campaign_id", "amount", "start_date", "end_date", "note"]
CampaignOpt = Annotated[str, typer.Option("--campaign", help="Campaign id.", show_default=False)]
CampaignFilter = Annotated[str, typer.Option("--campaign", help="Only this campaign's.", show_default=False)]
CurrencyOpt = Annotated[str, typer.Option("--currency", help="ISO 4217 currency code.")]


def _day(value: dt.datetime | None) -> str:
    return value.date().isoformat() if value else ""


@tariffs.command("set")
def tariff_set(
    campaign: CampaignOpt,
    model: Annotated[
        TariffModel, typer.Option("--model", case_sensitive=False, help="Price model.", show_default=False)
    ],
    amount: Annotated[
        str | None, typer.Option("--amount", help="Price per event (cpm: per 1000 impressions), e.g. 0.25.")
    ] = None,
    currency: CurrencyOpt = "USD",
    percent: Annotated[
        str | None, typer.Option("--percent", help="revshare: percent of the campaign's revenue, e.g. 30.")
    ] = None,
    goal: Annotated[
        str | None, typer.Option("--goal", help="cpa: the goal paid for (default: the campaign's target goal).")
    ] = None,
    from_: Annotated[
        dt.datetime | None,
        typer.Option(
            "--from", formats=["%Y-%m-%d"], help="First UTC day it applies (default today).", show_default=False
        ),
    ] = None,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Set a campaign's tariff from a day on (until its next tariff); replaces a tariff of the same day.

    Examples:
      clicktrail tariff set --campaign CAMPAIGN_ID --model cpi --amount 1.20 --currency USD --from 2026-03-01

      clicktrail tariff set --campaign CAMPAIGN_ID --model cpa --goal GOAL_ID --amount 5

      clicktrail tariff set --campaign CAMPAIGN_ID --model revshare --percent 30
    """
    t = pb.Tariff(campaign_id=campaign, model=enum_number(MODEL, model), goal_id=goal or "", effective_date=_day(from_))
    if model == "revshare":
        if amount is not None:
            raise UsageError("--model revshare takes --percent, not --amount")
        if percent is None:
            raise UsageError("--model revshare needs --percent")
        t.percent = percent
    else:
        if percent is not None:
            raise UsageError(f"--model {model.value} takes --amount, not --percent")
        if amount is None:
            raise UsageError(f"--model {model.value} needs --amount")
        t.amount.CopyFrom(money_pb2.Money(amount=amount, currency_code=currency.upper()))
    req = pb.CreateTariffRequest(tariff=t, replace=True)
    resp = rpc("attribution", TariffStub, "CreateTariff", req, account_creds(api_key))
    emit(resp.tariff, json_out)


@tariffs.command("list")
def tariff_list(
    campaign: CampaignFilter = "",
    limit: Limit = 50,
    page_token: PageToken = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """List tariffs by campaign, then date.

    Example:  clicktrail tariff list --campaign CAMPAIGN_ID --json
    """
    items, nxt = list_pages(
        "attribution", TariffStub, "ListTariffs", pb.ListTariffsRequest(campaign_id=campaign), "tariffs",
        account_creds(api_key), limit=limit, page_token=page_token,
    )  # fmt: skip
    emit_list(items, "tariffs", TARIFF_COLUMNS, json_out, nxt)


@tariffs.command("delete")
def tariff_delete(
    tariff_id: Annotated[str, typer.Argument(help="The tariff's id.", show_default=False)],
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Delete a tariff (the previous one then applies from its date on).

    Example:  clicktrail tariff delete TARIFF_ID
    """
    rpc("attribution", TariffStub, "DeleteTariff", pb.DeleteTariffRequest(tariff_id=tariff_id), account_creds(api_key))
    emit_deleted("tariff", tariff_id, json_out)


@corrections.command("add")
def correction_add(
    campaign: CampaignOpt,
    amount: Annotated[str, typer.Option("--amount", help="Sum over the period; negative for a bonus or refund.")],
    from_: Annotated[dt.datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="First UTC day, YYYY-MM-DD.")],
    to: Annotated[dt.datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="Last UTC day (inclusive).")],
    currency: CurrencyOpt = "USD",
    note: Annotated[str, typer.Option("--note", help="Why (at most 500 characters).")] = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Add a correction: a sum for a campaign over a date range (at most 366 days).

    Example:
      clicktrail correction add --campaign CAMPAIGN_ID --amount 300 --currency USD
        --from 2026-03-01 --to 2026-03-31 --note "flat fee"
    """
    c = pb.Correction(
        campaign_id=campaign,
        amount=money_pb2.Money(amount=amount, currency_code=currency.upper()),
        start_date=_day(from_),
        end_date=_day(to),
        note=note,
    )
    resp = rpc(
        "attribution", CorrectionStub, "CreateCorrection", pb.CreateCorrectionRequest(correction=c),
        account_creds(api_key),
    )  # fmt: skip
    emit(resp.correction, json_out)


@corrections.command("list")
def correction_list(
    campaign: CampaignFilter = "",
    limit: Limit = 50,
    page_token: PageToken = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """List corrections by campaign, then start date.

    Example:  clicktrail correction list --campaign CAMPAIGN_ID
    """
    items, nxt = list_pages(
        "attribution", CorrectionStub, "ListCorrections", pb.ListCorrectionsRequest(campaign_id=campaign),
        "corrections", account_creds(api_key), limit=limit, page_token=page_token,
    )  # fmt: skip
    emit_list(items, "corrections", CORRECTION_COLUMNS, json_out, nxt)


@corrections.command("delete")
def correction_delete(
    correction_id: Annotated[str, typer.Argument(help="The correction's id.", show_default=False)],
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Delete a correction.

    Example:  clicktrail correction delete CORRECTION_ID
    """
    rpc(
        "attribution", CorrectionStub, "DeleteCorrection", pb.DeleteCorrectionRequest(correction_id=correction_id),
        account_creds(api_key),
    )  # fmt: skip
    emit_deleted("correction", correction_id, json_out)
