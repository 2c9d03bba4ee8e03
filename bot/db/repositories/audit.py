"""Audit log of every action that touches a user's money (raise, cancel, create).

A row is written as the action's intent, outcome "pending", and committed before the clore
call; `settle` gives it its outcome afterwards. A row still pending was cut short by a
crash: it may have been spent, so it counts like "ambiguous" and is never repeated blindly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import AuditEntry, utcnow
from bot.db.repositories._rows import rowcount

Outcome = Literal["ok", "error", "ambiguous", "rejected", "pending"]
OUTCOMES: frozenset[str] = frozenset(get_args(Outcome))
PENDING: Outcome = "pending"
# The clore call may have changed something: nothing may repeat it on the same information.
MAY_HAVE_ACTED: frozenset[str] = frozenset({"ok", "ambiguous", "pending"})
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
    snapshot_url: str | None = None,
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
        detail=_clip(detail),
        created_at=now or utcnow(),
        snapshot_url=snapshot_url,
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


def _clip(detail: str | None) -> str | None:
    return detail[:MAX_DETAIL_CHARS] if detail is not None else None


async def settle(
    session: AsyncSession, entry_id: int, outcome: Outcome, detail: str | None = None
) -> bool:
    """Give a pending row its outcome; False when it was settled already (never twice)."""
    if outcome not in OUTCOMES or outcome == PENDING:
        raise ValueError(f"cannot settle with outcome {outcome!r}")
    result = await session.execute(
        update(AuditEntry)
        .where(AuditEntry.id == entry_id, AuditEntry.outcome == PENDING)
        .values(outcome=outcome, detail=_clip(detail))
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


async def pending(session: AsyncSession) -> list[AuditEntry]:
    """Every row still waiting for its outcome, oldest first."""
    result = await session.scalars(
        select(AuditEntry).where(AuditEntry.outcome == PENDING).order_by(AuditEntry.id)
    )
    return list(result)


async def for_order_since(
    session: AsyncSession, user_id: int, order_id: int, since: datetime
) -> list[AuditEntry]:
    """The user's actions on one order at or after `since`, oldest first."""
    result = await session.scalars(
        select(AuditEntry)
        .where(
            AuditEntry.user_id == user_id,
            AuditEntry.order_id == order_id,
            AuditEntry.created_at >= since,
        )
        .order_by(AuditEntry.id)
        .execution_options(populate_existing=True)
    )
    return list(result)
