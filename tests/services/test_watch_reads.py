"""A cycle's rule reads: read again exactly when a write to rules, users or templates
landed, whoever made it (this process or another one on the same database); read every
time when the counting triggers are gone."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.engine import create_engine, session_factory
from bot.db.migrate import upgrade_to_head
from bot.db.repositories import rules, templates, users
from bot.services.watch_reads import WatchReads

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def two_processes(database_url: str) -> AsyncIterator[tuple[Sessions, Sessions]]:
    """(read-only sessions of "this" process, write sessions of another engine)."""
    await upgrade_to_head(database_url)
    mine, other = create_engine(database_url), create_engine(database_url)
    try:
        yield session_factory(mine, read_only=True), session_factory(other)
    finally:
        await mine.dispose()
        await other.dispose()


async def _read(reads: WatchReads, sessions: Sessions) -> tuple[list[int], list[int]]:
    async with sessions() as s:
        active, bidders = await reads.read(s)
    return [r.rule_id for r in active], sorted(bidders)


async def test_rules_are_read_again_only_after_a_write(
    two_processes: tuple[Sessions, Sessions],
) -> None:
    mine, other = two_processes
    async with other() as s, s.begin():
        user = await users.get_or_create(s, telegram_id=7, chat_id=7)
        first = await rules.add(s, user.id, "gpu=4090")
    reads = WatchReads()
    assert await _read(reads, mine) == ([first.id], [])
    assert await _read(reads, mine) == ([first.id], [])
    assert reads.reads == 1  # nothing written in between: the same rows
    async with other() as s, s.begin():
        second = await rules.add(s, user.id, "gpu=3090")
    assert await _read(reads, mine) == ([first.id, second.id], [])
    async with other() as s, s.begin():
        await users.set_api_key(s, user.id, api_key_encrypted="sealed", clore_user_id=5)
        await templates.set_text(s, user.id, "image=cuda")
    assert await _read(reads, mine) == ([first.id, second.id], [user.id])
    async with other() as s, s.begin():
        await rules.set_paused(s, first.id, user.id, True)
    assert await _read(reads, mine) == ([second.id], [user.id])
    assert await _read(reads, mine) == ([second.id], [user.id])
    assert reads.reads == 4


async def test_without_the_triggers_every_cycle_reads(
    two_processes: tuple[Sessions, Sessions], caplog: pytest.LogCaptureFixture
) -> None:
    mine, other = two_processes
    async with other() as s, s.begin():
        user = await users.get_or_create(s, telegram_id=7, chat_id=7)
        rule = await rules.add(s, user.id, "gpu=4090")
        dropped = (
            "DROP TRIGGER count_watch_rules ON rules"
            if s.get_bind().dialect.name == "postgresql"
            else "DROP TRIGGER count_watch_rules_update"
        )
        await s.execute(text(dropped))
    reads = WatchReads()
    with caplog.at_level(logging.WARNING, logger="bot.services.watch_reads"):
        for _ in range(3):
            assert await _read(reads, mine) == ([rule.id], [])
    assert reads.reads == 3
    assert "count_watch_rules" in caplog.text


async def test_alert_settings_are_kept_until_a_write(
    two_processes: tuple[Sessions, Sessions],
) -> None:
    mine, other = two_processes
    async with other() as s, s.begin():
        alice = await users.get_or_create(s, telegram_id=7, chat_id=7)
        bob = await users.get_or_create(s, telegram_id=8, chat_id=8)
    reads = WatchReads()

    async def outbid_modes() -> dict[int, str]:
        async with mine() as s:
            found = await reads.prefs(s, [alice.id, bob.id, 999])
        return {user_id: prefs.mode("outbid") for user_id, prefs in found.items()}

    assert await outbid_modes() == {alice.id: "on", bob.id: "on"}  # 999: no such user
    async with other() as s, s.begin():
        await users.set_alert_modes(s, bob.id, '{"outbid":"off"}')
    assert await outbid_modes() == {alice.id: "on", bob.id: "off"}


async def test_linked_users_are_kept_until_a_write(
    two_processes: tuple[Sessions, Sessions],
) -> None:
    mine, other = two_processes
    async with other() as s, s.begin():
        alice = await users.get_or_create(s, telegram_id=7, chat_id=7)
        await users.set_api_key(s, alice.id, api_key_encrypted="sealed", clore_user_id=5)
        bob = await users.get_or_create(s, telegram_id=8, chat_id=8)
    reads = WatchReads()

    async def linked() -> list[tuple[int, int | None]]:
        async with mine() as s:
            return [(u.id, u.clore_user_id) for u in await reads.linked(s)]

    assert await linked() == [(alice.id, 5)]
    async with mine() as s:
        first = await reads.linked(s)
    async with mine() as s:  # another session would load other objects: not read again
        assert [id(u) for u in await reads.linked(s)] == [id(u) for u in first]
    async with other() as s, s.begin():
        await users.set_api_key(s, bob.id, api_key_encrypted="sealed", clore_user_id=6)
    assert await linked() == [(alice.id, 5), (bob.id, 6)]
    async with other() as s, s.begin():
        await users.set_api_key(s, alice.id, api_key_encrypted="sealed", clore_user_id=9)
    assert await linked() == [(alice.id, 9), (bob.id, 6)]
