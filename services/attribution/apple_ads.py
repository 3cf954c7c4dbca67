"""Apple Ads attribution (AdServices): resolving an install's AdServices token with
Apple's attribution API, off the engine's hot transaction.

The SDK sends the token AAAttribution.attributionToken() gives (iOS 14.3+) on the
install event. When the engine stores an install that carries one and was not
matched by an exact click id, it enqueues (in the install's own transaction, only
while the account has Apple Ads enabled) a durable job on APPLE_ADS_QUEUE. The
worker POSTs the token as the text/plain body to Apple's API
(``CLICKTRAIL_APPLE_ADS_URL``) and acts on the documented answers:

- 200 ``{"attribution": true, "orgId", "campaignId", "adGroupId", "keywordId",
  "adId", "conversionType", "clickDate", "countryOrRegion", ...}``: an Apple Ads
  install. Ranking: exact click id > Apple Ads > device id > fingerprint > organic,
  so an install matched by device id, fingerprint or nothing is credited to Apple
  Ads (match type 5, the Apple ids, the campaign the Apple campaign is mapped to,
  else the account's default Apple Ads campaign, and that campaign's partner).
  With no campaign to credit, the install keeps its match and only the Apple ids
  are recorded (reports still show them).
- 200 with ``"attribution": false``: not Apple Ads; nothing changes.
- 404: not ready yet (or not found): asked again ``apple_ads_retry_s`` later, up to
  3 more times (Apple's advice: 3 retries 5 s apart), then recorded as not found.
  The not-ready answers are counted on their own (``not_ready`` in the job's
  payload, written when the job is put back), apart from the 5xx / timeout
  attempts: a 5xx never uses up a not-ready retry, nor a 404 a 5xx retry (a 404
  puts the job back without using up an attempt). The lookup's reason says how
  many not-ready answers it got.
- 400: the token is invalid: recorded with Apple's reason, never retried; the
  install keeps its match.
- 5xx, timeouts, no connection: retried with the queue's backoff, until the
  token's 24 hours are over (expired) or the attempts are (unavailable).

Every resolution ends in one attribution.apple_ads_lookups row (its outcome and
reason, ListAppleAdsLookups); a job that finds the row changes nothing, so a
replayed job is harmless. A credit moves what depends on the install's campaign
as an overrule does: update_time is bumped (analytics re-folds the install), the
install's event conversions credited through its previous touch (or organic)
follow it to the Apple Ads campaign, and both go out again as outbound events
under their own ids (the new partner's templates fire once; templates that
already delivered them do not repeat). The verdict and reasons are kept.

No double crediting at the partners (AppsFlyer and Adjust resolve Apple Ads first):
for an install that waits for Apple (a token, no exact click id match, Apple Ads
enabled) the engine does not enqueue the install's outbound event; it travels in
the job's payload (``install_event``) and the resolver enqueues exactly one install
event in the transaction that records the final outcome: the Apple Ads credit when
Apple credits the install, else (attribution false, the install's match outranks
Apple Ads or no campaign to credit, 400, not found, expired, unavailable) the event
of the install's original match, as the engine made it. A replayed job finds its
lookups row and sends nothing. An erased install's job is dropped with its event.
Conversions of the install that happen before Apple answers are not held: their
postbacks go out with the campaign of the moment (the install's original match),
and a credit then moves them and sends them again to the Apple Ads partner.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import datetime as dt
import math
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
import asyncpg
import orjson
from clicktrail.attribution.v1 import apple_ads_pb2 as pb
from clicktrail.attribution.v1 import attribution_pb2 as apb
from prometheus_client import Counter

from libs import postback_handoff
from libs import quality as q
from libs.db import create_pool
from libs.logging import get_logger
from libs.process import die_with_parent
from libs.queue import Consumer, Defer, Job, Outcome, Permanent, RetryLater, RetryPolicy, enqueue
from services.attribution.lookups import IMPRESSION, CampaignInfo, Links, Touch
from services.attribution.outbound import conversion_outbound, install_outbound
from services.attribution.rules import MATCH_CLICK_ID, SOURCE_EVENT, Attributed, InstallRef

log = get_logger("attribution.apple_ads")

APPLE_ADS_QUEUE = "attribution.apple_ads"
# attribution.installs.match_type of an Apple Ads install (migration 0006).
MATCH_APPLE_ADS: int = getattr(apb, "MATCH_TYPE_APPLE_ADS", 5)
# Matches Apple Ads outranks (ranking: click id > Apple Ads > device id > fingerprint > organic).
WEAKER = frozenset({apb.MATCH_TYPE_DEVICE_ID, apb.MATCH_TYPE_FINGERPRINT, apb.MATCH_TYPE_ORGANIC})
# Apple: a 404 right after the token was made means "not ready"; retry up to 3 times 5 s apart.
NOT_FOUND_RETRIES = 3
# Apple: the token lives 24 hours.
TOKEN_TTL = dt.timedelta(hours=24)
MAX_ATTEMPTS = 16
RETRY = RetryPolicy(max_attempts=MAX_ATTEMPTS, base_s=5.0, cap_s=1800.0)
MAX_ANSWER = 64 * 1024
MAX_REASON = 300
# The resolver's own pool: its LISTEN connection, the claims and the batches' work.
POOL_SIZE = 4
# Jobs per claim (the Consumer's batch handler); claims handled at once (the next claim
# does not wait for Apple's answers to the previous one); Apple calls in flight at once,
# over all of them (one keep-alive connection each; one claim at a time with 32 calls at
# once resolved ~290 tokens/s in make bench, behind an engine making 400/s).
BATCH_SIZE = 256
BATCHES_IN_FLIGHT = 4
APPLE_CONCURRENCY = 128
# After a claim short of BATCH_SIZE, the next claim waits this long (jobs gather meanwhile:
# the engine commits tokens a few at a time, and each claim costs its round trips and
# transactions whatever its size).
LINGER_S = 0.25

CREDITED, RECORDED = pb.APPLE_ADS_OUTCOME_CREDITED, pb.APPLE_ADS_OUTCOME_RECORDED
NOT_ATTRIBUTED, INVALID_TOKEN = pb.APPLE_ADS_OUTCOME_NOT_ATTRIBUTED, pb.APPLE_ADS_OUTCOME_INVALID_TOKEN
NOT_FOUND, EXPIRED, UNAVAILABLE = (
    pb.APPLE_ADS_OUTCOME_NOT_FOUND, pb.APPLE_ADS_OUTCOME_EXPIRED, pb.APPLE_ADS_OUTCOME_UNAVAILABLE,
)  # fmt: skip
OUTCOME_NAMES = {
    v.number: v.name.removeprefix("APPLE_ADS_OUTCOME_").lower()
    for v in pb.AppleAdsOutcome.DESCRIPTOR.values
    if v.number
}

LOOKUPS = Counter("clicktrail_attribution_apple_ads_lookups", "Install tokens resolved with Apple Ads", ["outcome"])

SETTINGS_SQL = "SELECT * FROM attribution.apple_ads_settings WHERE account_id = $1"


# --------------------------------------------------------------------------- Apple's answer


@dataclasses.dataclass(frozen=True)
class Answer:
    """Apple's 200 answer, the fields we keep."""

    attribution: bool
    org_id: int | None = None
    campaign_id: int | None = None
    ad_group_id: int | None = None
    keyword_id: int | None = None
    ad_id: int | None = None
    conversion_type: str = ""
    country_or_region: str = ""
    click_time: dt.datetime | None = None


