"""Engine and session setup; the only place that knows which database engine it talks to.

For SQLite every connection gets WAL (readers never block the writer), `foreign_keys=ON`
(cascades), a busy timeout, and explicit transactions: the sqlite3 driver's own BEGIN
handling is turned off and we emit BEGIN ourselves on SQLAlchemy's `begin` event (the recipe
in SQLAlchemy's SQLite dialect docs). Write sessions use `BEGIN IMMEDIATE`, so two writers
queue on the busy timeout instead of failing when a read lock cannot be upgraded; read-only
sessions use a plain BEGIN with `PRAGMA query_only` on, so a write by mistake fails loudly.
A database file is created 0600 before SQLite first opens it (`bot.files`), so its WAL and
SHM files, which SQLite creates with the database file's mode, are private too.

PostgreSQL (`postgresql+asyncpg://`) gets the same guarantee as `BEGIN IMMEDIATE`: every
write transaction starts by taking one transaction-level advisory lock (`WRITE_LOCK`), so
writers run one at a time across every replica and commit in the order they started (the
alert memory's record ids are therefore in commit order on both engines); read-only
sessions run `SET TRANSACTION READ ONLY`. A write transaction run under `fenced(pid)` also
checks that the backend `pid` still holds the leader lock (`bot.db.leader`), so a replica
that lost its leadership cannot commit a cycle. Session-level advisory locks for the leader
and for money actions live on connections that skip all of this (`LOCK_CONNECTION`).

Usage::

    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)                  # writes
    reads = session_factory(engine, read_only=True)     # snapshots for rendering
    async with sessions() as session, session.begin():
        ...                                             # commits on exit
"""

from __future__ import annotations

import contextvars
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Integer, Table, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

from bot.config import sqlite_file_path
from bot.files import secure_database_files

BUSY_TIMEOUT_MS = 10_000
READ_ONLY_OPTION = "gigaspot_read_only"
LOCK_CONNECTION = "gigaspot_lock_connection"  # no write lock, no fence: holds advisory locks

# PostgreSQL advisory locks are keyed (LOCK_SPACE, n); money locks use one bigint key each.
LOCK_SPACE = 0x6753  # "gS"
WRITE_LOCK = 1  # transaction-level: one writer at a time
LEADER_LOCK = 2  # session-level: the replica that polls clore and delivers the outbox

# The backend pid whose leader lock a write transaction must see held (None: not fenced).
_fence: contextvars.ContextVar[int | None] = contextvars.ContextVar("gigaspot_fence", default=None)


class LostLeadership(RuntimeError):
    """A fenced write found the leader lock gone: this replica must not commit cycles."""


@contextmanager
def fenced(pid: int | None) -> Iterator[None]:
    """Write transactions started inside (and in tasks created inside) are fenced on `pid`."""
    token = _fence.set(pid)
    try:
        yield
    finally:
        _fence.reset(token)


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


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


_HOLDS_LEADER_LOCK = (
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
    f" AND classid = {LOCK_SPACE} AND objid = {LEADER_LOCK} AND objsubid = 2 AND pid = $1"
)


def _on_postgres_begin(conn: Connection) -> None:
    options = conn.get_execution_options()
    if options.get(LOCK_CONNECTION):
        return
    if options.get(READ_ONLY_OPTION):
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        return
    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({LOCK_SPACE}, {WRITE_LOCK})")
    pid = _fence.get()
    if pid is not None:
        held = conn.exec_driver_sql(_HOLDS_LEADER_LOCK, (pid,)).scalar()
        if not held:
            raise LostLeadership("this replica no longer holds the leader lock")


def create_engine(database_url: str, *, echo: bool = False) -> AsyncEngine:
    """An async engine for `database_url`, configured for this app's concurrency."""
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        engine = _create_async_engine(url, echo=echo, pool_pre_ping=True)
        event.listen(engine.sync_engine, "begin", _on_postgres_begin)
        return engine
    if url.get_backend_name() != "sqlite":
        raise ValueError(f"unsupported database {url.get_backend_name()!r}: SQLite or PostgreSQL")
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


async def secure_delete(session: AsyncSession, on: bool) -> None:
    """SQLite: overwrite deleted content instead of leaving it in free pages. PostgreSQL
    has no such switch (VACUUM reclaims dead tuples); nothing to do there."""
    if session.get_bind().dialect.name == "sqlite":
        await session.execute(text(f"PRAGMA secure_delete={'ON' if on else 'OFF'}"))


def lock_options(connection: Connection) -> None:
    """Make a fresh connection a lock holder: autocommit, no write lock, no fence."""
    connection.execution_options(isolation_level="AUTOCOMMIT", **{LOCK_CONNECTION: True})


def money_lock_key(user_id: int, server_id: str) -> int:
    """A stable signed 64-bit advisory lock key for one (user, server)."""
    digest = hashlib.blake2b(f"money:{user_id}:{server_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextmanager
def foreign_keys_off_for_migration(connection: Connection) -> Iterator[None]:
    """SQLite batch migrations rebuild tables (copy, drop, rename): with foreign keys ON the
    drop would cascade-delete child rows. Off for the run, checked before the commit (call
    `check_foreign_keys` inside the transaction), on again after. PostgreSQL alters tables
    in place: nothing to do."""
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        execute_outside_transaction(connection, "PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        if sqlite:
            execute_outside_transaction(connection, "PRAGMA foreign_keys=ON")


def check_foreign_keys(connection: Connection) -> None:
    if connection.dialect.name != "sqlite":
        return  # PostgreSQL checks every constraint as it goes
    violations = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if violations:
        tables = sorted({str(row[0]) for row in violations})
        raise RuntimeError(
            f"migration left {len(violations)} rows with dangling foreign keys in "
            f"{', '.join(tables)}; rolled back"
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


async def reset_sequences(connection: AsyncConnection, tables: list[Table]) -> None:
    """After rows were inserted with their ids (a copy), make PostgreSQL's id sequences
    continue after the highest id. SQLite's rowids (and AUTOINCREMENT) need nothing."""
    if connection.dialect.name != "postgresql":
        return
    for table in tables:
        columns = list(table.primary_key.columns)
        if len(columns) != 1 or not isinstance(columns[0].type, Integer):
            continue
        column = columns[0].name
        await connection.execute(
            text(
                "SELECT setval(seq, coalesce((SELECT max("
                f'"{column}") FROM "{table.name}"), 0) + 1, false) FROM (SELECT '
                "pg_get_serial_sequence(:table, :column) AS seq) AS s WHERE seq IS NOT NULL"
            ),
            {"table": table.name, "column": column},
        )
