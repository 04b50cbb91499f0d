"""Graceful shutdown in podinfo's order.

On SIGTERM or SIGINT: /readyz turns 503 at once, the process keeps serving for
-shutdown-delay seconds (so that load balancers and Kubernetes endpoints stop
sending it traffic), then uvicorn stops accepting and finishes in-flight
requests within -shutdown-timeout. A second signal exits at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from awsme.ops.group_state import GroupState

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGINT)
EXIT_FORCED = 1


class Shutdown:
    """Whether shutdown has begun; /readyz reads it. One per process, shared by
    the apps it serves (standalone mode serves two).

    Under -workers=N it has also begun when the group's parent says so: it marks
    the group in its own signal handler, before it relays the signal to the
    workers (uvicorn relays on a 0.5 s loop). A worker's own signal stays its own:
    the parent replaces a worker that stops, and the others keep serving."""

    def __init__(self, group: GroupState | None = None) -> None:
        self.group = GroupState.attach() if group is None else group
        self.signalled = False  # this process has had its signal (a second one exits)

    @property
    def begun(self) -> bool:
        return self.signalled or self.group.draining

    @begun.setter
    def begun(self, value: bool) -> None:
        self.signalled = value


def install_graceful_shutdown(shutdown: Shutdown, delay: float) -> None:
    """Wrap the server's signal handlers (call from the app's startup).

    uvicorn has installed its own handlers by then; ours run first and hand the
    signal on after the delay. Outside the main thread (tests serving an app in
    a thread) there are no signals to catch.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    loop = asyncio.get_running_loop()
    for sig in SIGNALS:
        server_handler = signal.getsignal(sig)
        if callable(server_handler):
            signal.signal(sig, _handler(shutdown, delay, loop, server_handler))


def _handler(
    shutdown: Shutdown,
    delay: float,
    loop: asyncio.AbstractEventLoop,
    server_handler: Callable[[int, FrameType | None], Any],
) -> Callable[[int, FrameType | None], None]:
    def on_signal(sig: int, frame: FrameType | None) -> None:
        if shutdown.signalled:
            log.warning("second %s: exiting at once", signal.Signals(sig).name)
            os._exit(EXIT_FORCED)
        shutdown.begun = True
        log.info(
            "%s: not ready any more; serving %gs more, then draining",
            signal.Signals(sig).name,
            delay,
        )
        loop.call_soon_threadsafe(loop.call_later, delay, server_handler, sig, frame)

    return on_signal


def exit_zero_after_graceful_shutdown() -> None:
    """uvicorn re-raises the signal it stopped on once it has drained; by then the
    shutdown was orderly, so let the process end with status 0 rather than die
    by the signal (call before the server runs, in the process that runs it)."""

    def exit_zero(sig: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    for sig in SIGNALS:
        signal.signal(sig, exit_zero)
