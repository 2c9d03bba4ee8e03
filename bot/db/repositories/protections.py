"""Outbid protection: per-order settings, the user's daily budget, and the automatic raises.

Automatic raises are recorded in the audit log (action "raise", automatic=True) so that
`/history` lists manual and automatic actions together. The price before the raise is kept
at the start of `detail` ("from=12.5"), because the budget counts price increases; record
them only through `record_automatic_raise` so that stays readable.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete as sql_delete
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import AuditEntry, BidProtection, User, UserBudget, utcnow
from bot.db.repositories import audit
from bot.db.repositories._rows import rowcount
from bot.db.repositories.audit import Outcome

RAISE_ACTION = "raise"
# An ambiguous raise may have taken effect; a pending one was cut short by a crash and
# may have too.
SPENDING_OUTCOMES = ("ok", "ambiguous", "pending")
_FROM = re.compile(r"from=(\S+)(?: (.*))?", re.DOTALL)


@dataclass(frozen=True, slots=True)
class AutomaticRaise:
    order_id: int | None
    server_id: str | None
    from_price: float | None  # None: recorded without it (counted as a rise from 0)
    to_price: float | None
    outcome: str
    created_at: datetime

    @property
    def increase(self) -> float:
        """What the raise added to the price; the whole price when the old one is unknown."""
        if self.to_price is None:
            return 0.0
        return max(0.0, self.to_price - (self.from_price or 0.0))


# ------------------------------------------------------------------------- protections


def _check(cap: float, max_raises_per_hour: int) -> None:
    if not (math.isfinite(cap) and cap > 0):
        raise ValueError("the cap must be greater than 0")
    if max_raises_per_hour < 1:
        raise ValueError("max raises per hour must be at least 1")


async def enable(
    session: AsyncSession,
    *,
    user_id: int,
    order_id: int,
    server_id: str,
    cap: float,
    max_raises_per_hour: int,
    now: datetime | None = None,
    use_power: bool = False,
) -> BidProtection:
    """Protect the order (or change its settings), enabled."""
    _check(cap, max_raises_per_hour)
    stamp = now or utcnow()
    row = await get(session, user_id, order_id)
    if row is None:
        row = BidProtection(user_id=user_id, order_id=order_id, created_at=stamp)
        session.add(row)
    row.server_id = server_id
    row.cap = cap
    row.max_raises_per_hour = max_raises_per_hour
    row.use_power = use_power
    row.enabled = True
    row.updated_at = stamp
    await session.flush()
    return row


async def get(session: AsyncSession, user_id: int, order_id: int) -> BidProtection | None:
    return await session.scalar(
        select(BidProtection)
        .where(BidProtection.user_id == user_id, BidProtection.order_id == order_id)
        .execution_options(populate_existing=True)
    )


async def set_enabled(session: AsyncSession, user_id: int, order_id: int, enabled: bool) -> bool:
    """False when the order has no protection of this user's."""
    result = await session.execute(
        update(BidProtection)
        .where(BidProtection.user_id == user_id, BidProtection.order_id == order_id)
        .values(enabled=enabled, updated_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )
    return rowcount(result) == 1


async def delete(session: AsyncSession, user_id: int, order_id: int) -> bool:
    result = await session.execute(
        sql_delete(BidProtection)
        .where(BidProtection.user_id == user_id, BidProtection.order_id == order_id)
        .execution_options(synchronize_session="fetch")
    )
    return rowcount(result) == 1


async def list_for_user(session: AsyncSession, user_id: int) -> list[BidProtection]:
    """Enabled and disabled, by order id."""
    result = await session.scalars(
        select(BidProtection)
        .where(BidProtection.user_id == user_id)
        .order_by(BidProtection.order_id)
    )
    return list(result)


async def list_enabled(session: AsyncSession) -> list[BidProtection]:
    """Enabled protections of users who have not blocked the bot, by user then order."""
    result = await session.scalars(
        select(BidProtection)
        .join(User, User.id == BidProtection.user_id)
        .where(BidProtection.enabled.is_(True), User.active.is_(True))
        .order_by(BidProtection.user_id, BidProtection.order_id)
    )
    return list(result)


async def delete_missing(
    session: AsyncSession, user_id: int, live_order_ids: Iterable[int]
) -> list[int]:
    """Drop the user's protections of orders no longer live; returns their order ids.

    Call it only with a complete snapshot: an order missing from a partial one would lose
    its protection."""
    live = set(live_order_ids)
    gone = [
        row.order_id for row in await list_for_user(session, user_id) if row.order_id not in live
    ]
    if gone:
        await session.execute(
            sql_delete(BidProtection).where(
                BidProtection.user_id == user_id, BidProtection.order_id.in_(gone)
            )
        )
    return gone


# ------------------------------------------------------------------------------ budget


async def get_budget(session: AsyncSession, user_id: int) -> float | None:
    """CLORE per 24 h that automatic raises may add; None: no budget."""
    return await session.scalar(
        select(UserBudget.daily_budget).where(UserBudget.user_id == user_id)
    )


async def set_budget(
    session: AsyncSession, user_id: int, daily_budget: float | None, *, now: datetime | None = None
) -> None:
    """None removes the budget."""
    if daily_budget is None:
        await session.execute(sql_delete(UserBudget).where(UserBudget.user_id == user_id))
        return
    if not (math.isfinite(daily_budget) and daily_budget >= 0):
        raise ValueError("the budget must be 0 or more")
    row = await session.get(UserBudget, user_id, populate_existing=True)
    stamp = now or utcnow()
    if row is None:
        session.add(UserBudget(user_id=user_id, daily_budget=daily_budget, updated_at=stamp))
    else:
        row.daily_budget = daily_budget
        row.updated_at = stamp
    await session.flush()


# -------------------------------------------------------------------- automatic raises


def raise_detail(from_price: float, reason: str | None = None) -> str:
    text = f"from={from_price!r}"
    return f"{text} {reason}" if reason else text


def parse_raise_detail(detail: str | None) -> tuple[float | None, str | None]:
    """(price before the raise, reason) from an automatic raise's audit detail."""
    match = _FROM.fullmatch(detail or "")
    if match is None:
        return None, detail
    try:
        from_price: float | None = float(match.group(1))
    except ValueError:
        return None, detail
    return from_price, match.group(2)


async def record_automatic_raise(
    session: AsyncSession,
    *,
    user_id: int,
    order_id: int,
    server_id: str,
    from_price: float,
    to_price: float,
    outcome: Outcome,
    reason: str | None = None,
    now: datetime | None = None,
) -> AuditEntry:
    """Record one automatic raise attempt, whatever its outcome (rate limit counts them all)."""
    return await audit.add(
        session,
        user_id=user_id,
        action=RAISE_ACTION,
        outcome=outcome,
        automatic=True,
        order_id=order_id,
        server_id=server_id,
        price=to_price,
        detail=raise_detail(from_price, reason),
        now=now,
    )


async def automatic_raises_since(
    session: AsyncSession, user_id: int, order_id: int | None, since: datetime
) -> list[AutomaticRaise]:
    """The user's automatic raise attempts at or after `since` (of one order, or all when
    `order_id` is None), oldest first, any outcome."""
    query = select(AuditEntry).where(
        AuditEntry.user_id == user_id,
        AuditEntry.automatic.is_(True),
        AuditEntry.action == RAISE_ACTION,
        AuditEntry.created_at >= since,
    )
    if order_id is not None:
        query = query.where(AuditEntry.order_id == order_id)
    raises = []
    for entry in await session.scalars(query.order_by(AuditEntry.created_at, AuditEntry.id)):
        from_price, _reason = parse_raise_detail(entry.detail)
        raises.append(
            AutomaticRaise(
                entry.order_id,
                entry.server_id,
                from_price,
                entry.price,
                entry.outcome,
                entry.created_at,
            )
        )
    return raises


async def automatic_spending_since(session: AsyncSession, user_id: int, since: datetime) -> float:
    """Sum of price increases (CLORE/day) of automatic raises that took or may have taken
    effect since `since`, over all the user's orders: what the daily budget is compared to."""
    raises = await automatic_raises_since(session, user_id, None, since)
    return sum(r.increase for r in raises if r.outcome in SPENDING_OUTCOMES)
