"""The frontend role: the info card, built from one backend call per page."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from awsme.frontend import chaos_buttons, notes, pages
from awsme.frontend.backend_client import BackendClient
from awsme.frontend.card import NoteView
from awsme.frontend.openapi_doc import CARD_RESPONSES, DOCUMENTED
from awsme.frontend.same_origin import SameOriginWrites
from awsme.methods import install_allow_header
from awsme.openapi import install_openapi
from awsme.ops.install import NO_FASTAPI_TELEMETRY, install_operations
from awsme.ops.shutdown import Shutdown, install_graceful_shutdown
from awsme.replica import replica_name
from awsme.settings import Settings
from awsme.version import VERSION

STATIC = Path(__file__).parent / "static"


@dataclass
class FrontendState:
    settings: Settings
    client: BackendClient
    name: str  # this frontend's pod name, else its hostname: shown on the card
    # The last notes a backend could read, and when (time.time()): shown, marked
    # as stale, while the database is away.
    notes_memory: tuple[list[NoteView], float] | None = field(default=None)


def create_frontend_app(
    settings: Settings,
    shutdown: Shutdown | None = None,
    environ: Mapping[str, str] | None = None,
) -> FastAPI:
    """Build the frontend. With `shutdown` given, the caller handles signals."""
    environ = os.environ if environ is None else environ
    client = BackendClient(
        settings.backend_service,
        keepalive=settings.backend_keepalive,
        connect_timeout=settings.backend_connect_timeout,
        read_timeout=settings.backend_timeout,
    )
    name = replica_name(environ)
    state = FrontendState(settings, client, name)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if shutdown is None:
            install_graceful_shutdown(app.state.probes.shutdown, settings.shutdown_delay)
        try:
            yield
        finally:
            await client.aclose()

    prefix = settings.path_prefix
    # The document covers the JSON and text routes; the pages are for people.
    app = FastAPI(
        title="awsme frontend",
        version=VERSION,
        lifespan=lifespan,
        telemetry=NO_FASTAPI_TELEMETRY,
        docs_url=None,
        redoc_url=None,
        openapi_url=prefix + "/openapi.json",
    )
    app.state.frontend = state
    # Innermost of the middlewares: a refusal still gets the request id and headers.
    app.add_middleware(SameOriginWrites)
    # Probes and metrics answer at the root, where kubelets and scrapers look, and
    # under the prefix too, for an ingress that forwards only that path.
    observed = install_operations(
        app,
        settings,
        role="frontend",
        checks={"backend": client.health},
        shutdown=shutdown or Shutdown(),
        prefixes=("", prefix),
        served_by=name,
    )
    client.observe = observed.observe_backend_call
    app.include_router(pages.router, prefix=prefix)
    # curl -I and HEAD monitors, as with the Go app (uvicorn sends no body for HEAD).
    app.add_api_route(prefix + "/", pages.card_page, methods=["HEAD"], include_in_schema=False)
    app.include_router(notes.router, prefix=prefix)
    app.include_router(chaos_buttons.router, prefix=prefix)
    app.mount(prefix + "/static", StaticFiles(directory=STATIC), name="static")
    install_allow_header(app)
    install_openapi(
        app,
        note_max_length=settings.note_max_length,
        include=lambda path: path.removeprefix(prefix) in DOCUMENTED or path in DOCUMENTED,
        responses={prefix + "/api/card": {"get": CARD_RESPONSES}},
    )
    if prefix:

        @app.get(prefix, include_in_schema=False)
        async def to_prefix_root() -> RedirectResponse:
            return RedirectResponse(prefix + "/", status_code=308)

    return app
