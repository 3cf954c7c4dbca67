"""Postback formats: how a partner (network) sends its postbacks.

A format gives, per field we read (FIELDS), the network's parameter names
(aliases), and the network's status words and codes -> pending / approved /
rejected. A partner's stored format (attribution.postback_formats) may start
from a preset (services/attribution/postback_presets.json, built from what the
networks and trackers document). What reads a postback, a ``Vocabulary``:

- aliases of a field: the format's own, then its preset's, then the defaults
  (postback_rules.ALIASES), without repeats;
- a status word: the format's own, else its preset's, else the defaults
  (postback_rules.STATUS_WORDS). The defaults' numeric codes ("1" approved)
  are left out when the format or its preset has numeric codes of its own: a
  network's codes are a vocabulary of their own (BeMob's example: 1 new, 2
  approved), so a code the operator did not map is refused (400 naming
  ``status``), never read as the defaults' meaning.

Which partner's format applies is decided in inbound.py (the URL's partner,
else the click's offer's partner, else its campaign's, else the defaults).
Everything here is pure except ``FormatStore`` (the account's stored formats,
cached for CACHE_TTL_S; a change in this process is seen at once).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from libs.cache import TTLCache
from libs.errors import InvalidArgument
from services.attribution.postback_rules import ALIASES, STATUS_WORDS
from services.attribution.rules import APPROVED, PENDING, REJECTED

PRESETS_PATH = Path(__file__).with_name("postback_presets.json")
FIELDS = ("click_id", "txid", "goal", "status", "payout", "currency", "refund_id")
STATUS_BY_NAME = {"pending": PENDING, "approved": APPROVED, "rejected": REJECTED}
NAME_OF_STATUS: dict[int, str] = {int(v): k for k, v in STATUS_BY_NAME.items()}
# A parameter a URL uses for itself: never an alias (the gateway takes `token`, and
# `partner` names the format; `format` asks for a pixel answer).
RESERVED_PARAMS = frozenset({"token", "partner", "format"})
PARAM_NAME = re.compile(r"^[a-z0-9_.\-\[\]]{1,64}$")
PRESET_ID = re.compile(r"^[a-z0-9_-]{1,40}$")
MAX_ALIASES = 20
MAX_STATUS_WORDS = 100
MAX_WORD = 64
CACHE_TTL_S = 1.0


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """What reads one postback: aliases per field (priority order) and status words."""

    aliases: Mapping[str, tuple[str, ...]]
    words: Mapping[str, int]

    def status(self, word: str) -> int | None:
        """The status a word means (case and surrounding blanks ignored); None: not a word of it."""
        return self.words.get(word.strip().lower())


DEFAULT = Vocabulary(ALIASES, STATUS_WORDS)


@dataclasses.dataclass(frozen=True)
class Preset:
    preset_id: str
    name: str
    kind: str
    aliases: Mapping[str, tuple[str, ...]]
    words: Mapping[str, int]
    sources: tuple[str, ...] = ()
    notes: str = ""


@dataclasses.dataclass(frozen=True)
class Format:
    """A partner's stored format (its own aliases and words; the preset's apply after them)."""

    partner_id: str
    preset_id: str = ""
    aliases: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    words: Mapping[str, int] = dataclasses.field(default_factory=dict)
    create_time: Any = None
    update_time: Any = None


def _merge_aliases(layers: Iterable[Mapping[str, Iterable[str]]]) -> dict[str, tuple[str, ...]]:
    layers = list(layers)
    out: dict[str, tuple[str, ...]] = {}
    for field in FIELDS:
        seen: dict[str, None] = {}
        for layer in layers:
            for name in layer.get(field, ()):
                seen.setdefault(name.lower(), None)
        out[field] = tuple(seen)
    return out


def vocabulary(fmt: Format | None, presets: Mapping[str, Preset]) -> Vocabulary:
    """The vocabulary of a partner's format (None: the defaults)."""
    if fmt is None:
        return DEFAULT
    preset = presets.get(fmt.preset_id) if fmt.preset_id else None
    layers: list[Mapping[str, Iterable[str]]] = [fmt.aliases, *([preset.aliases] if preset else []), ALIASES]
    own = {**(preset.words if preset else {}), **fmt.words}
    codes = any(w.isdigit() for w in own)
    defaults = {w: s for w, s in STATUS_WORDS.items() if not (codes and w.isdigit())}
    return Vocabulary(_merge_aliases(layers), {**defaults, **own})


def click_aliases(formats: Iterable[Format], presets: Mapping[str, Preset]) -> tuple[str, ...]:
    """The parameter names that may carry the click id when the URL names no partner:
    the defaults, then every click_id alias of the account's formats (and their presets)."""
    names: dict[str, None] = dict.fromkeys(ALIASES["click_id"])
    for fmt in formats:
        for name in vocabulary(fmt, presets).aliases["click_id"]:
            names.setdefault(name, None)
    return tuple(names)


def read_field(params: Mapping[str, str], aliases: Iterable[str]) -> str:
    """The first non-empty value among the aliases (``params`` keyed lower-case)."""
    return next((params[a] for a in aliases if params.get(a)), "")


# ----------------------------------------------------------------- checks


