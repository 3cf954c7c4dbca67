"""A service's traffic-quality check settings: the stored jsonb document (one
per account, one per campaign) <-> the settings message its API shows.

The document holds ``checks`` (code -> on/off), the integer thresholds under
their proto field names and the durations as whole seconds under their own
keys. Each service names its message class and its field tables; what it
validates, and how it words the violations, stays with the service.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar, cast

from google.protobuf import duration_pb2
from google.protobuf.message import Message

from libs.api import to_timestamp

M = TypeVar("M", bound=Message)


class EffectiveSettings(Protocol):
    """The merged settings a service works with: the fields by the tables' names, and the checks."""

    def checks(self) -> dict[str, bool]: ...


@dataclasses.dataclass(frozen=True, slots=True)
class SettingsFields(Generic[M]):
    message: type[M]
    int_fields: Sequence[str]  # proto field == stored key
    duration_fields: Mapping[str, str]  # proto field -> stored key (whole seconds)

    @property
    def paths(self) -> tuple[str, ...]:
        """The update_mask paths (besides ``checks.<code>``)."""
        return ("checks", *self.int_fields, *self.duration_fields)

    def stored_pb(self, campaign_id: str, doc: Mapping[str, Any], update_time: dt.datetime | None) -> M:
        """One level's stored document as the API shows it."""
        s = self.message(campaign_id=campaign_id, update_time=to_timestamp(update_time))
        checks = cast(Any, s).checks  # a map<string, bool> on every settings message
        for code, on in (doc.get("checks") or {}).items():
            checks[code] = bool(on)
        for f in self.int_fields:
            if isinstance(doc.get(f), int):
                setattr(s, f, doc[f])
        for f, key in self.duration_fields.items():
            if isinstance(doc.get(key), int):
                getattr(s, f).CopyFrom(duration_pb2.Duration(seconds=doc[key]))
        return s

    def effective_pb(self, campaign_id: str, s: EffectiveSettings) -> M:
        out = self.message(campaign_id=campaign_id, checks=s.checks())
        for f in self.int_fields:
            setattr(out, f, getattr(s, f))
        for f, key in self.duration_fields.items():
            getattr(out, f).CopyFrom(duration_pb2.Duration(seconds=getattr(s, key)))
        return out

    def apply(self, doc: Mapping[str, Any], new: M, paths: Sequence[str]) -> dict[str, Any]:
        """The stored document after setting ``paths`` from ``new`` (already validated by the service):
        ``checks`` replaces the map, ``checks.<code>`` sets or clears one code, a field not set on
        ``new`` is cleared (back to the level above). An empty checks map is left out."""
        out = {**doc, "checks": dict(doc.get("checks") or {})}
        new_checks = cast(Any, new).checks
        for path in paths:
            if path == "checks":
                out["checks"] = dict(new_checks)
            elif path.startswith("checks."):
                code = path.split(".", 1)[1]
                if code in new_checks:
                    out["checks"][code] = new_checks[code]
                else:
                    out["checks"].pop(code, None)
            elif path in self.int_fields:
                out.pop(path, None)
                if new.HasField(path):
                    out[path] = getattr(new, path)
            else:
                key = self.duration_fields[path]
                out.pop(key, None)
                if new.HasField(path):
                    out[key] = getattr(new, path).seconds
        if not out["checks"]:
            del out["checks"]
        return out
