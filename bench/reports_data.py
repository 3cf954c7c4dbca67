"""The reports benchmark's world (bench/bench_reports.py runs it): campaigns, links and
tariffs made through the services, clicks / installs / conversions generated in SQL,
the raw queries a report is checked against, and the answers' comparison."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import asyncpg
from clicktrail.accounts.v1 import accounts_pb2, accounts_pb2_grpc
from clicktrail.analytics.v1 import reports_pb2 as rpb
from clicktrail.attribution.v1 import config_pb2 as cpb
from clicktrail.attribution.v1 import config_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc
from clicktrail.type.v1 import money_pb2

from bench.common import (
    keep_world,
    kept_world,
)
from libs import quality
from libs.grpc_client import make_channel
from libs.partitions import ensure_daily_partitions

DAYS = 30
CAMPAIGNS = 20
LINKS_PER_CAMPAIGN = 2
PARTNERS = 5
CHUNK = 1_000_000

# $1 account, $2 app, $3 link ids, $4 campaign ids, $5 partner ids, $6 first time, $7 seconds of history,
# $8 first number, $9 last number.
GEN_CLICKS = """
INSERT INTO links.{table} (account_id, {id}, create_time, link_id, campaign_id, partner_id, app_id, ip, country,
    device_type, os, user_agent, sub1, sub2, sub3, verdict, reasons)
SELECT $1, '{prefix}' || lpad(g::text, 10, '0'), t, ($3::text[])[l], ($4::text[])[l], ($5::text[])[l], $2,
       ('10.' || (ipn / 65536) || '.' || (ipn / 256 % 256) || '.' || (ipn % 256))::inet,
       (ARRAY['US','DE','GB','FR','BR','IN','RU','JP','CA','AU','ES','IT','MX','ID','TR','PL','NL','SE','KR','UA'])
           [1 + floor(20 * random() ^ 3)::int],
       dev, CASE dev WHEN 1 THEN (CASE WHEN random() < 0.8 THEN 'Windows' ELSE 'macOS' END)
                     ELSE (CASE WHEN random() < 0.7 THEN 'Android' ELSE 'iOS' END) END,
       'UA-' || floor(random() * 20)::int,
       's' || floor(300 * random() ^ 3)::int, 'cr' || floor(random() * 20)::int,
       CASE WHEN random() < 0.5 THEN 'p' || floor(random() * 200)::int END,
       CASE WHEN q < 0.06 THEN 3 WHEN q < 0.09 THEN 2 ELSE 1 END,
       CASE WHEN q < 0.03 THEN {bot} WHEN q < 0.05 THEN {datacenter} WHEN q < 0.06 THEN {duplicate}
            WHEN q < 0.09 THEN {prefetch} ELSE 0 END
FROM (
    SELECT g, $6::timestamptz + random() * $7 * interval '1 second' AS t, random() AS q,
           1 + floor(random() * array_length($3::text[], 1))::int AS l,
           floor(($9 - $8 + 1) * 0.4 * random() ^ 2)::int AS ipn,
           CASE WHEN random() < 0.7 THEN 2 WHEN random() < 0.85 THEN 1 ELSE 3 END AS dev
    FROM generate_series($8::bigint, $9::bigint) g
) s
"""
# Installs from 1 % of the clicks, conversions from half of them (bulk-loaded history:
# create_time / update_time are the event's own time).
GEN_INSTALLS = """
INSERT INTO attribution.installs (account_id, install_id, app_id, device_key, event_uuid, install_time, receive_time,
    create_time, update_time, match_type, touch_type, click_id, touch_time, campaign_id, partner_id, link_id, verdict,
    reasons)
SELECT account_id, 'ins' || click_id, app_id, 'dev' || click_id, gen_random_uuid(), t, t, t, t, 1, 1, click_id,
       create_time, campaign_id, partner_id, link_id,
       CASE WHEN q < 0.03 THEN 3 WHEN q < 0.05 THEN 2 ELSE 1 END,
       CASE WHEN q < 0.03 THEN {click_injection} WHEN q < 0.05 THEN {install_burst} ELSE 0 END
