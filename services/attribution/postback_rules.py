"""Inbound (S2S) postback rules: what a network's postback says, read and checked
without a database (tests/services/attribution/test_postback_rules_unit.py).

A network reports a conversion for one of our clicks: ``click_id`` (aliases
``clickid``, ``subid``), ``status`` (a word, see STATUS_WORDS), ``payout``,
``currency``, ``goal``, ``txid``; and a conversion's status moves only along
TRANSITIONS. These are the defaults: a partner's postback format
(postback_formats.py) adds its own aliases and status words.

A negative payout is a refund (parse_signed_payout; the rules are in
postback_matching.py, its idempotence in postback_refunds.py)."""

from __future__ import annotations

import dataclasses
import decimal
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from libs.errors import DomainError, FailedPrecondition, InvalidArgument, NotFound
from libs.text import clean_params, clean_text
from services.attribution.rules import APPROVED, PENDING, REJECTED, STATUS_NAMES

STATUS_WORDS = {
    **dict.fromkeys(("pending", "lead", "hold", "wait", "waiting"), PENDING),
    **dict.fromkeys(("approved", "approve", "sale", "confirmed", "confirm", "1", "accepted", "paid"), APPROVED),
    **dict.fromkeys(("rejected", "reject", "trash", "cancelled", "canceled", "cancel", "declined", "decline",
                     "fraud", "refund", "chargeback"), REJECTED),
}  # fmt: skip
# The moves a conversion may make.
TRANSITIONS = {(PENDING, APPROVED), (PENDING, REJECTED), (APPROVED, REJECTED)}
ALIASES = {
    "click_id": ("click_id", "clickid", "subid", "sub_id"),
    "status": ("status",),
    "payout": ("payout", "sum", "amount", "revenue"),
    "currency": ("currency",),
    "goal": ("goal",),
    "txid": ("txid", "tid", "transaction_id"),
    # A refund's own id, when the network gives one: a resent refund is recognised by it
    # (postback_refunds.py); without it, by a digest of the request.
    "refund_id": ("refund_id", "adjustment_id", "reversal_id", "chargeback_id"),
}
PAYOUT = re.compile(r"^\d{1,18}(\.\d{1,6})?$")
CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_PARAM = 512
MAX_PARAM_NAME = 64
MAX_PARAMS = 64
MAX_TXID = 256
# The outcome logged for a postback the gateway refused itself, by the HTTP status it answered.
GATEWAY_OUTCOMES = {
    400: "invalid", 405: "method_not_allowed", 408: "body_timeout", 413: "too_large", 414: "too_large",
    415: "unsupported_media_type", 429: "rate_limited",
}  # fmt: skip


def parse_status(word: str, words: Mapping[str, int] = STATUS_WORDS) -> int:
    """A status word to PENDING / APPROVED / REJECTED by ``words`` (the partner's
    vocabulary, postback_formats; default STATUS_WORDS); empty means approved."""
    w = word.strip().lower()
    if not w:
        return APPROVED
    if w not in words:
        raise InvalidArgument(
            "status", f"{word[:40]!r} is not a status; use pending (lead, hold), approved (sale, confirmed, 1)"
            " or rejected (reject, trash, cancelled), or a word of the partner's postback format",
        )  # fmt: skip
    return words[w]


def parse_signed_payout(text: str) -> Decimal | None:
    """A postback's amount: a payout as parse_payout, or a refund (``-7.50``, returned negative)."""
    t = text.strip()
    if t.startswith("-"):
        refund = parse_payout(t[1:])
        return -refund if refund is not None else None
    return parse_payout(t)


def parse_payout(text: str) -> Decimal | None:
    """A payout: a plain non-negative decimal (``7.50``); ``7,50``, ``-1``, ``1e309`` are refused."""
    t = text.strip()
    if not t:
        return None
    if t.startswith("-"):
        raise InvalidArgument("payout", f"{t[:40]!r} is negative; a payout is 0 or more")
    if not PAYOUT.match(t):
        raise InvalidArgument(
            "payout", f"{t[:40]!r} is not a decimal like 7.50 (a point, no exponent, at most 18 digits and 6 decimals)"
        )
    try:
        return Decimal(t)
    except decimal.InvalidOperation:  # pragma: no cover - the pattern already guarantees it
        raise InvalidArgument("payout", f"{t[:40]!r} is not a decimal") from None


