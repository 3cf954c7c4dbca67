"""The one work queue: Postgres rows, enqueued in the producer's transaction.

- enqueue(conn, ...) inside the transaction that stores the data, so a job
  exists exactly when its data does; NOTIFY (sent at commit) wakes consumers.
- Consumers claim due jobs with FOR UPDATE SKIP LOCKED; claiming pushes
  run_at forward by a lease, so the job of a consumer that died comes back
  when the lease ends. Done jobs are deleted.
- A failed job is retried with exponential backoff and full jitter; past
  max_attempts it is kept as a dead letter, listable and retryable.
- Delivery is at least once: handlers must be idempotent.
- Dead letters are purged ``dead_retention_s`` after they died (a consumer
  given one purges its queue's, at most once per ``PURGE_EVERY_S``).
- A GDPR erasure reaches queued payloads too (``redact``, dead letters included).

Because every job is a row that becomes visible only when its transaction
commits, a writer that commits late is never skipped (unlike an id cursor).
"""

from __future__ import annotations

from libs.queue.consumer import PURGE_EVERY_S, BatchHandler, Consumer, Handler
from libs.queue.jobs import (
    MIGRATIONS,
    Defer,
    FinishHook,
    Job,
    Outcome,
    Permanent,
    RetryLater,
    RetryPolicy,
    channel_name,
    enqueue,
)
from libs.queue.manage import cancel, list_dead, purge_dead, redact, retry_dead

__all__ = [
    "MIGRATIONS",
    "PURGE_EVERY_S",
    "BatchHandler",
    "Consumer",
    "Defer",
    "FinishHook",
    "Handler",
    "Job",
    "Outcome",
    "Permanent",
    "RetryLater",
    "RetryPolicy",
    "cancel",
    "channel_name",
    "enqueue",
    "list_dead",
    "purge_dead",
    "redact",
    "retry_dead",
]
