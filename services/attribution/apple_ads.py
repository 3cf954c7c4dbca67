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
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
import httpx
import orjson
from clicktrail.attribution.v1 import apple_ads_pb2 as pb
from clicktrail.attribution.v1 import attribution_pb2 as apb
from prometheus_client import Counter

from libs import postback_handoff
from libs import quality as q
from libs.db import create_pool
from libs.logging import get_logger
from libs.queue import Consumer, Job, Permanent, RetryLater, RetryPolicy, enqueue
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
# The resolver's own pool: its LISTEN connection and the jobs' work (CONCURRENCY at once).
POOL_SIZE = 3
CONCURRENCY = 4

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
# Event conversions that follow the install (credited through its previous touch, or
# organic like it), no operator having overruled them. $3 SOURCE_EVENT, $4 the operator bit.
FOLLOWERS_SQL = """
SELECT * FROM attribution.conversions
WHERE account_id = $1 AND install_id = $2 AND source = $3 AND reasons & $4::bigint = 0
  AND click_id IS NOT DISTINCT FROM $5 AND campaign_id IS NOT DISTINCT FROM $6
ORDER BY conversion_id
FOR UPDATE
"""
INSERT_LOOKUP = """
INSERT INTO attribution.apple_ads_lookups (account_id, install_id, outcome, reason, http_status, attempts, org_id,
    apple_campaign_id, ad_group_id, keyword_id, ad_id, conversion_type, country_or_region, click_time, campaign_id,
    previous_match_type, previous_campaign_id, previous_click_id, conversions_moved)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
ON CONFLICT DO NOTHING
RETURNING install_id
"""


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


class AppleClient:
    """Apple's attribution API: one POST of the token as text/plain."""

    def __init__(self, url: str, timeout_s: float) -> None:
        self.url = url
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s), follow_redirects=False)

    async def resolve(self, token: str) -> tuple[int, bytes]:
        """(HTTP status, the answer's first bytes); raises httpx.HTTPError when there is no answer."""
        async with self._client.stream(
            "POST", self.url, content=token.encode(), headers={"Content-Type": "text/plain"}
        ) as resp:
            body = b""
            async for chunk in resp.aiter_bytes():
                body += chunk
                if len(body) > MAX_ANSWER:
                    break
            return resp.status_code, body[:MAX_ANSWER]

    async def close(self) -> None:
        await self._client.aclose()


# --------------------------------------------------------------------------- the engine's side


async def enqueue_lookups(conn: asyncpg.Connection, account_id: str, installs: Sequence[Attributed]) -> int:
    """In the installs' transaction: a job for each new install with a token that an exact
    click id did not match, while the account has Apple Ads enabled. How many."""
    wanted = [a for a in installs if a.event.get("adservices_token") and a.match_type != MATCH_CLICK_ID]
    if not wanted:
        return 0
    enabled = await conn.fetchval(
        "SELECT enabled FROM attribution.apple_ads_settings WHERE account_id = $1", account_id
    )
    if not enabled:
        return 0
    payloads = [orjson.dumps({"install_id": a.install_id, "token": a.event["adservices_token"]}) for a in wanted]
    await enqueue(conn, APPLE_ADS_QUEUE, payloads, account_ids=[account_id] * len(payloads), max_attempts=MAX_ATTEMPTS)
    return len(payloads)


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