def check_transition(conversion_id: str, old: int, new: int) -> None:
    if old != new and (old, new) not in TRANSITIONS:
        raise FailedPrecondition(
            f"conversion {conversion_id} is {STATUS_NAMES[old]} and cannot become {STATUS_NAMES[new]}:"
            " only pending -> approved, pending -> rejected and approved -> rejected are allowed"
        )


@dataclasses.dataclass
class PostbackInput:
    click_id: str
    status: str
    payout: str
    currency: str
    goal: str
    txid: str
    params: dict[str, str]
    method: str
    client_ip: str
    user_agent: str
    # (field, reason) when a parameter is too long or there are too many: refused, never cut.
    problem: tuple[str, str] | None = None
    # The partner the URL names (its postback format reads the fields), else "".
    partner_id: str = ""
    # The parameters keyed lower-case, and the fields the request gave explicitly (they win
    # over any alias): what ``reread`` reads again with the partner's aliases.
    lowered: Mapping[str, str] = dataclasses.field(default_factory=dict)
    explicit: Mapping[str, str] = dataclasses.field(default_factory=dict)
    refund_id: str = ""

    def reread(self, aliases: Mapping[str, tuple[str, ...]], fields: tuple[str, ...] = tuple(ALIASES)) -> PostbackInput:
        """The same postback with ``fields`` read again through ``aliases`` (explicit fields still win)."""
        values: dict[str, Any] = {
            f: (self.explicit.get(f) or _first(self.lowered, aliases.get(f, ()))).strip() for f in fields
        }
        return dataclasses.replace(self, **values)


def _first(params: Mapping[str, str], aliases: tuple[str, ...]) -> str:
    return next((params[a] for a in aliases if params.get(a)), "")


def _params_problem(items: list[tuple[str, str]]) -> tuple[str, str] | None:
    """Why the parameters cannot all be kept as sent, or None."""
    if len(items) > MAX_PARAMS:
        return "params", f"at most {MAX_PARAMS} parameters; this postback has {len(items)}"
    for key, value in items:
        if len(key) > MAX_PARAM_NAME:
            return "params", f"parameter names must be at most {MAX_PARAM_NAME} characters ({key[:20]!r}...)"
        if len(value) > MAX_PARAM:
            return clean_text(key), f"must be at most {MAX_PARAM} characters"
    return None


def from_request(request: Any) -> PostbackInput:
    """Explicit fields win; else the first alias found in params. The named fields
    keep what was sent (a NUL there is refused by the checks, libs/text.py); the
    parameters kept as sent, the method, IP and User-Agent are passthrough, so text
    Postgres cannot store is cleaned out of them and the postback is still recorded."""
    items = [(str(k), str(v)) for k, v in request.params.items()]
    problem = _params_problem(items)
    # Kept whole; only a refused postback's log holds a shortened copy (it is refused for that).
    params = {k[:MAX_PARAM_NAME]: v[:MAX_PARAM] for k, v in items[:MAX_PARAMS]}
    lowered = {k.lower(): v for k, v in params.items()}
    # LogRefusedPostbackRequest has params only.
    explicit = {name: getattr(request, name, "") for name in ALIASES if getattr(request, name, "")}
    values = {name: (explicit.get(name) or _first(lowered, aliases)).strip() for name, aliases in ALIASES.items()}
    return PostbackInput(
        problem=problem, **values, params=clean_params(params),
        method=clean_text(request.method[:10]), client_ip=clean_text(request.client_ip[:64]),
        user_agent=clean_text(request.user_agent[:512]), partner_id=getattr(request, "partner_id", "").strip(),
        lowered=lowered, explicit=explicit,
    )  # fmt: skip


def http_status(err: DomainError) -> tuple[int, str]:
    if isinstance(err, InvalidArgument):
        return 400, "invalid"
    if isinstance(err, NotFound):
        return 404, "not_found"
    return 409, "refused"
