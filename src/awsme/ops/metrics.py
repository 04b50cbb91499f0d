"""Prometheus metrics: one registry per app (never module globals), and a small
ASGI middleware that counts requests by route template rather than raw path."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from awsme.version import VERSION


class Metrics:
    def __init__(self, role: str) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "awsme_http_requests",
            "HTTP requests served, by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "awsme_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["method", "route"],
            registry=self.registry,
        )
        build_info = Gauge(
            "awsme_build_info",
            "Always 1; labels say what runs",
            ["version", "role"],
            registry=self.registry,
        )
        build_info.labels(version=VERSION, role=role).set(1)


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route: Any = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.duration.labels(method, template).observe(time.perf_counter() - start)


router = APIRouter(tags=["operations"])


@router.get("/metrics", summary="Prometheus metrics (text format)")
async def metrics(request: Request) -> Response:
    registry: CollectorRegistry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