def _payload(job: Job) -> tuple[str, str]:
    try:
        doc = orjson.loads(job.payload)
        install_id, token = doc["install_id"], doc["token"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as err:
        raise Permanent(f"not an Apple Ads job: {err}") from None
    if not isinstance(install_id, str) or not isinstance(token, str):
        raise Permanent("not an Apple Ads job: install_id and token must be strings")
    return install_id, token


async def _record(conn: asyncpg.Connection, account_id: str, install_id: str, job: Job, lk: Lookup) -> bool:
    a = lk.answer or Answer(False)
    prev = lk.previous or {}
    done = await conn.fetchval(
        INSERT_LOOKUP, account_id, install_id, lk.outcome, lk.reason[:MAX_REASON], lk.http_status, job.attempts,
        a.org_id, a.campaign_id, a.ad_group_id, a.keyword_id, a.ad_id, a.conversion_type or None,
        a.country_or_region or None, a.click_time, lk.campaign_id, prev.get("match_type"), prev.get("campaign_id"),
        prev.get("click_id"), lk.conversions_moved,
    )  # fmt: skip
    if done is not None:
        LOOKUPS.labels(OUTCOME_NAMES[lk.outcome]).inc()
        log.info("apple_ads_resolved", account_id=account_id, install_id=install_id, outcome=OUTCOME_NAMES[lk.outcome],
                 reason=lk.reason[:MAX_REASON], http_status=lk.http_status)  # fmt: skip
    return done is not None


class Resolver:
    """Handles APPLE_ADS_QUEUE jobs: asks Apple, then records (and credits) in one transaction."""

    def __init__(self, pool: asyncpg.Pool, links: Links, client: AppleClient, *, retry_s: float = 5.0) -> None:
        self._pool = pool
        self._links = links
        self._client = client
        self._retry_s = retry_s

    async def _finish(self, account_id: str, install_id: str, job: Job, lk: Lookup) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await _record(conn, account_id, install_id, job, lk)

    async def handle(self, job: Job) -> None:
        account_id = job.account_id
        install_id, token = _payload(job)
        if await self._pool.fetchval(
            "SELECT 1 FROM attribution.apple_ads_lookups WHERE account_id = $1 AND install_id = $2",
            account_id, install_id,
        ):  # fmt: skip
            return  # resolved before: a replayed job changes nothing
        install = await self._pool.fetchrow(
            "SELECT * FROM attribution.installs WHERE account_id = $1 AND install_id = $2", account_id, install_id
        )
        if install is None:
            raise Permanent(f"install {install_id!r} not found")
        if dt.datetime.now(dt.UTC) - install["receive_time"] > TOKEN_TTL:
            await self._finish(account_id, install_id, job, Lookup(EXPIRED, "the token's 24 hours passed unresolved"))
            return
        try:
            status, body = await self._client.resolve(token)
        except httpx.HTTPError as err:
            await self._unavailable(account_id, install_id, job, None, f"{type(err).__name__}: {err}"[:MAX_REASON])
            return
        if status == 200:
            try:
                answer = parse_answer(body)
            except ValueError as err:
                await self._unavailable(account_id, install_id, job, status, str(err))
                return
            await self._answered(account_id, install_id, job, install, answer)
        elif status == 404:
            if job.attempts <= NOT_FOUND_RETRIES:
                raise RetryLater("Apple answered 404 (not ready yet)", after_s=self._retry_s)
            lk = Lookup(NOT_FOUND, _reason_of(404, body) + f" (asked {job.attempts} times)", 404)
            await self._finish(account_id, install_id, job, lk)
        elif status == 400:
            log.warning("apple_ads_invalid_token", account_id=account_id, install_id=install_id)
            await self._finish(account_id, install_id, job, Lookup(INVALID_TOKEN, _reason_of(400, body), 400))
        else:
            await self._unavailable(account_id, install_id, job, status, _reason_of(status, body))

    async def _unavailable(self, account_id: str, install_id: str, job: Job, status: int | None, reason: str) -> None:
        """Apple failed this time: try again with the backoff, until the attempts are spent."""
        if job.attempts < job.max_attempts:
            raise RetryLater(reason)
        await self._finish(account_id, install_id, job, Lookup(UNAVAILABLE, reason, status))

    async def _target(self, account_id: str, answer: Answer) -> CampaignInfo | None:
        """The campaign an attributed answer credits: the Apple campaign's mapping, else the default."""
        settings = await self._pool.fetchrow(SETTINGS_SQL, account_id)
        mapped = None
        if answer.campaign_id is not None:
            mapped = await self._pool.fetchval(
                "SELECT campaign_id FROM attribution.apple_ads_mappings"
                " WHERE account_id = $1 AND apple_campaign_id = $2",
                account_id, answer.campaign_id,
            )  # fmt: skip
        for campaign_id in (mapped, settings["default_campaign_id"] if settings else None):
            if campaign_id:
                info = await self._links.campaign(account_id, campaign_id)
                if info is not None:  # a campaign deleted since it was mapped: the next choice
                    return info
        return None

    async def _answered(self, account_id: str, install_id: str, job: Job, install: asyncpg.Record,
                        answer: Answer) -> None:  # fmt: skip
        if not answer.attribution:
            await self._finish(account_id, install_id, job, Lookup(NOT_ATTRIBUTED, "Apple: attribution false", 200))
            return
        # Look-ups before the transaction (links is another service).
        target = await self._target(account_id, answer) if install["match_type"] in WEAKER else None
        campaigns: dict[str, CampaignInfo | None] = {}
        if target is not None:
            old = install["campaign_id"]
            campaigns = {c: await self._links.campaign(account_id, c) for c in {old} if c}
            campaigns[target.campaign_id] = target
        payloads: list[bytes] = []
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT * FROM attribution.installs WHERE account_id = $1 AND install_id = $2 FOR UPDATE",
                account_id, install_id,
            )  # fmt: skip
            assert row is not None  # installs are never deleted
            if await conn.fetchval(
                "SELECT 1 FROM attribution.apple_ads_lookups WHERE account_id = $1 AND install_id = $2",
                account_id, install_id,
            ):  # fmt: skip
                return
            if target is None or row["match_type"] not in WEAKER:
                why = (
                    f"the install's {OUTCOME_MATCH.get(row['match_type'], 'match')} outranks Apple Ads"
                    if row["match_type"] not in WEAKER
                    else "no campaign to credit: the Apple campaign is not mapped and there is no default campaign"
                )
                await _set_ids(conn, account_id, install_id, answer)
                await _record(conn, account_id, install_id, job, Lookup(RECORDED, why, 200, answer))
                return
            previous = {"match_type": row["match_type"], "campaign_id": row["campaign_id"], "click_id": row["click_id"]}
            updated = await conn.fetchrow(
                "UPDATE attribution.installs SET match_type = $3, touch_type = 0, click_id = NULL, link_id = NULL,"
                " touch_time = $4, campaign_id = $5, partner_id = $6, apple_ads_org_id = $7,"
                " apple_ads_campaign_id = $8, apple_ads_ad_group_id = $9, apple_ads_keyword_id = $10,"
                " apple_ads_ad_id = $11, apple_ads_click_time = $4, update_time = clock_timestamp()"
                " WHERE account_id = $1 AND install_id = $2 RETURNING *",
                account_id, install_id, MATCH_APPLE_ADS, answer.click_time, target.campaign_id,
                target.partner_id or None, answer.org_id, answer.campaign_id, answer.ad_group_id, answer.keyword_id,
                answer.ad_id,
            )  # fmt: skip
            assert updated is not None
            payloads.append(install_outbound(account_id, updated, None, target))
            moved = 0
            for c in await conn.fetch(
                FOLLOWERS_SQL, account_id, install_id, SOURCE_EVENT, q.OPERATOR, row["click_id"], row["campaign_id"]
            ):
                conv = await conn.fetchrow(
                    "UPDATE attribution.conversions SET campaign_id = $3, partner_id = $4, link_id = NULL,"
                    " click_id = NULL, touch_time = $5, update_time = clock_timestamp()"
                    " WHERE account_id = $1 AND conversion_id = $2 RETURNING *",
                    account_id, c["conversion_id"], target.campaign_id, target.partner_id or None, answer.click_time,
                )  # fmt: skip
                assert conv is not None
                moved += 1
                payloads.append(conversion_outbound(
                    account_id, conv, "conversion", None, target, idfa=updated["idfa"] or "",
                    gaid=updated["gaid"] or "", ip=str(updated["ip"]) if updated["ip"] is not None else "",
                ))  # fmt: skip
            lk = Lookup(CREDITED, "Apple: attribution true", 200, answer, target.campaign_id, previous, moved)
            await _record(conn, account_id, install_id, job, lk)
            await enqueue(conn, postback_handoff.POSTBACK_QUEUE, payloads, account_ids=[account_id] * len(payloads))