def _id(value: Any) -> int | None:
    """An Apple id: a positive whole number (as a JSON number or digits); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value < 2**63 else None
    if isinstance(value, str) and value.isdigit() and 0 < len(value) <= 18:
        return int(value)
    return None


def _time(value: Any) -> dt.datetime | None:
    """Apple's clickDate ("2024-05-01T10:12Z", minute precision; UTC when no offset)."""
    if not isinstance(value, str) or not 10 <= len(value) <= 40:
        return None
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def parse_answer(body: bytes) -> Answer:
    """Apple's 200 body; ValueError when it is not the documented JSON object."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"Apple's answer is not JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("attribution"), bool):
        raise ValueError('Apple\'s answer has no "attribution" true/false')
    if not doc["attribution"]:
        return Answer(False)
    text = {k: v[:64] if isinstance(v := doc.get(k), str) else "" for k in ("conversionType", "countryOrRegion")}
    return Answer(
        True, _id(doc.get("orgId")), _id(doc.get("campaignId")), _id(doc.get("adGroupId")), _id(doc.get("keywordId")),
        _id(doc.get("adId")), text["conversionType"], text["countryOrRegion"], _time(doc.get("clickDate")),
    )  # fmt: skip


def _reason_of(status: int, body: bytes) -> str:
    text = body[:MAX_REASON].decode("utf-8", "replace").strip()
    return f"Apple answered HTTP {status}" + (f": {text}" if text else "")


class AppleUnreachable(Exception):
    """No answer from Apple: no connection, a timeout, a broken answer."""


class AppleClient:
    """Apple's attribution API: one POST of the token as text/plain, every call on one
    keep-alive session (at most ``connections`` open; aiohttp: a fraction of httpx's
    CPU per call, which was a third of the resolver's)."""

    def __init__(self, url: str, timeout_s: float, *, connections: int = APPLE_CONCURRENCY) -> None:
        self.url = url
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:  # made in the running loop, on first use
            connector = aiohttp.TCPConnector(limit=self._connections, keepalive_timeout=30.0)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    async def resolve(self, token: str) -> tuple[int, bytes]:
        """(HTTP status, the answer's first bytes); raises AppleUnreachable when there is no answer."""
        try:
            async with self._open().post(
                self.url, data=token.encode(), headers={"Content-Type": "text/plain"}, allow_redirects=False
            ) as resp:
                body = b""
                while len(body) <= MAX_ANSWER:
                    chunk = await resp.content.read(MAX_ANSWER + 1 - len(body))
                    if not chunk:
                        break
                    body += chunk
                return resp.status, body[:MAX_ANSWER]
        except (aiohttp.ClientError, TimeoutError) as err:
            raise AppleUnreachable(f"{type(err).__name__}: {err}"[:MAX_REASON]) from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


# --------------------------------------------------------------------------- the engine's side


async def enqueue_lookups(conn: asyncpg.Connection, account_id: str, installs: Sequence[Attributed],
                          outbound: Mapping[str, bytes] | None = None) -> set[str]:  # fmt: skip
    """In the installs' transaction: a job for each new install with a token that an exact
    click id did not match, while the account has Apple Ads enabled. ``outbound``: the
    installs' outbound events by install id; those of the installs answered (held) go in
    their jobs, and the caller must not enqueue them: the resolver sends one per install."""
    wanted = [a for a in installs if a.event.get("adservices_token") and a.match_type != MATCH_CLICK_ID]
    if not wanted:
        return set()
    enabled = await conn.fetchval(
        "SELECT enabled FROM attribution.apple_ads_settings WHERE account_id = $1", account_id
    )
    if not enabled:
        return set()
    held = outbound or {}
    payloads = []
    for a in wanted:
        doc: dict[str, Any] = {"install_id": a.install_id, "token": a.event["adservices_token"]}
        if a.install_id in held:
            doc["install_event"] = orjson.loads(held[a.install_id])
        payloads.append(orjson.dumps(doc))
    await enqueue(conn, APPLE_ADS_QUEUE, payloads, account_ids=[account_id] * len(payloads), max_attempts=MAX_ATTEMPTS)
    return {a.install_id for a in wanted if a.install_id in held}


async def install_touches(
    db: asyncpg.Pool | asyncpg.Connection, account_id: str, refs: Sequence[InstallRef | None]
) -> dict[str, Touch]:
    """The touch an Apple Ads install credits its later conversions through (it has no
    click of ours): its campaign and partner, as an impression-like touch, so a newer
    click still wins a purchase and, without one, the Apple Ads campaign gets it."""
    ids = sorted({r.install_id for r in refs if r is not None and r.campaign_id and not r.click_id})
    if not ids:
        return {}
    rows = await db.fetch(
        "SELECT install_id, campaign_id, partner_id, touch_time, install_time FROM attribution.installs"
        " WHERE account_id = $1 AND install_id = ANY($2::text[]) AND match_type = $3 AND campaign_id IS NOT NULL",
        account_id, ids, MATCH_APPLE_ADS,
    )  # fmt: skip
    return {
        r["install_id"]: Touch(
            "", IMPRESSION, r["touch_time"] or r["install_time"], r["campaign_id"], r["partner_id"] or "", "", ""
        )
        for r in rows
    }


# --------------------------------------------------------------------------- the worker


@dataclasses.dataclass
class Lookup:
    """One resolution's outcome, as attribution.apple_ads_lookups keeps it."""

    outcome: int
    reason: str = ""
    http_status: int | None = None
    answer: Answer | None = None
    campaign_id: str | None = None
    previous: Mapping[str, Any] | None = None
    conversions_moved: int = 0


@dataclasses.dataclass
class Item:
    """One claimed job of a batch and how it ends: a lookup to record, an attributed
    answer to apply (credit or record) in the account's transaction, or an error
    (retried / dead letter). None of the three: resolved before, nothing to do."""

    job: Job
    install_id: str
    token: str
    # The job's payload, as read (install_event: the install's held outbound event).
    doc: dict[str, Any] = dataclasses.field(default_factory=dict)
    # Not-ready (404) answers before this claim, and with this claim's.
    not_ready_before: int = 0
    not_ready: int = 0
    lookup: Lookup | None = None
    answer: Answer | None = None
    error: BaseException | None = None

    @property
    def pending(self) -> bool:
        return self.lookup is not None or self.answer is not None

    @property
    def asks(self) -> int:
        """How many times the token was asked: the claims that used up an attempt and the not-ready ones."""
        return self.job.attempts + self.not_ready_before

    @property
    def held(self) -> dict[str, Any] | None:
        """The install's outbound event the engine held for the outcome (None: the engine sent it)."""
        event = self.doc.get("install_event")
        return event if isinstance(event, dict) else None


def _payload(job: Job) -> tuple[str, str, dict[str, Any]]:
    try:
        doc = orjson.loads(job.payload)
        install_id, token = doc["install_id"], doc["token"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as err:
        raise Permanent(f"not an Apple Ads job: {err}") from None
    if not isinstance(install_id, str) or not isinstance(token, str):
        raise Permanent("not an Apple Ads job: install_id and token must be strings")
    return install_id, token, doc


class NotReady(Defer):
    """Apple answered 404 (not ready): the job goes back ``after_s`` later without using
    up an attempt, its payload carrying the not-ready count (``Resolver.on_finish``)."""

    def __init__(self, payload: bytes, count: int, after_s: float) -> None:
        super().__init__(f"Apple answered 404 (not ready yet), {count} of {NOT_FOUND_RETRIES + 1}", after_s=after_s)
        self.payload = payload


def _not_ready_note(reason: str, count: int) -> str:
    """The lookup's reason with how many not-ready answers the token got (within MAX_REASON)."""
    if not count:
        return reason[:MAX_REASON]
    note = f"; {count} not-ready answer{'s' if count != 1 else ''} (HTTP 404)"
    return reason[: MAX_REASON - len(note)] + note


DONE_SQL = "SELECT install_id FROM attribution.apple_ads_lookups WHERE account_id = $1 AND install_id = ANY($2::text[])"
# The lookups of a batch, one statement.
INSERT_LOOKUPS = """
INSERT INTO attribution.apple_ads_lookups (account_id, install_id, outcome, reason, http_status, attempts, org_id,
    apple_campaign_id, ad_group_id, keyword_id, ad_id, conversion_type, country_or_region, click_time, campaign_id,
    previous_match_type, previous_campaign_id, previous_click_id, conversions_moved)
SELECT $1::text, t.* FROM unnest($2::text[], $3::smallint[], $4::text[], $5::smallint[], $6::int[], $7::bigint[],
    $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::text[], $13::text[], $14::timestamptz[],
    $15::text[], $16::smallint[], $17::text[], $18::text[], $19::int[]) AS t
ON CONFLICT DO NOTHING
RETURNING outcome
"""
# The credited installs of a batch: match type 5, the Apple ids, the campaign and its partner.
CREDIT_SQL = """
UPDATE attribution.installs i SET match_type = $2, touch_type = 0, click_id = NULL, link_id = NULL,
    touch_time = u.click_time, campaign_id = u.campaign_id, partner_id = u.partner_id, apple_ads_org_id = u.org_id,
    apple_ads_campaign_id = u.apple_campaign_id, apple_ads_ad_group_id = u.ad_group_id,
    apple_ads_keyword_id = u.keyword_id, apple_ads_ad_id = u.ad_id, apple_ads_click_time = u.click_time,
    update_time = clock_timestamp()
FROM unnest($3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::bigint[],
    $10::bigint[], $11::bigint[])
    AS u(install_id, click_time, campaign_id, partner_id, org_id, apple_campaign_id, ad_group_id, keyword_id, ad_id)
WHERE i.account_id = $1 AND i.install_id = u.install_id
RETURNING i.*
"""
# The Apple ids on installs whose match stays.
SET_IDS_SQL = """
UPDATE attribution.installs i SET apple_ads_org_id = u.org_id, apple_ads_campaign_id = u.apple_campaign_id,
    apple_ads_ad_group_id = u.ad_group_id, apple_ads_keyword_id = u.keyword_id, apple_ads_ad_id = u.ad_id,
    apple_ads_click_time = u.click_time, update_time = clock_timestamp()
FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::timestamptz[])
    AS u(install_id, org_id, apple_campaign_id, ad_group_id, keyword_id, ad_id, click_time)
WHERE i.account_id = $1 AND i.install_id = u.install_id
"""
# The event conversions that follow each credited install: credited through its previous
# touch (or organic like it), no operator having overruled them. $8 SOURCE_EVENT, $9 the operator bit.
MOVE_FOLLOWERS_SQL = """
WITH t AS (
    SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[])
        AS t(install_id, previous_click_id, previous_campaign_id, campaign_id, partner_id, click_time)
), f AS (
    SELECT c.conversion_id, t.campaign_id, t.partner_id, t.click_time
    FROM attribution.conversions c JOIN t ON c.install_id = t.install_id
    WHERE c.account_id = $1 AND c.source = $8 AND c.reasons & $9::bigint = 0
      AND c.click_id IS NOT DISTINCT FROM t.previous_click_id
      AND c.campaign_id IS NOT DISTINCT FROM t.previous_campaign_id
    ORDER BY c.conversion_id
    FOR UPDATE OF c
)
UPDATE attribution.conversions c SET campaign_id = f.campaign_id, partner_id = f.partner_id, link_id = NULL,
    click_id = NULL, touch_time = f.click_time, update_time = clock_timestamp()
FROM f WHERE c.account_id = $1 AND c.conversion_id = f.conversion_id
RETURNING c.*
"""


class Resolver:
    """Handles APPLE_ADS_QUEUE jobs a claim at a time (the Consumer's batch handler): asks
    Apple about all of the claim's tokens at once (at most ``concurrency`` in flight, on
    one keep-alive client), then records (and credits) each account's answers in one
    transaction of set-based statements."""

    def __init__(self, pool: asyncpg.Pool, links: Links, client: AppleClient, *, retry_s: float = 5.0,
                 concurrency: int = APPLE_CONCURRENCY) -> None:  # fmt: skip
        self._pool = pool
        self._links = links
        self._client = client
        self._retry_s = retry_s
        self._sem = asyncio.Semaphore(concurrency)

    async def handle_batch(self, jobs: list[Job]) -> dict[int, BaseException | None]:
        """Each job's error (None: done)."""
        results: dict[int, BaseException | None] = {}
        by_account: dict[str, dict[str, Item]] = {}
        for job in jobs:
            try:
                install_id, token, doc = _payload(job)
            except Permanent as err:
                results[job.job_id] = err
                continue
            items = by_account.setdefault(job.account_id, {})
            if install_id in items:  # the same install twice in one claim (a replay): one ask does
                results[job.job_id] = None
                continue
            n = doc.get("not_ready")
            n = n if isinstance(n, int) and not isinstance(n, bool) and n >= 0 else 0
            items[install_id] = Item(job, install_id, token, doc, n, n)
        failed: dict[str, BaseException] = {}
        asks: list[Item] = []
        for account_id, items in by_account.items():
            try:
                asks += await self._load(account_id, list(items.values()))
            except Exception as exc:  # the database away: the account's jobs are retried
                failed[account_id] = exc
        await asyncio.gather(*(self._ask(it) for it in asks))
        for account_id, items in by_account.items():
            if account_id in failed:
                continue
            try:
                await self._apply(account_id, [it for it in items.values() if it.pending])
            except Exception as exc:
                failed[account_id] = exc
        for account_id, items in by_account.items():
            for it in items.values():
                results[it.job.job_id] = failed.get(account_id, it.error)
        return results

    @staticmethod
    async def on_finish(conn: asyncpg.Connection, outcomes: list[Outcome]) -> None:
        """In the transaction that puts the jobs back: a not-ready job keeps its not-ready count,
        and a job given up (a dead letter) ends its install's wait (``give_up``)."""
        back = [(o.job.job_id, o.error.payload) for o in outcomes if isinstance(o.error, NotReady)]
        if back:
            await conn.execute(
                "UPDATE queue.jobs j SET payload = t.p FROM unnest($2::bigint[], $3::bytea[]) AS t(id, p)"
                " WHERE j.queue = $1 AND j.job_id = t.id",
                APPLE_ADS_QUEUE, [b[0] for b in back], [b[1] for b in back],
            )  # fmt: skip
        dead = [o for o in outcomes if o.dead]
        if dead:
            await give_up(conn, dead)

    async def _load(self, account_id: str, items: list[Item]) -> list[Item]:
        """Sorts out what needs no call (resolved before, no install, expired); answers the items to ask Apple about."""
        ids = [it.install_id for it in items]
        async with self._pool.acquire() as conn:
            done = {r["install_id"] for r in await conn.fetch(DONE_SQL, account_id, ids)}
            rows = {
                r["install_id"]: r["receive_time"]
                for r in await conn.fetch(
                    "SELECT install_id, receive_time FROM attribution.installs"
                    " WHERE account_id = $1 AND install_id = ANY($2::text[])",
                    account_id,
                    [i for i in ids if i not in done],
                )
            }
        now = dt.datetime.now(dt.UTC)
        asks = []
        for it in items:
            if it.install_id in done:
                continue  # resolved before: a replayed job changes nothing
            received = rows.get(it.install_id)
            if received is None:
                it.error = Permanent(f"install {it.install_id!r} not found")
            elif now - received > TOKEN_TTL:
                it.lookup = Lookup(EXPIRED, "the token's 24 hours passed unresolved")
            else:
                asks.append(it)
        return asks

    async def _ask(self, it: Item) -> None:
        """Apple's answer to one token, as what to do with it (on ``it``)."""
        try:
            async with self._sem:
                status, body = await self._client.resolve(it.token)
        except AppleUnreachable as err:
            self._unavailable(it, None, str(err)[:MAX_REASON])
            return
        except Exception as exc:  # anything else: retried with the backoff
            it.error = exc
            return
        if status == 200:
            try:
                answer = parse_answer(body)
            except ValueError as err:
                self._unavailable(it, status, str(err))
                return
            if answer.attribution:
                it.answer = answer
            else:
                it.lookup = Lookup(NOT_ATTRIBUTED, "Apple: attribution false", 200)
        elif status == 404:
            # Counted on their own (the payload's not_ready): 5xx / timeouts use up the job's attempts.
            it.not_ready = it.not_ready_before + 1
            if it.not_ready <= NOT_FOUND_RETRIES:
                payload = orjson.dumps({**it.doc, "not_ready": it.not_ready})
                it.error = NotReady(payload, it.not_ready, self._retry_s)
            else:
                it.lookup = Lookup(NOT_FOUND, _reason_of(404, body) + f" (asked {it.asks} times)", 404)
        elif status == 400:
            log.warning("apple_ads_invalid_token", account_id=it.job.account_id, install_id=it.install_id)
            it.lookup = Lookup(INVALID_TOKEN, _reason_of(400, body), 400)
        else:
            self._unavailable(it, status, _reason_of(status, body))

    @staticmethod
    def _unavailable(it: Item, status: int | None, reason: str) -> None:
        """Apple failed this time: try again with the backoff, until the attempts are spent."""
        if it.job.attempts < it.job.max_attempts:
            it.error = RetryLater(reason)
        else:
            it.lookup = Lookup(UNAVAILABLE, reason, status)

    async def _targets(self, account_id: str, answers: Sequence[Answer]) -> dict[int | None, CampaignInfo | None]:
        """The campaign each Apple campaign of the claim credits: its mapping, else the account's
        default (one query for the settings and the mappings; campaigns once each, cached by Links)."""
        apple_ids = sorted({a.campaign_id for a in answers if a.campaign_id is not None})
        async with self._pool.acquire() as conn:
            settings = await conn.fetchrow(SETTINGS_SQL, account_id)
            mapped: dict[int, str] = {
                r["apple_campaign_id"]: r["campaign_id"]
                for r in await conn.fetch(
                    "SELECT apple_campaign_id, campaign_id FROM attribution.apple_ads_mappings"
                    " WHERE account_id = $1 AND apple_campaign_id = ANY($2::bigint[])",
                    account_id,
                    apple_ids,
                )
            }
        default = settings["default_campaign_id"] if settings else None
        campaigns: dict[str, CampaignInfo | None] = {}
        targets: dict[int | None, CampaignInfo | None] = {}
        for apple_id in {a.campaign_id for a in answers}:
            targets[apple_id] = None
            for campaign_id in (mapped.get(apple_id) if apple_id is not None else None, default):
                if not campaign_id:
                    continue
                if campaign_id not in campaigns:
                    campaigns[campaign_id] = await self._links.campaign(account_id, campaign_id)
                if campaigns[campaign_id] is not None:  # a campaign deleted since it was mapped: the next choice
                    targets[apple_id] = campaigns[campaign_id]
                    break
        return targets

    async def _apply(self, account_id: str, items: list[Item]) -> None:
        """The account's answers in one transaction: credits, Apple ids, moved conversions,
        outbound events and the lookups rows, each one set-based statement."""
        if not items:
            return
        answered = [it for it in items if it.answer is not None]
        # Look-ups before the transaction (links is another service).
        targets = await self._targets(account_id, [it.answer for it in answered if it.answer]) if answered else {}
        payloads: list[bytes] = []
        async with self._pool.acquire() as conn, conn.transaction():
            rows = {
                r["install_id"]: r
                for r in await conn.fetch(
                    "SELECT install_id, match_type, campaign_id, click_id FROM attribution.installs"
                    " WHERE account_id = $1 AND install_id = ANY($2::text[]) ORDER BY install_id FOR UPDATE",
                    account_id,
                    sorted(it.install_id for it in items),
                )
            }
            done = {r["install_id"] for r in await conn.fetch(DONE_SQL, account_id, list(rows))}
            write: list[Item] = []
            credits: list[tuple[Item, CampaignInfo]] = []
            recorded: list[Item] = []
            for it in items:
                row = rows.get(it.install_id)
                if it.install_id in done:  # resolved meanwhile (another claim of a replayed job)
                    it.lookup = it.answer = None
                    continue
                if row is None:
                    it.lookup = it.answer = None
                    it.error = Permanent(f"install {it.install_id!r} not found")
                    continue
                write.append(it)
                if it.answer is None:
                    continue
                target = targets.get(it.answer.campaign_id)
                if row["match_type"] in WEAKER and target is not None:
                    previous = {k: row[k] for k in ("match_type", "campaign_id", "click_id")}
                    it.lookup = Lookup(CREDITED, "Apple: attribution true", 200, it.answer, target.campaign_id,
                                       previous)  # fmt: skip
                    credits.append((it, target))
                else:
                    why = (
                        f"the install's {OUTCOME_MATCH.get(row['match_type'], 'match')} outranks Apple Ads"
                        if row["match_type"] not in WEAKER
                        else "no campaign to credit: the Apple campaign is not mapped and there is no default campaign"
                    )
                    it.lookup = Lookup(RECORDED, why, 200, it.answer)
                    recorded.append(it)
            if recorded:
                ans = [it.answer or Answer(False) for it in recorded]
                await conn.execute(
                    SET_IDS_SQL, account_id, [it.install_id for it in recorded], [a.org_id for a in ans],
                    [a.campaign_id for a in ans], [a.ad_group_id for a in ans], [a.keyword_id for a in ans],
                    [a.ad_id for a in ans], [a.click_time for a in ans],
                )  # fmt: skip
            if credits:
                payloads = await self._credit(conn, account_id, rows, credits)
            # The installs' held events (the engine did not send them): each final outcome but a
            # credit sends the original match's, once (this transaction records the outcome).
            payloads += [
                orjson.dumps(it.held)
                for it in write
                if it.held is not None and it.lookup is not None and it.lookup.outcome != CREDITED
            ]
            inserted = await conn.fetch(INSERT_LOOKUPS, account_id, *_lookup_columns(write))
            await enqueue(conn, postback_handoff.POSTBACK_QUEUE, payloads, account_ids=[account_id] * len(payloads))
        outcomes = collections.Counter(OUTCOME_NAMES[r["outcome"]] for r in inserted)
        for name, n in outcomes.items():
            LOOKUPS.labels(name).inc(n)
        if outcomes:
            log.info("apple_ads_resolved", account_id=account_id, installs=sum(outcomes.values()), **outcomes)

    @staticmethod
    async def _credit(conn: asyncpg.Connection, account_id: str, rows: Mapping[str, asyncpg.Record],
                      credits: list[tuple[Item, CampaignInfo]]) -> list[bytes]:  # fmt: skip
        """Credits the installs (and moves their followers); answers their outbound events."""
        ids = [it.install_id for it, _ in credits]
        ans = [it.answer or Answer(False) for it, _ in credits]
        campaign_ids = [t.campaign_id for _, t in credits]
        partner_ids = [t.partner_id or None for _, t in credits]
        click_times = [a.click_time for a in ans]
        updated = {
            r["install_id"]: r
            for r in await conn.fetch(
                CREDIT_SQL,
                account_id,
                MATCH_APPLE_ADS,
                ids,
                click_times,
                campaign_ids,
                partner_ids,
                [a.org_id for a in ans],
                [a.campaign_id for a in ans],
                [a.ad_group_id for a in ans],
                [a.keyword_id for a in ans],
                [a.ad_id for a in ans],
            )
        }
        followers: dict[str, list[asyncpg.Record]] = {}
        for c in await conn.fetch(
            MOVE_FOLLOWERS_SQL, account_id, ids, [rows[i]["click_id"] for i in ids],
            [rows[i]["campaign_id"] for i in ids], campaign_ids, partner_ids, click_times, SOURCE_EVENT, q.OPERATOR,
        ):  # fmt: skip
            followers.setdefault(c["install_id"], []).append(c)
        payloads: list[bytes] = []
        for it, target in credits:
            u = updated[it.install_id]
            payloads.append(_with_device(install_outbound(account_id, u, None, target), it.held))
            moved = sorted(followers.get(it.install_id, ()), key=lambda c: c["conversion_id"])
            assert it.lookup is not None
            it.lookup.conversions_moved = len(moved)
            ip = str(u["ip"]) if u["ip"] is not None else ""
            payloads += [
                conversion_outbound(
                    account_id, conv, "conversion", None, target, idfa=u["idfa"] or "", gaid=u["gaid"] or "", ip=ip
                )
                for conv in moved
            ]
        return payloads


# A token given up: its install exists and has no lookup yet (resolved meanwhile: nothing to do).
GIVE_UP_SQL = """
INSERT INTO attribution.apple_ads_lookups (account_id, install_id, outcome, reason, attempts)
SELECT $1, t.install_id, $4, t.reason, t.attempts
FROM unnest($2::text[], $3::text[], $5::int[]) AS t(install_id, reason, attempts)
WHERE EXISTS (SELECT 1 FROM attribution.installs i WHERE i.account_id = $1 AND i.install_id = t.install_id)
ON CONFLICT DO NOTHING
RETURNING install_id
"""


async def give_up(conn: asyncpg.Connection, outcomes: Sequence[Outcome]) -> None:
    """Dead letters (every attempt failed, e.g. the database refused the apply each time):
    each install is recorded as unavailable with the last error, and the outbound event
    the engine held for Apple's answer goes out as the engine matched it, as for any final
    outcome but a credit. Without this the install's postback waited for good. A dead
    letter retried later finds the lookup and changes nothing."""
    by_account: dict[str, dict[str, tuple[str, int, dict[str, Any] | None]]] = {}
    for o in outcomes:
        try:
            install_id, _, doc = _payload(o.job)
        except Permanent:
            continue  # not an Apple Ads job: no install to release
        event = doc.get("install_event")
        reason = f"given up after {o.job.attempts} attempts: {type(o.error).__name__}: {o.error}"
        by_account.setdefault(o.job.account_id, {})[install_id] = (
            reason[:MAX_REASON], o.job.attempts, event if isinstance(event, dict) else None
        )  # fmt: skip
    for account_id, items in by_account.items():
        ids = list(items)
        recorded = await conn.fetch(
            GIVE_UP_SQL, account_id, ids, [items[i][0] for i in ids], UNAVAILABLE, [items[i][1] for i in ids]
        )
        payloads = [orjson.dumps(held) for r in recorded if (held := items[r["install_id"]][2]) is not None]
        await enqueue(conn, postback_handoff.POSTBACK_QUEUE, payloads, account_ids=[account_id] * len(payloads))
        if recorded:
            LOOKUPS.labels(OUTCOME_NAMES[UNAVAILABLE]).inc(len(recorded))
            log.warning("apple_ads_given_up", account_id=account_id, installs=len(recorded))


# The device macros the engine's install event has and the install row does not (outbound.device_fields).
DEVICE_FIELDS = ("app_instance_id", "os_version", "device_model", "att_status", "app_version")


def _with_device(payload: bytes, held: Mapping[str, Any] | None) -> bytes:
    """A credited install's event with the device macros of the event the engine held."""
    if not held or not any(held.get(k) for k in DEVICE_FIELDS):
        return payload
    event = orjson.loads(payload)
    event.update({k: held[k] for k in DEVICE_FIELDS if isinstance(held.get(k), str) and held[k]})
    return postback_handoff.encode(event)


def _lookup_columns(items: Sequence[Item]) -> list[list[Any]]:
    """The lookups rows of ``items`` as INSERT_LOOKUPS' column arrays ($2 on)."""
    lks = [it.lookup or Lookup(UNAVAILABLE) for it in items]
    ans = [lk.answer or Answer(False) for lk in lks]
    prev = [lk.previous or {} for lk in lks]
    return [
        [it.install_id for it in items], [lk.outcome for lk in lks],
        [_not_ready_note(lk.reason, it.not_ready) for lk, it in zip(lks, items, strict=True)],
        [lk.http_status for lk in lks], [it.asks for it in items], [a.org_id for a in ans],
        [a.campaign_id for a in ans], [a.ad_group_id for a in ans], [a.keyword_id for a in ans],
        [a.ad_id for a in ans], [a.conversion_type or None for a in ans], [a.country_or_region or None for a in ans],
        [a.click_time for a in ans], [lk.campaign_id for lk in lks], [p.get("match_type") for p in prev],
        [p.get("campaign_id") for p in prev], [p.get("click_id") for p in prev], [lk.conversions_moved for lk in lks],
    ]  # fmt: skip


OUTCOME_MATCH = {apb.MATCH_TYPE_CLICK_ID: "click id match", MATCH_APPLE_ADS: "Apple Ads credit"}


def consumer(pool: asyncpg.Pool, resolver: Resolver, *, timeout_s: float = 10.0,
             dead_retention_s: float | None = None) -> Consumer:  # fmt: skip
    """The worker that resolves tokens, a claim of up to BATCH_SIZE at a time; the lease
    outlasts a claim whose every call waits the whole timeout."""
    lease_s = 60.0 + math.ceil(BATCHES_IN_FLIGHT * BATCH_SIZE / APPLE_CONCURRENCY) * timeout_s
    return Consumer(pool, APPLE_ADS_QUEUE, batch_handler=resolver.handle_batch, batch_size=BATCH_SIZE,
                    batches_in_flight=BATCHES_IN_FLIGHT, linger_s=LINGER_S, lease_s=lease_s, poll_s=1.0,
                    retry=RETRY, on_finish=resolver.on_finish, dead_retention_s=dead_retention_s)  # fmt: skip


async def run_resolver(settings: Any, running: list[Consumer]) -> None:
    """The resolver until stopped (its Consumer is put in ``running`` for the caller to stop),
    on a small pool of its own: a queue consumer holds a connection for LISTEN."""
    s = settings
    pool = await create_pool(s.database_url, min_size=1, max_size=POOL_SIZE,
                             application_name="clicktrail-attribution-apple-ads")  # fmt: skip
    links = Links(s)
    client = AppleClient(s.apple_ads_url, s.apple_ads_timeout_s)
    worker = consumer(pool, Resolver(pool, links, client, retry_s=s.apple_ads_retry_s),
                      timeout_s=s.apple_ads_timeout_s,
                      dead_retention_s=s.queue_dead_retention_days * 86400.0)  # fmt: skip
    running.append(worker)
    try:
        await worker.run()
    finally:
        await client.close()
        await links.close()
        await pool.close()


# What the resolver's process reads (each an AttributionSettings field, as CLICKTRAIL_<NAME>).
WORKER_SETTINGS = (
    "database_url", "internal_token", "links_addr", "grpc_deadline_s", "grpc_tls_ca", "grpc_tls_client_cert",
    "grpc_tls_client_key", "apple_ads_url", "apple_ads_timeout_s", "apple_ads_retry_s", "queue_dead_retention_days",
    "log_level", "log_format",
)  # fmt: skip
WORKER_RESTART_S = 1.0
WORKER_STOP_S = 15.0


def worker_env(settings: Any) -> dict[str, str]:
    """The environment of the resolver's process: this one's, with the settings it reads
    (tests and embedders pass settings objects, not the environment)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLICKTRAIL_")}
    for name in WORKER_SETTINGS:
        value = getattr(settings, name)
        env[f"CLICKTRAIL_{name.upper()}"] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return env


class WorkerProcess:
    """The resolver's process, for the life of the attribution service: started at once,
    started again (after WORKER_RESTART_S) when it dies, SIGTERM at the service's stop.
    Its jobs are durable: a process killed mid-claim leaves them to the lease."""

    def __init__(self, settings: Any) -> None:
        self._settings = settings
        self._proc: asyncio.subprocess.Process | None = None
        self._stopping = False

    async def run(self) -> None:
        while not self._stopping:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "services.attribution.apple_ads_worker", env=worker_env(self._settings),
                stdin=asyncio.subprocess.DEVNULL, preexec_fn=die_with_parent,
            )  # fmt: skip
            code = await self._proc.wait()
            if self._stopping:
                return
            log.warning("apple_ads_process_exited", code=code, restart_in_s=WORKER_RESTART_S)
            await asyncio.sleep(WORKER_RESTART_S)

    async def stop(self) -> None:
        self._stopping = True
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), WORKER_STOP_S)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


def start(ctx: Any) -> None:
    """Runs the resolver for the life of the attribution service (ctx: libs.grpc_server.ServiceContext):
    in a process of its own (``apple_ads_process``), else in this one."""
    s = ctx.settings
    if getattr(s, "apple_ads_process", False):
        process = WorkerProcess(s)
        ctx.spawn(process.run(), "attribution-apple-ads-process")
        ctx.on_stop.append(process.stop)
        return
    running: list[Consumer] = []
    ctx.spawn(run_resolver(s, running), "attribution-apple-ads")

    async def stop() -> None:
        for worker in running:
            await worker.stop()

    ctx.on_stop.append(stop)
