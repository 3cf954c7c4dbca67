"""The app-campaign mix of the attribution benchmark (issue 22 item 6: "install
attribution with AdServices tokens and SKAN postbacks in the mix stays within 10%
of today's installs/s"); bench/bench_attribution.py runs it.

One run offers install events to ingest above what the box attributes, so that
installs/s is the pipeline's capacity, not the offered rate. Two kinds of run,
in ABBA order on the same processes and database (drift from a growing database
or a neighbour's load falls on both kinds alike):

- A, today's mix: 50% of the installs with a stored click id, 30% with a device id
  seen on a click, 20% iOS installs that match nothing (organic);
- B, the app-campaign mix: the same, but the iOS 20% carry an AdServices token
  (resolved against the Apple stand-in below; 80% of the tokens are Apple Ads
  installs, credited to three mapped Apple campaigns) and SKAN postbacks are
  posted through the gateway at a fixed rate while the installs are attributed.

B's installs/s counts until every install row exists AND every token's
resolution finished (its match type 5 written, the Apple Ads queue empty): an
install with a token is attributed only once Apple has answered.

The Apple stand-in (``python -m bench.attribution_app standin --port N``) answers
``POST /`` (the token as a text/plain body) the way Apple's attribution API
documents it: 200 JSON ``{"attribution": true, "orgId", "campaignId",
"conversionType", "clickDate", "adGroupId", "countryOrRegion", "keywordId",
"adId"}`` or ``{"attribution": false}`` (AAAttribution.attributionToken(),
https://developer.apple.com/documentation/adservices/aaattribution/attributiontoken();
the flow as an MMP describes it: https://help.adjust.com/en/article/how-apple-search-ads-attribution-works).
Which tokens are attributed follows from the token itself (``apple_answer``), so the
benchmark knows how many match type 5 installs to wait for.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import datetime as dt
import hashlib
import importlib
import itertools
import multiprocessing
import os
import time
import uuid
from typing import Any

import aiohttp
import asyncpg
import httpx
import orjson
from clicktrail.ingest.v1 import ingest_pb2 as ipb

from libs.event_handoff import EVENT_QUEUE
from services.attribution.apple_ads import APPLE_ADS_QUEUE

BATCH = 100
IOS_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
ANDROID_UA = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile"
# Apple's ids of the advertiser's org and its three campaigns (each mapped to one of ours).
APPLE_ORG_ID = 40669820
APPLE_CAMPAIGNS = (542370539, 542370540, 542370541)
ATTRIBUTED_PER_10 = 8  # 80% of the tokens are Apple Ads installs


def apple_answer(token: str) -> dict[str, Any]:
    """Apple's answer for a token (deterministic: the benchmark counts what to expect)."""
    h = hashlib.sha256(token.encode()).digest()
    if h[0] % 10 >= ATTRIBUTED_PER_10:
        return {"attribution": False}
    campaign = APPLE_CAMPAIGNS[h[1] % len(APPLE_CAMPAIGNS)]
    click = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) - dt.timedelta(minutes=5)
    return {
        "attribution": True, "orgId": APPLE_ORG_ID, "campaignId": campaign, "conversionType": "Download",
        "clickDate": click.strftime("%Y-%m-%dT%H:%MZ"), "adGroupId": campaign * 10 + h[2] % 3,
        "countryOrRegion": "US", "keywordId": 12323222 + h[3] % 5, "adId": 542317136,
    }  # fmt: skip


def new_token() -> str:
    """A token shaped like AAAttribution.attributionToken()'s (base64, a few hundred characters)."""
    return base64.b64encode(os.urandom(240)).decode()


# --------------------------------------------------------------------------- the stand-in


