"""Write counts kept by database triggers (see `bot.db.models.ChangeCounter`)."""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import ChangeCounter

WATCH = "watch"
COUNTED = ("rules", "users", "order_templates")
EVENTS = ("insert", "update", "delete")
# What migration 0010 creates, per engine
TRIGGERS = {
    "sqlite": tuple(f"count_watch_{t}_{e}" for t in COUNTED for e in EVENTS),
    "postgresql": tuple(f"count_watch_{t}" for t in COUNTED),
}


async def watch_count(session: AsyncSession) -> int | None:
    """Writes to the tables behind the active rules so far; None without the counter row."""
    count = await session.scalar(select(ChangeCounter.count).where(ChangeCounter.name == WATCH))
    return None if count is None else int(count)


async def missing_triggers(session: AsyncSession) -> list[str]:
    """The counting triggers this database lacks (a rebuilt table loses its triggers)."""
    dialect = session.get_bind().dialect.name
    wanted = TRIGGERS.get(dialect)
    if wanted is None:
        return [f"counting triggers on {dialect}"]
    if dialect == "sqlite":
        found = await session.scalars(
            text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        )
    else:
        found = await session.scalars(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"))
    present = set(found)
    return [name for name in wanted if name not in present]
