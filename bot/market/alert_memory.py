"""What users were told about each (rule, server) pair, as arrays beside the matcher.

The memory holds one entry per pair that was *announced* (in a match alert or a `/watch`
preview): the price shown then, and when the pair stopped matching if it has (NaN while it
matches). Pairs that match but were never announced (their owner had alerts paused) have no
entry: they are not news while they go on matching, and are news when they start again.
Whether a pair matches now is the matcher's business, not the memory's.

`decide` turns a snapshot's transitions into what to announce and a `MemoryChange`; the
caller applies the change only once it is committed with the messages it explains, so a
cycle that fails to commit leaves the memory as the last commit left it. Everything is
vectorised: the cost follows the transitions, not the number of matches.

The policy (the same as the README's "No repeats"):
- a pair that starts matching is announced unless it has an entry that stopped less than
  `realert_after` ago (or still matches), and then only if its price to win fell by
  `price_drop` since the announced price;
- a pair that goes on matching at a new price is announced again when the price fell by
  `price_drop` since the announced price;
- muted owners are told nothing and get no new entries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bot.market.matcher import Pairs

EPS = 1e-9
_ROW_BITS = 32  # key = rule id << 32 | matcher row (rows are far below 2**32)


def pair_keys(rule_ids: np.ndarray, rows: np.ndarray) -> np.ndarray:
    keys = rule_ids.astype(np.int64)  # the one new array (millions of pairs): shifted in place
    keys <<= _ROW_BITS
    keys |= rows.astype(np.int64, copy=False)
    return keys


def member(values: np.ndarray, of: np.ndarray) -> np.ndarray:
    """np.isin for rule ids, in linear time: a lookup table over the ids (they are small)."""
    if not of.size or not values.size:
        return np.zeros(values.size, dtype=bool)
    top = int(max(values.max(), of.max()))
    if top > 1 << 26 or values.min() < 0 or of.min() < 0:
        return np.isin(values, of, kind="sort")
    table = np.zeros(top + 1, dtype=bool)
    table[of] = True
    found: np.ndarray = table[values]
    return found


def key_rules(keys: np.ndarray) -> np.ndarray:
    return keys >> _ROW_BITS


def key_rows(keys: np.ndarray) -> np.ndarray:
    return keys & ((1 << _ROW_BITS) - 1)


@dataclass(frozen=True, slots=True)
class MemoryChange:
    """Entries to set (sorted, unique keys) after dropping every entry of `purged_rules`."""

    keys: np.ndarray
    announced: np.ndarray  # price shown in the alert
    stopped_at: np.ndarray  # unix time it stopped matching; NaN while it matches
    purged_rules: np.ndarray
    # (memory version, position, found) per key as `decide` looked them up: `apply` skips
    # its own search of millions of entries while the memory has not changed since
    positions: tuple[int, np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return int(self.keys.size + self.purged_rules.size)

    @staticmethod
    def forgetting(*rule_ids: int) -> MemoryChange:
        return MemoryChange(_ints(), _floats(), _floats(), np.array(rule_ids, dtype=np.int64))


@dataclass(frozen=True, slots=True)
class Decision:
    announce: Pairs  # pairs to tell their owners about now (a subset of started + repriced)
    change: MemoryChange


def _ints() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


def _floats() -> np.ndarray:
    return np.zeros(0, dtype=np.float64)


class AlertMemory:
    def __init__(self) -> None:
        self.keys = _ints()  # sorted
        self.announced = _floats()
        self.stopped_at = _floats()
        self.version = 0  # moves whenever the entries change

    def __len__(self) -> int:
        return int(self.keys.size)

    def _find(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if keys.size < 4096:
            at = np.searchsorted(self.keys, keys)
        else:  # sorted needles: each search starts where the last ended (3x faster here)
            order = np.argsort(keys, kind="stable")
            at = np.empty(keys.size, dtype=np.int64)
            at[order] = np.searchsorted(self.keys, keys[order])
        found = at < self.keys.size
        found[found] = self.keys[at[found]] == keys[found]
        return at, found

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(found, announced price, stopped at) per key; NaN where absent."""
        return self._lookup(keys)[1:]

    def _lookup(
        self, keys: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(position, found, announced price, stopped at) per key."""
        at, found = self._find(keys)
        announced = np.full(keys.size, np.nan)
        stopped = np.full(keys.size, np.nan)
        announced[found] = self.announced[at[found]]
        stopped[found] = self.stopped_at[at[found]]
        return at, found, announced, stopped

    def decide(
        self,
        started: Pairs,
        stopped: Pairs,
        repriced: Pairs,
        now: float,
        *,
        muted_rules: np.ndarray,
        realert_after: float,
        price_drop: float,
    ) -> Decision:
        """What to announce for one snapshot's transitions, and the change that records it."""
        if not self.keys.size:
            return self._decide_afresh(started, muted_rules)
        s_keys = pair_keys(started.rule_ids, started.rows)
        s_at, s_found, s_announced, s_stopped = self._lookup(s_keys)
        s_fell = s_found & (started.prices <= s_announced * (1 - price_drop) + EPS)
        off_long = ~s_found | (now - s_stopped >= realert_after)  # NaN (still matching): False
        s_muted = member(started.rule_ids, muted_rules)
        s_announce = (off_long | s_fell) & ~s_muted

        r_keys = pair_keys(repriced.rule_ids, repriced.rows)
        r_at, r_found, r_announced, _ = self._lookup(r_keys)
        r_fell = r_found & (repriced.prices <= r_announced * (1 - price_drop) + EPS)
        r_announce = r_fell & ~member(repriced.rule_ids, muted_rules)

        t_keys = pair_keys(stopped.rule_ids, stopped.rows)
        t_at, t_found, t_announced, _ = self._lookup(t_keys)

        # started: announced -> new price; known but not announced -> matching again
        s_keep = s_announce | s_found
        keys = np.concatenate([s_keys[s_keep], r_keys[r_announce], t_keys[t_found]])
        announced = np.concatenate(
            [
                np.where(s_announce, started.prices, s_announced)[s_keep],
                repriced.prices[r_announce],
                t_announced[t_found],
            ]
        )
        stopped_at = np.concatenate(
            [np.full(int(s_keep.sum()) + int(r_announce.sum()), np.nan),
             np.full(int(t_found.sum()), float(now))]
        )  # fmt: skip
        order = np.argsort(keys, kind="stable")
        at = np.concatenate([s_at[s_keep], r_at[r_announce], t_at[t_found]])
        found = np.concatenate([s_found[s_keep], r_found[r_announce], t_found[t_found]])
        change = MemoryChange(keys[order], announced[order], stopped_at[order], _ints(),
                              (self.version, at[order], found[order]))  # fmt: skip
        if not r_announce.any():
            announce = started if s_announce.all() else started.take(np.flatnonzero(s_announce))
        else:
            announce = _join(started.take(np.flatnonzero(s_announce)),
                             repriced.take(np.flatnonzero(r_announce)))  # fmt: skip
        return Decision(announce, change)

    def _decide_afresh(self, started: Pairs, muted_rules: np.ndarray) -> Decision:
        """An empty memory (a first cycle): every start is news, nothing else is; the same
        decisions as `decide`, with a fraction of its temporary arrays (millions of pairs)."""
        muted = member(started.rule_ids, muted_rules)
        announce = started.take(np.flatnonzero(~muted)) if muted.any() else started
        keys = pair_keys(announce.rule_ids, announce.rows)
        # stable (timsort): merges the sorted runs a full evaluation yields (one per rule
        # group), about 3x faster than the default quicksort here; keys are unique anyway
        order = np.argsort(keys, kind="stable")
        change = MemoryChange(keys[order], announce.prices[order], np.full(keys.size, np.nan),
                              _ints())  # fmt: skip
        return Decision(announce, change)

    def shown(self, pairs: Pairs, *, replace_rule: int | None = None) -> MemoryChange:
        """These pairs were shown to their owner now (a `/watch` preview), optionally after
        forgetting everything about `replace_rule` (a rule saved, resumed or re-used)."""
        keys = pair_keys(pairs.rule_ids, pairs.rows)
        order = np.argsort(keys, kind="stable")
        purged = _ints() if replace_rule is None else np.array([replace_rule], dtype=np.int64)
        return MemoryChange(
            keys[order], pairs.prices[order], np.full(keys.size, np.nan), purged
        )

    def apply(self, change: MemoryChange) -> None:
        if change.purged_rules.size:
            self.forget_rules(change.purged_rules)
        if not change.keys.size:
            return
        self.version += 1
        if not self.keys.size:  # nothing to find; the change is spent once applied: ours now
            self.keys, self.announced, self.stopped_at = (
                change.keys, change.announced, change.stopped_at
            )
            return
        if change.positions is not None and change.positions[0] == self.version - 1:
            at, found = change.positions[1:]
        else:
            at, found = self._find(change.keys)
        self.announced[at[found]] = change.announced[found]
        self.stopped_at[at[found]] = change.stopped_at[found]
        new = ~found
        if not new.any():
            return
        # A linear merge: the new keys (sorted) go where searchsorted put them.
        where = at[new]
        placed = where + np.arange(where.size)
        old = np.ones(self.keys.size + where.size, dtype=bool)
        old[placed] = False
        self.keys = _merged(self.keys, change.keys[new], old, placed)
        self.announced = _merged(self.announced, change.announced[new], old, placed)
        self.stopped_at = _merged(self.stopped_at, change.stopped_at[new], old, placed)

    def forget_rules(self, rule_ids: np.ndarray) -> None:
        rules = np.unique(rule_ids.astype(np.int64))
        lo = np.searchsorted(self.keys, rules << _ROW_BITS)
        hi = np.searchsorted(self.keys, (rules + 1) << _ROW_BITS)
        if not (hi > lo).any():
            return
        marks = np.zeros(self.keys.size + 1, dtype=np.int64)
        np.add.at(marks, lo, 1)
        np.add.at(marks, hi, -1)
        self._keep(np.cumsum(marks[:-1]) == 0)

    def forget_stale(self, now: float, realert_after: float, rules: np.ndarray) -> int:
        """Drop entries that no longer change any decision: stopped at least `realert_after`
        ago (an absent entry decides the same), or of rules not in `rules`. Returns how many."""
        stale = now - self.stopped_at >= realert_after  # NaN: still matching, kept
        stale |= ~member(key_rules(self.keys), rules)
        if stale.any():
            self._keep(~stale)
        return int(stale.sum())

    def _keep(self, mask: np.ndarray) -> None:
        self.version += 1
        self.keys, self.announced = self.keys[mask], self.announced[mask]
        self.stopped_at = self.stopped_at[mask]

    def snapshot(self) -> MemoryChange:
        """The whole memory as one change (applied to an empty memory it rebuilds this one)."""
        return MemoryChange(self.keys.copy(), self.announced.copy(), self.stopped_at.copy(),
                            _ints())  # fmt: skip


def _merged(
    current: np.ndarray, added: np.ndarray, old: np.ndarray, placed: np.ndarray
) -> np.ndarray:
    out = np.empty(old.size, dtype=current.dtype)
    out[old] = current
    out[placed] = added
    return out


def _join(a: Pairs, b: Pairs) -> Pairs:
    return Pairs(
        np.concatenate([a.rule_ids, b.rule_ids]),
        np.concatenate([a.rows, b.rows]),
        np.concatenate([a.prices, b.prices]),
        a.ids,
        a.sid_number,
    )
