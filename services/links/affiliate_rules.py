"""The flow's filter vocabulary, pure (no database, no I/O): each value parsed and
normalised as links.streams stores it, the parsers lane links-flow compiles the
stored filters with (schedule, CIDR, language, referrer), and the check that a
stream's filters can hold for some click at all. The servicers (offers.py,
landers.py, streams.py, domains.py) check the rest of their resources beside
their RPCs."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Callable, Sequence
from typing import Any

from clicktrail.links.v1 import links_pb2

from libs.errors import Validator
from libs.vocab.kinds import VERDICTS_BY_NAME
from libs.vocab.subids import SUB_IDS

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# ISO 3166-1 alpha-2 (and XK, Kosovo, as the geo data reports it).
COUNTRIES = frozenset(
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ"
    " CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO"
    " FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE"
    " JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO"
    " MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW"
    " PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM"
    " TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW".split()
)
DEVICE_TYPE_BY_NAME: dict[str, int] = {
    "desktop": links_pb2.DEVICE_TYPE_DESKTOP,
    "mobile": links_pb2.DEVICE_TYPE_MOBILE,
    "tablet": links_pb2.DEVICE_TYPE_TABLET,
    "bot": links_pb2.DEVICE_TYPE_BOT,
    "other": links_pb2.DEVICE_TYPE_OTHER,
}
VERDICT_VALUES = frozenset(VERDICTS_BY_NAME)
VISITOR_VALUES = frozenset({"new", "returning"})
# Fields whose every value is known: an exclude filter may not list them all.
CLOSED_FIELDS: dict[str, frozenset[str]] = {
    "device_type": frozenset(DEVICE_TYPE_BY_NAME),
    "verdict": VERDICT_VALUES,
    "visitor": VISITOR_VALUES,
}
PLAIN_FIELDS = ("country", "device_type", "os", "browser", "language", "ip", "verdict", "referrer", "schedule")
FIELDS_HELP = ", ".join((*PLAIN_FIELDS, "sub1..sub10", "param.NAME", "visitor"))
PARAM_NAME = re.compile(r"^[A-Za-z0-9_.\-\[\]]{1,64}$")
MAX_FILTERS = 50
MAX_VALUES = 1000
MAX_STREAM_VALUES = 5000  # across a stream's filters (the checks below stay cheap)
MAX_VALUE = 256

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEK_MINUTES = 7 * 1440
_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")
_LANGUAGE = re.compile(r"^([A-Za-z]{2,3})(?:[-_]([A-Za-z]{2}|\d{3}|[A-Za-z]{4}))?$")
HOST_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")


# ----- schedule ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Schedule:
    """Weekdays (Monday 0 .. Sunday 6) and a time of day, in the account's time zone.
    ``end_min <= start_min`` crosses midnight: the part after midnight belongs to
    the day after a listed day ("fri 22:00-06:00" holds Saturday 03:00)."""

    days: frozenset[int]
    start_min: int
    end_min: int


def _minute(text: str, *, end: bool) -> int:
    m = _HHMM.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a time like 09:00")
    hours, minutes = int(m.group(1)), int(m.group(2))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes) or (hours == 24 and not end):
        raise ValueError(f"{text!r} is not a time between 00:00 and 24:00")
    return hours * 60 + minutes


def _days(text: str) -> frozenset[int]:
    out: set[int] = set()
    for part in text.split(","):
        first, sep, last = part.strip().partition("-")
        if first not in DAYS or (sep and last not in DAYS):
            raise ValueError(f"{part.strip()!r} is not a day or day range like mon-fri ({', '.join(DAYS)})")
        a, b = DAYS.index(first), DAYS.index(last) if sep else DAYS.index(first)
        out.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return frozenset(out)


def parse_schedule(value: str) -> Schedule:
    """ "mon-fri 09:00-18:00", "sat,sun", "22:00-06:00" (every day), "fri 22:00-02:00";
    ValueError says why a value is not one."""
    text = " ".join(value.lower().split())
    if not text:
        raise ValueError("is empty; use e.g. 'mon-fri 09:00-18:00', 'sat,sun' or '22:00-06:00'")
    days_text, times_text = text, ""
    if any(c.isdigit() for c in text.rpartition(" ")[2]):  # the last word is the time range
        days_text, _, times_text = text.rpartition(" ")
    days = _days(days_text.replace(" ", "")) if days_text else frozenset(range(7))
    if not times_text:
        return Schedule(days, 0, 1440)
    start_text, sep, end_text = times_text.partition("-")
    if not sep:
        raise ValueError(f"{times_text!r} is not a time range like 09:00-18:00")
    start, end = _minute(start_text, end=False), _minute(end_text, end=True)
    if start == end or (start == 0 and end == 0):
        raise ValueError(f"{times_text!r} is an empty time range (it starts where it ends)")
    return Schedule(days, start, end)


def _day_ranges(days: frozenset[int]) -> str:
    parts, ordered = [], sorted(days)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(DAYS[ordered[i]] if i == j else f"{DAYS[ordered[i]]}-{DAYS[ordered[j]]}")
        i = j + 1
    return ",".join(parts)


def format_schedule(s: Schedule) -> str:
    def hhmm(m: int) -> str:
        return f"{m // 60:02d}:{m % 60:02d}"

    return f"{_day_ranges(s.days)} {hhmm(s.start_min)}-{hhmm(s.end_min)}"


def schedule_holds(s: Schedule, weekday: int, minute: int) -> bool:
    """Whether local ``weekday`` (Monday 0) at ``minute`` of the day is inside."""
    if s.start_min < s.end_min:
        return weekday in s.days and s.start_min <= minute < s.end_min
    return (weekday in s.days and minute >= s.start_min) or ((weekday - 1) % 7 in s.days and minute < s.end_min)


WEEK = (1 << WEEK_MINUTES) - 1


def schedule_mask(s: Schedule) -> int:
    """The minutes of the week inside, as bits (bit 0: Monday 00:00): for the
    never-match check, cheap however many values a filter has."""
    span = (s.end_min - s.start_min) % 1440 or 1440
    out = 0
    for d in s.days:
        bits = ((1 << span) - 1) << (d * 1440 + s.start_min)
        out |= (bits | bits >> WEEK_MINUTES) & WEEK  # past Sunday midnight: Monday
    return out


# ----- other values ------------------------------------------------------------------


def parse_network(value: str) -> Network:
    """An address ("1.2.3.4" is 1.2.3.4/32) or a CIDR range; host bits are dropped."""
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address or CIDR range like 10.0.0.0/8") from None


def parse_language(value: str) -> str:
    m = _LANGUAGE.match(value.strip())
    if not m:
        raise ValueError(f"{value!r} is not a language like en or pt-BR")
    primary, region = m.group(1).lower(), m.group(2)
    if not region:
        return primary
    return f"{primary}-{region.title() if len(region) == 4 else region.upper()}"


def accept_languages(header: str) -> list[str]:
    """An Accept-Language header's languages (q > 0), normalised, in the header's order."""
    out: list[str] = []
    for part in header.split(",")[:32]:
        tag, *params = (p.strip() for p in part.split(";"))
        if any(p.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in params):
            continue
        try:
            lang = parse_language(tag)
        except ValueError:
            continue
        if lang not in out:
            out.append(lang)
    return out


def language_matches(wanted: str, tag: str) -> bool:
    """ "pt" matches "pt" and "pt-BR"; "pt-BR" only "pt-BR" (both normalised)."""
    return tag == wanted or ("-" not in wanted and tag.startswith(wanted + "-"))


def parse_referrer(value: str) -> str:
    """A referrer host (or a URL, reduced to its host), lower case; "" = no referrer."""
    host = value.strip().lower()
    if "://" in host:
        host = host.split("://", 1)[1]
    host = host.split("/", 1)[0].split("?", 1)[0].rstrip(".")
    if host and not all(HOST_LABEL.match(label) for label in host.split(".")):
        raise ValueError(f"{value!r} is not a host name like example.com")
    return host


def referrer_matches(wanted: str, host: str) -> bool:
    """ "example.com" matches "example.com" and "www.example.com"; "" only no referrer."""
    return host == wanted or (bool(wanted) and host.endswith("." + wanted))


def filter_field_ok(field: str) -> bool:
    if field in PLAIN_FIELDS or field == "visitor" or field in SUB_IDS:
        return True
    return field.startswith("param.") and bool(PARAM_NAME.match(field[6:]))


def normalise_filter_value(field: str, value: str) -> str:
    """One value of ``field`` as links.streams stores it; ValueError says why not."""
    if len(value) > MAX_VALUE:
        raise ValueError(f"is longer than {MAX_VALUE} characters")
    if field == "country":
        code = value.strip().upper()
        if code and code not in COUNTRIES:
            raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code like US")
        return code
    if field in CLOSED_FIELDS:
        name = value.strip().lower()
        if name not in CLOSED_FIELDS[field]:
            raise ValueError(f"{value!r} is not one of {', '.join(sorted(CLOSED_FIELDS[field]))}")
        return name
    if field in ("os", "browser"):
        return value.strip().casefold()
    if field == "language":
        return parse_language(value)
    if field == "ip":
        return str(parse_network(value))
    if field == "referrer":
        return parse_referrer(value)
    if field == "schedule":
        return format_schedule(parse_schedule(value))
    return value  # sub-ids and query parameters: compared as given


# ----- a stream's filters ------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class FilterSpec:
    index: int
    field: str
    exclude: bool
    values: tuple[str, ...]


# Comparisons the range / suffix fields (ip, referrer, language) may spend on one
# pair of filters: past it the pair is not checked (the check is a courtesy; a
# stream it misses simply never wins).
MAX_PAIR_WORK = 20_000


def _covers(field: str) -> Callable[[str, str], bool]:
    """covers(a, b): every click ``b`` matches also matches ``a`` (values normalised)."""
    if field == "ip":
        nets: dict[str, Network] = {}

        def net(value: str) -> Network:
            if value not in nets:
                nets[value] = parse_network(value)
            return nets[value]

        return lambda a, b: net(b).version == net(a).version and net(b).subnet_of(net(a))  # type: ignore[arg-type]
    if field == "referrer":
        return referrer_matches
    if field == "language":
        return language_matches
    return lambda a, b: a == b


def _overlap(covers: Callable[[str, str], bool], eq: bool, a: Sequence[str], b: Sequence[str]) -> bool:
    """Whether some click value can match a value of ``a`` and one of ``b``."""
    if eq:
        return not set(a).isdisjoint(b)
    if len(a) * len(b) > MAX_PAIR_WORK:
        return True
    return any(covers(x, y) or covers(y, x) for x in a for y in b)


def _all_excluded(covers: Callable[[str, str], bool], eq: bool, values: Sequence[str], excludes: list[str]) -> bool:
    if eq:
        return set(values) <= set(excludes)
    if len(values) * len(excludes) > MAX_PAIR_WORK:
        return False
    return all(any(covers(e, v) for e in excludes) for v in values)


def _never_reason(field: str, specs: list[FilterSpec]) -> tuple[int, str] | None:
    """The filter (index) that makes the filters on one field impossible, and why."""
    if field == "schedule":
        left = WEEK
        for f in specs:
            minutes = 0
            for value in f.values:
                minutes |= schedule_mask(parse_schedule(value))
            left = left & ~minutes if f.exclude else left & minutes
            if not left:
                return f.index, "no time of the week is left with the schedule filters before it"
        return None
    covers, eq = _covers(field), field not in ("ip", "referrer", "language")
    includes = [f for f in specs if not f.exclude]
    excludes = [v for f in specs if f.exclude for v in f.values]
    # Fields with one value per click (not languages): two include filters need a value in common.
    if field != "language":
        for i, a in enumerate(includes):
            for b in includes[:i]:
                if not _overlap(covers, eq, a.values, b.values):
                    return a.index, f"no value is in both this filter and filters[{b.index}] (both on {field})"
    for f in includes:
        if _all_excluded(covers, eq, f.values, excludes):
            return f.index, f"every value is excluded by another {field} filter"
    if field in CLOSED_FIELDS and CLOSED_FIELDS[field] <= set(excludes):
        last = [f for f in specs if f.exclude][-1]
        return last.index, f"excludes every {field} value ({', '.join(sorted(CLOSED_FIELDS[field]))})"
    if field == "ip" and {"0.0.0.0/0", "::/0"} <= set(excludes):
        return [f for f in specs if f.exclude][-1].index, "excludes every address"
    return None


def check_filters(v: Validator, prefix: str, filters: Sequence[Any]) -> list[dict[str, Any]]:
    """Validates a stream's filters (StreamFilter messages) into ``v`` under
    ``prefix`` ("stream.filters"); returns them as stored ({"field", "exclude",
    "values"}, values normalised and de-duplicated)."""
    if len(filters) > MAX_FILTERS or sum(len(f.values) for f in filters) > MAX_STREAM_VALUES:
        v.add(prefix, f"at most {MAX_FILTERS} filters and {MAX_STREAM_VALUES} values in all")
        return []
    stored: list[dict[str, Any]] = []
    specs: dict[str, list[FilterSpec]] = {}
    clean = True
    for i, f in enumerate(filters):
        field = f.field.strip()
        if field.lower() in PLAIN_FIELDS or field.lower() in ("visitor", *SUB_IDS):
            field = field.lower()
        if not filter_field_ok(field):
            v.add(f"{prefix}[{i}].field", f"{f.field!r} is not a filter field; fields: {FIELDS_HELP}")
            clean = False
            continue
        if not f.values:
            v.add(f"{prefix}[{i}].values", "is empty: a filter needs at least one value")
            clean = False
            continue
        if len(f.values) > MAX_VALUES:
            v.add(f"{prefix}[{i}].values", f"at most {MAX_VALUES} values")
            clean = False
            continue
        values: list[str] = []
        for j, raw in enumerate(f.values):
            try:
                value = normalise_filter_value(field, raw)
            except ValueError as e:
                v.add(f"{prefix}[{i}].values[{j}]", str(e))
                clean = False
                continue
            if value not in values:
                values.append(value)
        stored.append({"field": field, "exclude": bool(f.exclude), "values": values})
        specs.setdefault(field, []).append(FilterSpec(i, field, bool(f.exclude), tuple(values)))
    if clean:
        for field, field_specs in specs.items():
            reason = _never_reason(field, field_specs)
            if reason:
                v.add(f"{prefix}[{reason[0]}].values", f"the stream can never match: {reason[1]}")
    return stored
