"""What the CLI prints: resources as proto JSON with short enum names, aligned
``field  value`` lines, tables, and hints on stderr (conventions: cli/common.py)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from rich.console import Console
from rich.table import Table
from rich.text import Text

from libs.vocab.enums import short_name as enum_short

_WELL_KNOWN_AS_STRINGS = {
    "google.protobuf.Timestamp",
    "google.protobuf.Duration",
    "google.protobuf.FieldMask",
}


def _friendly(desc: Any, data: dict[str, Any]) -> dict[str, Any]:
    for field in desc.fields:
        if field.name not in data:
            continue
        value = data[field.name]
        if field.type == FieldDescriptor.TYPE_ENUM:
            enum_desc = field.enum_type
            if isinstance(value, list):
                data[field.name] = [enum_short(enum_desc, v) for v in value]
            else:
                data[field.name] = enum_short(enum_desc, value)
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            sub = field.message_type
            if sub.full_name in _WELL_KNOWN_AS_STRINGS or sub.GetOptions().map_entry:
                continue
            if isinstance(value, list):
                data[field.name] = [_friendly(sub, v) for v in value]
            elif isinstance(value, dict):
                data[field.name] = _friendly(sub, value)
    # Declaration order, as in the .proto (MessageToDict puts set fields first).
    ordered = {f.name: data.pop(f.name) for f in desc.fields if f.name in data}
    ordered.update(data)
    return ordered


def to_dict(msg: Message) -> dict[str, Any]:
    """A message as the CLI prints it: proto field names, every field present,
    enums as short lowercase names (see the module docstring)."""
    data = json_format.MessageToDict(msg, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
    return _friendly(msg.DESCRIPTOR, data)


def stdout() -> Console:
    # Piped output is not squeezed into 80 columns: tables take their natural width.
    return Console(soft_wrap=False, highlight=False, width=None if sys.stdout.isatty() else 10_000)


def stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def note(text: str) -> None:
    """A hint for humans, on stderr so stdout stays the result."""
    stderr().print(text, style="dim", markup=False)


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        if set(value) == {"amount", "currency_code"}:
            return f"{value['amount']} {value['currency_code']}".strip()
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _print_table(table: Table) -> None:
    console = stdout()
    with console.capture() as captured:
        console.print(table)
    text = "\n".join(line.rstrip() for line in captured.get().splitlines())
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def emit(resource: Message | dict[str, Any], json_out: bool, *, extra: dict[str, Any] | None = None) -> None:
    """Print one resource: JSON, or aligned ``field  value`` lines (empty fields left out)."""
    data = to_dict(resource) if isinstance(resource, Message) else dict(resource)
    if extra:
        data.update(extra)
    if json_out:
        print_json(data)
        return
    rows = [(key, _cell(value)) for key, value in data.items() if value not in ("", None, [], {})]
    width = max((len(key) for key, _ in rows), default=0)
    console = Console(soft_wrap=True, highlight=False)
    for key, value in rows:
        console.print(Text.assemble((key.ljust(width), "bold cyan"), "  ", value))


def emit_list(
    items: Sequence[Message], plural: str, columns: Sequence[str], json_out: bool, next_page_token: str = ""
) -> None:
    """Print a list: ``{"<plural>": [...], "next_page_token": ...}`` or a table of ``columns``."""
    rows = [to_dict(m) for m in items]
    if json_out:
        print_json({plural: rows, "next_page_token": next_page_token})
        return
    if not rows:
        note(f"no {plural}")
    else:
        table = Table(box=None, pad_edge=False, header_style="bold")
        for col in columns:
            table.add_column(col, overflow="fold")
        for row in rows:
            table.add_row(*(Text(_cell(row.get(col, ""))) for col in columns))  # Text: no markup
        _print_table(table)
    if next_page_token:
        note(f"more: --page-token {next_page_token}")


def emit_deleted(kind: str, resource_id: str, json_out: bool) -> None:
    if json_out:
        print_json({f"{kind}_id": resource_id, "deleted": True})
    else:
        stdout().print(f"deleted {kind} {resource_id}", markup=False)