FROM (SELECT *, create_time + random() * interval '2 hours' AS t, random() AS q
      FROM links.clicks TABLESAMPLE BERNOULLI (1)) c
WHERE t < $1 AND verdict <> 3
"""
GEN_CONVERSIONS = """
INSERT INTO attribution.conversions (account_id, conversion_id, dedup_key, source, goal_id, goal, kind, status,
    payout, currency, click_id, touch_time, campaign_id, partner_id, link_id, install_id, app_id, event_time,
    receive_time, create_time, update_time, verdict, reasons)
SELECT account_id, 'cnv' || install_id, 'b:' || install_id, 1, $2, 'purchase', 'purchase',
       CASE WHEN r < 0.7 THEN 2 WHEN r < 0.9 THEN 1 ELSE 3 END, round((1 + random() * 19)::numeric, 2),
       CASE WHEN random() < 0.9 THEN 'USD' ELSE 'EUR' END, click_id, touch_time, campaign_id, partner_id, link_id,
       install_id, app_id, t, t, t, t, CASE WHEN q < 0.02 THEN 3 ELSE 1 END,
       CASE WHEN q < 0.02 THEN {too_soon_after_install} ELSE 0 END
FROM (SELECT *, random() AS r, random() AS q, install_time + random() * interval '1 day' AS t
      FROM attribution.installs TABLESAMPLE BERNOULLI (50)) i
WHERE t < $1
"""
# The generators' reason bitmasks (libs/quality.py bits).
_MASKS = {
    "bot": quality.mask_of(["bot_user_agent"]), "datacenter": quality.mask_of(["datacenter"]),
    "duplicate": quality.mask_of(["duplicate"]), "prefetch": quality.mask_of(["prefetch"]),
    "click_injection": quality.mask_of(["click_injection"]), "install_burst": quality.mask_of(["install_burst"]),
    "too_soon_after_install": quality.mask_of(["too_soon_after_install"]),
}  # fmt: skip

# --------------------------------------------------------------------------- raw queries (the baseline)

_RAW_DIM = {
    "campaign": ("k.campaign_id", "i.campaign_id"),
    "country": ("coalesce(k.country, '')", "coalesce(k.country, '')"),
    "sub1": ("coalesce(k.sub1, '')", "coalesce(k.sub1, '')"),
    "day": ("to_char(k.create_time AT TIME ZONE 'UTC', 'YYYY-MM-DD')", "to_char({t} AT TIME ZONE 'UTC', 'YYYY-MM-DD')"),
}


def raw_sql(group_by: list[str]) -> str:
    """One query over links.clicks, links.impressions, attribution.installs and
    attribution.conversions: clicks, unique clicks, impressions, installs, conversions
    and approved USD revenue per group, of clean + suspicious rows (unique among the
    clicks of their class, invalid or not), and the invalid clicks, installs and
    conversions."""
    cd = [_RAW_DIM[d][0] for d in group_by]
    idims = [_RAW_DIM[d][1].format(t="i.install_time") for d in group_by]
    vdims = [_RAW_DIM[d][1].format(t="i.event_time") for d in group_by]
    names = [f"d{n}" for n in range(len(group_by))]
    sel = ", ".join(f"{e} AS {n}" for e, n in zip(cd, names, strict=True))
    isel = ", ".join(f"{e} AS {n}" for e, n in zip(idims, names, strict=True))
    vsel = ", ".join(f"{e} AS {n}" for e, n in zip(vdims, names, strict=True))
    cols = ", ".join(names)
    join = "LEFT JOIN links.clicks k ON k.account_id = i.account_id AND k.click_id = i.click_id"
    join += " AND k.create_time = i.touch_time"
    return f"""
