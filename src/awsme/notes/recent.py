"""The newest notes for `GET /`: read on every request by default, so that a note
acknowledged by any replica is in the next `GET /` of every replica.

`-notes-cache=S` (for load tests) reuses what one process read for S seconds: a
note written through this process drops the cache at once, but one written
through another replica or worker can be missing for up to S seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from awsme.notes.store import Note, NoteStore


class RecentNotes:
    def __init__(
        self, store: NoteStore, ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.store = store
        self.ttl = ttl
        self._clock = clock
        self._cached: tuple[float, int, list[Note]] | None = None  # (when, limit, notes)
        self._lock = asyncio.Lock()
        store.on_change.append(self.forget)

    def forget(self) -> None:
        self._cached = None

    def _fresh(self, limit: int) -> list[Note] | None:
        cached = self._cached
        if cached and cached[1] == limit and self._clock() - cached[0] < self.ttl:
            return cached[2]
        return None

    async def get(self, limit: int) -> list[Note]:
        """The newest `limit` notes, oldest first; raises NotesUnavailable."""
        if self.ttl <= 0:
            return await self.store.recent(limit)
        if (notes := self._fresh(limit)) is not None:
            return notes
        async with self._lock:  # one query for a burst of requests
            if (notes := self._fresh(limit)) is not None:
                return notes
            started = self._clock()
            notes = await self.store.recent(limit)
            self._cached = (started, limit, notes)
            return notes
