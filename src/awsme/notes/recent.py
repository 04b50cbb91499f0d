"""The newest notes for `GET /`: read on every request by default, so that a note
acknowledged by any replica is in the next `GET /` of every replica.

Requests that arrive together share one read (per process), but only a read that
has not started yet: a request never gets the rows of a read that started before
it arrived. While a read runs, the requests that arrive wait for the next one,
which starts when the running one ends, and share it. So a note acknowledged
before a request arrived is in that request's answer, as if each had read alone,
and under load the database sees one query per read instead of one per request
(at 128 requests at once per process, one query serves dozens of them).

`-notes-cache=S` (for load tests) reuses what one process read for S seconds: a
note written through this process drops the cache at once, but one written
through another replica or worker can be missing for up to S seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from awsme.notes.store import Note, NoteStore, classify_error


class SharedRead:
    """One read of the newest `limit` notes, for the requests that joined it
    before it started."""

    __slots__ = ("future", "started")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.future: asyncio.Future[list[Note]] = loop.create_future()
        self.started = 0.0


class RecentNotes:
    def __init__(
        self, store: NoteStore, ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.store = store
        self.ttl = ttl
        self._clock = clock
        self._cached: tuple[float, int, list[Note]] | None = None  # (when, limit, notes)
        self._generation = 0  # counts forget(): a read started before one is not cached
        self._next: dict[int, SharedRead] = {}  # per limit: the read that requests join
        self._running: dict[int, asyncio.Task[None]] = {}  # per limit: the read under way
        self.reads = 0  # reads started, for tests and tools
        store.on_change.append(self.forget)

    def forget(self) -> None:
        self._cached = None
        self._generation += 1

    def _fresh(self, limit: int) -> list[Note] | None:
        cached = self._cached
        if cached and cached[1] == limit and self._clock() - cached[0] < self.ttl:
            return cached[2]
        return None

    async def get(self, limit: int) -> list[Note]:
        """The newest `limit` notes, oldest first; raises NotesUnavailable.

        The list is shared by every request of its read: read it, never change it."""
        if self.ttl > 0 and (notes := self._fresh(limit)) is not None:
            return notes
        shared = self._next.get(limit)
        if shared is None:
            shared = self._next[limit] = SharedRead(asyncio.get_running_loop())
            if limit not in self._running:
                self._start(limit)
        try:
            # As long as a request waited when it read alone: the running read, then
            # its own, may each take up to the timeout when the database hangs.
            async with asyncio.timeout(self.store.timeout):
                # A request that gives up (a timeout, a client gone) leaves the
                # read to the others.
                return await asyncio.shield(shared.future)
        except TimeoutError:
            # Not reported: the read itself reports when it fails.
            raise classify_error(TimeoutError()) from None

    def _start(self, limit: int) -> None:
        """Start the read that requests have joined: from now on, new requests
        join the next one."""
        shared = self._next.pop(limit)
        shared.started = self._clock()
        self.reads += 1
        self._running[limit] = asyncio.create_task(
            self._read(limit, shared, self._generation), name="notes-read"
        )

    async def _read(self, limit: int, shared: SharedRead, generation: int) -> None:
        try:
            notes = await self.store.recent(limit)
        except Exception as error:  # NotesUnavailable
            shared.future.set_exception(error)
        except asyncio.CancelledError:  # the process is stopping: no read after this one
            shared.future.cancel()
            waiting = self._next.pop(limit, None)
            if waiting is not None:
                waiting.future.cancel()
            raise
        else:
            shared.future.set_result(notes)
            if self.ttl > 0 and generation == self._generation:
                self._cached = (shared.started, limit, notes)
        finally:
            del self._running[limit]
        if limit in self._next:  # requests arrived while it ran: their read
            self._start(limit)
