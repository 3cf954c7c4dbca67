"""Returning visitors of a campaign's flow.

Two sources say a visitor is back: the flow cookie ``ctf_<campaign_id>`` =
"<stream_id>.<lander_id|->.<offer_id|->" (max-age the campaign's visitor
window), and this replica's memory of (campaign, IP, User-Agent) -> the last
choice and when, kept inside the window. The memory is warmed at start (the
first batch of clicks) from links.clicks of the campaigns' windows, so a
restart does not make every visitor new again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import OrderedDict

import asyncpg

from libs.logging import get_logger

log = get_logger(__name__)

FLOW_COOKIE_PREFIX = "ctf_"
NONE = "-"

# The clicks of the last visitor window of every campaign with a flow, newest kept.
WARM_SQL = """
SELECT c.account_id, c.campaign_id, host(c.ip) AS ip, coalesce(c.user_agent, '') AS user_agent,
       extract(epoch FROM c.create_time)::float8 AS seen, c.stream_id, c.lander_id, c.offer_id
FROM links.campaigns k
JOIN links.clicks c ON c.account_id = k.account_id AND c.campaign_id = k.campaign_id
WHERE EXISTS (SELECT 1 FROM links.streams s WHERE s.account_id = k.account_id AND s.campaign_id = k.campaign_id)
  AND c.stream_id IS NOT NULL AND c.ip IS NOT NULL
  AND c.create_time > now() - make_interval(secs => k.visitor_window_s)
  AND c.create_time > now() - interval '90 days'  -- the longest window: prunes older partitions
ORDER BY c.create_time DESC
LIMIT $1
"""


# Not frozen: made per click, and a frozen dataclass's __init__ costs several times more.
@dataclasses.dataclass(slots=True)
class Choice:
    """What a visitor was given: the stream and its lander and offer (None: none)."""

    stream_id: str
    lander_id: str | None
    offer_id: str | None


@dataclasses.dataclass(slots=True)
class Visitor:
    """A returning visitor (cookie or IP + User-Agent) and what it was given."""

    returning: bool
    previous: Choice | None = None


NEW_VISITOR = Visitor(False)


def parse_cookie(value: str) -> Choice | None:
    """The flow cookie's value, or None when it is not one of ours."""
    parts = value.split(".")
    if len(parts) != 3 or not parts[0] or any(len(p) > 64 for p in parts):
        return None
    stream_id, lander_id, offer_id = parts
    return Choice(stream_id, None if lander_id == NONE else lander_id, None if offer_id == NONE else offer_id)


def format_cookie(choice: Choice) -> str:
    return f"{choice.stream_id}.{choice.lander_id or NONE}.{choice.offer_id or NONE}"


class Visitors:
    """(account, campaign, IP, User-Agent) -> (last seen, Choice), bounded: the
    least recently seen go first past ``max_keys``. Times are wall-clock seconds."""

    def __init__(self, pool: asyncpg.Pool | None, max_keys: int = 200_000) -> None:
        self._pool = pool
        self._max = max_keys
        # Values are (float, str): tuples of atoms the garbage collector stops
        # tracking, so 200,000 visitors add nothing to a full collection's walk
        # (objects in them would: services/links/quality.py SlidingCounter says why).
        self._seen: OrderedDict[int, tuple[float, str]] = OrderedDict()
        self._warm: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._seen)

    @staticmethod
    def key(account_id: str, campaign_id: str, ip: str, user_agent: str) -> int:
        return hash((account_id, campaign_id, ip, user_agent))

    def recall(
        self, account_id: str, campaign_id: str, ip: str, user_agent: str, now: float, window_s: int
    ) -> Choice | None:
        """The last choice of this IP + User-Agent on the campaign inside the window."""
        if not ip:
            return None
        return self.recall_key(self.key(account_id, campaign_id, ip, user_agent), now, window_s)

    def recall_key(self, key: int, now: float, window_s: int) -> Choice | None:
        """recall() by key() (the click path works the key out once for recall and remember)."""
        got = self._seen.get(key)
        if got is None or now - got[0] >= window_s:
            return None
        return parse_cookie(got[1])

    def remember(
        self, account_id: str, campaign_id: str, ip: str, user_agent: str, now: float, choice: Choice | str
    ) -> None:
        """``choice``: a Choice, or its flow cookie value (format_cookie) when the click path has it."""
        if not ip:
            return
        self.remember_key(
            self.key(account_id, campaign_id, ip, user_agent), now,
            choice if isinstance(choice, str) else format_cookie(choice),
        )  # fmt: skip

    def remember_key(self, key: int, now: float, choice: str) -> None:
        seen = self._seen
        old = seen.get(key)
        if old is not None:
            if old[0] > now:  # a warm-up row newer than this one: keep it
                return
            seen.move_to_end(key)
        seen[key] = (now, choice)
        if len(seen) > self._max:
            seen.popitem(last=False)

    def start_warm(self) -> None:
        """Start loading the recent flow clicks, once, in the background: the click
        path does not wait for it (on a large links.clicks it can take seconds;
        visitors count as new until it is done, as after any restart without it)."""
        if self._pool is not None and self._warm is None:
            self._warm = asyncio.ensure_future(self._load())

    async def ensure_warm(self) -> None:
        """Start the warm-up if need be and wait for it."""
        self.start_warm()
        if self._warm is not None and not self._warm.done():
            await asyncio.shield(self._warm)

    async def _load(self) -> None:
        assert self._pool is not None
        started = time.time()
        try:
            rows = await self._pool.fetch(WARM_SQL, self._max)
        except (asyncpg.PostgresError, OSError) as exc:
            # Clicks go on: visitors count as new until they come back from now on.
            log.warning("visitors_warm_failed", error=str(exc))
            return
        for r in reversed(rows):  # oldest first, so the newest is the most recent entry
            if r["seen"] <= started:
                self.remember(
                    r["account_id"], r["campaign_id"], r["ip"], r["user_agent"], r["seen"],
                    Choice(r["stream_id"], r["lander_id"], r["offer_id"]),
                )  # fmt: skip
