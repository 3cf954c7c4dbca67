"""A campaign flow's filters and weights, and a partner's postback aliases and status
words, as people type them, for the CLI's flags and the console's forms (pure
functions; the services validate the values themselves and name the field when one
is wrong).

    parse_filter("country=US,CA")       # StreamFilter(field="country", values=["US", "CA"])
    parse_filter("!verdict=invalid")    # the same with exclude=True
    parse_filter("schedule=mon-fri 09:00-18:00; sat,sun")  # schedule entries split on ";"
    describe_filter(f)                  # back to "country=US,CA"
    parse_weighted("lnd_1:70")          # ("lnd_1", 70); a bare id weighs 1
"""

from __future__ import annotations

from clicktrail.links.v1 import affiliate_pb2 as apb

# A schedule entry holds commas itself ("sat,sun 10:00-14:00"), so its entries are split on ";".
SCHEDULE = "schedule"
FILTER_SYNTAX = (
    '"FIELD=V1,V2" (the click\'s value is one of them) or "!FIELD=V1,V2" (none of them); FIELD: country, '
    "device_type, os, browser, language, ip, verdict, sub1..sub10, param.NAME, referrer, schedule (entries "
    'split on ";": "schedule=mon-fri 09:00-18:00; sat,sun"), visitor (new, returning). "FIELD=" matches an '
    "empty value."
)
WEIGHT_SYNTAX = '"ID:WEIGHT" (a positive whole number; a bare ID weighs 1)'


def parse_filter(text: str) -> apb.StreamFilter:
    """``[!]FIELD=V1,V2`` -> a StreamFilter; ValueError saying what the text lacks."""
    raw = text.strip()
    exclude = raw.startswith("!")
    field, sep, values = raw.removeprefix("!").partition("=")
    field = field.strip()
    if not sep or not field:
        raise ValueError(f"a filter takes [!]FIELD=V1,V2, got {text!r}")
    if field.endswith("!"):  # "country!=US" reads as an exclusion too
        field, exclude = field.removesuffix("!").strip(), True
    separator = ";" if field == SCHEDULE else ","
    parts = [v.strip() for v in values.split(separator)]
    kept = [v for v in parts if v] or [""]
    return apb.StreamFilter(field=field, exclude=exclude, values=kept)


def describe_filter(f: apb.StreamFilter) -> str:
    """A StreamFilter as parse_filter reads it back."""
    separator = "; " if f.field == SCHEDULE else ","
    return f"{'!' if f.exclude else ''}{f.field}={separator.join(f.values)}"


def parse_weighted(text: str) -> tuple[str, int]:
    """``ID:WEIGHT`` (or a bare ``ID``, weight 1) -> (id, weight); ValueError when the weight is no number.
    Zero and negative weights pass: the service refuses them naming the field."""
    resource_id, sep, weight = text.strip().partition(":")
    resource_id = resource_id.strip()
    if not resource_id:
        raise ValueError(f"expected {WEIGHT_SYNTAX}, got {text!r}")
    if not sep:
        return resource_id, 1
    try:
        return resource_id, int(weight.strip())
    except ValueError:
        raise ValueError(f"the weight in {text!r} is not a whole number") from None


def describe_weighted(resource_id: str, weight: int) -> str:
    return f"{resource_id}:{weight}"


# ---- a partner's postback format (aliases and status words), typed the same way

STATUSES = ("pending", "approved", "rejected")
ALIAS_SYNTAX = '"FIELD=PARAM1,PARAM2" (FIELD: click_id, txid, goal, status, payout, currency; names in priority order)'
WORD_SYNTAX = '"WORD=STATUS" (STATUS: pending, approved or rejected; WORD: the network\'s word or code)'


def parse_alias(text: str) -> tuple[str, list[str]]:
    """``click_id=aff_sub,sub1`` -> ("click_id", ["aff_sub", "sub1"]); ValueError without ``=``."""
    field, sep, params = text.partition("=")
    names = [p.strip() for p in params.split(",") if p.strip()]
    if not sep or not field.strip() or not names:
        raise ValueError(f"an alias takes FIELD=PARAM1,PARAM2, got {text!r}")
    return field.strip(), names


def parse_status_word(text: str) -> tuple[str, str]:
    """``reversed=rejected`` -> ("reversed", "rejected"); the service checks the status."""
    word, sep, status = text.rpartition("=")
    if not sep or not word.strip() or not status.strip():
        raise ValueError(f"a status word takes WORD=STATUS, got {text!r}")
    return word.strip().lower(), status.strip().lower()
