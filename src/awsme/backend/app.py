"""The backend role: where it runs, as JSON (and, with the notes issue, its notes)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI

from awsme.backend import instance, legacy
from awsme.metadata.cache import MetadataCache
from awsme.metadata.factory import build_cache
from awsme.ops import metrics, probes
from awsme.replica import Replica, current_replica
from awsme.settings import Settings
from awsme.version import VERSION


@dataclass
class BackendState:
    settings: Settings
    cache: MetadataCache
    replica: Replica


def create_backend_app(settings: Settings, environ: Mapping[str, str] | None = None) -> FastAPI:
    """Build the backend; raises SettingError when the settings cannot work."""
    environ = os.environ if environ is None else environ
    state = BackendState(settings, build_cache(settings, environ), current_replica())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.cache.start()
        try:
            yield
        finally:
            await state.cache.aclose()

    app = FastAPI(
        title="awsme backend",
        version=VERSION,
        lifespan=lifespan,
        # The interactive docs load their assets from a CDN; the schema is enough.
        docs_url=None,
        redoc_url=None,
    )
    app.state.backend = state
    app.state.probes = probes.Probes()
    app.state.metrics = metrics.Metrics(role="backend")
    app.add_middleware(metrics.MetricsMiddleware, metrics=app.state.metrics)
    for router in (legacy.router, instance.router, probes.router, metrics.router):
        app.include_router(router)
    return app
