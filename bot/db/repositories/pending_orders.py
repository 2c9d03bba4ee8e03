"""Orders created from a match alert whose order id is not known yet.

create_gigaspot_orders returns no ids: the new order shows up in a later snapshot as a bid
of the user's. A pending order remembers which of the user's bids were already on the
server at tap time (`known_order_ids`), so that the first other bid of the user there is
the new one (`bot.orders.pending.match_pending`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import PendingOrder, utcnow
from bot.db.repositories._rows import rowcount


def known_order_ids(row: PendingOrder) -> frozenset[int]:
    return frozenset(int(order_id) for order_id in json.loads(row.known_order_ids))


async def add(
    session: AsyncSession,
    *,
    user_id: int,
    server_id: str,
    price: float,
    known_order_ids: Iterable[int],
    action_id: str | None = None,
    now: datetime | None = None,
) -> PendingOrder:
    """Record it before the create call goes out (with its intent), so an order placed just
    before a crash is still recognised; `discard` it when clore says it placed nothing.
    `action_id` is the tapped button's: unique, so one tap can never leave two."""
    row = PendingOrder(
        user_id=user_id,
        server_id=server_id,
        price=price,
        action_id=action_id,
        known_order_ids=json.dumps(sorted(set(known_order_ids))),
        created_at=now or utcnow(),
    )
    session.add(row)
    await session.flush()
    return row


async def discard(session: AsyncSession, pending_id: int) -> bool:
    """Forget a pending order whose create clore refused (no order can show up)."""
    result = await session.execute(
        delete(PendingOrder).where(
            PendingOrder.id == pending_id, PendingOrder.resolved_at.is_(None)
        )
    )
    return rowcount(result) == 1


async def get(session: AsyncSession, pending_id: int, user_id: int) -> PendingOrder | None:
    return await session.scalar(
        select(PendingOrder)
        .where(PendingOrder.id == pending_id, PendingOrder.user_id == user_id)
        .execution_options(populate_existing=True)
    )


async def any_unresolved(session: AsyncSession) -> bool:
    """Is any pending order still waiting for its order id? (A poll asks before it opens a
    write transaction for them.)"""
    found = await session.scalar(
        select(PendingOrder.id).where(PendingOrder.resolved_at.is_(None)).limit(1)
    )
    return found is not None


async def unresolved(session: AsyncSession, user_id: int | None = None) -> list[PendingOrder]:
    """Pending orders still waiting for their order id (one user's, or everyone's), oldest
    first."""
    query = select(PendingOrder).where(PendingOrder.resolved_at.is_(None))
    if user_id is not None:
        query = query.where(PendingOrder.user_id == user_id)
    result = await session.scalars(
        query.order_by(PendingOrder.id).execution_options(populate_existing=True)
    )
    return list(result)


async def on_server(session: AsyncSession, user_id: int, server_id: str) -> list[PendingOrder]:
    """The user's pending orders on one server, resolved or not, oldest first."""
    result = await session.scalars(
        select(PendingOrder)
        .where(PendingOrder.user_id == user_id, PendingOrder.server_id == server_id)
        .order_by(PendingOrder.id)
        .execution_options(populate_existing=True)
    )
    return list(result)


async def taken_order_ids(session: AsyncSession, user_id: int) -> set[int]:
    """Order ids already matched to one of the user's pending orders."""
    result = await session.scalars(
        select(PendingOrder.order_id).where(
            PendingOrder.user_id == user_id, PendingOrder.order_id.is_not(None)
        )
    )
    return {int(order_id) for order_id in result if order_id is not None}


async def resolve(
    session: AsyncSession,
    pending_id: int,
    user_id: int,
    order_id: int,
    *,
    now: datetime | None = None,
) -> bool:
    """Attach the order id; False when it is not this user's or was already resolved."""
    result = await session.execute(
        update(PendingOrder)
        .where(
            PendingOrder.id == pending_id,
            PendingOrder.user_id == user_id,
            PendingOrder.resolved_at.is_(None),
        )
        .values(order_id=order_id, resolved_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


async def give_up(
    session: AsyncSession, *, created_before: datetime, now: datetime | None = None
) -> list[PendingOrder]:
    """Close the unresolved pending orders created before `created_before` (no order showed
    up: clore refused it, or the create never arrived) and return them for telling users."""
    stale = [row for row in await unresolved(session) if row.created_at < created_before]
    if stale:
        stamp = now or utcnow()
        await session.execute(
            update(PendingOrder)
            .where(
                PendingOrder.id.in_([row.id for row in stale]),
                PendingOrder.resolved_at.is_(None),
            )
            .values(resolved_at=stamp)
            .execution_options(synchronize_session=False)
        )
        for row in stale:
            await session.refresh(row)
    return stale
