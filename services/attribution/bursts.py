"""install_burst: more installs from one address or subnet (/24, /64) inside the
window than the thresholds allow. One query for a batch's subnets, then the
batch's own installs in the order they came."""

from __future__ import annotations

import datetime as dt

import asyncpg

from services.attribution import quality as qual
from services.attribution.rules import Attributed

# An install to count: its settings, its address and its subnet.
Bursting = tuple[Attributed, qual.Settings, str, str]


# install_burst: the installs of these apps and subnets already stored since each
# key's time, per address, and the oldest of them; the newest `cap` rows per key at
# most (past any threshold, the exact count no longer matters).
BURST_SQL = """
SELECT q.app AS app_id, host(i.ip) AS ip, count(*) AS n, min(i.receive_time) AS oldest
FROM unnest($2::text[], $3::cidr[], $4::timestamptz[], $5::int[]) AS q(app, net, since, cap)
CROSS JOIN LATERAL (
    SELECT ip, receive_time FROM attribution.installs
    WHERE account_id = $1 AND app_id = q.app AND ip IS NOT NULL
      AND network(set_masklen(ip, CASE WHEN family(ip) = 4 THEN 24 ELSE 64 END)) = q.net
      AND receive_time >= q.since
    ORDER BY receive_time DESC
    LIMIT q.cap
) i
GROUP BY 1, 2
"""


class Bursts:
    """The counting, with what it learned: (account, app, subnet) -> (n, oldest): the subnet
    had at least n installs received since `oldest`. Counts only grow (other replicas add
    theirs), so while an install's window still reaches back to `oldest`, a subnet past its
    threshold needs no query."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._known: dict[tuple[str, str, str], tuple[int, dt.datetime]] = {}

    async def count(self, account_id: str, bursting: list[Bursting]) -> None:
        """install_burst: one query for the batch's subnets (those known to be past
        their threshold skipped), then the batch's own installs in the order they came."""
        known = self._known
        left: list[Bursting] = []
        for b in bursting:
            a, s, _, net = b
            hit = known.get((account_id, a.event["app_id"], net))
            window_start = a.event["_received"] - qual.seconds(s.install_burst_window_s)
            if hit is not None and hit[0] > s.install_burst_subnet and window_start <= hit[1]:
                a.reasons |= qual.INSTALL_BURST
            else:
                left.append(b)
        if not left:
            return
        # Per (app, subnet): from the earliest window start among its installs, the newest rows, enough for
        # any threshold.
        keys: dict[tuple[str, str], tuple[dt.datetime, int]] = {}
        for a, s, _, net in left:
            key = (a.event["app_id"], net)
            since = a.event["_received"] - qual.seconds(s.install_burst_window_s)
            cap = max(s.install_burst_ip, s.install_burst_subnet) + 1
            old = keys.get(key)
            keys[key] = (min(old[0], since), max(old[1], cap)) if old else (since, cap)
        ordered = sorted(keys)
        rows = await self._pool.fetch(
            BURST_SQL, account_id, [k[0] for k in ordered], [k[1] for k in ordered],
            [keys[k][0] for k in ordered], [keys[k][1] for k in ordered],
        )  # fmt: skip
        by_ip: dict[tuple[str, str], int] = {}
        by_net: dict[tuple[str, str], int] = {}
        oldest: dict[tuple[str, str], dt.datetime] = {}
        for r in rows:
            by_ip[(r["app_id"], r["ip"])] = by_ip.get((r["app_id"], r["ip"]), 0) + r["n"]
            net_key = (r["app_id"], qual.subnet(r["ip"]))
            by_net[net_key] = by_net.get(net_key, 0) + r["n"]
            oldest[net_key] = min(oldest.get(net_key, r["oldest"]), r["oldest"])
        if len(known) > 100_000:
            known.clear()
        for net_key, n in by_net.items():
            if n >= keys[net_key][1]:  # as many as asked for: at least that many, since the oldest of them
                known[(account_id, *net_key)] = (n, oldest[net_key])
        # This batch's installs count too, in the order they came.
        for a, s, ip, net in sorted(left, key=lambda b: b[0].event["_received"]):
            app = a.event["app_id"]
            n_ip = by_ip[(app, ip)] = by_ip.get((app, ip), 0) + 1
            n_net = by_net[(app, net)] = by_net.get((app, net), 0) + 1
            if n_ip > s.install_burst_ip or n_net > s.install_burst_subnet:
                a.reasons |= qual.INSTALL_BURST
