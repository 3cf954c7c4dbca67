"""The console runs in its own process (``python -m console``): whatever it is
busy with, the gateway's event loop keeps answering clicks."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import socket
import sys
from pathlib import Path

import httpx
from clicktrail.links.v1 import links_pb2_grpc

from libs.config import Settings
from tests.gateway.conftest import start_gateway
from tests.services.attribution.engine_support import make_app, make_campaign
from tests.support.wait import wait_until

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_clicks_keep_flowing_while_the_console_is_busy(
    settings: Settings, links_server, links_stub: links_pb2_grpc.LinksServiceStub
) -> None:
    port = _free_port()
    env = {
        **os.environ, "CLICKTRAIL_DATABASE_URL": settings.database_url, "CLICKTRAIL_CONSOLE_SECRET": "s3cret",
        "CLICKTRAIL_CONSOLE_HOST": "127.0.0.1", "CLICKTRAIL_CONSOLE_PORT": str(port),
        "CLICKTRAIL_LINKS_ADDR": links_server.addr, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'gen'}",
    }  # fmt: skip
    console = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "console", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    gw = await start_gateway(dataclasses.replace(settings, links_addr=links_server.addr, console_port=port))
    try:
        campaign = await make_campaign(links_stub, await make_app(links_stub))
        async with gw.client() as client:

            async def console_up() -> bool:
                try:
                    return (await client.get("/console/signin")).status_code == 200
                except httpx.TransportError:
                    return False

            # A process start on a busy machine: seconds, not the 10 s this once allowed.
            await wait_until(console_up, "the console process to be up and forwarded to", timeout_s=60)
            # The console is stuck in CPU work (here: the whole process stopped, the worst case
            # of a request that never yields its event loop) while a page is asked for ...
            console.send_signal(signal.SIGSTOP)
            page = asyncio.create_task(client.get("/console/signin"))
            await asyncio.sleep(0)
            # ... and every click sent meanwhile is answered.
            clicks = await asyncio.gather(*(client.get(f"/c/{campaign.slug}?sub1=k{i}") for i in range(20)))
            assert [c.status_code for c in clicks] == [302] * 20
            assert not page.done()  # the console request was in flight the whole time
            console.send_signal(signal.SIGCONT)
            assert (await page).status_code == 200
    finally:
        await gw.stop()
        console.send_signal(signal.SIGCONT)
        console.terminate()
        await console.wait()
