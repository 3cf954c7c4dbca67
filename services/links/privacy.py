"""GDPR erasure of one person's clicks and impressions (libs/privacy.py): the
rows stay for the reports, without IP, User-Agent, referrer, device ids or the
raw query; country, device type, OS and sub-ids are kept."""

from __future__ import annotations

import asyncpg

from libs.privacy import Found, Subject, count

_ERASED = "ip = NULL, user_agent = NULL, referrer = NULL, idfa = NULL, gaid = NULL, params = NULL"
# Not erased yet: any personal column still set.
_LEFT = "num_nonnulls(ip, user_agent, referrer, idfa, gaid, params) > 0"
_CLICKS = f"""account_id = $1 AND {_LEFT}
    AND (click_id = ANY($2::text[]) OR idfa = ANY($3::text[]) OR gaid = ANY($3::text[]))"""
_IMPRESSIONS = f"account_id = $1 AND {_LEFT} AND (idfa = ANY($2::text[]) OR gaid = ANY($2::text[]))"


async def erase(conn: asyncpg.Connection, account_id: str, who: Subject, apply: bool) -> Found:
    found = Found()
    clicks, devices = sorted(who.click_ids), sorted(who.device_ids)
    query = f"SELECT click_id, idfa, gaid, host(ip) AS ip FROM links.clicks WHERE {_CLICKS}"
    rows = await conn.fetch(query, account_id, clicks, devices)
    for r in rows:
        found.click_ids.add(r["click_id"])
        found.device_ids.update(r[c] for c in ("idfa", "gaid") if r[c])
        found.ips.update(ip for ip in [r["ip"]] if ip)
    found.rows["links.clicks"] = len(rows)
    if not apply:
        found.rows["links.impressions"] = await conn.fetchval(
            f"SELECT count(*) FROM links.impressions WHERE {_IMPRESSIONS}", account_id, devices
        )
        return found
    await conn.execute(f"UPDATE links.clicks SET {_ERASED} WHERE {_CLICKS}", account_id, clicks, devices)
    status = await conn.execute(f"UPDATE links.impressions SET {_ERASED} WHERE {_IMPRESSIONS}", account_id, devices)
    found.rows["links.impressions"] = count(status)
    return found
