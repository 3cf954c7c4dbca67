"""What a server process sets up about itself: the children it starts, tied to its life
(Linux: the parent-death signal), and its garbage collector (``tune_gc``)."""

from __future__ import annotations

import ctypes
import gc
import signal
import sys
from typing import Any


def _load_libc() -> Any | None:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


# Loaded here, in the parent: the child between fork and exec must not import
# anything (another thread may hold the import lock at the fork).
_LIBC: Any = _load_libc() if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the child gets SIGTERM if its parent dies without cleaning up."""
    try:
        _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: S110 - best effort, before exec: nowhere to report to
        pass


# preexec_fn for subprocess / asyncio.create_subprocess_exec (None where there is no prctl).
die_with_parent = _die_with_parent if _LIBC is not None else None


# A long-running server allocates many short-lived objects per request beside long-lived
# caches: at CPython's default thresholds (700, 10, 10) the cyclic collector ran often
# enough to take ~15% of the attribution process (py-spy --native) and to pause a click
# now and then. Collect the young generation every 50,000 net allocations instead.
GC_THRESHOLDS = (50_000, 20, 20)


def tune_gc() -> None:
    """For a server process once it has started: what was loaded so far (modules,
    compiled flows, the first caches) moves out of the collector's sight, and the
    young generation is collected less often (GC_THRESHOLDS)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
