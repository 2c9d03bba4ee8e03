"""Alert memory: what each user was last told per rule x server and per order.

States go in and out as frozen dataclasses, so the code deciding what is news stays pure.
Upserts are portable (select existing keys, then bulk UPDATE by primary key and bulk
INSERT); they rely on the caller's write transaction to keep that atomic.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar, get_args

from sqlalchemy import delete, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import BidAlert, MatchAlert, utcnow

BidStanding = Literal["leading", "tied", "outbid"]
BID_STANDINGS: frozenset[str] = frozenset(get_args(BidStanding))

# Parameters per statement stay far below SQLite's limit (32766) and PostgreSQL's (65535).
_CHUNK = 400
# Bulk UPDATEs bypass the identity map: re-read rows instead of trusting cached objects.
_FRESH = {"populate_existing": True}
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class MatchState:
    rule_id: int
    server_id: str
    matching: bool
    last_price: float  # price to win at the last evaluation
    announced_price: float | None = None  # price shown in the last alert
    announced_at: datetime | None = None
    stopped_at: datetime | None = None  # when it stopped matching, if it did


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


def _match_state(row: MatchAlert) -> MatchState:
    return MatchState(
        row.rule_id,
        row.server_id,
        row.matching,
        row.last_price,
        row.announced_price,
        row.announced_at,
        row.stopped_at,
    )


def _bid_state(row: BidAlert) -> BidState:
    state: Any = row.state
    return BidState(row.user_id, row.order_id, row.server_id, state, row.last_alerted_top_score)


async def match_states_for_rules(
    session: AsyncSession, rule_ids: Iterable[int]
) -> dict[tuple[int, str], MatchState]:
    """Every stored state of these rules (needed to notice what stopped matching)."""
    found: dict[tuple[int, str], MatchState] = {}
    for chunk in _chunks(sorted(set(rule_ids))):
        rows = await session.scalars(
            select(MatchAlert).where(MatchAlert.rule_id.in_(chunk)).execution_options(**_FRESH)
        )
        found.update({(r.rule_id, r.server_id): _match_state(r) for r in rows})
    return found


async def match_states_for_pairs(
    session: AsyncSession, pairs: Iterable[tuple[int, str]]
) -> dict[tuple[int, str], MatchState]:
    """The stored states of exactly these rule x server pairs (absent ones are left out)."""
    found: dict[tuple[int, str], MatchState] = {}
    for chunk in _chunks(sorted(set(pairs))):
        key = tuple_(MatchAlert.rule_id, MatchAlert.server_id)
        rows = await session.scalars(
            select(MatchAlert).where(key.in_(chunk)).execution_options(**_FRESH)
        )
        found.update({(r.rule_id, r.server_id): _match_state(r) for r in rows})
    return found


async def upsert_match_states(session: AsyncSession, states: Iterable[MatchState]) -> None:
    by_key = {(s.rule_id, s.server_id): s for s in states}
    existing = await match_states_for_pairs(session, by_key)
    updates = [asdict(s) for key, s in by_key.items() if key in existing]
    inserts = [asdict(s) for key, s in by_key.items() if key not in existing]
    if updates:
        await session.execute(update(MatchAlert), updates)
    if inserts:
        await session.execute(insert(MatchAlert), inserts)


async def delete_match_states(session: AsyncSession, pairs: Iterable[tuple[int, str]]) -> int:
    """E.g. for servers gone from the market. Returns the number of rows deleted."""
    deleted = 0
    for chunk in _chunks(sorted(set(pairs))):
        key = tuple_(MatchAlert.rule_id, MatchAlert.server_id)
        result = await session.execute(delete(MatchAlert).where(key.in_(chunk)))
        deleted += result.rowcount  # type: ignore[attr-defined]
    return deleted


async def bid_states_for_users(
    session: AsyncSession, user_ids: Iterable[int]
) -> dict[tuple[int, int], BidState]:
    """Every stored order standing of these users, keyed by (user_id, order_id)."""
    found: dict[tuple[int, int], BidState] = {}
    for chunk in _chunks(sorted(set(user_ids))):
        rows = await session.scalars(
            select(BidAlert).where(BidAlert.user_id.in_(chunk)).execution_options(**_FRESH)
        )
        found.update({(r.user_id, r.order_id): _bid_state(r) for r in rows})
    return found


async def upsert_bid_states(
    session: AsyncSession, states: Iterable[BidState], *, now: datetime | None = None
) -> None:
    by_key = {(s.user_id, s.order_id): s for s in states}
    if bad := {s.state for s in by_key.values()} - BID_STANDINGS:
        raise ValueError(f"unknown bid standing(s): {sorted(bad)}")
    if not by_key:
        return
    stamp = now or utcnow()
    existing: set[tuple[int, int]] = set()
    for chunk in _chunks(sorted(by_key)):
        key = tuple_(BidAlert.user_id, BidAlert.order_id)
        rows = await session.execute(
            select(BidAlert.user_id, BidAlert.order_id).where(key.in_(chunk))
        )
        existing.update((user_id, order_id) for user_id, order_id in rows)
    values = {key: {**asdict(s), "updated_at": stamp} for key, s in by_key.items()}
    updates = [row for key, row in values.items() if key in existing]
    inserts = [row for key, row in values.items() if key not in existing]
    if updates:
        await session.execute(update(BidAlert), updates)
    if inserts:
        await session.execute(insert(BidAlert), inserts)


async def delete_bid_states(session: AsyncSession, keys: Iterable[tuple[int, int]]) -> int:
    """Forget orders that ended; keys are (user_id, order_id)."""
    deleted = 0
    for chunk in _chunks(sorted(set(keys))):
        key = tuple_(BidAlert.user_id, BidAlert.order_id)
        result = await session.execute(delete(BidAlert).where(key.in_(chunk)))
        deleted += result.rowcount  # type: ignore[attr-defined]
    return deleted
