"""One transaction per request, admitted so that a burst of requests cannot stall a worker.

A route's transaction is a FastAPI dependency: the connection is taken in one thread-pool call, the bearer token
checked in a second, the route run in a third, the commit made in a fourth. Between them the request holds its
connection without holding a thread. Once more requests are in flight than a worker has threads (anyio's 40),
every thread can be blocked waiting for a connection while every connection is held by a request waiting for a
thread: nothing moves until the pool's 30 s timeout fails them all. 200 kiosks on two workers did exactly that
(bench/pgbouncer_bench.py: every heartbeat timed out), and a province's kiosks all come back at once after an
outage.

So a request is admitted (an asyncio semaphore, in the event loop: waiting holds neither a thread nor a
connection) before it takes a connection, and at most `limit` are admitted at once: half the pool, since a page
may hold two connections of it (its own and its reads', central/readside.py), and half the threads. A thread
then never waits for a connection that a thread-less request holds. The body of a request is read before it is
admitted (FastAPI reads it before solving dependencies), so a slow client holds no slot while it sends.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from types import TracebackType

from sqlalchemy import Connection, Engine
from starlette.concurrency import run_in_threadpool

THREADS = 40  # anyio's default thread limiter, which FastAPI's sync routes and dependencies share


def pool_limit(engine: Engine) -> int:
    """Half of what `engine`'s pool can lend at once (its size and overflow), and at most half the worker's
    threads, at least 1. The second bound matters with a wide pool behind pgbouncer: admitted transactions beyond
    the threads, waiting in pgbouncer for a server connection, held every thread while the transactions that had
    one waited for a thread (bench/pgbouncer_bench.py, 2 workers with pools of 100: heartbeats timed out)."""
    pool = engine.pool
    size = getattr(pool, "size", 1)  # QueuePool's is a method, SingletonThreadPool's an int, NullPool has none
    size = int(size() if callable(size) else size)
    overflow = max(0, int(getattr(pool, "_max_overflow", 0)))
    return max(1, min((size + overflow) // 2, THREADS // 2))


class Admission:
    """At most `limit` requests of a worker process hold database connections at once; the others wait their turn
    in the event loop. The semaphore is made in the loop that first uses it (uvicorn runs one per worker)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._semaphore: asyncio.Semaphore | None = None

    async def __aenter__(self) -> None:
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.limit)
        await self._semaphore.acquire()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._semaphore is not None
        self._semaphore.release()

    def dependency(self, engine: Engine) -> Callable[[], AsyncIterator[Connection]]:
        """A FastAPI dependency giving a route its transaction on `engine` (use it with scope="function": committed
        before the answer is sent), taken once admitted; a failure in the route rolls it back."""

        async def transaction() -> AsyncIterator[Connection]:
            async with self:
                conn = await run_in_threadpool(_begin, engine)
                try:
                    yield conn
                except BaseException:
                    await run_in_threadpool(_end, conn, False)
                    raise
                await run_in_threadpool(_end, conn, True)

        return transaction


def _begin(engine: Engine) -> Connection:
    conn = engine.connect()
    try:
        conn.begin()
    except BaseException:
        conn.close()
        raise
    return conn


def _end(conn: Connection, commit: bool) -> None:
    try:
        if commit:
            conn.commit()
        else:
            conn.rollback()
    finally:
        conn.close()