WITH c AS (
    SELECT {sel}, k.verdict, (k.ip IS NULL OR row_number() OVER (
        PARTITION BY k.campaign_id, k.ip, k.user_agent, date_trunc('day', k.create_time, 'UTC'), k.verdict = 3
        ORDER BY k.create_time, k.click_id) = 1) AS u
    FROM links.clicks k WHERE k.account_id = $1 AND k.create_time >= $2 AND k.create_time < $3
), cc AS (
    SELECT {cols}, count(*) FILTER (WHERE verdict <> 3) AS clicks, count(*) FILTER (WHERE u AND verdict <> 3) AS uniq,
           count(*) FILTER (WHERE verdict = 3) AS invalid_clicks
    FROM c GROUP BY {cols}
),
mm AS (
    SELECT {sel}, count(*) FILTER (WHERE k.verdict <> 3) AS impressions FROM links.impressions k
    WHERE k.account_id = $1 AND k.create_time >= $2 AND k.create_time < $3 GROUP BY {cols}
),
ii AS (
    SELECT {isel}, count(*) FILTER (WHERE i.verdict <> 3) AS installs,
           count(*) FILTER (WHERE i.verdict = 3) AS invalid_installs
    FROM attribution.installs i {join}
    WHERE i.account_id = $1 AND i.install_time >= $2 AND i.install_time < $3 AND i.campaign_id IS NOT NULL
    GROUP BY {cols}
), vv AS (
    SELECT {vsel}, count(*) FILTER (WHERE i.status <> 3 AND i.verdict <> 3) AS conversions,
           count(*) FILTER (WHERE i.status <> 3 AND i.verdict = 3) AS invalid_conversions,
           coalesce(sum(i.payout) FILTER (WHERE i.status = 2 AND i.currency = 'USD' AND i.verdict <> 3), 0) AS revenue
    FROM attribution.conversions i {join}
    WHERE i.account_id = $1 AND i.event_time >= $2 AND i.event_time < $3 AND i.campaign_id IS NOT NULL
    GROUP BY {cols}
)
SELECT {cols}, coalesce(cc.clicks, 0) AS clicks, coalesce(cc.uniq, 0) AS uniq,
       coalesce(mm.impressions, 0) AS impressions, coalesce(ii.installs, 0) AS installs,
       coalesce(vv.conversions, 0) AS conversions, coalesce(vv.revenue, 0) AS revenue,
       coalesce(cc.invalid_clicks, 0) AS invalid_clicks, coalesce(ii.invalid_installs, 0) AS invalid_installs,
       coalesce(vv.invalid_conversions, 0) AS invalid_conversions
