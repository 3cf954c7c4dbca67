"""The probes and documents: GET|HEAD /healthz (liveness), /readyz (links,
ingest and attribution answer grpc.health.v1 Check), /metrics (Prometheus) and
/openapi.json."""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.base import ATTRIBUTION_SERVICE, INGEST_SERVICE, LINKS_SERVICE, GatewayBase
from gateway.openapi import DOCUMENT_BYTES
from gateway.responses import JSON_CT, NO_STORE, Scope, Sender, json_body, text_headers
from libs.clients import ServiceClient


class Probes(GatewayBase):
    async def _healthz(self, scope: Scope, sender: Sender, head: bool) -> int:
        body = b'{"status":"ok"}'
        return await sender.send(200, text_headers(JSON_CT, body), body)

    async def _readyz(self, scope: Scope, sender: Sender, head: bool) -> int:
        await self._ensure_started()
        checks: dict[str, str] = {}
        if self._draining or self._links is None or self._ingest is None or self._attribution is None:
            checks["gateway"] = "draining"
        else:
            links, ingest, attribution = await asyncio.gather(
                self._check(self._links, LINKS_SERVICE), self._check(self._ingest, INGEST_SERVICE),
                self._check(self._attribution, ATTRIBUTION_SERVICE),
            )  # fmt: skip
            checks["links"], checks["ingest"], checks["attribution"] = links, ingest, attribution
        ok = all(v == "ok" for v in checks.values())
        body = json_body({"status": "ok" if ok else "unavailable", "checks": checks})
        headers = [*text_headers(JSON_CT, body), NO_STORE]
        return await sender.send(200 if ok else 503, headers, body)

    async def _check(self, client: ServiceClient, service: str) -> str:
        stub = client.stub(health_pb2_grpc.HealthStub)
        try:
            reply = await stub.Check(
                health_pb2.HealthCheckRequest(service=service),
                timeout=min(1.0, self.settings.grpc_deadline_s),
            )
        except grpc.aio.AioRpcError as err:
            return f"down: {err.code().name}"
        if reply.status != health_pb2.HealthCheckResponse.SERVING:
            return f"down: {health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)}"
        return "ok"

    async def _metrics_endpoint(self, scope: Scope, sender: Sender, head: bool) -> int:
        body = generate_latest()
        return await sender.send(200, text_headers(CONTENT_TYPE_LATEST.encode(), body), body)

    async def _openapi(self, scope: Scope, sender: Sender, head: bool) -> int:
        return await sender.send(200, text_headers(JSON_CT, DOCUMENT_BYTES), DOCUMENT_BYTES)
