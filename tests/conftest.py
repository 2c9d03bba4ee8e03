"""`database_url`: every storage, service and bot-level test runs on SQLite and on PostgreSQL.

SQLite: a fresh file in the test's tmp_path. PostgreSQL: a fresh database per test, created
from a template database this session migrated to head once (`CREATE DATABASE ... TEMPLATE`
takes about 0.1 s), dropped after the test. The server comes from `TEST_POSTGRES_URL`
(default the local one, `postgresql+asyncpg://postgres@127.0.0.1:5432/postgres`). Where none
is reachable the PostgreSQL variants are skipped with one line saying how to enable them;
under `CI=true` that is a failure instead.

A test that is about SQLite itself (its files, PRAGMAs, the sqlite3 module) is marked
`@pytest.mark.sqlite_only` and runs on SQLite alone. So do the modules in SQLITE_ONLY_MODULES:
they test Telegram pacing, outages and message splitting, where the database only holds the
queue; running them twice would add a minute for nothing the other PostgreSQL tests miss.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import os
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL, make_url

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
ENGINES = ("sqlite", "postgresql")
HOW_TO_ENABLE = (
    "PostgreSQL tests skipped: no server at {url} ({error}); start one or set "
    "TEST_POSTGRES_URL=postgresql+asyncpg://USER@HOST:PORT/DB to run them"
)

SQLITE_ONLY_MODULES = frozenset({
    "tests/bot/test_delivery_outage.py",
    "tests/bot/test_delivery_priority.py",
    "tests/bot/test_long_answers.py",
})  # fmt: skip

_skipped_postgres: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only: the test is about SQLite itself; no PostgreSQL variant"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        engine = callspec.params.get("database_url") if callspec is not None else None
        sqlite_only = (
            item.get_closest_marker("sqlite_only") is not None
            or item.nodeid.split("::")[0] in SQLITE_ONLY_MODULES
        )
        if engine == "postgresql" and sqlite_only:
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _skipped_postgres:
        terminalreporter.write_line(_skipped_postgres[0], yellow=True)


def run_sync(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run admin statements on a loop of their own (a fixture may run while a test's loop
    is current)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@dataclass
class PostgresServer:
    url: URL  # the maintenance database, SQLAlchemy form
    template: str
    _names: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def dsn(self, database: str) -> str:
        return self.url.set(drivername="postgresql", database=database).render_as_string(
            hide_password=False
        )

    def sqlalchemy_url(self, database: str) -> str:
        return self.url.set(database=database).render_as_string(hide_password=False)

    async def execute(self, *statements: str) -> None:
        import asyncpg

        connection = await asyncpg.connect(self.dsn(self.url.database or "postgres"), timeout=5)
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()

    def create_database(self) -> str:
        name = f"{self.template}_{next(self._names)}"
        run_sync(self.execute(
            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
            f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"',
        ))  # fmt: skip
        return name

    def drop_database(self, name: str) -> None:
        run_sync(self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _postgres_url() -> URL:
    return make_url(os.environ.get("TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer | str]:
    """The server with a migrated template database, or why there is none."""
    from bot.db.migrate import upgrade_to_head

    url = _postgres_url()
    server = PostgresServer(url, template=f"gigaspot_test_{os.getpid()}")
    try:
        run_sync(server.execute(
            f'DROP DATABASE IF EXISTS "{server.template}" WITH (FORCE)',
            f'CREATE DATABASE "{server.template}"',
        ))  # fmt: skip
    except Exception as exc:  # unreachable, refused, no such role: all mean "none here"
        shown = url.render_as_string(hide_password=True)
        yield HOW_TO_ENABLE.format(url=shown, error=f"{type(exc).__name__}: {exc}")
        return
    try:
        run_sync(upgrade_to_head(server.sqlalchemy_url(server.template)))
        yield server
    finally:
        run_sync(server.execute(f'DROP DATABASE IF EXISTS "{server.template}" WITH (FORCE)'))


@pytest.fixture
def postgres(request: pytest.FixtureRequest) -> PostgresServer:
    """The PostgreSQL server, for tests that need it whatever `database_url` is."""
    server = request.getfixturevalue("postgres_server")
    if isinstance(server, str):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true, but {server}")
        _skipped_postgres.append(server)
        pytest.skip(server)
    return server


@pytest.fixture(params=ENGINES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database, migrated to head on PostgreSQL (upgrading again is a no-op), empty
    (no file yet) on SQLite."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'data' / 'bot.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    name = server.create_database()
    try:
        yield server.sqlalchemy_url(name)
    finally:
        server.drop_database(name)


def is_postgres(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"
