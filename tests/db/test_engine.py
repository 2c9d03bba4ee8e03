from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.db.engine import session_factory
from bot.db.models import (
    AuditEntry,
    BidAlert,
    CallbackAction,
    Outbox,
    Rule,
    User,
)


def _db_file(engine: AsyncEngine) -> Path:
    return Path(str(engine.url.database))


@pytest.mark.sqlite_only
async def test_wal_foreign_keys_and_busy_timeout(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        assert await session.scalar(text("PRAGMA journal_mode")) == "wal"
        assert await session.scalar(text("PRAGMA foreign_keys")) == 1
        assert await session.scalar(text("PRAGMA busy_timeout")) >= 1000


@pytest.mark.sqlite_only
async def test_write_session_takes_the_write_lock_at_begin(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    other = sqlite3.connect(_db_file(engine), timeout=0, isolation_level=None)
    try:
        async with sessions() as session, session.begin():
            await session.execute(select(User.id))  # a read, yet BEGIN IMMEDIATE was sent
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # released at commit
        other.execute("ROLLBACK")
    finally:
        other.close()


@pytest.mark.sqlite_only
async def test_read_only_session_neither_locks_nor_writes(engine: AsyncEngine) -> None:
    reads = session_factory(engine, read_only=True)
    other = sqlite3.connect(_db_file(engine), timeout=0, isolation_level=None)
    try:
        async with reads() as session, session.begin():
            await session.execute(select(User.id))
            other.execute("BEGIN IMMEDIATE")  # a reader does not block the writer
            other.execute("ROLLBACK")
            session.add(User(telegram_id=1, chat_id=1))
            with pytest.raises(OperationalError, match="readonly"):
                await session.flush()
    finally:
        other.close()
    # The pooled connection goes back to writable for the next write session.
    writes = session_factory(engine)
    async with writes() as session, session.begin():
        session.add(User(telegram_id=2, chat_id=2))
    async with writes() as session:
        assert await session.scalar(select(User.telegram_id)) == 2


async def test_datetimes_are_aware_utc_and_naive_ones_are_refused(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    plus_two = datetime(2025, 3, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    async with sessions() as session, session.begin():
        session.add(User(telegram_id=1, chat_id=1, created_at=plus_two))
    async with sessions() as session:
        user = await session.scalar(select(User))
        assert user is not None
        assert user.created_at == plus_two
        assert user.created_at.tzinfo is UTC
        assert user.created_at.hour == 12
    async with sessions() as session:
        session.add(User(telegram_id=2, chat_id=2, created_at=datetime(2025, 1, 1)))
        with pytest.raises(StatementError, match="naive"):
            await session.flush()


async def test_deleting_a_user_cascades(sessions: async_sessionmaker[AsyncSession]) -> None:
    now = datetime.now(UTC)
    async with sessions() as session, session.begin():
        user = User(telegram_id=1, chat_id=1)
        session.add(user)
        await session.flush()
        rule = Rule(user_id=user.id, number=1, text="gpu=4090")
        outbox = Outbox(
            user_id=user.id, chat_id=1, kind="match", priority=20, text="hi", attempts=0
        )
        session.add_all([rule, outbox])
        await session.flush()
        session.add_all(
            [
                BidAlert(user_id=user.id, order_id=9, server_id="7", state="leading"),
                CallbackAction(id="a", user_id=user.id, kind="raise", payload="{}", expires_at=now),
                AuditEntry(user_id=user.id, action="raise", outcome="ok"),
            ]
        )
    async with sessions() as session, session.begin():
        await session.execute(text("DELETE FROM users"))
    async with sessions() as session:
        for model in (Rule, BidAlert, Outbox, CallbackAction):
            assert (await session.scalars(select(model))).all() == [], model
        audit = (await session.scalars(select(AuditEntry))).all()
        assert [entry.user_id for entry in audit] == [None]  # the record outlives the user
