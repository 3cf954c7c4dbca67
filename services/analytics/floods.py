"""The sub-id flood finder: off the click path, a periodic job that finds the
(campaign, sub field, value)s whose clicks over a trailing window are far out
of line with their installs, and tells the links service (FlagSubIds), whose
click path then gives their later clicks the reason ``flood_sub_id``
(suspicious).

Click flooding sends masses of cheap clicks hoping one of them is the last
click before an organic install; the clicks of such a source install at a
tiny rate. Defaults (libs/config.py, CLICKTRAIL_ANALYTICS_FLOOD_*): at least
1,000 clicks (of every verdict: a flood's clicks are often invalid for other
reasons too) over the last 7 UTC days, today included, and fewer installs
(clean + suspicious) than 0.05 % of them, i.e. none under 2,000 clicks. Real
sources install at 1-5 % of their clicks, 20-100 times that. A flag lasts
``flag_ttl_s`` (6 h) after the last run that found it, so a value whose ratio
recovers (or leaves the window) lapses by itself.

It reads the sub-id cubes (report_traffic_subs / report_outcomes_subs: UTC
days), so a run costs a scan of a week of those, every ``interval_s``
(10 minutes). One replica runs it at a time: the job's row in
analytics.periodic_jobs is claimed FOR UPDATE SKIP LOCKED and run only when
its last run is ``interval_s`` old.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Sequence

import asyncpg
import grpc
import orjson
from clicktrail.links.v1 import links_pb2 as lpb
from google.protobuf import timestamp_pb2

from libs.config import AnalyticsSettings, ConfigError
from libs.logging import get_logger
from libs.vocab.windows import FLOOD_MAX_WINDOW_DAYS as MAX_WINDOW_DAYS
from services.analytics.periodic import run_until_stopped
from services.analytics.rules import LinksActions

log = get_logger("analytics.floods")

NAME = "sub_id_flood_finder"

# (campaign, sub number, value)s with at least $3 clicks of every verdict in the
# UTC days [$1, $2] and fewer installs (clean + suspicious) than $4 x clicks.
FIND_SQL = """
WITH t AS MATERIALIZED (
    SELECT account_id, campaign_id, sub_no, sub_value, sum(clicks + invalid_clicks) AS clicks
    FROM analytics.report_traffic_subs
    WHERE day >= $1 AND day <= $2 AND sub_value <> ''
    GROUP BY 1, 2, 3, 4
    HAVING sum(clicks + invalid_clicks) >= $3
),
o AS (
    SELECT o.account_id, o.campaign_id, o.sub_no, o.sub_value, sum(o.installs) AS installs
    FROM analytics.report_outcomes_subs o
    JOIN t ON t.account_id = o.account_id AND t.campaign_id = o.campaign_id AND t.sub_no = o.sub_no
          AND t.sub_value = o.sub_value
    WHERE o.day >= $1 AND o.day <= $2
    GROUP BY 1, 2, 3, 4
)
SELECT t.account_id, t.campaign_id, t.sub_no, t.sub_value, t.clicks::bigint, coalesce(o.installs, 0)::bigint AS installs
FROM t LEFT JOIN o USING (account_id, campaign_id, sub_no, sub_value)
WHERE coalesce(o.installs, 0) < t.clicks * $4::float8
ORDER BY 1, 2, 3, 4
"""
# One finder at a time across replicas: a session advisory lock per job, held on a
# connection with no transaction open (a run calls the links service).
_KEY = "hashtextextended('clicktrail.analytics.job:' || $1, 0)"
_TRY_LOCK = f"SELECT pg_try_advisory_lock({_KEY})"
_UNLOCK = f"SELECT pg_advisory_unlock({_KEY})"
_DUE = """
SELECT last_run_time FROM analytics.periodic_jobs
WHERE name = $1 AND last_run_time <= clock_timestamp() - make_interval(secs => $2)
"""
_INIT = """
INSERT INTO analytics.periodic_jobs (name, last_run_time) VALUES ($1, '-infinity') ON CONFLICT (name) DO NOTHING
"""
_DONE = "UPDATE analytics.periodic_jobs SET last_run_time = clock_timestamp(), detail = $2 WHERE name = $1"


@dataclasses.dataclass(frozen=True, slots=True)
class Flood:
    account_id: str
    campaign_id: str
    sub_field: str
    value: str
    clicks: int
    installs: int


class FloodFinder:
    """Finds flooding sub-ids every ``analytics_flood_interval_s`` and flags them
    through the links service; tests call ``run_once``."""

    def __init__(self, pool: asyncpg.Pool, links: LinksActions, settings: AnalyticsSettings) -> None:
        self._pool = pool
        self._links = links
        self.interval_s = settings.analytics_flood_interval_s
        self.window_days = settings.analytics_flood_window_days
        self.min_clicks = settings.analytics_flood_min_clicks
        self.max_install_rate = settings.analytics_flood_max_install_rate
        self.flag_ttl = dt.timedelta(seconds=settings.analytics_flood_flag_ttl_s)
        for name, ok, want in (
            ("ANALYTICS_FLOOD_WINDOW_DAYS", 1 <= self.window_days <= MAX_WINDOW_DAYS, f"1 .. {MAX_WINDOW_DAYS}"),
            ("ANALYTICS_FLOOD_MIN_CLICKS", self.min_clicks >= 1, "at least 1"),
            ("ANALYTICS_FLOOD_MAX_INSTALL_RATE", 0 < self.max_install_rate < 1, "a fraction above 0, below 1"),
            ("ANALYTICS_FLOOD_FLAG_TTL_S", 1 <= self.flag_ttl.total_seconds() <= 90 * 86400, "1 .. 7776000"),
        ):
            if not ok:
                raise ConfigError(f"CLICKTRAIL_{name}: must be {want}")
        self._stopping = asyncio.Event()

    async def find(self, today: dt.date | None = None) -> list[Flood]:
        """The flooding sub-id values now (over the window ending ``today``)."""
        last = today or dt.datetime.now(dt.UTC).date()
        first = last - dt.timedelta(days=self.window_days - 1)
        rows = await self._pool.fetch(FIND_SQL, first, last, self.min_clicks, self.max_install_rate)
        return [
            Flood(r["account_id"], r["campaign_id"], f"sub{r['sub_no']}", r["sub_value"], r["clicks"], r["installs"])
            for r in rows
        ]

    def _flag(self, f: Flood, expire: dt.datetime) -> lpb.FlaggedSubId:
        rate = f.installs / f.clicks
        reason = (
            f"{f.clicks:,} clicks, {f.installs:,} installs in the last {self.window_days} days:"
            f" {rate:.3%} installs per click, below {self.max_install_rate:.3%}"
        )
        ts = timestamp_pb2.Timestamp()
        ts.FromDatetime(expire)
        return lpb.FlaggedSubId(
            campaign_id=f.campaign_id, sub_field=f.sub_field, value=f.value, reason=reason, expire_time=ts
        )

    async def flag(self, floods: Sequence[Flood]) -> int:
        """Flags ``floods`` (each account in its own calls); an account the links
        service refuses is logged and skipped."""
        expire = dt.datetime.now(dt.UTC) + self.flag_ttl
        by_account: dict[str, list[lpb.FlaggedSubId]] = {}
        for f in floods:
            by_account.setdefault(f.account_id, []).append(self._flag(f, expire))
        done = 0
        for account_id, flags in by_account.items():
            try:
                done += await self._links.flag_sub_ids(account_id, flags)
            except grpc.aio.AioRpcError as err:
                log.warning("flag_sub_ids_failed", account_id=account_id, code=err.code().name, error=err.details())
        return done

    async def run_once(self, *, force: bool = False) -> int | None:
        """One run if it is due (``force``: now): finds and flags; returns how many
        were flagged, None when not due or another replica is running it."""
        await self._pool.execute(_INIT, NAME)
        async with self._pool.acquire() as conn:
            if not await conn.fetchval(_TRY_LOCK, NAME):
                return None  # another replica is running it
            try:
                flagged = await self._run_locked(conn, force)
                await conn.fetchval(_UNLOCK, NAME)
            except BaseException:
                # The session lock must not go back to the pool with the connection:
                # closing it releases the lock.
                conn.terminate()
                raise
        return flagged

    async def _run_locked(self, conn: asyncpg.Connection, force: bool) -> int | None:
        if await conn.fetchrow(_DUE, NAME, 0.0 if force else self.interval_s) is None:
            return None
        floods = await self.find()
        flagged = await self.flag(floods)
        detail = {"found": len(floods), "flagged": flagged, "accounts": len({f.account_id for f in floods})}
        await conn.execute(_DONE, NAME, orjson.dumps(detail).decode())
        if floods:
            log.info("sub_id_floods_flagged", **detail)
        return flagged

    async def run(self) -> None:
        if self.interval_s <= 0:
            return
        await run_until_stopped(
            self.run_once, self._stopping, min(self.interval_s, 30.0), log, "flood finder pass failed"
        )

    async def stop(self) -> None:
        self._stopping.set()
