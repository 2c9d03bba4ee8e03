"""Bid alert memory: the last known standing of each tracked order and what was alerted.

(Match alert memory lives in arrays beside the matcher, `bot.market.alert_memory`, and is
persisted by `bot.db.repositories.alert_memory`.) States go in and out as frozen
dataclasses, so the code deciding what is news stays pure. Rows are looked up by user id
(indexed primary-key prefix), never with row-value IN lists, which SQLite scans in full.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar, get_args

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import BidAlert, utcnow
from bot.db.repositories._rows import rowcount, table

BidStanding = Literal["leading", "tied", "outbid"]
BID_STANDINGS: frozenset[str] = frozenset(get_args(BidStanding))

# Parameters per statement stay far below SQLite's limit (32766) and PostgreSQL's (65535).
_CHUNK = 400
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class BidState:
    user_id: int
    order_id: int
    server_id: str
    state: BidStanding
    last_alerted_top_score: float | None = None  # best competitor score when last alerted


def _chunks(items: Sequence[_T]) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


_COLUMNS = (
    BidAlert.user_id, BidAlert.order_id, BidAlert.server_id, BidAlert.state,
    BidAlert.last_alerted_top_score,
)  # fmt: skip


def _bid_state(row: Any) -> BidState:
    return BidState(row[0], row[1], row[2], row[3], row[4])


async def bid_states_for_users(
    session: AsyncSession, user_ids: Iterable[int]
) -> dict[tuple[int, int], BidState]:
    """Every stored order standing of these users, keyed by (user_id, order_id)."""
    found: dict[tuple[int, int], BidState] = {}
    for chunk in _chunks(sorted(set(user_ids))):
        rows = await session.execute(select(*_COLUMNS).where(BidAlert.user_id.in_(chunk)))
        found.update({(r[0], r[1]): _bid_state(r) for r in rows})
    return found


async def bid_states_for_orders(
    session: AsyncSession, order_ids: Iterable[int]
) -> dict[tuple[int, int], BidState]:
    """The stored standings of these orders (for every user tracking them)."""
    found: dict[tuple[int, int], BidState] = {}
    for chunk in _chunks(sorted(set(order_ids))):
        rows = await session.execute(select(*_COLUMNS).where(BidAlert.order_id.in_(chunk)))
        found.update({(r[0], r[1]): _bid_state(r) for r in rows})
    return found


async def _existing(session: AsyncSession, keys: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    wanted = set(keys)
    found: set[tuple[int, int]] = set()
    for chunk in _chunks(sorted({user for user, _ in wanted})):
        rows = await session.execute(
            select(BidAlert.user_id, BidAlert.order_id).where(BidAlert.user_id.in_(chunk))
        )
        found.update(key for key in ((u, o) for u, o in rows) if key in wanted)
    return found


async def upsert_bid_states(
    session: AsyncSession,
    states: Iterable[BidState],
    *,
    now: datetime | None = None,
    stored: Iterable[tuple[int, int]] | None = None,
) -> None:
    """Insert or update these standings. `stored`: the (user id, order id) keys of these
    states that have a row, when the caller has just read them (else they are read)."""
    by_key = {(s.user_id, s.order_id): s for s in states}
    if bad := {s.state for s in by_key.values()} - BID_STANDINGS:
        raise ValueError(f"unknown bid standing(s): {sorted(bad)}")
    if not by_key:
        return
    stamp = now or utcnow()
    existing = (
        await _existing(session, by_key) if stored is None else set(stored) & by_key.keys()
    )
    values = {
        key: {"user_id": s.user_id, "order_id": s.order_id, "server_id": s.server_id,
              "state": s.state, "last_alerted_top_score": s.last_alerted_top_score,
              "updated_at": stamp}
        for key, s in by_key.items()
    }  # fmt: skip
    updates = [row for key, row in values.items() if key in existing]
    inserts = [row for key, row in values.items() if key not in existing]
    rows = table(BidAlert)
    if updates:  # Core executemany: no ORM objects for thousands of tracked bids
        keyed = [{**row, "b_user_id": row["user_id"], "b_order_id": row["order_id"]}
                 for row in updates]  # fmt: skip
        for row in keyed:
            del row["user_id"], row["order_id"]
        await session.execute(
            update(rows)
            .where(
                rows.c.user_id == bindparam("b_user_id"),
                rows.c.order_id == bindparam("b_order_id"),
            )
            .values(
                server_id=bindparam("server_id"),
                state=bindparam("state"),
                last_alerted_top_score=bindparam("last_alerted_top_score"),
                updated_at=bindparam("updated_at"),
            ),
            keyed,
        )
    if inserts:
        await session.execute(insert(rows), inserts)


async def delete_bid_states(session: AsyncSession, order_ids: Iterable[int]) -> int:
    """Forget orders that ended, for every user who tracked them (an order id belongs to
    one clore account, so they are the users linked to it)."""
    deleted = 0
    for chunk in _chunks(sorted(set(order_ids))):
        result = await session.execute(delete(BidAlert).where(BidAlert.order_id.in_(chunk)))
        deleted += rowcount(result)
    return deleted
