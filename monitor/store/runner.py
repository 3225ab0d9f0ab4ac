"""`Store`: the one door the watcher, the digest and the console go through to the database.

    store = Store(engine)                       # or Store(engine, writer=event_writer)
    states = await store.read(feed_states)                  # fn(session, *args, **kwargs)
    new = await store.write(record_poll, poll)              # serialised on the write thread
    store.close()

As Datasette's `execute_fn` / `execute_write_fn`: each call runs `fn(session, ...)` in its own
transaction, off the event loop, and commits. Reads run in a small thread pool; writes run one
at a time on a single write thread, so they queue in memory instead of contending for SQLite's
write lock (whose busy handler sleeps). A process that also runs an `EventWriter` on the same
engine passes it as `writer=`: the runner's writes then run on the event writer's thread, and
the process keeps one writer thread per database.

Each call runs in a copy of the caller's context, so a school scope (`monitor.store.scope`) set
by a console request applies to every session the call opens.

On SQLite, reads use a second engine with deferred transactions (`make_engine(readonly=True)`),
so a read never takes the write lock; writes use the engine given (`BEGIN IMMEDIATE`).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from monitor.store import scope
from monitor.store.database import make_engine, make_sessionmaker

T = TypeVar("T")
P = ParamSpec("P")
WRITE_ATTEMPTS = 3


class WriteThread(Protocol):
    """A thread that runs jobs one at a time, in order (`EventWriter.call` is one)."""

    def call(self, job: Callable[[], T]) -> Future[T]: ...


class _OwnWriteThread:
    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-write")

    def call(self, job: Callable[[], T]) -> Future[T]:
        return self._pool.submit(job)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class Store:
    """Reads in a thread pool, writes on one thread (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        *,
        read_engine: Engine | None = None,
        readers: int = 4,
        writer: WriteThread | None = None,
    ) -> None:
        self.engine = engine
        self._own_read_engine = read_engine is None and _has_file(engine)
        if read_engine is None:
            read_engine = make_engine(engine.url, readonly=True) if _has_file(engine) else engine
        self.read_engine = read_engine
        self.sessions: sessionmaker[Session] = make_sessionmaker(engine)
        self.read_sessions: sessionmaker[Session] = make_sessionmaker(read_engine)
        self._readers = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="store-read")
        self._own_writer = _OwnWriteThread() if writer is None else None
        self._writer: WriteThread = writer or self._own_writer  # type: ignore[assignment]

    # -- synchronous: the functions the threads run ---------------------------------------------

    def read_sync(
        self, fn: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        with self.read_sessions() as session, session.begin():
            return fn(scope.bind(session), *args, **kwargs)

    def write_sync(
        self, fn: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        for attempt in range(WRITE_ATTEMPTS):
            try:
                with self.sessions() as session, session.begin():
                    return fn(scope.bind(session), *args, **kwargs)
            except sa_exc.IntegrityError:
                # Two writers stored the same new row at once (PostgreSQL): the retry sees it.
                if attempt == WRITE_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    # -- from the event loop ----------------------------------------------------------------

    async def read(
        self, fn: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`fn(session, *args, **kwargs)` in a reader thread, in its own transaction."""
        loop = asyncio.get_running_loop()
        # In the caller's context: a console request's school scope goes with it.
        context = contextvars.copy_context()
        job: Callable[[], T] = functools.partial(
            context.run, self.read_sync, fn, *args, **kwargs  # type: ignore[arg-type]
        )
        return await loop.run_in_executor(self._readers, job)

    async def write(
        self, fn: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`fn(session, *args, **kwargs)` on the write thread, in its own transaction."""
        context = contextvars.copy_context()
        job: Callable[[], T] = functools.partial(
            context.run, self.write_sync, fn, *args, **kwargs  # type: ignore[arg-type]
        )
        return await asyncio.wrap_future(self._writer.call(job))

    def close(self) -> None:
        """Finish the calls under way and stop the threads (the engine given stays open)."""
        self._readers.shutdown(wait=True)
        if self._own_writer is not None:
            self._own_writer.close()
        if self._own_read_engine:
            self.read_engine.dispose()


def _has_file(engine: Engine) -> bool:
    """A SQLite store in a file (an in-memory one cannot be opened twice)."""
    url = engine.url
    return url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