OUTCOME_MATCH = {apb.MATCH_TYPE_CLICK_ID: "click id match", MATCH_APPLE_ADS: "Apple Ads credit"}


async def _set_ids(conn: asyncpg.Connection, account_id: str, install_id: str, a: Answer) -> None:
    """The Apple ids on an install whose match stays (reports still show them)."""
    await conn.execute(
        "UPDATE attribution.installs SET apple_ads_org_id = $3, apple_ads_campaign_id = $4, apple_ads_ad_group_id = $5,"
        " apple_ads_keyword_id = $6, apple_ads_ad_id = $7, apple_ads_click_time = $8, update_time = clock_timestamp()"
        " WHERE account_id = $1 AND install_id = $2",
        account_id, install_id, a.org_id, a.campaign_id, a.ad_group_id, a.keyword_id, a.ad_id, a.click_time,
    )  # fmt: skip


def consumer(pool: asyncpg.Pool, resolver: Resolver, *, dead_retention_s: float | None = None) -> Consumer:
    """The worker that resolves tokens (a few at a time: each waits on Apple)."""
    return Consumer(pool, APPLE_ADS_QUEUE, handler=resolver.handle, batch_size=32, concurrency=CONCURRENCY,
                    lease_s=60.0, poll_s=1.0, retry=RETRY, dead_retention_s=dead_retention_s)  # fmt: skip


def start(ctx: Any) -> None:
    """Runs the resolver for the life of the attribution service (ctx: libs.grpc_server.ServiceContext),
    on a small pool of its own: a queue consumer holds a connection for LISTEN, and the
    service's pool is sized for the engine's consumers and the API."""
    s = ctx.settings
    running: list[Consumer] = []

    async def run() -> None:
        pool = await create_pool(s.database_url, min_size=1, max_size=POOL_SIZE,
                                 application_name="clicktrail-attribution-apple-ads")  # fmt: skip
        links = Links(s)
        client = AppleClient(s.apple_ads_url, s.apple_ads_timeout_s)
        worker = consumer(pool, Resolver(pool, links, client, retry_s=s.apple_ads_retry_s),
                          dead_retention_s=s.queue_dead_retention_days * 86400.0)  # fmt: skip
        running.append(worker)
        try:
            await worker.run()
        finally:
            await client.close()
            await links.close()
            await pool.close()

    ctx.spawn(run(), "attribution-apple-ads")

    async def stop() -> None:
        for worker in running:
            await worker.stop()

    ctx.on_stop.append(stop)
