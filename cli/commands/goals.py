"""`clicktrail goal ...`: goals, the events that count as conversions
(at most 25 per account)."""

from __future__ import annotations

from typing import Annotated

import typer
from clicktrail.attribution.v1 import config_pb2 as pb
from clicktrail.attribution.v1 import config_pb2_grpc as pb_grpc

from cli.choices import GoalKind, Occurrence
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
    to_dict,
)
from libs.conditions import describe_goal_condition, parse_goal_condition, shown

app = typer.Typer(
    help="Goals: which events count as conversions — an event (install, or a track action), conditions on "
    "its fields, and which of a user's occurrences count. At most 25 per account.",
    no_args_is_help=True,
)

Stub = pb_grpc.GoalServiceStub
KIND = pb.GoalKind.DESCRIPTOR
OCCURRENCE = pb.Occurrence.DESCRIPTOR
COLUMNS = ["goal_id", "name", "kind", "event", "occurrence", "nth", "value_path"]
GoalId = Annotated[str, typer.Argument(help="The goal's id.", show_default=False)]

WHERE_HELP = (
    "A condition 'FIELD OP VALUE'; repeat for several (all must hold). FIELD: a top-level event field "
    "(user_id, platform, locale, ...) or action_properties.KEY[.KEY]. OP: = != > >= < <= in contains exists "
    "not-exists. 'in' takes comma-separated values."
)

NameOpt = Annotated[str | None, typer.Option("--name", help="Goal name, unique in the account.")]
EventOpt = Annotated[
    str | None, typer.Option("--event", help="install, or the action name of track events (e.g. purchase).")
]
KindOpt = Annotated[
    GoalKind | None,
    typer.Option(
        "--kind",
        case_sensitive=False,
        help="purchase: credited to the last click; custom: to every campaign touched. Default custom.",
        show_default=False,
    ),
]
WhereOpt = Annotated[list[str] | None, typer.Option("--where", help=WHERE_HELP, show_default=False)]
OccurrenceOpt = Annotated[
    Occurrence | None,
    typer.Option(
        "--occurrence", case_sensitive=False, help="Which of a user's matching events count. Default first.",
        show_default=False,
    ),
]  # fmt: skip
NthOpt = Annotated[int | None, typer.Option("--nth", help="With --occurrence nth: which one counts (1-based).")]
ValuePathOpt = Annotated[
    str | None,
    typer.Option(
        "--value-path",
        help="Path of the amount, e.g. action_properties.price (monetization events default to "
        "action_properties.bundle_paid_amount).",
    ),
]
CurrencyPathOpt = Annotated[
    str | None, typer.Option("--currency-path", help="Path of the ISO 4217 currency code, e.g. action_properties.cur.")
]


def parse_where(text: str) -> pb.Condition:
    try:
        return parse_goal_condition(text)
    except ValueError as exc:
        raise UsageError(f"--where {shown(text)!r}: {exc}") from None


describe = describe_goal_condition


def emit_goal(goal: pb.Goal, json_out: bool) -> None:
    """JSON: the goal as is; text: one readable line per condition."""
    if json_out:
        emit(goal, True)
        return
    data = to_dict(goal)
    data["conditions"] = "; ".join(describe(c) for c in goal.conditions)
    emit(data, False)


@app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="Goal name, unique in the account.")],
    event: Annotated[str, typer.Option("--event", help="install, or the action name of track events.")],
    kind: KindOpt = None,
    where: WhereOpt = None,
    occurrence: OccurrenceOpt = None,
    nth: NthOpt = None,
    value_path: ValuePathOpt = None,
    currency_path: CurrencyPathOpt = None,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Create a goal; prints its goal_id. Assign it to a campaign with `campaign create|update --goal`.

    Examples:
      clicktrail goal create --name "Purchase over 10" --event purchase --kind purchase --occurrence every
        --where "action_properties.price > 10" --value-path action_properties.price
        --currency-path action_properties.currency

      clicktrail goal create --name "Level 10" --event level_up --where "action_properties.level >= 10"

      clicktrail goal create --name "Third web2 payment" --event monetization_web2 --occurrence nth --nth 3
    """
    msg = pb.Goal(
        name=name,
        event=event,
        kind=enum_number(KIND, kind),
        occurrence=enum_number(OCCURRENCE, occurrence),
        nth=nth or 0,
        conditions=[parse_where(w) for w in where or []],
        value_path=value_path or "",
        currency_path=currency_path or "",
    )
    resp = rpc("attribution", Stub, "CreateGoal", pb.CreateGoalRequest(goal=msg), account_creds(api_key))
    emit_goal(resp.goal, json_out)


@app.command("list")
def list_(limit: Limit = 50, page_token: PageToken = "", api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """List the account's goals (oldest first).

    Example:  clicktrail goal list --json
    """
    items, nxt = list_pages(
        "attribution", Stub, "ListGoals", pb.ListGoalsRequest(), "goals", account_creds(api_key),
        limit=limit, page_token=page_token,
    )  # fmt: skip
    emit_list(items, "goals", COLUMNS, json_out, nxt)


@app.command("get")
def get(goal_id: GoalId, api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """Show one goal with its conditions.

    Example:  clicktrail goal get GOAL_ID --json
    """
    resp = rpc("attribution", Stub, "GetGoal", pb.GetGoalRequest(goal_id=goal_id), account_creds(api_key))
    emit_goal(resp.goal, json_out)


@app.command("update")
def update(
    goal_id: GoalId,
    name: NameOpt = None,
    event: EventOpt = None,
    kind: KindOpt = None,
    where: WhereOpt = None,
    clear_conditions: Annotated[bool, typer.Option("--clear-conditions", help="Remove every condition.")] = False,
    occurrence: OccurrenceOpt = None,
    nth: NthOpt = None,
    value_path: ValuePathOpt = None,
    currency_path: CurrencyPathOpt = None,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Change a goal: only the flags given change. --where replaces all conditions.

    An empty value (e.g. --value-path '') clears a field.

    Example:  clicktrail goal update GOAL_ID --occurrence every --where "action_properties.price > 20"
    """
    msg = pb.Goal(goal_id=goal_id)
    paths: list[str] = []
    for path, value in (("name", name), ("event", event), ("value_path", value_path), ("currency_path", currency_path)):
        if value is not None:
            setattr(msg, path, value)
            paths.append(path)
    if kind is not None:
        msg.kind = enum_number(KIND, kind)
        paths.append("kind")
    if occurrence is not None:
        msg.occurrence = enum_number(OCCURRENCE, occurrence)
        paths.append("occurrence")
    if nth is not None:
        msg.nth = nth
        paths.append("nth")
    if where and clear_conditions:
        raise UsageError("--where and --clear-conditions exclude each other")
    if where or clear_conditions:
        msg.conditions.extend(parse_where(w) for w in where or [])
        paths.append("conditions")
    req = pb.UpdateGoalRequest(goal=msg)
    req.update_mask.paths.extend(field_mask(paths))
    resp = rpc("attribution", Stub, "UpdateGoal", req, account_creds(api_key))
    emit_goal(resp.goal, json_out)


@app.command("delete")
def delete(goal_id: GoalId, api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """Delete a goal (refused while a tariff pays for it).

    Example:  clicktrail goal delete GOAL_ID
    """
    rpc("attribution", Stub, "DeleteGoal", pb.DeleteGoalRequest(goal_id=goal_id), account_creds(api_key))
    emit_deleted("goal", goal_id, json_out)
