"""Order templates: one per user, stored as the canonical `/template` text without `env`,
and the environment, encrypted, beside it.

The text is parsed by `bot.orders.template.parse_template`; this module does not interpret
it, nor decrypt anything (`bot.services.templates` does both). Never log either column.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete as sql_delete
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import OrderTemplate, utcnow
from bot.db.repositories._rows import rowcount


@dataclass(frozen=True, slots=True)
class StoredTemplate:
    user_id: int
    text: str
    env_encrypted: str | None


async def get(session: AsyncSession, user_id: int) -> StoredTemplate | None:
    row = (
        await session.execute(
            select(OrderTemplate.text, OrderTemplate.env_encrypted).where(
                OrderTemplate.user_id == user_id
            )
        )
    ).first()
    return StoredTemplate(user_id, row.text, row.env_encrypted) if row is not None else None


async def users_with_template(session: AsyncSession, user_ids: Iterable[int]) -> set[int]:
    """Which of these users have a template, looked up by primary key in chunks."""
    ids = sorted(set(user_ids))
    found: set[int] = set()
    for start in range(0, len(ids), 500):
        found.update(
            await session.scalars(
                select(OrderTemplate.user_id).where(
                    OrderTemplate.user_id.in_(ids[start : start + 500])
                )
            )
        )
    return found


async def get_text(session: AsyncSession, user_id: int) -> str | None:
    return await session.scalar(select(OrderTemplate.text).where(OrderTemplate.user_id == user_id))


async def set_text(
    session: AsyncSession,
    user_id: int,
    text: str,
    *,
    env_encrypted: str | None = None,
    now: datetime | None = None,
) -> None:
    """Replace the user's template; `text` must be what `format_template` printed, and
    `env_encrypted` its environment as `bot.secrets.KeyBox` encrypted it (None: none)."""
    row = await session.get(OrderTemplate, user_id, populate_existing=True)
    stamp = now or utcnow()
    if row is None:
        session.add(
            OrderTemplate(user_id=user_id, text=text, env_encrypted=env_encrypted, updated_at=stamp)
        )
    else:
        row.text = text
        row.env_encrypted = env_encrypted
        row.updated_at = stamp
    await session.flush()


async def with_plain_env(session: AsyncSession) -> list[StoredTemplate]:
    """Rows written before environments were encrypted: `env=` still in the text."""
    rows = await session.execute(
        select(OrderTemplate.user_id, OrderTemplate.text, OrderTemplate.env_encrypted).where(
            OrderTemplate.text.contains("env=")
        )
    )
    return [StoredTemplate(r.user_id, r.text, r.env_encrypted) for r in rows]


async def delete(session: AsyncSession, user_id: int) -> bool:
    result = await session.execute(
        sql_delete(OrderTemplate).where(OrderTemplate.user_id == user_id)
    )
    return rowcount(result) == 1
