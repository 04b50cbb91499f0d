"""The backend role: where it runs, as JSON, and the notes stored in its database."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI

from awsme.backend import instance, legacy, notes_api
from awsme.metadata.cache import MetadataCache
from awsme.metadata.factory import build_cache
from awsme.methods import install_allow_header
from awsme.notes.database import database_url
from awsme.notes.service import NotesService
from awsme.openapi import install_openapi
from awsme.ops.install import NO_FASTAPI_TELEMETRY, install_operations
from awsme.ops.metrics import Metrics
from awsme.ops.probes import first_metadata_fetch
from awsme.ops.shutdown import Shutdown, install_graceful_shutdown
from awsme.replica import Replica, current_replica, replica_name
from awsme.settings import Settings
from awsme.version import VERSION


@dataclass
class BackendState:
    settings: Settings
    cache: MetadataCache
    replica: Replica
    notes: NotesService


def build_notes_service(settings: Settings) -> NotesService:
    url = database_url(settings)
    # An SQLite file belongs to this process alone: no one else will migrate it.
    embedded = url.get_backend_name() == "sqlite"
    return NotesService(
        url,
        run_migrations=settings.run_migrations or embedded,
        timeout=settings.db_timeout,
        cache_seconds=settings.notes_cache,
        from_url=bool(settings.db_url),
    )


def create_backend_app(
    settings: Settings,
    environ: Mapping[str, str] | None = None,
    shutdown: Shutdown | None = None,
) -> FastAPI:
    """Build the backend; raises SettingError when the settings cannot work.

    With `shutdown` given, the caller handles signals (standalone mode)."""
    environ = os.environ if environ is None else environ
    state = BackendState(
        settings, build_cache(settings, environ), current_replica(), build_notes_service(settings)
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.cache.start()
        state.notes.start()
        if shutdown is None:
            install_graceful_shutdown(app.state.probes.shutdown, settings.shutdown_delay)
        try:
            yield
        finally:
            await state.notes.aclose()
            await state.cache.aclose()

    app = FastAPI(
        title="awsme backend",
        version=VERSION,
        lifespan=lifespan,
        telemetry=NO_FASTAPI_TELEMETRY,
        # The interactive docs load their assets from a CDN; the schema is enough.
        docs_url=None,
        redoc_url=None,
    )
    app.state.backend = state
    # The role's routes first: FastAPI tries the routers in order, on every request.
    for router in (instance.router, legacy.router, notes_api.router):
        app.include_router(router)
    observed = install_operations(
        app,
        settings,
        role="backend",
        checks={"database": state.notes.health},
        shutdown=shutdown or Shutdown(),
        readiness={"metadata": first_metadata_fetch(state.cache)},
        served_by=replica_name(environ),
    )
    state.cache.observe = observed.observe_metadata_fetch
    state.notes.store.on_error = observed.db_errors.inc
    observed.before_scrape.append(lambda: _update_gauges(state, observed))
    install_allow_header(app)
    install_openapi(app, note_max_length=settings.note_max_length)
    return app


def _update_gauges(state: BackendState, observed: Metrics) -> None:
    age = state.cache.snapshot().age_seconds
    if age is not None:
        observed.metadata_age.set(age)
    pool = state.notes.engine.sync_engine.pool
    in_use = getattr(pool, "checkedout", lambda: 0)()
    idle = getattr(pool, "checkedin", lambda: 0)()
    observed.db_connections.labels("in_use").set(in_use)
    observed.db_connections.labels("idle").set(idle)
