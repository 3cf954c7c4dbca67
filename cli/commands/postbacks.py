"""`clicktrail postback|delivery|catalog ...`: outbound postback templates,
their deliveries (with the attempt log, dead letters and retry) and the
integrated-partner catalog."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import typer
from clicktrail.postbacks.v1 import postbacks_pb2 as pb
from clicktrail.postbacks.v1 import postbacks_pb2_grpc as pb_grpc

from cli.choices import DeliveryStatus, HttpMethod, SendingMode, Trigger
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

app = typer.Typer(help="Postback templates: what is sent to a partner, and when.", no_args_is_help=True)
deliveries = typer.Typer(help="Postback deliveries: their state, attempt log, dead letters and retries.",
                         no_args_is_help=True)  # fmt: skip
catalog = typer.Typer(help="The integrated-partner catalog (ready postback templates).", no_args_is_help=True)

Stub = pb_grpc.PostbackServiceStub
COLUMNS = ["template_id", "partner_id", "name", "trigger", "sending_mode", "method", "enabled", "url_template"]
DELIVERY_COLUMNS = ["delivery_id", "status", "attempts", "last_status_code", "event_kind", "template_id", "url"]
TemplateId = Annotated[str, typer.Argument(help="The template's id.", show_default=False)]
DeliveryId = Annotated[str, typer.Argument(help="The delivery's id.", show_default=False)]


def pairs(values: list[str] | None, flag: str, sep: str = "=") -> dict[str, str]:
    """``["k=v", ...]`` -> dict; UsageError on a malformed item."""
    out: dict[str, str] = {}
    for item in values or []:
        key, found, value = item.partition(sep)
        if not found or not key.strip():
            raise UsageError(f"{flag} takes {'KEY=VALUE' if sep == '=' else 'NAME: VALUE'}, got {item!r}")
        out[key.strip()] = value.strip() if sep == ":" else value
    return out


Headers = Annotated[
    list[str] | None, typer.Option("--header", help="Extra header 'Name: value' (macros allowed); repeatable.")
]
Settings = Annotated[list[str] | None, typer.Option("--setting", help="Partner setting KEY=VALUE (a {KEY} macro).")]


@app.command("create")
def create(
    partner_id: Annotated[str, typer.Option("--partner", help="The partner (from `clicktrail partner create`).")],
    url: Annotated[str, typer.Option("--url", help="URL template with {macros}.")],
    trigger: Annotated[
        Trigger, typer.Option("--trigger", help="What fires it (reengagement: a retargeting re-engagement).")
    ] = Trigger("install"),
    goal_id: Annotated[str, typer.Option("--goal", help="Goal id (with --trigger goal).")] = "",
    mode: Annotated[
        SendingMode, typer.Option("--mode", help="attributed: only this partner's events; all: every event.")
    ] = SendingMode("attributed"),
    method: Annotated[HttpMethod, typer.Option("--method")] = HttpMethod("get"),
    body: Annotated[str, typer.Option("--body", help="POST body template.")] = "",
    headers: Headers = None,
    settings: Settings = None,
    app_id: Annotated[str, typer.Option("--app", help="Only this app's events.")] = "",
    name: Annotated[str, typer.Option("--name")] = "",
    signature_header: Annotated[
        str, typer.Option("--signature-header", help="Header for the HMAC-SHA256 signature.")
    ] = "",
    signing_secret: Annotated[str, typer.Option("--signing-secret", help="The partner's signing secret.")] = "",
    catalog_key: Annotated[str, typer.Option("--catalog-key", help="Catalog entry it comes from.")] = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Create a postback template; prints it.

    Example:  clicktrail postback create --partner PARTNER_ID --url 'https://net.example/pb?click={partner_click_id}&payout={payout}' --trigger conversion
    """  # noqa: E501
    t = pb.Template(
        partner_id=partner_id, url_template=url, trigger=enum_number(pb.Trigger.DESCRIPTOR, trigger), goal_id=goal_id,
        sending_mode=enum_number(pb.SendingMode.DESCRIPTOR, mode), method=enum_number(pb.HttpMethod.DESCRIPTOR, method),
        body_template=body, headers=pairs(headers, "--header", ":"), settings=pairs(settings, "--setting"),
        app_id=app_id, name=name, signature_header=signature_header, signing_secret=signing_secret,
        catalog_key=catalog_key,
    )  # fmt: skip
    resp = rpc("postbacks", Stub, "CreateTemplate", pb.CreateTemplateRequest(template=t), account_creds(api_key))
    emit(resp.template, json_out)


