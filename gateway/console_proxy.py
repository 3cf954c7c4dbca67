"""/console/* on the gateway: forwarded over loopback to the console process
(``python -m console``, CLICKTRAIL_CONSOLE_HOST:CLICKTRAIL_CONSOLE_PORT).

Only IO happens here, on the gateway's event loop: the request body (bounded)
goes out, the response streams back chunk by chunk. Every page render, CSV
export and form parse runs in the console's own process, so a heavy or stuck
console request never delays a click.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from libs.asgi import BodyTooLarge, read_body
from libs.config import GatewaySettings
from libs.logging import get_logger

log = get_logger("gateway")

# The console refuses forms over 64 KiB itself; the proxy stops far larger bodies early.
MAX_BODY = 256 * 1024
# Connection-level headers: they describe one hop, not the request.
HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailer",
    b"transfer-encoding", b"upgrade", b"host", b"content-length",
})  # fmt: skip
TEXT = [(b"content-type", b"text/plain; charset=utf-8"), (b"cache-control", b"no-store")]

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]


class ConsoleProxy:
    """``await proxy(scope, receive, send)`` forwards one request; returns the HTTP status."""

    def __init__(self, settings: GatewaySettings) -> None:
        host = settings.console_host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        self.base = f"http://{host}:{settings.console_port}"
        self._body_timeout_s = settings.gateway_body_timeout_s
        self._client = httpx.AsyncClient(
            base_url=self.base,
            # A CSV export may take a while; connecting to a loopback peer may not.
            timeout=httpx.Timeout(connect=3.0, read=300.0, write=30.0, pool=10.0),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
            follow_redirects=False,
            trust_env=False,
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> int:
        try:
            body = await read_body(receive, MAX_BODY, self._body_timeout_s)
        except BodyTooLarge:
            return await _plain(send, 413, b"request body too large\n")
        except TimeoutError:
            return await _plain(send, 408, b"the request body did not arrive in time\n")
        if body is None:  # the client went away
            return 499
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in HOP_BY_HOP]
        client = scope.get("client")
        if client:
            headers.append((b"x-forwarded-for", client[0].encode("latin-1")))
        path = scope.get("raw_path") or scope["path"].encode("utf-8")
        query = scope.get("query_string", b"")
        url = path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
        request = self._client.build_request(scope["method"], url, headers=headers, content=body)
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TimeoutException:
            return await _plain(send, 504, b"the console did not answer in time\n")
        except httpx.HTTPError as exc:
            log.warning("console_unreachable", console=self.base, error=type(exc).__name__)
            return await _plain(send, 503, b"the console is not running (python -m console; make run starts it)\n")
        try:
            out = [(k, v) for k, v in response.headers.raw if k.lower() not in HOP_BY_HOP]
            length = response.headers.get("content-length")
            if length is not None:
                out.append((b"content-length", length.encode("ascii")))
            await send({"type": "http.response.start", "status": response.status_code, "headers": out})
            try:
                async for chunk in response.aiter_raw():
                    if chunk:
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except httpx.HTTPError as exc:  # cut off mid-answer: the client sees the connection drop
                log.warning("console_answer_cut", console=self.base, error=type(exc).__name__)
                return response.status_code
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.aclose()
        return response.status_code


async def _plain(send: Send, status: int, body: bytes) -> int:
    headers = [*TEXT, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    return status