async def _serve_standin(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stats: dict[str, int]) -> None:
    with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target = lines[0].split(" ")[:2]
            headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
            body = await reader.readexactly(int(headers.get("content-length") or 0))
            if method == "GET" and target == "/_stats":
                status, payload = 200, orjson.dumps(stats)
            elif method != "POST":
                status, payload = 405, b'{"error": "POST the token"}'
            elif not body.strip():
                status, payload = 400, b""  # Apple: 400 for an invalid token
            else:
                stats["answered"] += 1
                answer = apple_answer(body.decode().strip())
                stats["attributed" if answer["attribution"] else "not_attributed"] += 1
                status, payload = 200, orjson.dumps(answer)
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
                .encode() + payload
            )  # fmt: skip
            await writer.drain()
    writer.close()


async def standin_main(port: int) -> None:
    stats = {"answered": 0, "attributed": 0, "not_attributed": 0}
    server = await asyncio.start_server(lambda r, w: _serve_standin(r, w, stats), "127.0.0.1", port)
    async with server:
        await server.serve_forever()


# --------------------------------------------------------------------------- the features, when landed


def module(name: str) -> Any | None:
    """A generated or service module when its lane has landed it, else None."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


@dataclasses.dataclass
class MixParts:
    """What lane work the B mix can use, and a "not yet: ..." line for each part it cannot."""

    tokens: bool = False
    skan: bool = False
    missing: list[str] = dataclasses.field(default_factory=list)

    @property
    def label(self) -> str:
        parts = [p for p, on in (("AdServices tokens", self.tokens), ("SKAN postbacks", self.skan)) if on]
        return " + ".join(parts)


# --------------------------------------------------------------------------- events


def mix_batches(
    android_app: str, ios_app: str, targets: list[tuple[str, str]], n: int, *, tokens: bool
) -> tuple[list[bytes], int, int]:
    """n install events as bench_attribution's install mix (50% click id, 30% device id, 20% organic) with
    the organic 20% iOS installs of ``ios_app``; with ``tokens`` each of those carries an AdServices
    token. Returns the batches, how many tokens they carry and how many of those Apple attributes."""
    now = dt.datetime.now(dt.UTC)
    events: list[ipb.Event] = []
    apple = tokens_sent = 0
    run = uuid.uuid4().hex[:6]
    for i in range(n):
        click_id, gaid = targets[i % len(targets)]
        kind = i % 10
        ev = ipb.Event(uuid=str(uuid.uuid4()), event=ipb.EVENT_TYPE_INSTALL, session_id=f"m{run}{i}")
        ev.ip = f"172.{17 + i % 10}.{(i // 10) % 250}.{(i // 2500) % 250}"
        if kind < 8:
            ev.app_id, ev.user_agent = android_app, ANDROID_UA
            device = gaid if 5 <= kind < 8 else str(uuid.uuid4())
            if kind < 5:
                ev.click_id = click_id
            ev.device.CopyFrom(ipb.Device(gaid=device, platform=ipb.DEVICE_PLATFORM_ANDROID))
        else:
            ev.app_id, ev.user_agent = ios_app, IOS_UA
            ev.device.CopyFrom(ipb.Device(idfv=str(uuid.uuid4()).upper(), platform=ipb.DEVICE_PLATFORM_IOS))
            if tokens:
                ev.adservices_token = new_token()
                tokens_sent += 1
                apple += apple_answer(ev.adservices_token)["attribution"]
        ev.timestamp.FromDatetime(now)
        events.append(ev)
    batches = [ipb.SendEventsRequest(events=events[b : b + BATCH]).SerializeToString() for b in range(0, n, BATCH)]
    return batches, tokens_sent, apple


# --------------------------------------------------------------------------- SKAN postbacks alongside


class SkanPoster:
    """Posts SKAN postbacks (``posts``, in turn: URL and JSON body) at ``rate``/s, open loop
    (up to ``concurrency`` in flight: Apple's devices do not wait for one another's answers, so a
    slow answer must not lower the rate offered), until stopped; counts the answers by status.
    It runs in a process of its own: in the benchmark's process its HTTP client shared one event
    loop with the install events offered to ingest, and slowed their offering in the B runs
    (27,000 installs offered in 6.3-8.1 s against A's 3.2 s)."""

    def __init__(self, posts: list[tuple[str, bytes]], rate: float, concurrency: int = 512) -> None:
        self.posts, self.rate, self.concurrency = posts, rate, concurrency
        ctx = multiprocessing.get_context("spawn")
        self._ready, self._go, self._stop = ctx.Event(), ctx.Event(), ctx.Event()
        self._results: Any = ctx.Queue()
        args = (posts, rate, concurrency, self._ready, self._go, self._stop, self._results)
        self._proc = ctx.Process(target=_poster_process, args=args, daemon=True)

    async def open(self) -> None:
        """Starts the process and waits until it is ready to post (before the run's clock starts)."""
        self._proc.start()
        if not await asyncio.get_running_loop().run_in_executor(None, self._ready.wait, 60):
            raise RuntimeError("the SKAN poster process did not start within 60 s")

    def start(self) -> None:
        self._go.set()

    async def stop(self) -> dict[str, Any]:
        self._stop.set()
        result: dict[str, Any] = await asyncio.get_running_loop().run_in_executor(None, self._results.get, True, 120)
        await asyncio.get_running_loop().run_in_executor(None, self._proc.join, 30)
        return result


def _poster_process(
    posts: list[tuple[str, bytes]], rate: float, concurrency: int, ready: Any, go: Any, stop: Any, results: Any
) -> None:
    ready.set()
    go.wait()
    results.put(asyncio.run(_post(posts, rate, concurrency, stop)))


async def _post(posts: list[tuple[str, bytes]], rate: float, concurrency: int, stop: Any) -> dict[str, Any]:
    answers: dict[str, int] = {}
    latencies: list[float] = []
    errors = sent = 0
    bodies = itertools.cycle(posts).__next__
    sem = asyncio.Semaphore(concurrency)
    start = time.perf_counter()
    tasks: set[asyncio.Task[None]] = set()
    # aiohttp: httpx's pool, at hundreds of connections, made the poster itself the bottleneck.
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as client:

        async def one(url: str, body: bytes) -> None:
            nonlocal errors
            t = time.perf_counter()
            try:
                async with client.post(url, data=body, headers={"Content-Type": "application/json"}) as r:
                    key = str(r.status)
                    if r.status == 200:
                        key = f"200 {orjson.loads(await r.read()).get('status', '')}".strip()
                    else:
                        await r.read()
                answers[key] = answers.get(key, 0) + 1
                latencies.append(time.perf_counter() - t)
            except (aiohttp.ClientError, TimeoutError):
                errors += 1
            finally:
                sem.release()

        while not stop.is_set():
            delay = start + sent / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(min(delay, 0.05))
                continue
            await sem.acquire()
            sent += 1
            task = asyncio.ensure_future(one(*bodies()))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
    lat = sorted(latencies)
    pct = lambda p: lat[min(len(lat) - 1, int(len(lat) * p))] * 1000 if lat else 0.0  # noqa: E731
    return {"sent": sent, "answers": answers, "errors": errors, "p50_ms": round(pct(0.5), 1),
            "p99_ms": round(pct(0.99), 1)}  # fmt: skip


# --------------------------------------------------------------------------- one measured run


async def count(conn: asyncpg.Connection, sql: str, *args: Any) -> int:
    return int(await conn.fetchval(sql, *args))


async def wait_drained(conn: asyncpg.Connection, queue: str, timeout_s: float) -> float:
    """Polls until ``queue`` has no job left but dead letters: the perf_counter time."""
    deadline = time.monotonic() + timeout_s
    while True:
        if not await conn.fetchval(DRAINED_SQL, queue) or time.monotonic() > deadline:
            return time.perf_counter()
        await asyncio.sleep(0.05)


DRAINED_SQL = "SELECT EXISTS (SELECT 1 FROM queue.jobs WHERE queue = $1 AND NOT dead)"


async def vacuum_analyze(conn: asyncpg.Connection) -> None:
    """What autovacuum would have done by now, before a run (outside its clock).

    An operator's Postgres runs autovacuum (the default); this machine's has it off
    (``SHOW autovacuum``). Without it nothing is ever analyzed or vacuumed: the planner
    kept the plans it made while the tables were nearly empty, e.g. the resolver's
    look-up of 128 installs by id walked every install of the account (100-230 ms a
    call, auto_explain), and each run came slower than the one before."""
    if await conn.fetchval("SHOW autovacuum") == "off":
        await conn.execute("VACUUM (ANALYZE)")


@dataclasses.dataclass
class MixWorld:
    """What one account holds for the mix: the apps and how to reach the services."""

    android_app: str
    ios_app: str
    services: list[Any]  # bench.common.Child of links, ingest, attribution (and the gateway)
    skan_posts: list[tuple[str, bytes]] | None = None
    skan_rate: float = 0.0


async def measure_run(
    kind: str, world: MixWorld, parts: MixParts, conn: asyncpg.Connection, send: Any,
    targets: list[tuple[str, str]], n: int, rate: float,
) -> dict[str, Any]:  # fmt: skip
    """One run: ``kind`` "A" (today's mix) or "B" (tokens and SKAN as ``parts`` allow)."""
    from bench.attribution_support import cpu_per_1000, cpu_snapshot, offer

    b = kind == "B"
    batches, tokens, apple = mix_batches(world.android_app, world.ios_app, targets, n, tokens=b and parts.tokens)
    poster = None
    if b and parts.skan and world.skan_posts is not None:
        poster = SkanPoster(world.skan_posts, world.skan_rate)
        await poster.open()
    installs_sql = "SELECT count(*) FROM attribution.installs"
    apple_sql = "SELECT count(*) FROM attribution.installs WHERE match_type = 5"
    lookups_sql = "SELECT count(*) FROM attribution.apple_ads_lookups"
    before, before5 = await count(conn, installs_sql), await count(conn, apple_sql)
    lookups_before = await count(conn, lookups_sql) if tokens else 0
    skan_before = await count(conn, "SELECT count(*) FROM attribution.skan_postbacks")
    cpu0 = await cpu_snapshot(conn, world.services)
    t0 = time.perf_counter()
    if poster is not None:
        poster.start()
    offered = await offer(send, batches, rate)
    timeout_s = max(180.0, n / 50)  # (a slow part must show as slow, not hang the benchmark)
    # Done is read off the queues, not off counts of the tables: polling count(*) of installs
    # every 50 ms scanned the whole table (200,000-600,000 rows) and took about half a core
    # from the services it measures, more the longer a run lasted. Every install's event job
    # exists once ingest has answered (enqueued in its transaction), and is deleted after the
    # engine has written the install and enqueued its token's job; so the event queue drained
    # means every row is written, and then the token queue drained means every token resolved.
    # The counts below (once, after the clock stopped) check it.
    t_rows = await wait_drained(conn, EVENT_QUEUE, timeout_s)
    t_done = await wait_drained(conn, APPLE_ADS_QUEUE, timeout_s) if tokens else t_rows
    got, got5 = await count(conn, installs_sql), await count(conn, apple_sql)
    looked_up = await count(conn, lookups_sql) if tokens else 0
    skan = await poster.stop() if poster is not None else None
    installs = got - before
    cpu = cpu_per_1000(cpu0, await cpu_snapshot(conn, world.services), installs)
    return {
        "kind": kind, "offered": offered, "installs": installs, "seconds": round(t_done - t0, 2),
        "per_s": installs / (t_done - t0) if t_done > t0 else 0.0, "rows_s": round(t_rows - t0, 2),
        "tokens": tokens, "tokens_resolved": looked_up - lookups_before, "apple_expected": apple,
        "apple_credited": got5 - before5, "cpu_ms_per_1000": cpu,
        "skan": skan, "skan_rows": await count(conn, "SELECT count(*) FROM attribution.skan_postbacks") - skan_before,
    }  # fmt: skip


async def run_mix(
    world: MixWorld, parts: MixParts, conn: asyncpg.Connection, send: Any, targets: list[tuple[str, str]],
    n: int, rate: float, rounds: int,
) -> dict[str, Any]:  # fmt: skip
    """A warm-up run (not counted), then ``rounds`` x A B B A, each run on its own slice of ``targets``
    (len >= n (1 + 4 rounds)); the ratio of the B runs' installs/s to the A runs'."""

    if len(targets) < n * (1 + 4 * rounds):  # a device id seen by an earlier install would make a reinstall
        raise ValueError(f"the mix needs {n * (1 + 4 * rounds):,} clicks of its own, got {len(targets):,}")

    def part(i: int) -> list[tuple[str, str]]:
        return targets[i * n : (i + 1) * n]

    await vacuum_analyze(conn)
    await measure_run("A", world, parts, conn, send, part(0), n, rate)
    runs = []
    for i, kind in enumerate("ABBA" * rounds, start=1):
        await vacuum_analyze(conn)
        runs.append(await measure_run(kind, world, parts, conn, send, part(i), n, rate))
    a = [r["per_s"] for r in runs if r["kind"] == "A"]
    b = [r["per_s"] for r in runs if r["kind"] == "B"]
    return {"runs": runs, "a_per_s": sum(a) / len(a), "b_per_s": sum(b) / len(b), "ratio": sum(b) / sum(a)}


def mix_report(mix: dict[str, Any], parts: MixParts, n: int, rate: float) -> list[str]:
    from bench.attribution_support import cpu_text

    lines = [
        f"app-campaign mix (issue 22): a warm-up, then ABBA x {len(mix['runs']) // 4}, {n:,} installs per run"
        f" offered at {rate:,.0f}/s; B = {parts.label}",
        f"{'run':<5}{'installs/s':>11}{'done s':>8}{'rows s':>8}{'tokens resolved':>17}{'apple credited':>16}"
        f"{'skan/s':>8}  skan answers (p99 ms)",
    ]
    for r in mix["runs"]:
        skan = r["skan"] or {}
        answers = ", ".join(f"{k}: {v:,}" for k, v in sorted(skan.get("answers", {}).items()))
        tokens = f"{r['tokens_resolved']:,}/{r['tokens']:,}"
        credited = f"{r['apple_credited']:,}/{r['apple_expected']:,}"
        skan_s = skan.get("sent", 0) / r["seconds"] if r["seconds"] else 0.0
        lines.append(
            f"{r['kind']:<5}{r['per_s']:>11,.0f}{r['seconds']:>8.1f}{r['rows_s']:>8.1f}{tokens:>17}{credited:>16}"
            f"{skan_s:>8.0f}  {answers}" + (f" ({skan['p99_ms']:.0f})" if skan else "")
        )
    for r in mix["runs"]:
        lines.append(f"  CPU ms per 1,000 installs, {r['kind']}: {cpu_text(r['cpu_ms_per_1000'])}")
    lines.append(
        f"installs/s: A {mix['a_per_s']:,.0f}, B {mix['b_per_s']:,.0f}: ratio B/A {mix['ratio']:.3f} (bar >= 0.90)"
    )
    return lines


APP_MIX_HELP = (
    "installs/s of today's install mix (A) against the same mix with AdServices tokens on the iOS fifth and SKAN "
    "postbacks posted through the gateway (B), run A B B A; the bar: B >= 0.90 x A"
)


def apple_ads_env(url: str) -> dict[str, str]:
    """The attribution process's settings for Apple's API at ``url`` (the stand-in on loopback)."""
    return {"CLICKTRAIL_APPLE_ADS_URL": url, "CLICKTRAIL_SKAN_DEVELOPMENT_KEYS": "1"}


async def setup_mix(
    links_addr: str, attribution_addr: str, api_key: str, postback_token: str, android_app: str, gateway_url: str,
    services: list[Any], skan_rate: float, leave_out: tuple[str, ...] = (),
) -> tuple[MixWorld, MixParts]:  # fmt: skip
    """The iOS app, an Apple Ads partner with three campaigns, and whatever of issue 22 has landed
    configured for them; the parts that have not landed are named in ``MixParts.missing``."""
    from clicktrail.links.v1 import links_pb2 as lpb
    from clicktrail.links.v1 import links_pb2_grpc

    from libs.grpc_client import make_channel

    parts = MixParts()
    async with make_channel(links_addr, token=api_key, deadline_s=30) as ch:
        stub = links_pb2_grpc.LinksServiceStub(ch)
        app_fields: dict[str, Any] = {"name": "Bench iOS", "platform": lpb.PLATFORM_IOS, "bundle_id": "com.bench.ios"}
        if "apple_app_id" in lpb.App.DESCRIPTOR.fields_by_name:
            app_fields["apple_app_id"] = SKAN_APP_ID
        ios_app = (await stub.CreateApp(lpb.CreateAppRequest(app=lpb.App(**app_fields)))).app
        if "apple_app_id" in app_fields:  # AdAttributionKit's example is for another app
            aak = dict(app_fields, name="Bench iOS 2", bundle_id="com.bench.ios2", apple_app_id=AAK_APP_ID)
            await stub.CreateApp(lpb.CreateAppRequest(app=lpb.App(**aak)))
        partner = (await stub.CreatePartner(lpb.CreatePartnerRequest(partner=lpb.Partner(name="Apple Ads")))).partner
        campaigns = []
        for i, _apple_id in enumerate(APPLE_CAMPAIGNS):
            camp = (await stub.CreateCampaign(lpb.CreateCampaignRequest(campaign=lpb.Campaign(
                name=f"ASA {i}", partner_id=partner.partner_id, app_id=ios_app.app_id,
                status=lpb.CAMPAIGN_STATUS_ACTIVE)))).campaign  # fmt: skip
            campaigns.append(camp.campaign_id)
    world = MixWorld(android_app=android_app, ios_app=ios_app.app_id, services=services)

    apple = module("clicktrail.attribution.v1.apple_ads_pb2")
    if "tokens" in leave_out:
        parts.missing.append("AdServices tokens: left out (--app-mix-leave-out tokens)")
    elif apple is None:
        parts.missing.append("AdServices tokens: lane appleads' Apple Ads settings (apple_ads.proto) have not landed")
    else:
        parts.tokens = await configure_apple_ads(apple, attribution_addr, api_key, partner.partner_id, campaigns,
                                                 world, parts)  # fmt: skip

    skan = module("clicktrail.attribution.v1.skan_pb2")
    if "skan" in leave_out:
        parts.missing.append("SKAN postbacks: left out (--app-mix-leave-out skan)")
    elif skan is None:
        parts.missing.append("SKAN postbacks: lane skan's receipt (skan.proto, /skan/postback) has not landed")
    else:
        parts.skan = await configure_skan(skan, attribution_addr, api_key, postback_token, campaigns, gateway_url,
                                          skan_rate, world, parts)  # fmt: skip
    return world, parts


# Apple's example SKAdNetwork 2.1 postback ("Verifying an install-validation postback",
# https://developer.apple.com/documentation/storekit/verifying-an-install-validation-postback; reproduced and
# checked against Apple's P-256 key in https://gist.github.com/jen6/8fa65a25622d2272a862100ab9157bec).
SKAN_21 = {
    "version": "2.1", "ad-network-id": "com.example", "campaign-id": 42,
    "transaction-id": "6aafb7a5-0170-41b5-bbe4-fe71dedf1e28", "app-id": 525463029,
    "attribution-signature": "MEUCID6rbq3qt4GvFaAaynh5/LAcvn1d8CQTRhrZhLIxLKntAiEAo7IrvoMw6u2qDg6Tr5vIsEHXjlLkPlCOL0o"
    "jJcEh3Qw=",
    "redownload": True, "source-app-id": 1234567891, "conversion-value": 20,
}  # fmt: skip
SKAN_APP_ID = "525463029"
# Apple's example AdAttributionKit postback ("Identifying the parameters in a postback",
# https://developer.apple.com/documentation/adattributionkit/identifying-the-parameters-in-a-postback),
# signed with Apple's development key apple-development-identifier/1 (CLICKTRAIL_SKAN_DEVELOPMENT_KEYS=1).
AAK_EXAMPLE = {
    "jws-string": "eyJraWQiOiJhcHBsZS1kZXZlbG9wbWVudC1pZGVudGlmaWVyXC8xIiwiYWxnIjoiRVMyNTYifQ.eyJwb3N0YmFjay1pZGVu"
    "dGlmaWVyIjoiODU1NDZFQjctRkQzOS00NEJDLTg5OTAtQzk4QTRBQzM2QTQ5IiwicHVibGlzaGVyLWl0ZW0taWRlbnRpZmllciI6MCwibWFy"
    "a2V0cGxhY2UtaWRlbnRpZmllciI6ImNvbS5hcHBsZS5BcHBTdG9yZSIsImltcHJlc3Npb24tdHlwZSI6ImFwcC1pbXByZXNzaW9uIiwiYWQt"
    "bmV0d29yay1pZGVudGlmaWVyIjoiZGV2ZWxvcG1lbnQuYWRhdHRyaWJ1dGlvbmtpdCIsImRpZC13aW4iOnRydWUsInBvc3RiYWNrLXNlcXVl"
    "bmNlLWluZGV4IjowLCJjb252ZXJzaW9uLXR5cGUiOiJyZS1lbmdhZ2VtZW50Iiwic291cmNlLWlkZW50aWZpZXIiOiIxMjM0IiwiYWR2ZXJ0"
    "aXNlZC1pdGVtLWlkZW50aWZpZXIiOjEwNzM4MDI3NzU2fQ.bAdNwKd6OfHK9tofvjjua4X_JPcFTxXPQSspD9gZkinw97pY7R1aI-LSjl-oxZZ"
    "F3_K2H5JK5TSEBee4_1U4oQ",
    "conversion-value": 24, "ad-interaction-type": "click", "country-code": "US",
}  # fmt: skip
AAK_APP_ID = "10738027756"
SKAN_SOURCES = (("com.example", "42"), ("development.adattributionkit", "1234"))


async def configure_apple_ads(
    apple: Any, attribution_addr: str, api_key: str, partner_id: str, campaigns: list[str], world: MixWorld,
    parts: MixParts,
) -> bool:  # fmt: skip
    """Apple Ads on, the partner, the first campaign as the default and the three Apple campaigns mapped;
    False (and a "not yet" line) when the attribution service does not answer AppleAdsService."""
    import grpc
    from clicktrail.attribution.v1 import apple_ads_pb2_grpc
    from google.protobuf.field_mask_pb2 import FieldMask

    from libs.grpc_client import make_channel

    async with make_channel(attribution_addr, token=api_key, deadline_s=30) as ch:
        stub = apple_ads_pb2_grpc.AppleAdsServiceStub(ch)
        settings = apple.AppleAdsSettings(enabled=True, partner_id=partner_id, default_campaign_id=campaigns[0])
        mask = FieldMask(paths=["enabled", "partner_id", "default_campaign_id"])
        try:
            await stub.UpdateAppleAdsSettings(apple.UpdateAppleAdsSettingsRequest(settings=settings, update_mask=mask))
        except grpc.aio.AioRpcError as err:
            parts.missing.append(f"AdServices tokens: AppleAdsService answered {err.code().name}: {err.details()}")
            return False
        for apple_id, campaign_id in zip(APPLE_CAMPAIGNS, campaigns, strict=True):
            mapping = apple.AppleAdsMapping(apple_campaign_id=apple_id, campaign_id=campaign_id)
            await stub.CreateAppleAdsMapping(apple.CreateAppleAdsMappingRequest(mapping=mapping))
    return True


async def configure_skan(
    skan: Any, attribution_addr: str, api_key: str, postback_token: str, campaigns: list[str], gateway_url: str,
    rate: float, world: MixWorld, parts: MixParts,
) -> bool:  # fmt: skip
    """Maps Apple's example postbacks' ad network + campaign / source ids to the campaigns, posts each example
    once (it must be stored: the gateway route, verification and the app look-up work), then lets the B runs
    post them again at ``rate``: from then on each is verified and answered "duplicate" (Apple's examples are
    the only postbacks Apple's key signs that we hold: a benchmark cannot make new ones)."""
    import grpc
    from clicktrail.attribution.v1 import skan_pb2_grpc

    from libs.grpc_client import make_channel

    async with make_channel(attribution_addr, token=api_key, deadline_s=30) as ch:
        stub = skan_pb2_grpc.SkanServiceStub(ch)
        try:
            for (network, source), campaign_id in zip(SKAN_SOURCES, campaigns, strict=False):
                mapping = skan.SkanMapping(ad_network_id=network, source_identifier=source, campaign_id=campaign_id)
                await stub.CreateSkanMapping(skan.CreateSkanMappingRequest(mapping=mapping))
        except grpc.aio.AioRpcError as err:
            parts.missing.append(f"SKAN postbacks: SkanService answered {err.code().name}: {err.details()}")
            return False
    posts = [
        (gateway_url + "/.well-known/skadnetwork/report-attribution/", orjson.dumps(SKAN_21)),
        (gateway_url + "/skan/postback?token=" + postback_token, orjson.dumps(SKAN_21)),
        (gateway_url + "/.well-known/appattribution/report-attribution/", orjson.dumps(AAK_EXAMPLE)),
    ]
    async with httpx.AsyncClient(timeout=10) as http:
        for url, body in posts[::2]:
            r = await http.post(url, content=body, headers={"Content-Type": "application/json"})
            if r.status_code != 200 or r.json().get("status") != "stored":
                parts.missing.append(f"SKAN postbacks: {url.split('?')[0]} answered {r.status_code} {r.text[:200]}")
                return False
    world.skan_rate = rate
    world.skan_posts = posts
    return True


def mix_checks(mix: dict[str, Any], parts: MixParts) -> dict[str, bool]:
    runs = mix["runs"]
    checks = {
        f"installs/s with {parts.label} in the mix >= 0.90 x today's": mix["ratio"] >= 0.90,
        "every mix install attributed once": all(r["installs"] == r["offered"]["accepted"] for r in runs)
        and all(r["offered"]["errors"] == 0 for r in runs),
    }
    if parts.tokens:
        checks["every token resolved, every Apple-attributed one credited (match type 5)"] = all(
            r["tokens_resolved"] == r["tokens"] and r["apple_credited"] == r["apple_expected"] for r in runs
        )
    if parts.skan:
        checks["every SKAN postback answered 200"] = all(
            r["skan"] is None or (r["skan"]["errors"] == 0 and set(r["skan"]["answers"]) <= {"200", "200 stored",
                                                                                            "200 duplicate"})
            for r in runs
        )  # fmt: skip
    return checks


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.attribution_app", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    standin = sub.add_parser("standin", help="the Apple attribution API stand-in on 127.0.0.1:PORT")
    standin.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    if args.command == "standin":
        asyncio.run(standin_main(args.port))


if __name__ == "__main__":
    main()
