"""Engine and session setup; the only place that knows it may be talking to SQLite.

For SQLite every connection gets WAL (readers never block the writer), `foreign_keys=ON`
(cascades), a busy timeout, and explicit transactions: the sqlite3 driver's own BEGIN
handling is turned off and we emit BEGIN ourselves on SQLAlchemy's `begin` event (the recipe
in SQLAlchemy's SQLite dialect docs). Write sessions use `BEGIN IMMEDIATE`, so two writers
queue on the busy timeout instead of failing when a read lock cannot be upgraded; read-only
sessions use a plain BEGIN with `PRAGMA query_only` on, so a write by mistake fails loudly.
A database file is created 0600 before SQLite first opens it (`bot.files`), so its WAL and
SHM files, which SQLite creates with the database file's mode, are private too.

Usage::

    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)                  # writes
    reads = session_factory(engine, read_only=True)     # snapshots for rendering
    async with sessions() as session, session.begin():
        ...                                             # commits on exit
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

from bot.config import sqlite_file_path
from bot.files import secure_database_files

BUSY_TIMEOUT_MS = 10_000
READ_ONLY_OPTION = "gigaspot_read_only"


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Without this the driver would emit its own (deferred) BEGIN before DML only.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable enough in WAL, far fewer fsyncs
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def _on_sqlite_begin(conn: Connection) -> None:
    read_only = bool(conn.get_execution_options().get(READ_ONLY_OPTION))
    # Pooled connections are shared by both kinds of session, so set the flag every time.
    conn.exec_driver_sql(f"PRAGMA query_only={int(read_only)}")
    conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def create_engine(database_url: str, *, echo: bool = False) -> AsyncEngine:
    """An async engine for `database_url`, configured for this app's concurrency."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return _create_async_engine(url, echo=echo, pool_pre_ping=True)
    database = sqlite_file_path(database_url)
    if database is not None:
        secure_database_files(database)
    engine = _create_async_engine(url, echo=echo)
    event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
    event.listen(engine.sync_engine, "begin", _on_sqlite_begin)
    return engine


def session_factory(
    engine: AsyncEngine, *, read_only: bool = False
) -> async_sessionmaker[AsyncSession]:
    """Sessions bound to `engine`; `read_only` ones must not write (SQLite enforces it).

    `expire_on_commit=False`: objects stay readable after commit, because an async session
    cannot lazily reload an expired attribute.
    """
    bind = engine.execution_options(**{READ_ONLY_OPTION: True}) if read_only else engine
    return async_sessionmaker(bind, expire_on_commit=False)


async def checkpoint(engine: AsyncEngine) -> None:
    """Copy the WAL into the database and truncate it to zero bytes (SQLite only), so what
    earlier transactions overwrote is no longer in the WAL file either."""
    if engine.dialect.name != "sqlite":
        return
    async with engine.connect() as connection:
        await connection.run_sync(
            lambda sync: execute_outside_transaction(sync, "PRAGMA wal_checkpoint(TRUNCATE)")
        )


def execute_outside_transaction(connection: Connection, sql: str) -> None:
    """Run a statement SQLite ignores inside a transaction (e.g. `PRAGMA foreign_keys`).

    Goes straight to the driver, so SQLAlchemy's autobegin (and our BEGIN) is not triggered.
    """
    if connection.in_transaction():
        raise RuntimeError(f"{sql!r} has no effect inside a transaction")
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql)
    finally:
        cursor.close()
