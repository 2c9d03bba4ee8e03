"""`gigaspot-bot copy-db`: a SQLite database moves to PostgreSQL with nothing lost."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.cli import main as cli
from bot.db.engine import create_engine, session_factory
from bot.db.migrate import upgrade_to_head
from bot.db.models import AlertMemoryRecord, AuditEntry, CallbackAction, Outbox, Rule, User
from tests.conftest import PostgresServer

T0 = datetime(2026, 6, 1, 12, 30, 15, 123456, tzinfo=UTC)


async def _fill(url: str) -> None:
    await upgrade_to_head(url)
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as s, s.begin():
            for n in range(1, 31):
                user = User(telegram_id=10_000_000_000 + n, chat_id=n, created_at=T0,
                            alerts_paused=n % 2 == 0, price_cap=n / 3)  # fmt: skip
                s.add(user)
                await s.flush()
                s.add(Rule(user_id=user.id, number=1, text=f"gpu=4090 price<{n}", created_at=T0))
                s.add(Outbox(user_id=user.id, chat_id=n, kind="match", priority=2,
                             text=f"<b>#{n}</b> ✅", dedupe_key=f"k{n}",
                             next_attempt_at=T0 + timedelta(seconds=n)))  # fmt: skip
                s.add(AuditEntry(user_id=user.id, action="raise", outcome="ok", price=1.5,
                                 automatic=True, created_at=T0))  # fmt: skip
                s.add(CallbackAction(id=f"act{n:019d}", user_id=user.id, kind="raise",
                                     payload="{}", expires_at=T0 + timedelta(days=2)))  # fmt: skip
            s.add(AlertMemoryRecord(kind="change", entries=3, body=bytes(range(256)) * 40))
        async with session_factory(engine)() as s, s.begin():  # a gap in the ids
            await s.execute(Rule.__table__.delete().where(Rule.id == 30))
    finally:
        await engine.dispose()


async def test_sqlite_moves_to_postgresql_with_nothing_lost(
    tmp_path: Path, postgres: PostgresServer, capsys: pytest.CaptureFixture[str]
) -> None:
    source = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'bot.db'}"
    await _fill(source)
    name = postgres.create_database()
    target = postgres.sqlalchemy_url(name)
    try:
        assert await asyncio.to_thread(cli, ["copy-db", "--from", source, "--to", target]) == 0
        out = capsys.readouterr().out
        assert "counts and a" in out and "users" in out
        engine = create_engine(target)
        try:
            async with session_factory(engine)() as s, s.begin():
                assert await s.scalar(select(func.count()).select_from(User)) == 30
                user = await s.scalar(select(User).where(User.chat_id == 7))
                assert user is not None and user.created_at == T0 and user.telegram_id > 2**31
                body = await s.scalar(select(AlertMemoryRecord.body))
                assert body == bytes(range(256)) * 40
                # The sequences continue after the copied ids (no conflict).
                rule = Rule(user_id=user.id, number=2, text="gpu=3090")
                s.add(rule)
                await s.flush()
                assert rule.id == 30  # after the highest copied id, 29 (30 was deleted)
        finally:
            await engine.dispose()
        # A second copy into a database that holds rows is refused.
        assert await asyncio.to_thread(cli, ["copy-db", "--from", source, "--to", target]) == 1
        assert "already holds rows" in capsys.readouterr().err
    finally:
        postgres.drop_database(name)