FROM cc FULL JOIN mm USING ({cols}) FULL JOIN ii USING ({cols}) FULL JOIN vv USING ({cols})
"""


# --------------------------------------------------------------------------- run


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p))] if s else 0.0


async def _setup(links_addr: str, attribution_addr: str, admin: str) -> dict[str, Any]:
    """An account, its app, partners, campaigns with links, a goal, tariffs and corrections."""
    async with make_channel(links_addr, token=admin, deadline_s=30) as ch:
        acct = await accounts_pb2_grpc.AccountServiceStub(ch).CreateAccount(
            accounts_pb2.CreateAccountRequest(name="bench")
        )
    out: dict[str, Any] = {"account_id": acct.account.account_id, "api_key": acct.api_key, "links": []}
    async with make_channel(attribution_addr, token=acct.api_key, deadline_s=30) as ch:
        goal = (await config_pb2_grpc.GoalServiceStub(ch).CreateGoal(cpb.CreateGoalRequest(
            goal=cpb.Goal(name="purchase", kind=cpb.GOAL_KIND_PURCHASE, event="purchase")))).goal  # fmt: skip
    out["goal_id"] = goal.goal_id
    async with make_channel(links_addr, token=acct.api_key, deadline_s=30) as ch:
        stub = links_pb2_grpc.LinksServiceStub(ch)
        app = (await stub.CreateApp(lpb.CreateAppRequest(
            app=lpb.App(name="Bench", platform=lpb.PLATFORM_ANDROID, bundle_id="b.e.n")))).app  # fmt: skip
        out["app_id"] = app.app_id
        partners = [
            (await stub.CreatePartner(lpb.CreatePartnerRequest(partner=lpb.Partner(name=f"Net {p}")))).partner
            for p in range(PARTNERS)
        ]
        campaigns = []
        for c in range(CAMPAIGNS):
            camp = (await stub.CreateCampaign(lpb.CreateCampaignRequest(campaign=lpb.Campaign(
                name=f"C{c}", partner_id=partners[c % PARTNERS].partner_id, app_id=app.app_id,
                status=lpb.CAMPAIGN_STATUS_ACTIVE, target_goal_id=goal.goal_id)))).campaign  # fmt: skip
            campaigns.append(camp.campaign_id)
            for _ in range(LINKS_PER_CAMPAIGN):
                link_msg = lpb.Link(campaign_id=camp.campaign_id, destination_url="https://p.example/?c={click_id}")
                link = (await stub.CreateLink(lpb.CreateLinkRequest(link=link_msg))).link
                out["links"].append((link.link_id, camp.campaign_id, camp.partner_id))
    first = (dt.datetime.now(dt.UTC) - dt.timedelta(days=DAYS + 1)).date()
    async with make_channel(attribution_addr, token=acct.api_key, deadline_s=30) as ch:
        tariffs = config_pb2_grpc.TariffServiceStub(ch)
        usd = money_pb2.Money(amount="0.05", currency_code="USD")
        for n, campaign_id in enumerate(campaigns):
            model = (cpb.TARIFF_MODEL_CPC, cpb.TARIFF_MODEL_CPI, cpb.TARIFF_MODEL_CPA, cpb.TARIFF_MODEL_REVSHARE)[n % 4]
            t = cpb.Tariff(campaign_id=campaign_id, model=model, effective_date=first.isoformat())
            if model == cpb.TARIFF_MODEL_REVSHARE:
                t.percent = "30"
            else:
                t.amount.CopyFrom(
                    usd if model == cpb.TARIFF_MODEL_CPC else money_pb2.Money(amount="2", currency_code="USD")
                )
            await tariffs.CreateTariff(cpb.CreateTariffRequest(tariff=t))
        corrections = config_pb2_grpc.CorrectionServiceStub(ch)
        for campaign_id in campaigns[:5]:
            await corrections.CreateCorrection(cpb.CreateCorrectionRequest(correction=cpb.Correction(
                campaign_id=campaign_id, amount=money_pb2.Money(amount="-150", currency_code="USD"),
                start_date=(first + dt.timedelta(days=5)).isoformat(),
                end_date=(first + dt.timedelta(days=20)).isoformat())))  # fmt: skip
    return out


async def _load(dsn: str, world: dict[str, Any], n: int, start: dt.datetime, until: dt.datetime) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        for table in ("clicks", "impressions"):
            await ensure_daily_partitions(conn, "links", table, days_back=DAYS + 3, days_ahead=2)
        link_ids, campaign_ids, partner_ids = (list(x) for x in zip(*world["links"], strict=True))
        span = DAYS * 86400
        counts = {}
        for table, idcol, prefix, total in (("clicks", "click_id", "k", n), ("impressions", "impression_id", "m",
                                                                             n // 5)):  # fmt: skip
            sql = GEN_CLICKS.format(table=table, id=idcol, prefix=prefix, **_MASKS)
            for lo in range(1, total + 1, CHUNK):
                hi = min(total, lo + CHUNK - 1)
                await conn.execute(sql, world["account_id"], world["app_id"], link_ids, campaign_ids, partner_ids,
                                   start, span, lo, hi)  # fmt: skip
            counts[table] = total
        counts["installs"] = int((await conn.execute(GEN_INSTALLS.format(**_MASKS), until)).split()[-1])
        gen = GEN_CONVERSIONS.format(**_MASKS)
        counts["conversions"] = int((await conn.execute(gen, until, world["goal_id"])).split()[-1])
        await conn.execute("ANALYZE links.clicks")
        await conn.execute("ANALYZE links.impressions")
        await conn.execute("ANALYZE attribution.installs")
        await conn.execute("ANALYZE attribution.conversions")
        return counts
    finally:
        await conn.close()


@dataclasses.dataclass
class Loaded:
    """A benchmark's data (shared with bench_console): loaded by this run, or kept in
    CLICKTRAIL_BENCH_DATABASE_URL by an earlier one (``reused``)."""

    world: dict[str, Any]
    counts: dict[str, int]
    load_s: float
    build_s: float
    start: dt.datetime
    reused: bool

    @property
    def today(self) -> dt.datetime:
        return self.start + dt.timedelta(days=DAYS)

    @property
    def origin(self) -> str:
        """How the data came, for the report's first line."""
        return f"{'kept from an earlier run, ' if self.reused else ''}generated in {self.load_s:.0f} s"