def check_aliases(items: Iterable[tuple[str, Iterable[str]]], where: str) -> dict[str, tuple[str, ...]]:
    """Aliases as sent -> {field: names (lower case)}; INVALID_ARGUMENT naming the bad one."""
    out: dict[str, tuple[str, ...]] = {}
    for i, (field, params) in enumerate(items):
        if field not in FIELDS:
            raise InvalidArgument(f"{where}[{i}].field", f"{field[:40]!r} is not one of {', '.join(FIELDS)}")
        if field in out:
            raise InvalidArgument(f"{where}[{i}].field", f"{field} is given twice")
        names = [p.strip().lower() for p in params]
        if len(names) > MAX_ALIASES:
            raise InvalidArgument(f"{where}[{i}].params", f"at most {MAX_ALIASES} parameter names")
        for name in names:
            if not PARAM_NAME.match(name):
                raise InvalidArgument(f"{where}[{i}].params", f"{name[:40]!r} is not a parameter name"
                                      " (letters, digits, _ . - [ ], at most 64)")  # fmt: skip
            if name in RESERVED_PARAMS:
                raise InvalidArgument(f"{where}[{i}].params", f"{name!r} is reserved by the postback URL")
        out[field] = tuple(dict.fromkeys(names))
    return out


def check_words(words: Mapping[str, str], where: str) -> dict[str, int]:
    """Status words as sent ({word: "pending" | "approved" | "rejected"}) -> {word: status}."""
    if len(words) > MAX_STATUS_WORDS:
        raise InvalidArgument(where, f"at most {MAX_STATUS_WORDS} status words")
    out: dict[str, int] = {}
    for word, name in words.items():
        key = word.strip().lower()
        if not key or len(key) > MAX_WORD or not key.isprintable():
            raise InvalidArgument(f"{where}[{word[:40]}]", f"a status word is 1 to {MAX_WORD} printable characters")
        status = STATUS_BY_NAME.get(name.strip().lower())
        if status is None:
            raise InvalidArgument(f"{where}[{word[:40]}]", f"{name[:40]!r} must be pending, approved or rejected")
        out[key] = status
    return out


# ----------------------------------------------------------------- presets


def parse_presets(doc: Any) -> dict[str, Preset]:
    """The presets of a preset file's JSON document; ValueError naming what is wrong."""
    if not isinstance(doc, dict) or not isinstance(doc.get("presets"), list):
        raise ValueError('a preset file is {"presets": [...]}')
    out: dict[str, Preset] = {}
    for n, p in enumerate(doc["presets"]):
        pid = p.get("preset_id", "") if isinstance(p, dict) else ""
        if not isinstance(pid, str) or not PRESET_ID.match(pid) or pid in out:
            raise ValueError(f"presets[{n}].preset_id {pid!r} is missing, malformed or repeated")
        try:
            raw_aliases = p.get("aliases") or {}
            aliases = check_aliases([(str(k), [str(v) for v in vs]) for k, vs in raw_aliases.items()], "aliases")
            words = check_words({str(w): str(s) for s, ws in (p.get("status_words") or {}).items() for w in ws},
                                "status_words")  # fmt: skip
        except InvalidArgument as err:
            raise ValueError(f"presets[{n}] ({pid}): {err.violations[0][0]}: {err.violations[0][1]}") from None
        out[pid] = Preset(pid, str(p.get("name") or pid), str(p.get("kind") or "network"), aliases, words,
                          tuple(str(s) for s in p.get("sources") or ()), str(p.get("notes") or ""))  # fmt: skip
    return out


def load_presets(path: Path = PRESETS_PATH) -> dict[str, Preset]:
    """The built-in presets (none while the file does not exist)."""
    if not path.exists():
        return {}
    return parse_presets(orjson.loads(path.read_bytes()))


# ----------------------------------------------------------------- stored formats


def format_of_row(row: Mapping[str, Any]) -> Format:
    aliases, words = row["aliases"], row["status_words"]
    aliases = orjson.loads(aliases) if isinstance(aliases, str | bytes) else aliases
    words = orjson.loads(words) if isinstance(words, str | bytes) else words
    return Format(
        row["partner_id"], row["preset_id"], {k: tuple(v) for k, v in (aliases or {}).items()},
        {k: int(v) for k, v in (words or {}).items()}, row["create_time"], row["update_time"],
    )  # fmt: skip


class FormatStore:
    """The account's stored formats by partner, cached for CACHE_TTL_S (other replicas'
    changes arrive within it; ``invalidate`` makes this process's own visible at once)."""

    def __init__(self, pool: asyncpg.Pool, presets: Mapping[str, Preset] | None = None) -> None:
        self._pool = pool
        self.presets = load_presets() if presets is None else presets
        self._cache: TTLCache[str, dict[str, Format]] = TTLCache(CACHE_TTL_S)

    def invalidate(self, account_id: str) -> None:
        self._cache.invalidate(account_id)

    async def formats(self, account_id: str) -> dict[str, Format]:
        async def load() -> dict[str, Format]:
            rows = await self._pool.fetch(
                "SELECT * FROM attribution.postback_formats WHERE account_id = $1 ORDER BY partner_id", account_id
            )
            return {r["partner_id"]: format_of_row(r) for r in rows}

        return await self._cache.get_or_load(account_id, load)

    async def vocabulary(self, account_id: str, partner_id: str) -> Vocabulary:
        """The partner's vocabulary (the defaults when it has no stored format)."""
        if not partner_id:
            return DEFAULT
        return vocabulary((await self.formats(account_id)).get(partner_id), self.presets)

    async def click_aliases(self, account_id: str) -> tuple[str, ...]:
        return click_aliases((await self.formats(account_id)).values(), self.presets)
