"""What `BEGIN IMMEDIATE` and the SQLite-only checks give, on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.engine import (
    LEADER_LOCK,
    LOCK_SPACE,
    LostLeadership,
    create_engine,
    fenced,
    lock_options,
    session_factory,
)
from bot.db.migrate import current_revision, downgrade_to, head_revision, upgrade_to_head
from bot.db.models import Base, User
from bot.replicas import SharedMoneyLocks
from tests.conftest import PostgresServer


@pytest.fixture
async def pg(postgres: PostgresServer) -> AsyncIterator[AsyncEngine]:
    name = postgres.create_database()
    engine = create_engine(postgres.sqlalchemy_url(name))
    try:
        yield engine
    finally:
        await engine.dispose()
        postgres.drop_database(name)


async def test_writers_take_turns_and_a_reader_does_not_wait(pg: AsyncEngine) -> None:
    writes, reads = session_factory(pg), session_factory(pg, read_only=True)
    order: list[str] = []
    first_in = asyncio.Event()
    release = asyncio.Event()

    async def first() -> None:
        async with writes() as s, s.begin():
            s.add(User(telegram_id=1, chat_id=1))
            await s.flush()
            first_in.set()
            await release.wait()
            order.append("first commits")

    async def second() -> None:
        await first_in.wait()
        async with writes() as s, s.begin():
            await s.execute(select(User.id))  # only a read, yet it waits for the writer
            order.append("second begins")

    tasks = [asyncio.create_task(first()), asyncio.create_task(second())]
    await first_in.wait()
    async with reads() as s:  # a reader is not blocked by the open write transaction
        assert await s.scalar(select(User.id)) is None
    await asyncio.sleep(0.2)  # give the second writer every chance to overtake (it must not)
    release.set()
    await asyncio.gather(*tasks)
    assert order == ["first commits", "second begins"]


async def test_a_read_only_session_cannot_write(pg: AsyncEngine) -> None:
    reads = session_factory(pg, read_only=True)
    async with reads() as s:
        s.add(User(telegram_id=1, chat_id=1))
        with pytest.raises(DBAPIError, match="read-only"):
            await s.flush()
    async with session_factory(pg)() as s, s.begin():  # the pooled connection writes again
        s.add(User(telegram_id=2, chat_id=2))


async def test_a_fenced_write_commits_only_while_the_leader_lock_is_held(pg: AsyncEngine) -> None:
    writes = session_factory(pg)
    async with pg.connect() as holder:
        await holder.run_sync(lock_options)
        pid = await holder.scalar(text("SELECT pg_backend_pid()"))
        lock = f"{LOCK_SPACE}, {LEADER_LOCK}"
        assert await holder.scalar(text(f"SELECT pg_try_advisory_lock({lock})"))
        with fenced(pid):
            async with writes() as s, s.begin():
                s.add(User(telegram_id=1, chat_id=1))
        await holder.execute(text(f"SELECT pg_advisory_unlock({lock})"))
        with fenced(pid), pytest.raises(LostLeadership):
            async with writes() as s, s.begin():
                s.add(User(telegram_id=2, chat_id=2))
    async with writes() as s:
        assert list(await s.scalars(select(User.telegram_id))) == [1]


async def test_migrations_down_and_up_and_they_match_the_models(pg: AsyncEngine) -> None:
    url = pg.url.render_as_string(hide_password=False)
    assert await current_revision(url) == head_revision()  # the template was migrated
    await downgrade_to(url, "base")
    assert await current_revision(url) is None
    await upgrade_to_head(url)

    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with pg.connect() as connection:
        assert await connection.run_sync(diff) == []


async def test_money_locks_hold_across_replicas(pg: AsyncEngine) -> None:
    first, second = SharedMoneyLocks(pg), SharedMoneyLocks(pg)  # two processes' locks
    order: list[str] = []
    inside = asyncio.Event()
    release = asyncio.Event()

    async def one() -> None:
        async with first.hold(1, "200"):
            inside.set()
            await release.wait()
            order.append("first done")

    async def other() -> None:
        await inside.wait()
        async with second.hold(1, "200"):
            order.append("second acts")

    tasks = [asyncio.create_task(one()), asyncio.create_task(other())]
    await inside.wait()
    async with second.hold(1, "201"):  # another server is not held up
        order.append("other server")
    release.set()
    await asyncio.gather(*tasks)
    assert order == ["other server", "first done", "second acts"]
