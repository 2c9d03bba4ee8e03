"""Order lives (start, end, warning, running) and each user's wallet watch.

Rows are looked up by key: a user's orders by `user_id = ? AND order_id IN (...)` (the
primary key's order), never by row-value IN.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import AccountWatch, OrderLife
from bot.db.repositories._rows import table
from bot.orders.expiry import DEFAULT_WARN_AHEAD, lifetime
from bot.orders.wallet import WalletLine

_CHUNK = 500


# ---------------------------------------------------------------------------- account


async def watch(session: AsyncSession, user_id: int) -> AccountWatch | None:
    return await session.get(AccountWatch, user_id, populate_existing=True)


async def ensure_watch(session: AsyncSession, user_id: int) -> AccountWatch:
    row = await watch(session, user_id)
    if row is None:
        row = AccountWatch(user_id=user_id, low=False)
        session.add(row)
        await session.flush()
    return row


async def watches(session: AsyncSession, user_ids: Sequence[int]) -> dict[int, AccountWatch]:
    found: dict[int, AccountWatch] = {}
    ids = list(user_ids)
    for start in range(0, len(ids), _CHUNK):
        rows = await session.scalars(
            select(AccountWatch).where(AccountWatch.user_id.in_(ids[start : start + _CHUNK]))
        )
        found.update({row.user_id: row for row in rows})
    return found


def warn_ahead(row: AccountWatch | None) -> timedelta:
    if row is None or row.expiry_warn_seconds is None:
        return DEFAULT_WARN_AHEAD
    return timedelta(seconds=row.expiry_warn_seconds)


def wallet_lines(row: AccountWatch | None) -> list[WalletLine]:
    if row is None or row.wallets is None:
        return []
    return [WalletLine(str(name), float(balance)) for name, balance in json.loads(row.wallets)]


async def record_read(
    session: AsyncSession, user_id: int, wallets: Iterable[WalletLine], now: datetime
) -> AccountWatch:
    row = await ensure_watch(session, user_id)
    row.wallets = json.dumps([[w.name, w.balance] for w in wallets])
    row.read_at = row.attempt_at = now
    row.read_error = None
    return row


async def record_failed_read(
    session: AsyncSession, user_id: int, error: str, now: datetime
) -> AccountWatch:
    """The last good balance is kept: a failed read is never a zero balance."""
    row = await ensure_watch(session, user_id)
    row.attempt_at = now
    row.read_error = error[:300]
    return row


async def set_low_balance(session: AsyncSession, user_id: int, seconds: int | None) -> None:
    row = await ensure_watch(session, user_id)
    row.low_balance_seconds = seconds


async def set_expiry_warning(
    session: AsyncSession, user_id: int, seconds: int | None
) -> None:
    """Store the setting and move the warnings not sent yet."""
    row = await ensure_watch(session, user_id)
    row.expiry_warn_seconds = seconds
    ahead = warn_ahead(row)
    lives = await session.scalars(
        select(OrderLife).where(
            OrderLife.user_id == user_id,
            OrderLife.warned_at.is_(None),
            OrderLife.gone_at.is_(None),
        )
    )
    for life in lives:
        life.warn_at = life.ends_at - ahead


# ------------------------------------------------------------------------------ lives


async def lives_of(
    session: AsyncSession, user_id: int, order_ids: Iterable[int]
) -> dict[int, OrderLife]:
    ids = sorted(set(order_ids))
    found: dict[int, OrderLife] = {}
    for start in range(0, len(ids), _CHUNK):
        rows = await session.scalars(
            select(OrderLife).where(
                OrderLife.user_id == user_id, OrderLife.order_id.in_(ids[start : start + _CHUNK])
            )
        )
        found.update({row.order_id: row for row in rows})
    return found


@dataclass(slots=True)
class LifeState:
    """What a cycle reads and changes of one order's life (a plain row, not a tracked ORM
    object: a cycle changes thousands at once and writes them with one executemany)."""

    user_id: int
    order_id: int
    ends_at: datetime
    running: bool
    won_told_at: datetime | None
    lost_told_at: datetime | None
    gone_at: datetime | None
    warn_at: datetime | None


_STATE_COLUMNS = (
    OrderLife.user_id, OrderLife.order_id, OrderLife.ends_at, OrderLife.running,
    OrderLife.won_told_at, OrderLife.lost_told_at, OrderLife.gone_at, OrderLife.warn_at,
)  # fmt: skip


async def lives_for_orders(
    session: AsyncSession, order_ids: Iterable[int]
) -> dict[tuple[int, int], LifeState]:
    """(user id, order id) -> life, for the given orders of every user (by the order index)."""
    ids = sorted(set(order_ids))
    found: dict[tuple[int, int], LifeState] = {}
    for start in range(0, len(ids), _CHUNK):
        rows = await session.execute(
            select(*_STATE_COLUMNS).where(OrderLife.order_id.in_(ids[start : start + _CHUNK]))
        )
        found.update({(row[0], row[1]): LifeState(*row) for row in rows})
    return found


async def save_states(session: AsyncSession, lives: Iterable[LifeState]) -> None:
    """Write what a cycle changed of these lives: one executemany, by primary key."""
    params = [
        {"b_user": life.user_id, "b_order": life.order_id, "running": life.running,
         "won_told_at": life.won_told_at, "lost_told_at": life.lost_told_at,
         "gone_at": life.gone_at, "warn_at": life.warn_at}
        for life in lives
    ]  # fmt: skip
    if not params:
        return
    table_ = table(OrderLife)
    await session.execute(
        update(table_)
        .where(table_.c.user_id == bindparam("b_user"), table_.c.order_id == bindparam("b_order"))
        .values(
            running=bindparam("running"), won_told_at=bindparam("won_told_at"),
            lost_told_at=bindparam("lost_told_at"), gone_at=bindparam("gone_at"),
            warn_at=bindparam("warn_at"),
        ),
        params,
    )


def new_life(
    *, user_id: int, order_id: int, server_id: str, max_rental_length: int, running: bool,
    now: datetime, ahead: timedelta,
) -> dict[str, object]:
    """A row for `add_lives`: first seen now, its end counted from now."""
    ends_at = now + lifetime(max_rental_length)
    return {
        "user_id": user_id, "order_id": order_id, "server_id": server_id,
        "first_seen_at": now, "created_at": None, "max_rental_length": max_rental_length,
        "ends_at": ends_at, "warn_at": ends_at - ahead, "warned_at": None,
        "running": running,
        # first seen running: not news (it never stopped), and never "won" later
        "won_told_at": now if running else None, "lost_told_at": None, "gone_at": None,
    }  # fmt: skip


async def add_lives(session: AsyncSession, rows: list[dict[str, object]]) -> None:
    """One Core executemany on the table: a first cycle may see thousands of tracked orders.
    (The ORM's bulk insert leaves out None values and so splits rows whose None columns
    differ into separate statements: thousands of them.)"""
    if rows:
        await session.execute(insert(table(OrderLife)), rows)


async def set_created(
    session: AsyncSession, user_id: int, created: dict[int, datetime], ahead: timedelta
) -> int:
    """clore's creation times (my_orders `ct`) for the user's orders: ends move with them."""
    changed = 0
    for order_id, row in (await lives_of(session, user_id, created)).items():
        when = created[order_id]
        if row.created_at == when:
            continue
        row.created_at = when
        row.ends_at = when + lifetime(row.max_rental_length)
        if row.warned_at is None and row.gone_at is None:
            row.warn_at = row.ends_at - ahead
        changed += 1
    return changed


async def any_due(session: AsyncSession, now: datetime) -> bool:
    """Is an expiry warning due? (A poll asks before it opens a write transaction.)"""
    found = await session.scalar(
        select(OrderLife.order_id).where(OrderLife.warn_at <= now).limit(1)
    )
    return found is not None


async def due_warnings(session: AsyncSession, now: datetime) -> list[OrderLife]:
    rows = await session.scalars(
        select(OrderLife).where(OrderLife.warn_at <= now).order_by(OrderLife.warn_at)
    )
    return list(rows)


async def mark_warned(session: AsyncSession, now: datetime) -> None:
    """Every warning due by `now` is marked as given: one statement, after `due_warnings`."""
    await session.execute(
        update(OrderLife)
        .where(OrderLife.warn_at <= now)
        .values(warned_at=now, warn_at=None)
        .execution_options(synchronize_session=False)
    )


async def prune_gone(session: AsyncSession, before: datetime) -> None:
    await session.execute(delete(OrderLife).where(OrderLife.gone_at < before))
