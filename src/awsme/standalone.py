"""`-mode=standalone`: the frontend on -port and its backend on -backend-port, in
one process, so that one command (and `make run`) shows the whole card."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import socket
from collections.abc import Iterator, Mapping

import uvicorn

from awsme.backend.app import create_backend_app
from awsme.frontend.app import create_frontend_app
from awsme.ops.shutdown import EXIT_FORCED, SIGNALS, Shutdown
from awsme.server import freeze_startup_objects, uvicorn_config
from awsme.settings import Settings

log = logging.getLogger(__name__)


class _SignalsHandledByCaller(uvicorn.Server):
    """Two servers share one loop here: signals are handled once, below."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def split(settings: Settings) -> tuple[Settings, Settings]:
    """The backend's and the frontend's settings, from the standalone ones."""
    backend = dataclasses.replace(settings, mode="backend", port=settings.backend_port)
    frontend = dataclasses.replace(settings, mode="frontend")
    if "backend_service" not in settings.given:
        loopback = "127.0.0.1" if settings.listen_host in ("0.0.0.0", "") else settings.listen_host
        if ":" in loopback:
            loopback = f"[{loopback}]"
        frontend = dataclasses.replace(
            frontend, backend_service=f"http://{loopback}:{settings.backend_port}"
        )
    return backend, frontend


def run_standalone(
    settings: Settings,
    environ: Mapping[str, str],
    *,
    frontend_socket: socket.socket,
    backend_socket: socket.socket,
) -> int:
    backend_settings, frontend_settings = split(settings)
    shutdown = Shutdown()
    servers = [
        _SignalsHandledByCaller(
            uvicorn_config(create_backend_app(backend_settings, environ, shutdown), settings)
        ),
        _SignalsHandledByCaller(
            uvicorn_config(create_frontend_app(frontend_settings, shutdown, environ), settings)
        ),
    ]
    freeze_startup_objects()

    async def serve_both() -> None:
        loop = asyncio.get_running_loop()

        def stop() -> None:
            for server in servers:
                server.should_exit = True

        def on_signal(sig: signal.Signals) -> None:
            if shutdown.begun:
                log.warning("second %s: exiting at once", sig.name)
                os._exit(EXIT_FORCED)
            shutdown.begun = True
            log.info("%s: not ready any more; serving %gs more", sig.name, settings.shutdown_delay)
            loop.call_later(settings.shutdown_delay, stop)

        for sig in SIGNALS:
            loop.add_signal_handler(sig, on_signal, sig)
        await asyncio.gather(
            servers[0].serve(sockets=[backend_socket]),
            servers[1].serve(sockets=[frontend_socket]),
        )

    log.info(
        "awsme standalone: frontend on %s:%d, backend on %s:%d",
        settings.listen_host,
        settings.port,
        settings.listen_host,
        settings.backend_port,
    )
    asyncio.run(serve_both())
    return 0 if all(server.started for server in servers) else 1
