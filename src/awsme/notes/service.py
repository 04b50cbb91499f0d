"""The notes database over the life of the backend: connect (and migrate) in the
background with backoff, report health, recover by itself after an outage.

The Go app exited when its database was not up at start; here the backend
serves at once, says what it waits for, and becomes ready on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from sqlalchemy import URL

from awsme.notes.database import create_engine, create_reader, describe
from awsme.notes.recent import RecentNotes
from awsme.notes.schema import HEAD_REVISION, is_newer_than_this_release
from awsme.notes.store import SCHEMA, Note, NoteStore, NotesUnavailable, classify_error

log = logging.getLogger(__name__)

MAX_BACKOFF = 5.0  # a database back from an outage is used within seconds


class DatabaseState:
    """Whether the database answers, told in the log once per change: a WARNING
    when it is lost (and again only if the kind of problem changes, e.g. back but
    without its schema), an INFO when it is back, with how long it was gone.
    Every query reports here, so a request never logs on its own."""

    def __init__(self, where: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.where = where
        self._clock = clock
        self.up: bool | None = None  # None: not known yet
        self.kind: str | None = None
        self.since = clock()

    def report(self, problem: NotesUnavailable | None) -> None:
        if problem is None:
            if self.up is not True:
                if self.up is None:
                    log.info("notes database ready: %s", self.where)
                else:
                    down = self._clock() - self.since
                    log.info("notes database back after %.1fs: %s", down, self.where)
                self.up, self.kind = True, None
            return
        if self.up is not False:
            self.since = self._clock()
            what = "lost" if self.up else "not usable"
            log.warning("notes database %s: %s (%s)", what, problem, self.where)
        elif problem.kind != self.kind:
            log.warning("notes database still not usable: %s (%s)", problem, self.where)
        self.up, self.kind = False, problem.kind


class NotesService:
    def __init__(
        self,
        url: URL,
        *,
        run_migrations: bool,
        timeout: float,
        cache_seconds: float = 0.0,
        from_url: bool = True,
    ) -> None:
        self.url = url
        self.run_migrations = run_migrations
        self.engine = create_engine(url)
        self.reader = create_reader(url)
        self.from_url = from_url
        self.store = NoteStore(self.engine, reader=self.reader, timeout=timeout, from_url=from_url)
        self.state = DatabaseState(describe(url))
        self.store.on_outcome = self.state.report
        self.recent = RecentNotes(self.store, cache_seconds)
        self.ready = False
        self.problem: str | None = "connecting to the database"
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._connect_loop(), name="notes-connect")

    async def _connect_loop(self) -> None:
        backoff = 0.5
        while not self.ready:
            try:
                await self._connect_once()
            except NotesUnavailable as error:
                self._not_ready(error)
            except Exception as error:  # a migration failure: keep serving, keep trying
                self._not_ready(classify_error(error, from_url=self.from_url))
            else:
                self.ready, self.problem = True, None
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    async def _connect_once(self) -> None:
        revision = await self._revision_or_none()
        if self.run_migrations and revision != HEAD_REVISION:
            # Alembic loads only when there is something to migrate: every start of
            # the embedded SQLite (make run) used to pay for it (0.3 s or more).
            from awsme.notes.migrate import migrate

            await migrate(self.url)
            revision = await self.store.schema_revision()
        if is_newer_than_this_release(revision):
            # A newer release migrated it (a rollback, or a rollout half done): its
            # migrations only added, so what this release reads and writes is there.
            log.info("the database is at revision %s, newer than this release's", revision)
        elif revision != HEAD_REVISION:
            problem = NotesUnavailable(
                f"schema missing: run -run-migrations (the database is at revision "
                f"{revision or 'none'}, this backend needs {HEAD_REVISION})",
                SCHEMA,
            )
            raise problem
        self.state.report(None)

    async def _revision_or_none(self) -> str | None:
        """The database's revision; None where there is no schema to read yet (the
        migrations will make it), when they are to run."""
        try:
            return await self.store.schema_revision()
        except NotesUnavailable as error:
            if self.run_migrations and error.kind == SCHEMA:
                return None
            raise

    def _not_ready(self, problem: NotesUnavailable) -> None:
        self.state.report(problem)  # logs once, not at every retry
        self.problem = str(problem)

    async def health(self) -> str | None:
        """None when the database answers, else why not (for /healthz and /readyz)."""
        if not self.ready:
            return self.problem
        try:
            await self.store.ping()
        except NotesUnavailable as error:
            return str(error)
        return None

    async def newest(self, limit: int, *, fresh: bool = False) -> list[Note]:
        """The newest notes for `GET /`, oldest first, from the short-lived cache
        (or from the database, when `fresh`)."""
        self.usable_store()  # raises NotesUnavailable until connected
        if fresh:
            self.recent.forget()
        return await self.recent.get(limit)

    def usable_store(self) -> NoteStore:
        """The store once connected; before that, NotesUnavailable saying why not."""
        if not self.ready:
            raise NotesUnavailable(self.problem or "not connected to the database")
        return self.store

    async def aclose(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.engine.dispose()
        await self.reader.dispose()
