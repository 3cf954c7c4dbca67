"""A real DNS server on loopback (UDP, asyncio, dnslib for the wire format)
for the postbacks resolver tests: names in ``zone`` answer their A records,
names in ``silent`` never get an answer (a black-holed server), anything
else is NXDOMAIN. Every query is counted by (name, type)."""

from __future__ import annotations

import asyncio
import collections

from dnslib import QTYPE, RCODE, RR, A, DNSRecord


class DnsServer(asyncio.DatagramProtocol):
    def __init__(self, zone: dict[str, str] | None = None, silent: set[str] | None = None, ttl: int = 60) -> None:
        self.zone = {k.rstrip(".").lower(): v for k, v in (zone or {}).items()}
        self.silent = {s.rstrip(".").lower() for s in (silent or set())}
        self.ttl = ttl
        self.queries: collections.Counter[tuple[str, str]] = collections.Counter()
        self._transport: asyncio.DatagramTransport | None = None

    async def start(self) -> DnsServer:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=("127.0.0.1", 0))
        return self

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    @property
    def address(self) -> str:
        """The "ip:port" to configure as the resolver's name server."""
        assert self._transport is not None
        host, port = self._transport.get_extra_info("sockname")[:2]
        return f"{host}:{port}"

    def asked(self, name: str) -> int:
        """Queries received for a name, every type."""
        name = name.rstrip(".").lower()
        return sum(n for (q, _), n in self.queries.items() if q == name)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        request = DNSRecord.parse(data)
        name = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        self.queries[(name, qtype)] += 1
        if name in self.silent:
            return
        reply = request.reply()
        if name in self.zone:
            if qtype in ("A", "ANY"):
                reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(self.zone[name]), ttl=self.ttl))
        else:
            reply.header.rcode = RCODE.NXDOMAIN
        assert self._transport is not None
        self._transport.sendto(reply.pack(), addr)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
