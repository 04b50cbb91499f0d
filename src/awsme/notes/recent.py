"""The newest notes for `GET /`: read on every request by default, so that a note
acknowledged by any replica is in the next `GET /` of every replica.

Requests that arrive together share one read (per process), but only a read that
has not started yet: a request never gets the rows of a read that started before
it arrived. The first request opens a read and schedules its start; the requests
that the event loop runs before that start join it; later ones open the next
read, which starts at once (a few at most run together, MAX_READS). So a note
acknowledged before a request arrived is in that request's answer, as if each
had read alone, and under load the database sees one query per read instead of
one per request (at 128 requests at once per process, one query serves dozens).

`-notes-cache=S` (for load tests) reuses what one process read for S seconds: a
note written through this process drops the cache at once, but one written
through another replica or worker can be missing for up to S seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from awsme.notes.database import READ_POOL_SIZE
from awsme.notes.store import Note, NoteStore, NotesUnavailable, classify_error


class SharedRead:
    """One read of the newest `limit` notes, for the requests that joined it
    before it started: each waits on a future of its own, so that one that gives
    up (a client gone) leaves the read to the others."""

    __slots__ = ("expiry", "started", "waiters")

    def __init__(self) -> None:
        self.waiters: list[asyncio.Future[list[Note]]] = []
        self.started = 0.0
        self.expiry: asyncio.TimerHandle | None = None

    def settle(self, notes: list[Note] | None, error: BaseException | None = None) -> None:
        if self.expiry is not None:
            self.expiry.cancel()
        for waiter in self.waiters:
            if waiter.done():  # given up, or timed out
                continue
            if error is not None:
                waiter.set_exception(error)
            else:
                waiter.set_result(notes or [])
        self.waiters.clear()


# Reads under way at once, per process: more than one, so that when the database
# is slow to answer, requests that arrive while a read runs need not wait for its
# end before theirs can start. Each holds a connection of the read pool.
MAX_READS = READ_POOL_SIZE


class RecentNotes:
    def __init__(
        self,
        store: NoteStore,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
        max_reads: int = MAX_READS,
    ) -> None:
        self.store = store
        self.ttl = ttl
        self._clock = clock
        self.max_reads = max_reads
        self._cached: tuple[float, int, list[Note]] | None = None  # (when, limit, notes)
        self._generation = 0  # counts forget(): a read started before one is not cached
        self._open: dict[int, SharedRead] = {}  # per limit: the read requests join, not started
        self._scheduled: set[int] = set()  # limits whose open read has a task to start it
        self._running: dict[int, int] = {}  # per limit: reads under way
        self._tasks: set[asyncio.Task[None]] = set()
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
        loop = asyncio.get_running_loop()
        shared = self._open.get(limit)
        if shared is None:
            shared = self._open[limit] = SharedRead()
            # No request waits longer than when it read alone, whatever it waits
            # for (a free slot, a slow database): one timer for all who join.
            shared.expiry = loop.call_later(self.store.timeout, self._expire, shared)
            self._schedule(limit)
        waiter: asyncio.Future[list[Note]] = loop.create_future()
        shared.waiters.append(waiter)
        return await waiter

    @staticmethod
    def _expire(shared: SharedRead) -> None:
        # Not reported: the read itself reports when it fails.
        shared.settle(None, classify_error(TimeoutError()))

    def _schedule(self, limit: int) -> None:
        """A task to start the open read, unless one will or too many run."""
        if limit in self._scheduled or self._running.get(limit, 0) >= self.max_reads:
            return
        self._scheduled.add(limit)
        task = asyncio.create_task(self._read(limit), name="notes-read")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read(self, limit: int) -> None:
        # The task runs after the requests that were ready when it was made: they
        # have joined. From here on, a request opens the next read.
        self._scheduled.discard(limit)
        shared = self._open.pop(limit, None)
        if shared is None:
            return
        shared.started = self._clock()
        generation = self._generation
        self._running[limit] = self._running.get(limit, 0) + 1
        self.reads += 1
        try:
            notes = await self.store.recent(limit)
        except Exception as error:  # NotesUnavailable
            shared.settle(None, error)
        except asyncio.CancelledError:  # the process is stopping: no read after this one
            for left in (shared, self._open.pop(limit, None)):
                if left is not None:
                    left.settle(None, NotesUnavailable("the backend is stopping"))
            raise
        else:
            shared.settle(notes)
            if self.ttl > 0 and generation == self._generation:
                self._cached = (shared.started, limit, notes)
        finally:
            self._running[limit] -= 1
        if limit in self._open:  # requests waited for a read to end: theirs starts
            self._schedule(limit)
