"""Enum <-> name helpers derived from the proto enum descriptors.

Every proto enum value has a short lowercase name: the value's name without
the enum's prefix (``CAMPAIGN_STATUS_ACTIVE`` is ``active``); the zero
(``*_UNSPECIFIED``) value's short name is ``""``. The CLI's flags, its JSON
output, the console's forms and the services' text columns all use these.

    from clicktrail.links.v1 import links_pb2
    from libs.vocab.enums import choices, name_map, parse_enum

    choices(links_pb2.CampaignStatus)            # ['draft', 'active', 'paused', 'archived']
    parse_enum(links_pb2.CampaignStatus, "active")  # 2 (also 'CAMPAIGN_STATUS_ACTIVE'; ''/None -> 0)
    name_map(links_pb2.DeviceType)[2]            # 'mobile'
"""

from __future__ import annotations

import enum
import re
from typing import Any, Protocol

from google.protobuf.descriptor import EnumDescriptor


class _HasDescriptor(Protocol):
    DESCRIPTOR: EnumDescriptor


# A generated enum (links_pb2.CampaignStatus) or its descriptor.
EnumLike = EnumDescriptor | _HasDescriptor | Any


class EnumValueError(ValueError):
    """A name that is not one of an enum's values (the message lists the choices)."""


def descriptor(e: EnumLike) -> EnumDescriptor:
    return e if isinstance(e, EnumDescriptor) else e.DESCRIPTOR


def enum_prefix(e: EnumLike) -> str:
    """``CampaignStatus`` -> ``CAMPAIGN_STATUS_``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", descriptor(e).name).upper() + "_"


def short_name(e: EnumLike, value: str | int) -> str:
    """``CAMPAIGN_STATUS_ACTIVE`` (or its number 2) -> ``active``; the zero value
    and an unknown name or number -> ``""``."""
    desc = descriptor(e)
    v = desc.values_by_number.get(value) if isinstance(value, int) else desc.values_by_name.get(value)
    if v is None or v.number == 0:
        return ""
    prefix = enum_prefix(desc)
    return (v.name[len(prefix) :] if v.name.startswith(prefix) else v.name).lower()


def names(e: EnumLike, prefix: str | None = None) -> list[tuple[int, str]]:
    """(number, short name) of every value but the zero one, in declaration order
    (the console's ``enum_names``). ``prefix`` defaults to the enum's own."""
    desc = descriptor(e)
    p = enum_prefix(desc) if prefix is None else prefix
    return [(v.number, v.name.removeprefix(p).lower()) for v in desc.values if v.number != 0]


def choices(e: EnumLike) -> list[str]:
    """The short names a flag or form takes: every value but the zero one."""
    return [name for _, name in names(e)]


def name_map(e: EnumLike) -> dict[int, str]:
    """number -> short name, the zero value included (as ``""``); a new dict."""
    return {0: "", **dict(names(e))}


def code_map(e: EnumLike) -> dict[str, int]:
    """short name -> number, without the zero value; a new dict."""
    return {name: number for number, name in names(e)}


def parse_enum(e: EnumLike, text: str | enum.Enum | None) -> int:
    """``active`` / ``ACTIVE`` / ``CAMPAIGN_STATUS_ACTIVE`` (or a str enum member) ->
    its number; None or ``""`` -> 0. Anything else raises EnumValueError naming the choices."""
    if text is None:
        return 0
    raw = str(text.value if isinstance(text, enum.Enum) else text).strip()
    if not raw:
        return 0
    desc = descriptor(e)
    for candidate in (raw.upper(), enum_prefix(desc) + raw.upper()):
        value = desc.values_by_name.get(candidate)
        if value is not None:
            return int(value.number)
    raise EnumValueError(f"{raw!r} is not one of: {', '.join(choices(desc))}")


def str_enum(e: EnumLike, name: str | None = None) -> type[enum.StrEnum]:
    """A ``StrEnum`` of the short names (member name == value), for typer choices."""
    desc = descriptor(e)
    members = [(c, c) for c in choices(desc)]
    return enum.StrEnum(name or desc.name, members)  # type: ignore[return-value]
