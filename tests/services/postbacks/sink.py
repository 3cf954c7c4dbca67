"""A real local HTTP/1.1 sink for outbound postbacks (keep-alive, asyncio).

It records every request (time, method, target, headers, body) and answers
by its current ``mode``: ``ok`` (200), ``status`` (``status`` code, e.g. 500
or 429 with Retry-After), ``hang`` (reads the request, never answers),
``close`` (drops the connection without answering). Tests flip the mode while
deliveries are in flight.

``python -m tests.services.postbacks.sink --port N`` runs one in its own
process (the benchmark's sink); ``GET /_stats`` answers its counters as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import json
import time
from urllib.parse import parse_qs, urlsplit


@dataclasses.dataclass
class Hit:
    at: float
    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def query(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.target).query, keep_blank_values=True).items()}


class Sink:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, keep_hits: bool = True) -> None:
        self.host = host
        self._port = port
        self.mode = "ok"
        self.status = 500
        self.retry_after = ""
        self.hits: list[Hit] = []
        self.keep_hits = keep_hits
        self.counts: collections.Counter[str] = collections.Counter()  # by query "e" (event id)
        self.latencies: list[float] = []  # now - query "t" (enqueue time), when present
        self.total = 0
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> Sink:
        self._server = await asyncio.start_server(self._serve, self.host, self._port, backlog=1024)
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for w in list(self._writers):
                w.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = [*lines[0].split(" ", 2), "", ""][:3]
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, _, v = line.partition(":")
                        headers[k.strip().lower()] = v.strip()
                body = b""
                if headers.get("content-length"):
                    body = await reader.readexactly(int(headers["content-length"]))
                now = time.time()
                if target.startswith("/_stats"):
                    data = json.dumps(
                        {
                            "total": self.total,
                            "unique": len(self.counts),
                            "latencies": self.latencies,
                            "connections": self.connections,
                        }
                    ).encode()
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                                 + str(len(data)).encode() + b"\r\n\r\n" + data)  # fmt: skip
                    await writer.drain()
                    continue
                self.total += 1
                if self.keep_hits:
                    self.hits.append(Hit(now, method, target, headers, body))
                q = parse_qs(urlsplit(target).query)
                if "e" in q:
                    self.counts[q["e"][0]] += 1
                if "t" in q:
                    with contextlib.suppress(ValueError):
                        self.latencies.append(now - float(q["t"][0]))
                if self.mode == "hang":
                    await asyncio.sleep(3600)
                    return
                if self.mode == "close":
                    return
                if self.mode == "status":
                    extra = f"Retry-After: {self.retry_after}\r\n" if self.retry_after else ""
                    payload = f"error {self.status}".encode()
                    writer.write(f"HTTP/1.1 {self.status} X\r\n{extra}Content-Length: {len(payload)}\r\n\r\n".encode()
                                 + payload)  # fmt: skip
                else:
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()


async def _main(port: int) -> None:
    sink = await Sink("127.0.0.1", port, keep_hits=False).start()
    print(f"listening {sink.port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    try:
        import uvloop

        uvloop.run(_main(parser.parse_args().port))
    except KeyboardInterrupt:
        pass
