"""The `watch` write count: database triggers count every write to rules, users and
order templates (on both engines), and nothing else moves it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.repositories import change_counts, outbox, rules, templates, users
from bot.db.repositories.outbox import NewMessage

Sessions = async_sessionmaker[AsyncSession]
T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


async def _count(sessions: Sessions) -> int:
    async with sessions() as s:
        count = await change_counts.watch_count(s)
    assert count is not None
    return count


async def test_every_write_to_rules_users_and_templates_moves_the_count(
    sessions: Sessions,
) -> None:
    async with sessions() as s:
        assert await change_counts.missing_triggers(s) == []
    seen = [await _count(sessions)]

    async def moved() -> None:
        now = await _count(sessions)
        assert now > seen[-1]
        seen.append(now)

    async with sessions() as s, s.begin():
        user = await users.get_or_create(s, telegram_id=7, chat_id=7)
    await moved()
    async with sessions() as s, s.begin():
        rule = await rules.add(s, user.id, "gpu=4090")
    await moved()
    async with sessions() as s, s.begin():
        await rules.set_paused(s, rule.id, user.id, True)
    await moved()
    async with sessions() as s, s.begin():
        await users.set_alerts_paused(s, user.id, True)
    await moved()
    async with sessions() as s, s.begin():
        await templates.set_text(s, user.id, "image=cuda")
    await moved()
    async with sessions() as s, s.begin():
        await templates.delete(s, user.id)
    await moved()
    async with sessions() as s, s.begin():  # plain SQL, as an operator or another replica
        await s.execute(text("UPDATE users SET language = 'ru'"))
    await moved()
    async with sessions() as s, s.begin():
        await rules.delete(s, rule.id, user.id)
    await moved()
    async with sessions() as s, s.begin():
        await outbox.enqueue(s, NewMessage(user_id=user.id, chat_id=7, kind="match", text="x"))
    assert await _count(sessions) == seen[-1]  # other tables do not count
