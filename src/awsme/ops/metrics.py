"""Prometheus metrics for both roles.

The metrics are declared on a registry per app (never module globals, so tests
can build many apps). Under -workers=N the server sets PROMETHEUS_MULTIPROC_DIR
before the workers start; each worker then writes its values to files there
and /metrics adds up every worker's, as prometheus-client's multiprocess mode
documents.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    values,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from awsme.version import VERSION

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def use_multiprocess_values() -> None:
    """prometheus-client picks its value class when first imported; a worker
    forked from a parent that imported it before PROMETHEUS_MULTIPROC_DIR was set
    picks again, so that its values go to the shared files."""
    if os.environ.get(MULTIPROCESS_DIR) and not values.ValueClass._multiprocess:
        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


class Metrics:
    def __init__(self, role: str) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            "awsme_http_requests",
            "HTTP requests served, by method, route template and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "awsme_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.backend_calls = Counter(
            "awsme_backend_calls",
            "Frontend calls to its backend, by outcome (the status, or unavailable)",
            ["outcome"],
            registry=registry,
        )
        self.backend_call_duration = Histogram(
            "awsme_backend_call_duration_seconds",
            "Time the backend took to answer the frontend",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.metadata_fetches = Counter(
            "awsme_metadata_fetches",
            "Fetches from the metadata source, by source, kind (metadata, events) and outcome",
            ["source", "kind", "outcome"],
            registry=registry,
        )
        self.metadata_age = Gauge(
            "awsme_metadata_age_seconds",
            "Age of the metadata being served",
            multiprocess_mode="livemostrecent",
            registry=registry,
        )
        self.db_connections = Gauge(
            "awsme_db_pool_connections",
            "Database connections in the pool, by state (in_use, idle)",
            ["state"],
            multiprocess_mode="liveall",
            registry=registry,
        )
        self.db_errors = Counter(
            "awsme_db_errors",
            "Database operations that failed (the database was unavailable or too slow)",
            registry=registry,
        )
        build_info = Gauge(
            "awsme_build_info",
            "Always 1; the labels say what runs",
            ["version", "role"],
            multiprocess_mode="max",
            registry=registry,
        )
        build_info.labels(version=VERSION, role=role).set(1)
        # Called before each scrape to set gauges that are cheaper to read than to track.
        self.before_scrape: list[Callable[[], None]] = []
        # (method, route, status) -> its counter and histogram: labels() looks the
        # children up under a lock, on every request otherwise.
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:
            children = (
                self.requests.labels(method, route, str(status)),
                self.duration.labels(method, route),
            )
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def observe_backend_call(self, outcome: str, seconds: float) -> None:
        self.backend_calls.labels(outcome).inc()
        self.backend_call_duration.observe(seconds)

    def observe_metadata_fetch(self, source: str, kind: str, outcome: str) -> None:
        self.metadata_fetches.labels(source, kind, outcome).inc()

    def exposition(self) -> bytes:
        for update in self.before_scrape:
            update()
        if os.environ.get(MULTIPROCESS_DIR):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)


router = APIRouter(tags=["operations"])


@router.get("/metrics", summary="Prometheus metrics (text format)")
async def metrics(request: Request) -> Response:
    exposition = request.app.state.metrics.exposition()
    return Response(exposition, media_type=CONTENT_TYPE_LATEST)
