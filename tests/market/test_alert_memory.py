"""What counts as news about matches: bot/market/alert_memory.py on hand-made transitions."""

from __future__ import annotations

import numpy as np

from bot.market.alert_memory import AlertMemory, Decision, MemoryChange, pair_keys
from bot.market.matcher import Pairs

HOUR = 3600.0
T0 = 1_767_225_600.0  # 2026-01-01
IDS = [str(n) for n in range(10)]
SID = np.arange(10, dtype=np.int64)


def pairs(*items: tuple[int, int, float], old: list[float] | None = None) -> Pairs:
    rules, rows, prices = (list(column) for column in zip(*items, strict=True)) if items else (
        [], [], []
    )
    return Pairs(
        np.array(rules, dtype=np.int64), np.array(rows, dtype=np.int64),
        np.array(prices, dtype=np.float64), IDS, SID,
        None if old is None else np.array(old, dtype=np.float64),
    )  # fmt: skip


def step(
    memory: AlertMemory, now: float, *, started=(), stopped=(), repriced=(), muted=()
) -> list[tuple[int, int, float]]:
    """One snapshot's transitions; returns what is announced, and commits the change."""
    decision: Decision = memory.decide(
        pairs(*started), pairs(*stopped), pairs(*repriced), now,
        muted_rules=np.array(muted, dtype=np.int64), realert_after=HOUR, price_drop=0.2,
    )  # fmt: skip
    memory.apply(decision.change)
    a = decision.announce
    return list(zip(a.rule_ids.tolist(), a.rows.tolist(), a.prices.tolist(), strict=True))


def test_a_new_match_is_announced_with_its_price() -> None:
    memory = AlertMemory()
    assert step(memory, T0, started=[(1, 7, 20.0)]) == [(1, 7, 20.0)]
    found, announced, stopped = memory.lookup(pair_keys(np.array([1]), np.array([7])))
    assert found.tolist() == [True] and announced.tolist() == [20.0]
    assert np.isnan(stopped[0])


def test_a_repriced_match_is_announced_only_after_a_big_enough_drop() -> None:
    memory = AlertMemory()
    step(memory, T0, started=[(1, 7, 20.0)])
    assert step(memory, T0 + HOUR, repriced=[(1, 7, 16.01)]) == []
    assert step(memory, T0 + 2 * HOUR, repriced=[(1, 7, 16.0)]) == [(1, 7, 16.0)]
    assert step(memory, T0 + 3 * HOUR, repriced=[(1, 7, 13.0)]) == []  # 16 -> 13 is < 20%


def test_a_pair_back_soon_is_quiet_and_back_late_or_cheaper_is_news() -> None:
    def after_stop() -> AlertMemory:
        memory = AlertMemory()
        step(memory, T0, started=[(1, 7, 20.0)])
        assert step(memory, T0 + HOUR, stopped=[(1, 7, 20.0)]) == []
        return memory

    assert step(after_stop(), T0 + 1.5 * HOUR, started=[(1, 7, 20.0)]) == []
    assert step(after_stop(), T0 + 2 * HOUR, started=[(1, 7, 20.0)]) == [(1, 7, 20.0)]
    assert step(after_stop(), T0 + 1.5 * HOUR, started=[(1, 7, 15.0)]) == [(1, 7, 15.0)]
    quiet = after_stop()
    step(quiet, T0 + 1.5 * HOUR, started=[(1, 7, 20.0)])  # back, quietly: matching again
    assert step(quiet, T0 + 5 * HOUR, repriced=[(1, 7, 19.0)]) == []


def test_muted_matches_get_no_entry_and_no_replay() -> None:
    memory = AlertMemory()
    assert step(memory, T0, started=[(1, 7, 20.0)], muted=[1]) == []
    assert len(memory) == 0
    assert step(memory, T0 + HOUR, repriced=[(1, 7, 10.0)]) == []  # unmuted: no old news
    # known and muted: stays known, nothing said
    step(memory, T0, started=[(2, 7, 20.0)])
    step(memory, T0 + HOUR, stopped=[(2, 7, 20.0)])
    assert step(memory, T0 + 3 * HOUR, started=[(2, 7, 5.0)], muted=[2]) == []
    assert step(memory, T0 + 4 * HOUR, repriced=[(2, 7, 3.0)]) == [(2, 7, 3.0)]


def test_pairs_are_independent_and_many_at_once() -> None:
    memory = AlertMemory()
    started = [(rule, row, float(rule + row)) for rule in range(1, 40) for row in range(10)]
    assert len(step(memory, T0, started=started)) == len(started) == len(memory)
    assert step(memory, T0 + HOUR, stopped=started[:5], started=[(99, 1, 1.0)]) == [(99, 1, 1.0)]
    assert len(memory) == len(started) + 1


