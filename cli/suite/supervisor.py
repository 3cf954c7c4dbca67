"""Supervising the suite's processes: start them in order, wait for them to serve, forward their logs, stop them."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import sys
import time
from collections.abc import Awaitable
from typing import Any

from cli.suite.output import Out
from cli.suite.processes import (
    CONSOLE_MODULE,
    CONSOLE_SECRET,
    GATEWAY_MODULE,
    GATEWAY_TIMEOUT_S,
    GATEWAY_TOKENS,
    SERVING_TIMEOUT_S,
    STOP_GRACE_S,
)
from cli.suite.setup import Plan
from libs.config import load_settings
from libs.process import die_with_parent
from libs.tls import channel_credentials

# --------------------------------------------------------------------------- supervising


@dataclasses.dataclass
class Child:
    name: str
    proc: asyncio.subprocess.Process
    pump: asyncio.Task[None]


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"by {signal.Signals(-code).name}"
    return f"exit code {code}"


class Stopped(Exception):
    pass


class Supervisor:
    def __init__(self, plan: Plan, out: Out) -> None:
        self.plan = plan
        self.out = out
        self.children: list[Child] = []
        self.watchers: list[asyncio.Task[None]] = []
        self.stopping = False
        self.done = asyncio.Event()
        self.exit_code = 0
        self.reason = ""
        self.signals = 0

    def request_stop(self, reason: str, code: int) -> None:
        if not self.done.is_set():
            self.reason, self.exit_code = reason, code
            self.done.set()

    def on_signal(self, signame: str) -> None:
        self.signals += 1
        if self.signals == 1:
            self.request_stop(f"{signame}: stopping", 0)
        else:
            self.out.say(f"{signame} again: killing every process now")
            for child in self.children:
                with contextlib.suppress(ProcessLookupError):
                    child.proc.kill()

    async def spawn(self, name: str, module: str, env: dict[str, str]) -> Child:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            start_new_session=True,  # a terminal's Ctrl-C reaches only us; we stop them in order
            preexec_fn=die_with_parent,
            limit=4 * 1024 * 1024,
        )
        child = Child(name, proc, asyncio.create_task(self._pump(name, proc)))
        self.children.append(child)
        self.watchers.append(asyncio.create_task(self._watch(child)))
        self.out.say(f"started {name} (pid {proc.pid}): python -m {module}")
        return child

    async def _pump(self, name: str, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while True:
            try:
                raw = await proc.stdout.readline()
            except (ValueError, asyncio.LimitOverrunError):
                raw = await proc.stdout.read(64 * 1024)
            if not raw:
                return
            self.out.line(name, raw.decode("utf-8", "replace"))

    async def _watch(self, child: Child) -> None:
        code = await child.proc.wait()
        if not self.stopping:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(child.pump), 1.0)  # show its last words
            self.request_stop(f"{child.name} exited unexpectedly ({_exit_text(code)})", 1)

    async def until(self, awaitable: Awaitable[Any]) -> Any:
        """Awaits a start-up step unless a stop is requested first."""
        step = asyncio.ensure_future(awaitable)
        stop = asyncio.create_task(self.done.wait())
        await asyncio.wait({step, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if step.done():
            return step.result()
        step.cancel()
        with contextlib.suppress(BaseException):
            await step
        raise Stopped

    async def run(self) -> None:
        plan = self.plan
        for service, addr in plan.services:
            env = plan.env_with(service.tokens, CLICKTRAIL_GRPC_LISTEN=addr)
            await self.spawn(service.name, service.module, env)
        tls = channel_credentials(load_settings(plan.env))
        await self.until(asyncio.gather(*(wait_serving(s.name, a, self.out, tls=tls) for s, a in plan.services)))
        settings = load_settings(plan.env)
        await self.spawn("console", CONSOLE_MODULE, plan.env_with((CONSOLE_SECRET,)))
        await self.until(wait_http(settings.console_host, settings.console_port, "/healthz"))
        # The internet-facing process reaches no database: it gets no URL (a role that reads and writes everything).
        gateway_env = plan.env_with(GATEWAY_TOKENS)
        gateway_env.pop("CLICKTRAIL_DATABASE_URL", None)
        await self.spawn("gateway", GATEWAY_MODULE, gateway_env)
        await self.until(wait_http(plan.gateway_host, plan.gateway_port, "/healthz"))
        self.out.say("gateway is answering /healthz")
        self.banner()

    def banner(self) -> None:
        plan = self.plan
        rule = "─" * 72
        lines = [
            rule,
            "Clicktrail is running.",
            f"  gateway      {plan.public_url}   (clicks GET /c/{{slug}}, impressions GET /i/{{slug}})",
        ]
        for service, addr in plan.services:
            lines.append(f"  {service.name:<12} {addr}   (gRPC)")
        lines += [
            f"  database     {plan.database}",
            f"  admin token  {plan.admin_token_source}",
            "Create an account (in another terminal):",
            '  .venv/bin/clicktrail account create --name "My company"',
            "Ctrl-C stops everything.",
            rule,
        ]
        self.out.say("\n".join(lines))

    async def shutdown(self) -> None:
        self.stopping = True
        gateway = [c for c in self.children if c.name in ("gateway", "console")]
        services = [c for c in self.children if c.name not in ("gateway", "console")]
        for group in (gateway, services):
            await asyncio.gather(*(self._stop(c) for c in group))
        for child in self.children:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(child.pump, 2.0)

    async def _stop(self, child: Child) -> None:
        if child.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                child.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(child.proc.wait(), STOP_GRACE_S)
            except TimeoutError:
                self.out.say(f"{child.name} did not stop within {STOP_GRACE_S:.0f}s: killing it")
                with contextlib.suppress(ProcessLookupError):
                    child.proc.kill()
                await child.proc.wait()
        self.out.say(f"{child.name} stopped ({_exit_text(child.proc.returncode)})")


async def wait_serving(
    name: str, addr: str, out: Out, timeout_s: float = SERVING_TIMEOUT_S, *, tls: Any = None
) -> None:
    """Until the service at ``addr`` answers SERVING on grpc.health.v1 (over TLS when ``tls``)."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from libs.grpc_client import make_channel

    deadline = time.monotonic() + timeout_s
    async with make_channel(addr, tls=tls) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                resp = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
                if resp.status == health_pb2.HealthCheckResponse.SERVING:
                    out.say(f"{name} is SERVING on {addr}")
                    return
            except grpc.aio.AioRpcError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} did not report SERVING on {addr} within {timeout_s:.0f}s")
            await asyncio.sleep(0.2)


async def wait_http(host: str, port: int, path: str, timeout_s: float = GATEWAY_TIMEOUT_S) -> None:
    """Until GET http://host:port/path answers 200."""
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(OSError, asyncio.TimeoutError):
            async with asyncio.timeout(2.0):
                reader, writer = await asyncio.open_connection(host, port)
                writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
                await writer.drain()
                status = await reader.readline()
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                if status.split()[1:2] == [b"200"]:
                    return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the gateway did not answer GET {path} with 200 within {timeout_s:.0f}s")
        await asyncio.sleep(0.2)


async def supervise(plan: Plan, out: Out) -> int:
    sup = Supervisor(plan, out)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, sup.on_signal, sig.name)
    try:
        await sup.until(sup.run())
        await sup.done.wait()
    except Stopped:
        pass
    except Exception as exc:  # a start-up step failed
        sup.request_stop(str(exc) or type(exc).__name__, 1)
    out.say(sup.reason)
    await sup.shutdown()
    return sup.exit_code
