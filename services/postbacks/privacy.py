"""GDPR erasure in the postback deliveries (libs/privacy.py): the person's ids
and IP addresses rendered into a delivery's URL, body or headers become
"erased"; a delivery not sent yet is cancelled, so nothing about the person
leaves after the erasure. Every queued job of such a delivery, a dead letter
included, is dropped: it holds the request as first rendered. A failed or dead
delivery retried later is queued again from its (redacted) row."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import asyncpg
import orjson

from libs import queue
from libs.privacy import Found, Subject
from services.postbacks.dispatcher import DELIVERY_QUEUE

REDACTED = "erased"
_FIND = """
SELECT delivery_id, status, url, body, headers::text AS headers, job_id FROM postbacks.deliveries
WHERE account_id = $1 AND (url LIKE ANY($2::text[]) OR convert_from(body, 'UTF8') LIKE ANY($2::text[])
    OR headers::text LIKE ANY($2::text[]))
"""
_ERASE = """
UPDATE postbacks.deliveries SET url = $3, body = $4, headers = $5::jsonb, update_time = now(),
    job_id = NULL,
    status = CASE WHEN status IN ('pending', 'retrying') THEN 'failed' ELSE status END,
    last_error = CASE WHEN status IN ('pending', 'retrying') THEN 'cancelled: personal data erased' ELSE last_error END,
    next_attempt_time = CASE WHEN status IN ('pending', 'retrying') THEN NULL ELSE next_attempt_time END
WHERE account_id = $1 AND delivery_id = $2
"""


def _like(value: str) -> str:
    return "%" + value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _redact(text: str, forms: list[str]) -> str:
    for form in forms:
        text = text.replace(form, REDACTED)
    return text


async def erase(conn: asyncpg.Connection, account_id: str, who: Subject, apply: bool) -> Found:
    found = Found()
    ids = sorted(who.user_ids | who.device_ids | who.click_ids, key=len, reverse=True)
    # As rendered: macro values are URL-encoded in URLs, raw in bodies.
    forms = list(dict.fromkeys(f for i in ids for f in (i, quote(i, safe=""))))
    rows = await conn.fetch(_FIND, account_id, [_like(f) for f in forms]) if forms else []
    # The person's IP addresses are redacted too, only in deliveries of their ids
    # (an address alone is no person: a bystander's delivery may carry the same one).
    ips = sorted(who.ips, key=len, reverse=True)
    forms = list(dict.fromkeys([*forms, *(f for i in ips for f in (i, quote(i, safe="")))]))
    found.rows["postbacks.deliveries"] = len(rows)
    if not apply:
        return found
    jobs: list[int] = []
    for r in rows:
        headers: Any = orjson.loads(_redact(r["headers"], forms))
        body = _redact(bytes(r["body"]).decode("utf-8", "replace"), forms).encode()
        url = _redact(r["url"], forms)
        await conn.execute(_ERASE, account_id, r["delivery_id"], url, body, orjson.dumps(headers).decode())
        if r["job_id"] is not None:
            jobs.append(r["job_id"])
    found.rows["queue.jobs:" + DELIVERY_QUEUE] = await queue.cancel(conn, DELIVERY_QUEUE, account_id, jobs)
    return found