async def load_world(
    dsn: str,
    clicks: int,
    start: dt.datetime,
    addrs: tuple[str, str],
    admin: str,
    build: Callable[[dt.datetime, dt.datetime], Awaitable[None]],
) -> Loaded:
    """The world (_setup over the links and attribution ``addrs``) with ``clicks``
    clicks over the DAYS days from ``start`` and its rollups (``build(start, end)``,
    timed); or the one an earlier run kept in this database (one per data size)."""
    name = f"reports-{clicks}"
    kept = kept_world(dsn, name)
    if kept is not None:  # loaded over the DAYS days before that run
        start = dt.datetime.fromisoformat(kept["start"])
        return Loaded(kept, kept["counts"], kept["load_s"], kept["build_s"], start, reused=True)
    end = start + dt.timedelta(days=DAYS)
    world = await _setup(*addrs, admin)
    t = time.perf_counter()
    counts = await _load(dsn, world, clicks, start, end)
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    await build(start, end)
    build_s = time.perf_counter() - t
    await vacuum_rollups(dsn)
    keep_world(dsn, name, {**world, "counts": counts, "load_s": load_s, "build_s": build_s, "start": start})
    return Loaded(world, counts, load_s, build_s, start, reused=False)


async def vacuum_rollups(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for table in await conn.fetch(
            "SELECT relname FROM pg_stat_user_tables WHERE schemaname = 'analytics' AND relname LIKE 'report_%'"
        ):
            await conn.execute(f'VACUUM ANALYZE analytics."{table["relname"]}"')
    finally:
        await conn.close()


async def rollup_sizes(dsn: str) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        return {
            r["relname"]: r["n"]
            for r in await conn.fetch(
                "SELECT relname, n_live_tup AS n FROM pg_stat_user_tables WHERE schemaname = 'analytics'"
                " AND relname LIKE 'report_%' ORDER BY relname"
            )
        }
    finally:
        await conn.close()


def fast_answer(resp: rpb.RunCampaignReportResponse, group_by: list[str]) -> dict[tuple[str, ...], tuple[Any, ...]]:
    out = {}
    for r in resp.rows:
        usd = next((Decimal(m.revenue.amount) for m in r.money if m.currency_code == "USD"), Decimal(0))
        key = tuple(r.dimensions[d] for d in group_by)
        out[key] = (r.clicks, r.unique_clicks, r.impressions, r.installs, r.conversions, usd, r.click_verdicts.invalid,
                    r.install_verdicts.invalid, r.conversion_verdicts.invalid)  # fmt: skip
    return out


def raw_answer(rows: list[Any], group_by: list[str]) -> dict[tuple[str, ...], tuple[Any, ...]]:
    return {
        tuple(r[f"d{n}"] for n in range(len(group_by))): (r["clicks"], r["uniq"], r["impressions"], r["installs"],
                                                           r["conversions"], Decimal(r["revenue"]), r["invalid_clicks"],
                                                           r["invalid_installs"], r["invalid_conversions"])
        for r in rows
    }  # fmt: skip
