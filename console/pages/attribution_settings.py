"""Attribution settings: the account's windows (click and view lookback, the
fingerprint window, the conversion window and the retargeting windows:
re-engagement and reinstall), each change a dated breakpoint (the history),
and the re-engagements / re-attributions the engine recorded, newest first -
AttributionSettingsService and ReattributionService."""

from __future__ import annotations

from typing import Any

from clicktrail.attribution.v1 import config_pb2 as cpb
from clicktrail.attribution.v1 import config_pb2_grpc, reengagement_pb2_grpc
from clicktrail.attribution.v1 import reengagement_pb2 as rpb
from google.protobuf import field_mask_pb2
from starlette.responses import Response

from console.forms import field_errors
from console.rpc import ServiceError
from console.web import PAGE_SIZE, PREFIX, Page, Params, redirect
from libs.vocab.timetext import DURATION_HINT, duration_seconds, format_duration_unit
from libs.vocab.windows import ATTRIBUTION_WINDOW_BOUNDS

# The form's fields, in order, with their labels.
WINDOWS = (
    ("click_lookback", "Click lookback"), ("view_lookback", "View lookback"),
    ("fingerprint_window", "Fingerprint window"), ("conversion_window", "Conversion window"),
    ("re_engagement_window", "Re-engagement window"), ("reinstall_window", "Reinstall window"),
)  # fmt: skip
HELP = {
    "click_lookback": "Clicks older than this before an install are not credited.",
    "view_lookback": "Impressions older than this are not credited.",
    "fingerprint_window": "IP + User-Agent matches only this close to the touch.",
    "conversion_window": "Conversions credit touches at most this long before them.",
    "re_engagement_window": "How long a re-engagement (the app opened through a retargeting campaign's click) or a "
    "re-attribution credits the user's conversions to its campaign.",
    "reinstall_window": "From the install, a reinstall inside it is only a reinstall (unless a retargeting click "
    "brought it); after it, a reinstall matched to a click is re-attributed.",
}
KIND_NAMES = {
    rpb.REATTRIBUTION_KIND_RE_ENGAGEMENT: "re-engagement",
    rpb.REATTRIBUTION_KIND_RE_ATTRIBUTION: "re-attribution",
}
NOTICES = {
    "saved": "Settings saved: the new windows apply to events from now on (a dated breakpoint).",
    "unchanged": "Nothing changed: no breakpoint recorded.",
}


def _bounds(name: str) -> str:
    lo, hi = ATTRIBUTION_WINDOW_BOUNDS[name]
    return f"{format_duration_unit(lo)} to {format_duration_unit(hi)}"


async def settings_page(req: Page, m: Params, **ctx: Any) -> Response:
    svc = req.stub(config_pb2_grpc.AttributionSettingsServiceStub, "attribution")
    current = (await req.call(svc.GetSettings, cpb.GetSettingsRequest())).settings
    history = await req.call(svc.ListSettingsHistory, cpb.ListSettingsHistoryRequest(page_size=20))
    rows = req.stub(reengagement_pb2_grpc.ReattributionServiceStub, "attribution")
    found = await req.call(
        rows.ListReattributions,
        rpb.ListReattributionsRequest(page_size=PAGE_SIZE, page_token=req.q("page_token")),
    )
    shown = {name: format_duration_unit(getattr(current, name).ToTimedelta()) for name, _ in WINDOWS}
    ctx.setdefault("form", shown)
    ctx.setdefault("fields", {})
    ctx.setdefault("notice", NOTICES.get(req.q("done"), ""))
    breakpoints = [
        {
            "time": b.effective_time.ToDatetime().strftime("%Y-%m-%d %H:%M:%S"),
            "changed": list(b.changed_fields),
            "windows": {name: format_duration_unit(getattr(b.settings, name).ToTimedelta()) for name, _ in WINDOWS},
        }
        for b in history.breakpoints
    ]
    return req.render(
        "attribution_settings.html", ctx.pop("status", 200), windows=WINDOWS, help=HELP,
        bounds={name: _bounds(name) for name, _ in WINDOWS}, current=current, breakpoints=breakpoints,
        reattributions=list(found.reattributions), kinds=KIND_NAMES, next_page=found.next_page_token, query="",
        **ctx,
    )  # fmt: skip


async def settings_update(req: Page, m: Params) -> Response:
    """Every window of the form; the service records a breakpoint only when one changed."""
    msg = cpb.AttributionSettings()
    fields: dict[str, str] = {}
    for name, _ in WINDOWS:
        text = req.f(name)
        try:
            getattr(msg, name).seconds = duration_seconds(text)
        except ValueError:
            fields[name] = f"{text!r} is not {DURATION_HINT}"
    if fields:
        return await settings_page(req, m, status=400, error="Some windows could not be read.",
                                   form=req.form.flat(), fields=fields)  # fmt: skip
    svc = req.stub(config_pb2_grpc.AttributionSettingsServiceStub, "attribution")
    mask = field_mask_pb2.FieldMask(paths=[name for name, _ in WINDOWS])
    try:
        resp = await req.call(svc.UpdateSettings, cpb.UpdateSettingsRequest(settings=msg, update_mask=mask))
    except ServiceError as exc:
        return await settings_page(req, m, status=exc.http_status(400), error=exc.message, form=req.form.flat(),
                                   fields=field_errors(exc.fields, "settings."))  # fmt: skip
    return redirect(f"{PREFIX}/attribution-settings?done={'saved' if resp.changed else 'unchanged'}")
