"""Audit log of every action that touches a user's money (raise, cancel, create)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import AuditEntry, utcnow

Outcome = Literal["ok", "error", "ambiguous", "rejected"]
OUTCOMES: frozenset[str] = frozenset(get_args(Outcome))
MAX_DETAIL_CHARS = 2000


async def add(
    session: AsyncSession,
    *,
    user_id: int | None,
    action: str,
    outcome: Outcome,
    automatic: bool = False,
    order_id: int | None = None,
    server_id: str | None = None,
    price: float | None = None,
    detail: str | None = None,
    now: datetime | None = None,
) -> AuditEntry:
    """`ambiguous`: the request may or may not have taken effect (timeout, 5xx); the next
    snapshot settles it. `detail` is shown to operators: never put a key or token in it."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown audit outcome {outcome!r}")
    entry = AuditEntry(
        user_id=user_id,
        action=action,
        outcome=outcome,
        automatic=automatic,
        order_id=order_id,
        server_id=server_id,
        price=price,
        detail=detail[:MAX_DETAIL_CHARS] if detail is not None else None,
        created_at=now or utcnow(),
    )
    session.add(entry)
    await session.flush()
    return entry


async def recent_for_user(
    session: AsyncSession, user_id: int, *, limit: int = 20
) -> list[AuditEntry]:
    """Newest first."""
    result = await session.scalars(
        select(AuditEntry)
        .where(AuditEntry.user_id == user_id)
        .order_by(AuditEntry.id.desc())
        .limit(limit)
    )
    return list(result)
