"""Small process-wide facts that must survive a restart (e.g. the last snapshot URL)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import BotState, utcnow
from bot.db.repositories._rows import rowcount

LAST_SNAPSHOT_URL = "last_snapshot_url"
STALE_ANNOUNCED = "stale_announced"


async def get_value(session: AsyncSession, key: str) -> str | None:
    return await session.scalar(select(BotState.value).where(BotState.key == key))


async def set_value(
    session: AsyncSession, key: str, value: str, *, now: datetime | None = None
) -> None:
    row = await session.get(BotState, key, populate_existing=True)
    if row is None:
        session.add(BotState(key=key, value=value, updated_at=now or utcnow()))
    else:
        row.value = value
        row.updated_at = now or utcnow()
    await session.flush()


async def delete_value(session: AsyncSession, key: str) -> bool:
    result = await session.execute(delete(BotState).where(BotState.key == key))
    return rowcount(result) == 1
