"""Run a role under uvicorn: bind once, then serve in one or N worker processes."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import importlib
import logging
import math
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from types import FrameType
from typing import Any

import uvicorn
from uvicorn._subprocess import subprocess_started
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess
from uvicorn.supervisors.multiprocess import SIGNALS as SUPERVISOR_SIGNALS
from uvicorn.supervisors.multiprocess import Process

from awsme.http_limits import ConnectionLimits, LimitedConfig
from awsme.ops.group_state import GroupState, shared_by_workers
from awsme.ops.logs import configure_logging as configure_log_output
from awsme.ops.metrics import MULTIPROCESS_DIR, use_multiprocess_values
from awsme.ops.shutdown import EXIT_FORCED, SIGNALS, exit_zero_after_graceful_shutdown
from awsme.settings import SettingError, Settings

log = logging.getLogger("awsme")


def configure_logging(settings: Settings) -> None:
    configure_log_output(settings.log_level, settings.log_format)


# The module that builds each mode's app: the workers' parent imports it once
# before it forks them, so that no worker imports it again.
APP_MODULES = {
    "imds": "awsme.imds",
    "frontend": "awsme.frontend.app",
    "backend": "awsme.backend.app",
}


def freeze_startup_objects() -> None:
    """Leave what the imports and the app's construction made out of every later
    garbage collection. A full collection walked them all (~95,000 objects: 50 ms
    in which no request moves); and a worker forked after this shares their pages
    with its parent for longer (the `gc.freeze` documentation's advice before fork)."""
    gc.freeze()


def build_app(settings: Settings, environ: Mapping[str, str]) -> Any:
    """The ASGI app for the settings' mode; runs in each worker process."""
    try:
        return _build_app(settings, environ)
    finally:
        freeze_startup_objects()


def _build_app(settings: Settings, environ: Mapping[str, str]) -> Any:
    configure_logging(settings)
    use_multiprocess_values()
    if settings.mode == "imds":
        from awsme.imds import create_imds_app, load_instance_data

        return create_imds_app(
            load_instance_data(settings.imds_data or None),
            require_token=settings.imds_require_token,
            spot_action=settings.imds_spot or None,
        )
    if settings.mode == "frontend":
        from awsme.frontend.app import create_frontend_app

        return create_frontend_app(settings, environ=environ)
    from awsme.backend.app import create_backend_app

    return create_backend_app(settings, environ)


def preflight(settings: Settings, environ: Mapping[str, str]) -> None:
    """Refuse, in one line and before binding, settings that cannot work
    (rather than failing in every worker). Raises SettingError or ValueError."""
    if settings.mode == "imds":
        from awsme.imds import load_instance_data

        if settings.workers > 1:
            raise SettingError(
                "-mode=imds keeps its tokens and triggers in one process: -workers=1"
            )
        load_instance_data(settings.imds_data or None)
        return
    if settings.mode in ("frontend", "check"):
        return  # every setting they use was checked when parsed
    if settings.mode == "standalone" and settings.workers > 1:
        raise SettingError("-mode=standalone runs in one process: -workers=1")
    from awsme.metadata.factory import build_source
    from awsme.notes.database import database_url

    database_url(settings)  # reads -db-password-file, checks -db-url
    asyncio.run(build_source(settings, environ).aclose())


def _bind(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    # Accepted sockets inherit it (some event loops do not set it on sockets they accept):
    # without it a response written in two parts waits 40 ms for a delayed ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    # Queue connections from now on, while the workers start, instead of refusing them.
    sock.listen(2048)
    return sock


def listen_sockets(host: str, port: int, workers: int) -> list[socket.socket]:
    """One listening socket per worker where the platform has SO_REUSEPORT: the
    kernel then spreads new connections evenly over the workers, where workers
    sharing one socket take them as they wake (175/101 with two, and a p99 of
    seconds in the busier one). Elsewhere, one socket that every worker shares."""
    if workers == 1 or not hasattr(socket, "SO_REUSEPORT"):
        return [_bind(host, port)]
    # A plain bind first, so that a port already taken fails as it always did:
    # SO_REUSEPORT alone would join another program of this user on the port.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
        port = probe.getsockname()[1]  # -port=0 picks one port for all
    sockets: list[socket.socket] = []
    try:
        for _ in range(workers):
            sockets.append(_bind(host, port, reuse_port=True))
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def uvicorn_config(app: Any, settings: Settings, **options: Any) -> uvicorn.Config:
    limits = ConnectionLimits(
        max_header_bytes=settings.max_header_bytes,
        header_timeout=settings.header_timeout,
        body_timeout=settings.body_timeout,
    )
    return LimitedConfig(
        app,
        limits=limits,
        timeout_keep_alive=settings.idle_timeout,
        workers=settings.workers,
        log_level=settings.log_level,
        log_config=None,  # awsme.ops.logs formats every line, uvicorn's included
        access_log=False,  # awsme.ops.observe writes the access log
        # ClientIP must be the address the request came from, even from a proxy.
        proxy_headers=False,
        server_header=False,
        ws="none",  # no route takes a WebSocket: websockets stays unimported
        # asyncio's own loop, not uvloop: a worker kept busy by 256 connections
        # answered some requests after 1-2 s under uvloop, which reads and starts
        # new requests before it sends the answers of finished ones (its issue
        # #123); asyncio's loop takes them in turn (p99 1.1 s -> 0.1 s, same req/s).
        loop="asyncio",
        timeout_graceful_shutdown=math.ceil(settings.shutdown_timeout),
        **options,
    )


class _ForkedWorker(Process):
    """uvicorn's worker, forked rather than spawned: it starts with the modules
    its parent imported (a spawned worker imported them all again: 2 s each on a
    busy node) and shares their pages with its siblings until they change."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
        self.config = config
        self._server = None
        self.parent_conn, self.child_conn = multiprocessing.Pipe()
        self.process = _FORK.Process(  # type: ignore[assignment]
            target=subprocess_started,
            kwargs={
                "config": config,
                "target": self.target,
                "sockets": sockets,
                "stdin_fileno": None,
            },
        )

    def target(self, sockets: list[socket.socket] | None = None) -> None:
        # Not the parent's handlers, which mark the whole group as draining:
        # uvicorn puts back the handlers it found when it stops, and raises the
        # signal that stopped it again.
        for sig in SUPERVISOR_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        super().target(sockets)


_FORK = multiprocessing.get_context("fork")


class _Workers(Multiprocess):
    """uvicorn's supervisor, with two changes.

    Each worker slot keeps its own listening socket when there is one per worker
    (a replacement worker takes over its slot's socket, whose queued connections
    wait for it); with one shared socket every slot uses it.

    uvicorn relays signals to the workers from a loop that wakes every 0.5 s;
    readiness cannot wait that long, so the signal handler marks the whole group
    as draining at once, then queues the signal as uvicorn does."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket], group: GroupState):
        super().__init__(config, sockets)
        self.group = group
        for sig in SIGNALS:
            signal.signal(sig, self._on_signal)

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        if self.group.draining:
            # A second signal: stop now, as one process does (awsme.ops.shutdown);
            # uvicorn's loop is already waiting on the workers and would not look.
            log.warning("second %s: exiting at once", signal.Signals(sig).name)
            for process in self.processes:
                if process.pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(process.pid, signal.SIGKILL)
            os._exit(EXIT_FORCED)
        self.group.start_draining()
        self.signal_queue.append(sig)

    def _slot_sockets(self, slot: int) -> list[socket.socket]:
        if len(self.sockets) == 1:
            return self.sockets
        if slot == len(self.sockets):  # SIGTTIN: one more worker, one more socket
            host, port = self.sockets[0].getsockname()[:2]
            self.sockets.append(_bind(host, port, reuse_port=True))
        return [self.sockets[slot]]

    def _start(self, slot: int) -> Process:
        process = _ForkedWorker(self.config, self._slot_sockets(slot))
        process.start()
        return process

    def init_processes(self) -> None:
        for slot in range(self.processes_num):
            self.processes.append(self._start(slot))

    def keep_subprocess_alive(self) -> None:
        # uvicorn's, with the replacement on its slot's socket.
        if self.should_exit.is_set():
            return
        for slot, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                log.error("worker [%s] failed to start, stopping", process.pid)
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            log.info("worker [%s] died", process.pid)
            self.processes[slot] = self._start(slot)

    def restart_all(self) -> None:
        # uvicorn's (SIGHUP), with each replacement on its slot's socket.
        for slot, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._start(slot)
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                if not self.should_exit.is_set():
                    log.error("worker [%s] not ready in time; restart aborted", new.pid)
                return
            old.terminate()
            old.join()
            self.processes[slot] = new

    def handle_ttin(self) -> None:
        log.info("SIGTTIN: one more worker")
        try:
            self.processes.append(self._start(len(self.processes)))
        except OSError as error:
            log.error("SIGTTIN: cannot listen for one more worker: %s", error.strerror)
            return
        self.processes_num += 1

    def handle_ttou(self) -> None:
        if self.processes_num <= 1:
            log.info("SIGTTOU: one worker left, keeping it")
            return
        log.info("SIGTTOU: one worker less")
        self.processes_num -= 1
        process = self.processes.pop()
        process.terminate()
        process.join()
        if len(self.sockets) > 1:
            self.sockets.pop().close()


@contextlib.contextmanager
def _multiprocess_metrics() -> Iterator[None]:
    """Workers write their metrics to files that /metrics adds up (set before they
    start: prometheus-client reads the variable when it is first imported)."""
    if os.environ.get(MULTIPROCESS_DIR):
        yield
        return
    directory = tempfile.mkdtemp(prefix="awsme-metrics-")
    os.environ[MULTIPROCESS_DIR] = directory
    try:
        yield
    finally:
        del os.environ[MULTIPROCESS_DIR]
        shutil.rmtree(directory, ignore_errors=True)


def serve(settings: Settings, environ: Mapping[str, str]) -> int:
    configure_logging(settings)
    environ = dict(environ)
    if settings.mode == "check":
        from awsme.check import check

        return check(settings)
    if settings.mode == "load":
        return run_load(settings)
    try:
        preflight(settings, environ)
    except ValueError as error:  # SettingError included
        print(f"app: {error}", file=sys.stderr)
        return 2
    log.debug("settings: %s", settings.redacted())
    if settings.delay:
        log.info("waiting %gs before listening (-delay)", settings.delay)
        time.sleep(settings.delay)
    host = settings.listen_host
    ports = [settings.port] + ([settings.backend_port] if settings.mode == "standalone" else [])
    sockets = []
    for port in ports:
        try:
            sockets.extend(listen_sockets(host, port, settings.workers))
        except OSError as error:
            print(f"app: cannot listen on {host}:{port}: {error.strerror}", file=sys.stderr)
            return 1
    if settings.mode == "standalone":
        from awsme.standalone import run_standalone

        return run_standalone(
            settings, environ, frontend_socket=sockets[0], backend_socket=sockets[1]
        )
    config = uvicorn_config(functools.partial(build_app, settings, environ), settings, factory=True)
    log.info("awsme %s listening on %s:%d", settings.mode, host, settings.port)
    if settings.workers > 1:
        importlib.import_module(APP_MODULES.get(settings.mode, APP_MODULES["backend"]))
        freeze_startup_objects()
        with _multiprocess_metrics(), shared_by_workers() as group:
            _Workers(config, sockets=sockets, group=group).run()
        return 0
    server = uvicorn.Server(config)
    exit_zero_after_graceful_shutdown()
    server.run(sockets=sockets)
    return 0 if server.started else 1


def run_load(settings: Settings) -> int:
    """`app -mode=load -url=...`: the load generator (awsme.load)."""
    if not settings.url:
        print("app: -mode=load needs -url (e.g. -url=http://frontend/)", file=sys.stderr)
        return 2
    from awsme import load

    plan = load.Plan(
        url=settings.url,
        connections=settings.connections,
        rate=settings.rate,
        duration=settings.duration,
        fresh_connections=settings.fresh_connections,
        request_timeout=settings.load_timeout,
    )
    return load.main(plan, as_json=settings.json_summary)


def migrate_only(settings: Settings) -> int:
    """`app -run-migrations` with no mode: migrate, then exit (an init container)."""
    from awsme.notes.database import database_url, describe
    from awsme.notes.migrate import migrate
    from awsme.notes.store import describe_error

    try:
        url = database_url(settings)
    except SettingError as error:
        print(f"app: {error}", file=sys.stderr)
        return 2
    try:
        revision = asyncio.run(migrate(url))
    except Exception as error:  # any failure: one line, never a traceback
        print(f"app: migration of {describe(url)} failed: {describe_error(error)}", file=sys.stderr)
        return 1
    print(f"database {describe(url)} is at revision {revision}")
    return 0
