"""``python -m libs.healthcheck TARGET``: exit 0 when TARGET is healthy, else 1.

TARGET is a gRPC address (``127.0.0.1:50052``: grpc.health.v1 Check must answer
SERVING; over TLS / mutual TLS when CLICKTRAIL_GRPC_TLS_* say so) or an HTTP URL
(``http://127.0.0.1:8080/readyz``: must answer 2xx).
Container health checks use it, so the image needs no curl or grpc_health_probe."""

from __future__ import annotations

import asyncio
import sys
import urllib.request

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from libs.config import CommonSettings
from libs.grpc_client import make_channel
from libs.tls import channel_credentials

TIMEOUT_S = 3.0


async def grpc_serving(target: str, tls: grpc.ChannelCredentials | None = None) -> bool:
    async with make_channel(target, tls=tls) as channel:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT_S)
        except grpc.aio.AioRpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as reply:  # noqa: S310 (operator-given URL)
            return 200 <= int(reply.status) < 300
    except OSError:
        return False


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    target = argv[0]
    if target.startswith(("http://", "https://")):
        healthy = http_ok(target)
    else:
        healthy = asyncio.run(grpc_serving(target, channel_credentials(CommonSettings.load())))
    print("healthy" if healthy else f"unhealthy: {target}")
    return 0 if healthy else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
