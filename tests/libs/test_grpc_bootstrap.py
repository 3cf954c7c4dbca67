"""The shared gRPC bootstrap: health, reflection, request ids in logs, error
mapping, and a clean exit on SIGTERM."""

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import grpc
import pytest
from clicktrail.links.v1 import links_pb2 as pb
from clicktrail.links.v1 import links_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.conftest import ADMIN_TOKEN, INTERNAL_TOKEN
from tests.support.wait import wait_until

ROOT = Path(__file__).resolve().parents[2]


async def test_health_and_reflection_need_no_credentials(links_server, channels):
    ch = channels(links_server.addr)
    health = health_pb2_grpc.HealthStub(ch)
    for name in ("", "clicktrail.links.v1.LinksService", "clicktrail.accounts.v1.AccountService"):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=name))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    refl = reflection_pb2_grpc.ServerReflectionStub(ch)

    async def ask():
        yield reflection_pb2.ServerReflectionRequest(list_services="")

    names = set()
    async for resp in refl.ServerReflectionInfo(ask()):
        names |= {s.name for s in resp.list_services_response.service}
    assert {"clicktrail.links.v1.LinksService", "grpc.health.v1.Health"} <= names


async def test_request_id_reaches_the_service_log(links_stub, capsys):
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await links_stub.GetCampaign(
            pb.GetCampaignRequest(campaign_id="cmp_missing"), metadata=(("x-request-id", "req-from-gateway-42"),)
        )
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    # The server logs the call once it has answered: the line may come a moment after the answer.
    err = ""

    def logged() -> bool:
        nonlocal err
        err += capsys.readouterr().err
        return "GetCampaign" in err

    await wait_until(logged, "the server's GetCampaign log line", every_s=0.01)
    line = next(ln for ln in err.splitlines() if "GetCampaign" in ln)
    assert '"request_id": "req-from-gateway-42"' in line and '"code": "NOT_FOUND"' in line


async def test_malformed_authorization_is_unauthenticated(links_server, channels):
    stub = links_pb2_grpc.LinksServiceStub(channels(links_server.addr))
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await stub.ListApps(pb.ListAppsRequest(), metadata=(("authorization", "Basic abc"),))
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await stub.ListApps(pb.ListAppsRequest())
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_service_process_stops_cleanly_on_sigterm(db_url):
    addr = f"127.0.0.1:{_free_port()}"
    env = {
        **os.environ, "CLICKTRAIL_DATABASE_URL": db_url, "CLICKTRAIL_GRPC_LISTEN": addr,
        "CLICKTRAIL_ADMIN_TOKEN": ADMIN_TOKEN, "CLICKTRAIL_INTERNAL_TOKEN": INTERNAL_TOKEN,
    }  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.links", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with grpc.aio.insecure_channel(addr) as ch:
            stub = health_pb2_grpc.HealthStub(ch)
            for _ in range(200):
                try:
                    if (await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)).status == 1:
                        break
                except grpc.aio.AioRpcError:
                    await asyncio.sleep(0.1)
            else:
                pytest.fail("links never became SERVING")
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
        err = (await proc.stderr.read()).decode()
        assert '"event": "stopped"' in err
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_stop_does_not_wait_for_ever_on_a_connection_never_released(settings, monkeypatch):
    """A stopping service waits a bounded time for its pool (asyncpg's close() waits for every
    connection to come back), then cuts what is left; a test teardown hung on this."""
    from libs import grpc_server
    from services.links.server import SPEC

    monkeypatch.setattr(grpc_server, "POOL_CLOSE_S", 0.5)
    svc = await grpc_server.start_service(SPEC, settings, listen="127.0.0.1:0")
    held = await svc.ctx.pool.acquire()  # never given back
    await svc.stop(grace=0.1)
    assert svc.ctx.pool.is_closing() and held is not None  # stop() came back: the pool was cut