@app.command("list")
def list_(
    partner_id: Annotated[str, typer.Option("--partner", help="Only this partner's templates.")] = "",
    limit: Limit = 50,
    page_token: PageToken = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """List postback templates.

    Example:  clicktrail postback list --partner PARTNER_ID
    """
    items, nxt = list_pages("postbacks", Stub, "ListTemplates", pb.ListTemplatesRequest(partner_id=partner_id),
                            "templates", account_creds(api_key), limit=limit, page_token=page_token)  # fmt: skip
    emit_list(items, "templates", COLUMNS, json_out, nxt)


@app.command("get")
def get(template_id: TemplateId, api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """Show one postback template.

    Example:  clicktrail postback get TEMPLATE_ID
    """
    resp = rpc("postbacks", Stub, "GetTemplate", pb.GetTemplateRequest(template_id=template_id), account_creds(api_key))
    emit(resp.template, json_out)


@app.command("update")
def update(
    template_id: TemplateId,
    url: Annotated[str | None, typer.Option("--url")] = None,
    trigger: Annotated[Trigger | None, typer.Option("--trigger")] = None,
    goal_id: Annotated[str | None, typer.Option("--goal")] = None,
    mode: Annotated[SendingMode | None, typer.Option("--mode")] = None,
    method: Annotated[HttpMethod | None, typer.Option("--method")] = None,
    body: Annotated[str | None, typer.Option("--body")] = None,
    headers: Headers = None,
    settings: Settings = None,
    name: Annotated[str | None, typer.Option("--name")] = None,
    enabled: Annotated[bool | None, typer.Option("--enabled/--disabled")] = None,
    signature_header: Annotated[str | None, typer.Option("--signature-header")] = None,
    signing_secret: Annotated[str | None, typer.Option("--signing-secret")] = None,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Change a template (only the fields given; --header/--setting replace the whole set).

    Example:  clicktrail postback update TEMPLATE_ID --disabled
    """
    t = pb.Template(template_id=template_id)
    paths: list[str] = []
    simple: dict[str, Any] = {"url_template": url, "goal_id": goal_id, "body_template": body, "name": name,
                              "enabled": enabled, "signature_header": signature_header,
                              "signing_secret": signing_secret}  # fmt: skip
    for field, value in simple.items():
        if value is not None:
            setattr(t, field, value)
            paths.append(field)
    if trigger is not None:
        t.trigger, paths = enum_number(pb.Trigger.DESCRIPTOR, trigger), [*paths, "trigger"]
    if mode is not None:
        t.sending_mode, paths = enum_number(pb.SendingMode.DESCRIPTOR, mode), [*paths, "sending_mode"]
    if method is not None:
        t.method, paths = enum_number(pb.HttpMethod.DESCRIPTOR, method), [*paths, "method"]
    if headers is not None:
        t.headers.update(pairs(headers, "--header", ":"))
        paths.append("headers")
    if settings is not None:
        t.settings.update(pairs(settings, "--setting"))
        paths.append("settings")
    req = pb.UpdateTemplateRequest(template=t)
    req.update_mask.paths.extend(field_mask(paths))
    resp = rpc("postbacks", Stub, "UpdateTemplate", req, account_creds(api_key))
    emit(resp.template, json_out)


@app.command("delete")
def delete(template_id: TemplateId, api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """Delete a template (deliveries already queued still go out).

    Example:  clicktrail postback delete TEMPLATE_ID
    """
    rpc("postbacks", Stub, "DeleteTemplate", pb.DeleteTemplateRequest(template_id=template_id), account_creds(api_key))
    emit_deleted("template", template_id, json_out)


@app.command("test")
def test(
    template_id: TemplateId,
    values: Annotated[list[str] | None, typer.Option("--value", help="Sample macro value KEY=VALUE.")] = None,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Render the template with sample values and send it once, now (nothing is stored).

    Example:  clicktrail postback test TEMPLATE_ID --value payout=2.50
    """
    req = pb.TestTemplateRequest(template_id=template_id, values=pairs(values, "--value"))
    resp = rpc("postbacks", Stub, "TestTemplate", req, account_creds(api_key))
    emit(resp, json_out)


@deliveries.command("list")
def delivery_list(
    status: Annotated[
        list[DeliveryStatus] | None, typer.Option("--status", help="Only these states; repeatable.")
    ] = None,
    template_id: Annotated[str, typer.Option("--template")] = "",
    partner_id: Annotated[str, typer.Option("--partner")] = "",
    limit: Limit = 50,
    page_token: PageToken = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """List deliveries, newest first (failed and dead ones are the dead letters).

    Example:  clicktrail delivery list --status failed --status dead
    """
    req = pb.ListDeliveriesRequest(statuses=[enum_number(pb.DeliveryStatus.DESCRIPTOR, s) for s in status or []],
                                   template_id=template_id, partner_id=partner_id)  # fmt: skip
    items, nxt = list_pages("postbacks", Stub, "ListDeliveries", req, "deliveries", account_creds(api_key),
                            limit=limit, page_token=page_token)  # fmt: skip
    emit_list(items, "deliveries", DELIVERY_COLUMNS, json_out, nxt)


@deliveries.command("get")
def delivery_get(delivery_id: DeliveryId, api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """Show one delivery with its attempt log.

    Example:  clicktrail delivery get DELIVERY_ID
    """
    req = pb.GetDeliveryRequest(delivery_id=delivery_id)
    emit(rpc("postbacks", Stub, "GetDelivery", req, account_creds(api_key)).delivery, json_out)


@deliveries.command("retry")
def delivery_retry(delivery_id: DeliveryId, api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """Put a failed or dead delivery back in line with a fresh set of attempts.

    Example:  clicktrail delivery retry DELIVERY_ID
    """
    req = pb.RetryDeliveryRequest(delivery_id=delivery_id)
    emit(rpc("postbacks", Stub, "RetryDelivery", req, account_creds(api_key)).delivery, json_out)


def catalog_entries(api_key: str = "") -> list[pb.CatalogEntry]:
    items, _ = list_pages("postbacks", Stub, "ListCatalog", pb.ListCatalogRequest(), "entries",
                          account_creds(api_key), limit=1000)  # fmt: skip
    return items


@catalog.command("list")
def catalog_list(api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """The integrated partners with ready templates, the settings each needs,
    and whether the entry is a starting point to verify.

    Example:  clicktrail catalog list
    """
    emit_list(catalog_entries(api_key), "entries", ["key", "name", "verify", "source"], json_out)


CATALOG_MODES = {"attributed": pb.SENDING_MODE_ATTRIBUTED, "all": pb.SENDING_MODE_ALL}


def catalog_choices(
    entry: pb.CatalogEntry, send: Sequence[str], goals: Sequence[str], modes: Sequence[str]
) -> list[pb.CatalogTemplateChoice]:
    """--send / --goal / --mode as CreateCatalogPartner choices (one per template; none when no flag is given)."""
    if not (send or goals or modes):
        return []
    names = {t.name.lower(): i for i, t in enumerate(entry.templates)}

    def index(ref: str, flag: str) -> int:
        ref = ref.strip()
        i = int(ref) if ref.isdigit() else names.get(ref.lower(), -1)
        if not 0 <= i < len(entry.templates):
            listed = ", ".join(f"{j} {t.name!r}" for j, t in enumerate(entry.templates))
            raise UsageError(f"{flag}: {entry.name} has no template {ref!r}; its templates: {listed}")
        return i

    sent = {index(ref, "--send") for ref in send}
    goal = {index(ref, "--goal"): g.strip() for ref, g in pairs(list(goals), "--goal").items()}
    mode: dict[int, int] = {}
    for ref, m in pairs(list(modes), "--mode").items():
        if m.strip().lower() not in CATALOG_MODES:
            raise UsageError(f"--mode {ref}: {m!r} is not attributed or all")
        mode[index(ref, "--mode")] = CATALOG_MODES[m.strip().lower()]
    return [
        pb.CatalogTemplateChoice(template_index=i, enabled=not send or i in sent, goal_id=goal.get(i, ""),
                                 sending_mode=mode.get(i, pb.SENDING_MODE_UNSPECIFIED))  # type: ignore[arg-type]
        for i in range(len(entry.templates))
    ]  # fmt: skip


def create_from_catalog(
    key: str, name: str, settings: list[str], app_id: str, api_key: str, json_out: bool, *,
    send: Sequence[str] = (), goals: Sequence[str] = (), modes: Sequence[str] = (),
) -> None:  # fmt: skip
    """`clicktrail partner create --from-catalog KEY`: the partner (catalog_key set)
    with every postback template of the entry, as chosen (--send, --goal, --mode),
    in one call that is all or nothing."""
    entry = next((e for e in catalog_entries(api_key) if e.key == key), None)
    if entry is None:
        raise UsageError(f"{key!r} is not in the catalog; see `clicktrail catalog list`")
    given = pairs(settings, "--setting")
    known = {s.name for s in entry.settings}
    unknown = sorted(set(given) - known)
    if unknown:
        raise UsageError(f"{entry.name} has no setting {', '.join(unknown)}; it takes: {', '.join(sorted(known))}")
    missing = [s.name for s in entry.settings if s.required and not given.get(s.name) and not s.default_value]
    if missing:
        raise UsageError(f"{entry.name} needs --setting for: {', '.join(missing)}")
    choices = catalog_choices(entry, send, goals, modes)
    req = pb.CreateCatalogPartnerRequest(
        catalog_key=entry.key, name=name, settings=given, app_id=app_id, choices=choices
    )
    made = rpc("postbacks", Stub, "CreateCatalogPartner", req, account_creds(api_key))
    partner = {"partner_id": made.partner_id, "name": made.name, "catalog_key": made.catalog_key}
    emit(partner, json_out, extra={"template_ids": [t.template_id for t in made.templates]})
    if entry.click_params and not json_out:
        from cli.common import note

        link = "&".join(f"{k}={v}" for k, v in entry.click_params.items())
        note(f"{entry.name}: give the partner tracking links that pass {link}")
    if entry.verify and not json_out:
        from cli.common import note

        note(f"{entry.name}: the catalog template is a starting point; check it against {entry.source}")
