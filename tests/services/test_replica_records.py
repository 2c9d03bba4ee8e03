"""Catching up skips the records this process wrote and applied itself only while no other
replica's record came before them: the memory ends as the records' commit order says."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from bot.db.repositories.alert_memory import CHANGE, StoredRecord
from bot.market.alert_memory import MemoryChange, pair_keys
from bot.replicas import ReplicaSync
from bot.services import alert_state
from bot.services.market_state import MarketState

NAN = float("nan")


def _change(market: MarketState, *entries: tuple[int, str, float]) -> MemoryChange:
    """Entries (rule id, server id, announced price), still matching."""
    rows = market.matcher.rows_of([server for _, server, _ in entries])
    keys = pair_keys(np.array([rule for rule, _, _ in entries], dtype=np.int64), rows)
    order = np.argsort(keys)
    prices = np.array([price for _, _, price in entries])[order]
    return MemoryChange(keys[order], prices, np.full(keys.size, NAN), np.zeros(0, np.int64))


async def _record(market: MarketState, record_id: int, change: MemoryChange) -> StoredRecord:
    return StoredRecord(record_id, CHANGE, None, await alert_state.encode(change, market.matcher))


def _announced(market: MarketState, rule: int, server: str) -> float:
    found, announced, _ = market.memory.lookup(
        pair_keys(np.array([rule]), market.matcher.rows_of([server]))
    )
    assert found.all()
    return float(announced[0])


async def _catching_up(own: dict[int, MemoryChange], records: list[StoredRecord],
                       market: MarketState) -> None:  # fmt: skip
    sync = ReplicaSync(SimpleNamespace(market=market))  # type: ignore[arg-type]
    for record_id, change in own.items():  # what this process's cycles did meanwhile
        market.memory.apply(change)
        market.applied_own(record_id)
    await sync._apply_records(records)


async def test_another_replicas_record_first_means_our_own_is_applied_again() -> None:
    market = MarketState()
    theirs = _change(market, (1, "7", 5.0), (2, "8", 3.0))  # record 10, another replica's
    ours = _change(market, (1, "7", 4.0))  # record 11, this process's: the later one
    records = [await _record(market, 10, theirs), await _record(market, 11, ours)]
    await _catching_up({11: ours}, records, market)
    assert _announced(market, 1, "7") == 4.0  # 11 after 10, as committed
    assert _announced(market, 2, "8") == 3.0


async def test_our_own_records_at_the_head_are_not_applied_again() -> None:
    market = MarketState()
    ours = _change(market, (1, "7", 4.0))  # record 11
    theirs = _change(market, (1, "7", 6.0), (3, "9", 2.0))  # record 12, after ours
    records = [await _record(market, 11, ours), await _record(market, 12, theirs)]
    applied: list[int] = []
    original = market.memory.apply

    def counting(change: MemoryChange) -> None:
        applied.append(int(change.keys.size))
        original(change)

    market.memory.apply = counting  # type: ignore[method-assign]
    await _catching_up({11: ours}, records, market)
    assert applied == [1, 2]  # ours once (by the cycle), theirs once (caught up)
    assert _announced(market, 1, "7") == 6.0
    assert _announced(market, 3, "9") == 2.0