def test_shown_forgetting_and_stale_entries() -> None:
    memory = AlertMemory()
    step(memory, T0, started=[(1, 7, 20.0), (2, 7, 20.0), (2, 8, 9.0)])
    memory.apply(memory.shown(pairs((2, 3, 4.0)), replace_rule=2))  # rule 2 saved afresh
    assert step(memory, T0, started=[(2, 7, 20.0)]) == [(2, 7, 20.0)]
    assert step(memory, T0, repriced=[(2, 3, 3.0)]) == [(2, 3, 3.0)]
    memory.apply(MemoryChange.forgetting(1))
    assert step(memory, T0, started=[(1, 7, 20.0)]) == [(1, 7, 20.0)]
    step(memory, T0 + HOUR, stopped=[(1, 7, 20.0)])
    dropped = memory.forget_stale(T0 + 2 * HOUR, HOUR, rules=np.array([1, 2]))
    assert dropped == 1 and len(memory) == 2  # (1, 7) decides as if unknown now
    assert memory.forget_stale(T0 + 2 * HOUR, HOUR, rules=np.array([1])) == 2
    assert len(memory) == 0


def test_a_snapshot_of_the_memory_rebuilds_it() -> None:
    memory = AlertMemory()
    step(memory, T0, started=[(3, 1, 2.0), (1, 9, 4.0)])
    step(memory, T0 + 1, stopped=[(3, 1, 2.0)])
    copy = AlertMemory()
    copy.apply(memory.snapshot())
    assert copy.keys.tolist() == memory.keys.tolist()
    assert np.array_equal(copy.stopped_at, memory.stopped_at, equal_nan=True)


def test_lookup_of_many_unsorted_keys() -> None:
    """Many keys are looked up in sorted order (a faster path): same answers, in order."""
    rng = np.random.default_rng(3)
    memory = AlertMemory()
    keys = np.unique(pair_keys(rng.integers(1, 500, 30_000), rng.integers(0, 2_000, 30_000)))
    prices = rng.random(keys.size)
    memory.apply(MemoryChange(keys, prices, np.full(keys.size, np.nan), np.zeros(0, np.int64)))
    wanted = pair_keys(rng.integers(1, 520, 9_000), rng.integers(0, 2_100, 9_000))
    found, announced, _ = memory.lookup(wanted)
    known = dict(zip(keys.tolist(), prices.tolist(), strict=True))
    assert found.tolist() == [k in known for k in wanted.tolist()]
    assert [a for a, f in zip(announced.tolist(), found, strict=True) if f] == [
        known[k] for k in wanted.tolist() if k in known
    ]


def test_apply_reuses_the_positions_decide_found_only_while_the_memory_is_unchanged() -> None:
    """The positions a decision carries give the same memory as a fresh search; a memory
    changed since (a preview shown, a rule forgotten) searches again."""
    rng = np.random.default_rng(5)
    memory, searched = AlertMemory(), AlertMemory()
    first = [(int(r), int(w), float(p)) for r, w, p in zip(
        rng.integers(1, 60, 400), rng.integers(0, 10, 400), rng.random(400) + 1, strict=True
    )]  # fmt: skip
    for target in (memory, searched):
        step(target, T0, started=list({(r, w): (r, w, p) for r, w, p in first}.values()))
    later = [(int(r), int(w), 0.5) for r, w in zip(
        rng.integers(1, 80, 300), rng.integers(0, 10, 300), strict=True
    )]  # fmt: skip
    started = list({(r, w): (r, w, p) for r, w, p in later if (r, w) not in
                    {(a, b) for a, b, _ in first}}.values())  # fmt: skip
    stopped = list({(r, w): (r, w, p) for r, w, p in first[:50]}.values())
    args = {"muted_rules": np.zeros(0, np.int64), "realert_after": HOUR, "price_drop": 0.2}
    change = memory.decide(pairs(*started), pairs(*stopped), pairs(), T0 + 1, **args).change
    assert change.positions is not None
    memory.apply(change)
    searched.apply(MemoryChange(change.keys, change.announced, change.stopped_at,
                                change.purged_rules))  # fmt: skip
    for name in ("keys", "announced", "stopped_at"):
        assert np.array_equal(getattr(memory, name), getattr(searched, name), equal_nan=True)
    # a decision made before the memory changed: its positions are stale, not used
    stale = memory.decide(pairs((99, 1, 1.0), (1, 9, 1.0)), pairs(), pairs(), T0 + 2, **args)
    memory.apply(memory.shown(pairs((0, 3, 2.0))))  # a new first entry: every position moves
    memory.apply(stale.change)
    found, announced, _ = memory.lookup(pair_keys(np.array([99, 1, 0]), np.array([1, 9, 3])))
    assert found.all() and announced.tolist() == [1.0, 1.0, 2.0]
