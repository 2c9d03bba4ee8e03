"""Order templates: one per user, stored as the canonical `/template` text.

The text is parsed by `bot.orders.template.parse_template`; this module does not interpret
it. It may hold environment values the user considers secret: never log it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete as sql_delete
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import OrderTemplate, utcnow


async def get_text(session: AsyncSession, user_id: int) -> str | None:
    return await session.scalar(select(OrderTemplate.text).where(OrderTemplate.user_id == user_id))


async def set_text(
    session: AsyncSession, user_id: int, text: str, *, now: datetime | None = None
) -> None:
    """Replace the user's template; `text` must be what `format_template` printed."""
    row = await session.get(OrderTemplate, user_id, populate_existing=True)
    stamp = now or utcnow()
    if row is None:
        session.add(OrderTemplate(user_id=user_id, text=text, updated_at=stamp))
    else:
        row.text = text
        row.updated_at = stamp
    await session.flush()


async def delete(session: AsyncSession, user_id: int) -> bool:
    result = await session.execute(
        sql_delete(OrderTemplate).where(OrderTemplate.user_id == user_id)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]
