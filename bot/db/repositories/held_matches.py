"""Match alerts held during a user's quiet hours (see `bot.services.digest`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import HeldMatch
from bot.db.repositories._rows import table


async def hold(
    session: AsyncSession, user_id: int, items: Iterable[tuple[int, str, float]], now: datetime
) -> None:
    rows = [
        {"user_id": user_id, "rule_id": rule_id, "server_id": server_id, "price": price,
         "held_at": now}
        for rule_id, server_id, price in items
    ]  # fmt: skip
    if rows:
        await session.execute(insert(table(HeldMatch)), rows)


async def users_with_held(session: AsyncSession) -> list[int]:
    return list(await session.scalars(select(HeldMatch.user_id).distinct()))


async def held_for(session: AsyncSession, user_id: int) -> list[HeldMatch]:
    return list(
        await session.scalars(
            select(HeldMatch).where(HeldMatch.user_id == user_id).order_by(HeldMatch.id)
        )
    )


async def release(session: AsyncSession, user_id: int, upto_id: int) -> None:
    """Forget what was held up to `upto_id` (sent in a digest, or no longer wanted)."""
    await session.execute(
        delete(HeldMatch).where(HeldMatch.user_id == user_id, HeldMatch.id <= upto_id)
    )
