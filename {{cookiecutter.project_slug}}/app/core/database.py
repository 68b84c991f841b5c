"""The one `Database`: async engine, session factory and the task-scoped session."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, ExceptionContext, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_scoped_session,
    async_sessionmaker,
    create_async_engine,
)
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.logging import get_db_logger

# Plain URLs people copy from their database's docs, mapped to the async driver we ship.
ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "mysql": "mysql+aiomysql",
    "mariadb": "mysql+aiomysql",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}


def to_async_url(url: str) -> URL:
    """`mysql://…` → `mysql+aiomysql://…`; an explicit driver is kept as given."""
    parsed = make_url(url)
    if "+" not in parsed.drivername and parsed.drivername in ASYNC_DRIVERS:
        parsed = parsed.set(drivername=ASYNC_DRIVERS[parsed.drivername])
    return parsed


# A pooled connection idle longer than this is pinged before use (see _test_idle_connections).
IDLE_TEST_SECONDS = 1.0
IDLE_SINCE = "idle_since"

# How long a SQLite write waits for another connection's write to finish.
SQLITE_LOCK_TIMEOUT_SECONDS = 30.0


def _current_task_id() -> int:
    return id(asyncio.current_task())


class Database:
    """Owns the engine and sessions for one process (one per app instance in tests)."""

    def __init__(
        self, url: str, *, echo: bool = False, pool_size: int = 20, slow_query_ms: float = 200.0
    ) -> None:
        self.url = to_async_url(url)
        engine_options: dict[str, Any] = {"echo": echo}
        if self.url.get_backend_name() != "sqlite":
            # A fixed number of connections, kept: connections opened past the pool's size
            # would be closed as soon as they came back, and under a steady load each such
            # open (a TLS handshake, often) costs more than the query it was opened for.
            engine_options.update(pool_size=pool_size, max_overflow=0, pool_recycle=3600)
        else:
            # One writer at a time: under a burst a write may wait for the lock for seconds,
            # which beats failing with "database is locked" (the driver gives up after 5 s).
            engine_options.update(connect_args={"timeout": SQLITE_LOCK_TIMEOUT_SECONDS})
        self.engine: AsyncEngine = create_async_engine(self.url, **engine_options)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        # One session per asyncio task: each request (and each worker job) gets its own.
        self.scoped_session = async_scoped_session(self.sessionmaker, scopefunc=_current_task_id)
        self.slow_query_ms = slow_query_ms
        self._watch_queries()
        if self.backend == "sqlite":
            self._tune_sqlite()
        else:
            self._test_idle_connections()

    @property
    def backend(self) -> str:
        return self.url.get_backend_name()

    async def session(self) -> AsyncIterator[AsyncSession]:
        """A FastAPI dependency: one session for the request, closed after it."""
        async with self.sessionmaker() as session:
            yield session

    @asynccontextmanager
    async def autocommit_connection(self) -> AsyncIterator[AsyncConnection]:
        """A connection for single statements that need no transaction around them (a read,
        one atomic insert); a write still ends with `commit()`.

        On PostgreSQL it is in autocommit mode: a statement is one round trip, where a
        transaction would add a BEGIN before it and a COMMIT or ROLLBACK after it. Elsewhere
        it is a plain connection (MySQL's driver would spend a round trip on each mode switch).
        """
        async with self.engine.connect() as connection:
            if self.backend == "postgresql":
                connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            yield connection

    async def create_all(self) -> None:
        from app.core.orm.base import Base

        async with self.engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)

    async def ping(self) -> None:
        """Raise when the database does not answer."""
        from sqlalchemy import select

        async with self.engine.connect() as connection:
            await connection.scalar(select(1))

    def bind_models(self) -> None:
        """Give the CRUD mixin this database's scoped session for calls made without one."""
        from app.core.orm.base import Base

        Base.scoped_session = self.scoped_session

    async def dispose(self) -> None:
        await self.engine.dispose()

    def _tune_sqlite(self) -> None:
        """WAL: readers never wait for the writer, and a commit costs no fsync, so that
        the API and delivery (in this process or a worker's) do not queue on one lock."""

        @event.listens_for(self.engine.sync_engine, "connect")
        def _set_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    def _test_idle_connections(self) -> None:
        """A server may drop a connection (a restart, an idle timeout, a proxy): a pooled one
        that sat idle for a while is tested with a ping before use, and replaced if dead.

        Not every checkout, as `pool_pre_ping` would: under load that is one more round
        trip per request, for connections that were in use a moment ago. One that dies
        in use fails its statement, and SQLAlchemy then replaces every connection the pool
        held before the failure.
        """
        sync_engine = self.engine.sync_engine
        dialect = sync_engine.dialect

        @event.listens_for(sync_engine, "checkin")
        def _mark_idle(dbapi_connection: Any, record: Any) -> None:
            if record is not None:
                record.info[IDLE_SINCE] = time.monotonic()

        @event.listens_for(sync_engine, "checkout")
        def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
            idle_since = record.info.get(IDLE_SINCE)
            if idle_since is None or time.monotonic() - idle_since < IDLE_TEST_SECONDS:
                return
            try:
                alive = dialect.do_ping(dbapi_connection)
            except Exception as exc:
                if not dialect.is_disconnect(cast(Any, exc), dbapi_connection, None):
                    raise
                alive = False
            if not alive:
                # The pool then opens a fresh connection in its place (and tries again).
                raise DisconnectionError("a pooled connection was found dead")

    def _watch_queries(self) -> None:
        logger = get_db_logger()
        threshold = self.slow_query_ms / 1000
        sync_engine = self.engine.sync_engine

        @event.listens_for(sync_engine, "before_cursor_execute")
        def _start_timer(
            conn: Connection, cursor: Any, statement: str, params: Any, context: Any, many: bool
        ) -> None:
            conn.info.setdefault("query_started", []).append(time.perf_counter())

        @event.listens_for(sync_engine, "after_cursor_execute")
        def _log_slow(
            conn: Connection, cursor: Any, statement: str, params: Any, context: Any, many: bool
        ) -> None:
            elapsed = time.perf_counter() - conn.info["query_started"].pop()
            if elapsed >= threshold:
                logger.warning(
                    "slow query %.1f ms: %s",
                    elapsed * 1000,
                    " ".join(statement.split())[:500],
                    extra={"duration_ms": round(elapsed * 1000, 1)},
                )

        @event.listens_for(sync_engine, "handle_error")
        def _log_error(context: ExceptionContext) -> None:
            started = context.connection.info.get("query_started") if context.connection else None
            if started:
                started.pop()
            # The dialect expects this error and handles it (MySQL's has_table() runs DESCRIBE
            # and reads "no such table" as False); SQLAlchemy only checks the flag per connection.
            execution = context.execution_context
            if execution and execution.execution_options.get("skip_user_error_events"):
                return
            if not isinstance(context.original_exception, Exception):
                return  # cancelled (shutdown, timeout, client gone): the query did not fail
            error_name = type(context.original_exception).__name__
            if not context.statement:
                # Connecting, committing or rolling back: there is no query to show.
                logger.error("database call failed: %s", error_name)
                return
            statement = " ".join(context.statement.split())[:500]
            logger.error("query failed: %s: %s", error_name, statement)


class ScopedSessionMiddleware:
    """Closes the request task's scoped session when the request ends."""

    def __init__(self, app: ASGIApp, database: Database) -> None:
        self.app = app
        self.database = database

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            await self.database.scoped_session.remove()
