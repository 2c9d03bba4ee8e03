"""Bulk, incremental matching of many watch rules against the GigaSPOT snapshot.

Design (docs/market-contract.md gives the meaning; `rules.rule_matches` is the reference):
- servers live in numpy columns (`columns.ServerTable`), one row per server id;
- rules are compiled and grouped by GPU conditions (`compiled.RuleGroup`); a group is checked
  only against servers whose GPU list fits, as a (rules x servers) boolean matrix;
- the price to win is computed once per server with every active bid competing, and
  corrected only where a rule's owner has an active bid on the server;
- `update` re-evaluates only servers whose JSON changed (everything when the CLORE price
  changed) and reports what started, stopped or changed price, and how tracked bids stand
  (`bids.BidTracker`);
- matches and transitions are columns (`Pairs`), never one object per pair; a cycle marks
  the matches of re-evaluated servers dead and appends what it found, and the millions of
  others are copied only by an occasional compaction.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from bot.market import ranking
from bot.market.bids import BidChange, BidTracker
from bot.market.columns import GpuListInterner, IdInterner, Interner, ServerTable
from bot.market.compiled import (
    GroupKey,
    Member,
    RuleGroup,
    Signature,
    build_group,
    category_entry,
    group_key,
)
from bot.market.history import Aggregate, SeriesIndex, SeriesKey, aggregate, median_table
from bot.market.rules import Rule, uses_deal
from bot.market.snapshot import EMPTY, Snapshot, changed_servers

_BLOCK = 1 << 21  # cells of one (rules x servers) matrix: bounded memory, cache friendly
# Pair keys of a cycle's re-evaluated servers a bitmap may cover (bytes, kept between cycles);
# beyond it (a full re-evaluation after a CLORE price change) keys are sorted instead.
_MARKS = 1 << 24
_COLUMN = {"price": "ptw"}
_PRICES = ("price", "pergpu", "deal")  # depend on the rule owner's price to win
_MAY_BE_NAN = ("pergpu", "deal")
_FLAG_COLUMNS = (("online", 1), ("working", 2), ("rented", 3))


class Match(msgspec.Struct, frozen=True, gc=False):
    rule_id: int
    server_id: str
    price_to_win: float


class Repriced(msgspec.Struct, frozen=True, gc=False):
    rule_id: int
    server_id: str
    old: float
    new: float


_Pairs = tuple[np.ndarray, np.ndarray, np.ndarray]  # rule ids, rows, prices to win


def _empty_pairs() -> _Pairs:
    return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64)


@dataclass(frozen=True, slots=True)
class Pairs:
    """(rule, server) pairs as columns: no Python object per pair until one is asked for.

    `rows` are the matcher's server rows (a row means one server id for the matcher's
    lifetime); `ids` is the matcher's row -> server id list, `sid_number` its row -> id as a
    number. `old_prices` is set for repriced pairs (the price before).
    """

    rule_ids: np.ndarray
    rows: np.ndarray
    prices: np.ndarray
    ids: list[str]
    sid_number: np.ndarray
    old_prices: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.rule_ids.size)

    def server_ids(self) -> list[str]:
        rows = self.rows.tolist()
        if len(rows) < 2:
            return [self.ids[row] for row in rows]
        return list(operator.itemgetter(*rows)(self.ids))  # C speed

    def sorted(self) -> Pairs:
        """By rule id, then server id as a number."""
        order = np.lexsort((self.sid_number[self.rows], self.rule_ids))
        return self.take(order)

    def by_price(self) -> Pairs:
        """Cheapest first, then server id as a number."""
        order = np.lexsort((self.sid_number[self.rows], self.prices))
        return self.take(order)

    def take(self, at: np.ndarray) -> Pairs:
        old = None if self.old_prices is None else self.old_prices[at]
        return Pairs(self.rule_ids[at], self.rows[at], self.prices[at], self.ids,
                     self.sid_number, old)  # fmt: skip

    def matches(self) -> list[Match]:
        """One `Match` per pair, in this order (for what becomes a message, and tests)."""
        return list(map(Match, self.rule_ids.tolist(), self.server_ids(), self.prices.tolist()))

    def repriced(self) -> list[Repriced]:
        assert self.old_prices is not None
        return list(
            map(Repriced, self.rule_ids.tolist(), self.server_ids(), self.old_prices.tolist(),
                self.prices.tolist())
        )  # fmt: skip


@dataclass(slots=True)
class Transitions:
    started: Pairs
    stopped: Pairs  # price to win as last seen
    repriced: Pairs  # with old_prices
    bids: list[BidChange] = field(default_factory=list)  # first seen, or news (see bids.py)
    gone_bids: list[ranking.BidStanding] = field(default_factory=list)  # last known standing


def _concat(parts: list[_Pairs]) -> _Pairs:
    if not parts:
        return _empty_pairs()
    if len(parts) == 1:
        return parts[0]
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))  # type: ignore[return-value]


class Matcher:
    """Rules (id -> rule, owner), the applied snapshot, and the matches between them.

    Not thread-safe: one caller at a time (the bot serialises calls with a lock).
    """

    def __init__(self) -> None:
        self._interners = {
            "gpus": GpuListInterner(),
            **{kind: Interner(category_entry) for kind in ("cc", "cpu", "cuda")},
            "host": IdInterner(),
            "server": IdInterner(),
        }
        self._table = ServerTable(self._interners)
        self._snapshot: Snapshot | None = None
        self._clore: float | None = None
        self._rules: dict[int, GroupKey] = {}  # rule id -> its group
        self._rule_owners: dict[int, int] = {}  # owner -> how many rules it has
        self._owner_ids: np.ndarray | None = None  # sorted `_rule_owners`, when asked for
        self._members: dict[GroupKey, dict[int, Member]] = {}
        self._groups: dict[GroupKey, RuleGroup] = {}
        self._dirty: set[GroupKey] = set()
        self._live_ids: np.ndarray | None = None  # sorted rule ids, for dense pair keys
        self._place_of: np.ndarray | None = None  # rule id -> place in _live_ids
        self._marks = np.zeros(0, dtype=bool)  # see _compare
        # Every current match as parallel arrays (rule id, row, price to win), in no order;
        # `_pairs[_live]` plus every segment in `_extra` (pairs found later: new matches of a
        # cycle, a rule's matches from set_rule). A cycle marks the pairs of the servers it
        # re-evaluates dead instead of copying millions of live ones; `_all_pairs` compacts.
        self._pairs: _Pairs = _empty_pairs()
        self._live = np.zeros(0, dtype=bool)
        self._extra: list[_Pairs] = []
        self._row_owners: dict[int, frozenset[int]] = {}  # owners of active bids per row
        self._owner_rows: dict[int, set[int]] = {}
        self._bids = BidTracker()
        self._no_pairs = self._pairs_of(*_empty_pairs())
        # `deal`: the 7-day median per GPU of each series (bot.market.history), as a table per
        # GPU-list code; new medians take effect at the next update.
        self._medians: dict[SeriesKey, float] = {}
        self._pending_medians: dict[SeriesKey, float] | None = None
        self._median_codes = np.zeros(0)
        self._deal_rules: set[int] = set()

    # ------------------------------------------------------------------ rules

    def set_rule(self, rule_id: int, rule: Rule, owner: int | None) -> Pairs:
        """Add or replace a rule; return its current matches (never reported as started),
        cheapest first."""
        if rule_id in self._rules:
            self.remove_rule(rule_id)
        key = group_key(rule)
        member = Member(rule_id, rule, owner)
        if owner is not None:
            self._rule_owners[owner] = self._rule_owners.get(owner, 0) + 1
            self._owner_ids = None
        self._rules[rule_id] = key
        if uses_deal(rule):
            self._deal_rules.add(rule_id)
        self._members.setdefault(key, {})[rule_id] = member
        self._dirty.add(key)
        self._live_ids = None
        if self._snapshot is None:
            return self._no_pairs  # shared: thousands of rules are set before the first snapshot
        rule_ids, rows, ptws = self._evaluate_one(build_group(key, [member]), self._alive_rows())
        self._extra.append((rule_ids, rows, ptws))
        return self._pairs_of(rule_ids, rows, ptws).by_price()

    def remove_rule(self, rule_id: int) -> None:
        key = self._rules.pop(rule_id, None)
        if key is None:
            return
        self._deal_rules.discard(rule_id)
        members = self._members[key]
        owner = members[rule_id].owner
        if owner is not None:
            self._rule_owners[owner] -= 1
            if not self._rule_owners[owner]:
                del self._rule_owners[owner]
                self._owner_ids = None
        del members[rule_id]
        if not members:
            del self._members[key]
        self._dirty.add(key)
        self._live_ids = None
        rule_ids, rows, ptws = self._all_pairs()
        keep = rule_ids != rule_id
        self._set_pairs((rule_ids[keep], rows[keep], ptws[keep]))

    def matches(self, rule_id: int) -> dict[str, float]:
        """Current matches of a rule: server id -> price to win for the rule's owner."""
        rule_ids, rows, ptws = self._all_pairs()
        mine = rule_ids == rule_id
        ids = self._table.ids
        return {ids[r]: p for r, p in zip(rows[mine].tolist(), ptws[mine].tolist(), strict=True)}

    def match_count(self) -> int:
        return int(self._all_pairs()[0].size)

    @property
    def rule_ids(self) -> set[int]:
        return set(self._rules)

    def tracked_standings(self) -> list[ranking.BidStanding]:
        """The tracked owners' active bids as of the last update (see `bids.BidTracker`)."""
        return self._bids.standings()

    def server_ids(self, rows: np.ndarray) -> list[str]:
        return self._pairs_of(rows, rows, np.zeros(rows.size)).server_ids()

    def rows_of(self, server_ids: list[str]) -> np.ndarray:
        """Rows of these server ids; ids never seen get (dead) rows of their own."""
        self._table.add(sorted(set(server_ids) - self._table.rows.keys(), key=int))
        rows = self._table.rows
        return np.array([rows[sid] for sid in server_ids], dtype=np.int64)

    def _pairs_of(
        self, rule_ids: np.ndarray, rows: np.ndarray, prices: np.ndarray,
        old_prices: np.ndarray | None = None,
    ) -> Pairs:  # fmt: skip
        return Pairs(rule_ids, rows, prices, self._table.ids, self._table.sid_number, old_prices)

    def _all_pairs(self) -> _Pairs:
        """Every current match as one array triple (compacting what cycles left)."""
        if self._extra or not self._live.all():
            live = self._pairs if self._live.all() else _take(self._pairs, self._live)
            self._set_pairs(live if not self._extra else _concat([live, *self._extra]))
        return self._pairs

    def _set_pairs(self, pairs: _Pairs) -> None:
        self._pairs, self._live, self._extra = pairs, np.ones(pairs[0].size, dtype=bool), []

    def evaluate(
        self,
        rule: Rule,
        owner: int | None,
        snapshot: Snapshot | None = None,
        clore_price: float | None = None,
    ) -> Pairs:
        """Matches of one rule, by price then server id (rule_id -1); nothing is stored.

        Without `snapshot`: against the applied snapshot and its CLORE price; with one:
        against it and `clore_price`.
        """
        if snapshot is not None and (snapshot is not self._snapshot or clore_price != self._clore):
            other = Matcher()
            other.set_medians(self._pending_medians or self._medians)
            other.update(snapshot, clore_price)
            return other.evaluate(rule, owner)
        if self._snapshot is None:
            return self._pairs_of(*_empty_pairs())
        group = build_group(group_key(rule), [Member(-1, rule, owner)])
        return self._pairs_of(*self._evaluate_one(group, self._alive_rows())).by_price()

    def set_medians(self, medians: Mapping[SeriesKey, float]) -> None:
        """The 7-day medians `deal` compares with (series with a day of history only); they
        take effect at the next `update`, which re-evaluates the servers whose median moved
        when some rule uses `deal`."""
        self._pending_medians = dict(medians)

    @property
    def medians(self) -> dict[SeriesKey, float]:
        return self._medians

    def _take_medians(self) -> np.ndarray:
        """Apply pending medians; the live rows to re-evaluate because of them."""
        pending, self._pending_medians = self._pending_medians, None
        lists = self._interners["gpus"].values
        old = self._median_table()
        if pending is None or pending == self._medians:
            return np.zeros(0, dtype=np.int64)
        self._medians = pending
        self._median_codes = median_table(lists, pending)
        if not self._deal_rules or self._snapshot is None:
            return np.zeros(0, dtype=np.int64)
        new = self._median_codes
        moved = ~((old == new) | (np.isnan(old) & np.isnan(new)))
        size = self._table.size
        rows = np.flatnonzero(moved[self._table.codes["gpus"][:size]])
        alive: np.ndarray = rows[self._table.bools["alive"][rows]].astype(np.int64)
        return alive

    def _median_table(self) -> np.ndarray:
        """Median per GPU-list code, extended when new GPU lists appeared."""
        lists = self._interners["gpus"].values
        if self._median_codes.size != len(lists):
            self._median_codes = median_table(lists, self._medians)
        return self._median_codes

    def _deal(self, rows: np.ndarray, prices: np.ndarray | None = None) -> np.ndarray:
        """Percent below the median per GPU at these rows (NaN: no median); `prices` are
        prices to win for the whole server (default: the common ones)."""
        medians = self._median_table()[self._table.codes["gpus"][rows]]
        per_gpu = self._table.floats["pergpu"][rows]
        if prices is not None:
            n_gpus = self._table.ngpus[rows]
            per_gpu = np.full(rows.size, np.nan)
            np.divide(prices, n_gpus, out=per_gpu, where=n_gpus > 0)
        deal: np.ndarray = (medians - per_gpu) / medians * 100
        return deal

    def history(self, index: SeriesIndex) -> Aggregate:
        """The applied snapshot's price figures per series (`bot.market.history`)."""
        return aggregate(self._table, self._interners["gpus"].values, index)

    def track_owners(self, owners: set[int]) -> None:
        """Watch the bids of these clore user ids (replaces the previous set)."""
        self._bids.track(owners)

    # ------------------------------------------------------------------ update

    def update(self, snapshot: Snapshot, clore_price: float | None) -> Transitions:
        """Apply a new snapshot; report what changed since the previous one."""
        full = self._snapshot is None or not _same_price(clore_price, self._clore)
        refresh = self._take_medians()
        if (
            not full
            and snapshot is self._snapshot
            and not self._bids.newly_tracked
            and not refresh.size
        ):
            return self._no_transitions()
        old = self._snapshot or EMPTY
        if full:
            changed = list(snapshot.servers)
            removed = [sid for sid in old.servers if sid not in snapshot.servers]
        else:
            changed, removed = changed_servers(old, snapshot)
        self._snapshot, self._clore = snapshot, clore_price
        table = self._table
        removed_rows = [table.rows[sid] for sid in removed]
        for row in removed_rows:
            table.remove(row)
            self._set_owners(row, frozenset())
        # New servers get rows in id order: pairs then come out nearly sorted (see _order).
        table.add(sorted((sid for sid in changed if sid not in table.rows), key=int))
        changed_rows = [table.rows[sid] for sid in changed]
        servers = [snapshot.servers[sid] for sid in changed]
        before = table.floats["ptw"][: table.size].copy()  # common prices to win until now
        table.put(changed_rows, servers, clore_price)
        for row, server in zip(changed_rows, servers, strict=True):
            if server.bids or row in self._row_owners:
                self._set_owners(row, frozenset(b.owner for b in server.bids if b.active))
        rows = np.array(sorted(changed_rows), dtype=np.int64)
        if refresh.size:  # servers whose median moved, for rules with `deal`
            refresh = refresh[table.bools["alive"][refresh]]
            rows = np.union1d(rows, refresh).astype(np.int64)
        transitions = self._diff(rows, np.array(removed_rows, dtype=np.int64), before)
        transitions.bids, transitions.gone_bids = self._bids.update(
            snapshot, clore_price, changed, removed, self._owner_rows, self._owners_of, table.ids
        )
        return transitions

    # ------------------------------------------------------------------ evaluation

    def _alive_rows(self) -> np.ndarray:
        return np.flatnonzero(self._table.bools["alive"][: self._table.size]).astype(np.int64)

    def _current_groups(self) -> list[RuleGroup]:
        for key in self._dirty:
            members = self._members.get(key)
            if members:
                self._groups[key] = build_group(key, list(members.values()))
            else:
                self._groups.pop(key, None)
        self._dirty.clear()
        return list(self._groups.values())

    def _evaluate(self, rows: np.ndarray) -> _Pairs:
        """Every (rule, row) match among `rows`, in no particular order."""
        if not rows.size:
            return _empty_pairs()
        shared: dict[object, Any] = {}
        parts: list[_Pairs] = []
        for group in self._current_groups():
            self._evaluate_group(group, rows, shared, parts)
        return _concat(parts)

    def _evaluate_one(self, group: RuleGroup, rows: np.ndarray) -> _Pairs:
        parts: list[_Pairs] = []
        self._evaluate_group(group, rows, {}, parts)
        return _concat(parts)

    def _evaluate_group(
        self,
        group: RuleGroup,
        rows: np.ndarray,
        shared: dict[object, Any],
        parts: list[_Pairs],
    ) -> None:
        """Appends the matches of one group among `rows` to `parts` (one concatenation at
        the end copies millions of pairs once, not once per level); `shared` caches what
        groups have in common."""
        table = self._table
        flags = group.key[1:]
        ok = shared.get(flags)
        if ok is None:
            ok = table.bools["alive"][rows] & table.bools["rentable"][rows]
            for name, position in _FLAG_COLUMNS:
                setting = group.key[position]
                if setting != "any":
                    ok &= table.bools[name][rows] == (setting == "yes")
            shared[flags] = ok
        if "gpus" not in shared:
            shared["gpus"] = table.codes["gpus"][rows]
        gpu_table = self._interners["gpus"].table(group.key[0], np.float64)
        counts = gpu_table[shared["gpus"]]
        ok = ok & (counts >= 0)
        servers, counts = rows[ok], counts[ok]
        columns = {
            name: counts
            if name == "gpus"
            else self._deal(servers)
            if name == "deal"
            else table.floats[_COLUMN.get(name, name)][servers]
            for name in group.numeric
        }
        # A key every rule of the group has bounds the servers worth a look for all of them.
        keep = np.ones(servers.size, dtype=bool)
        # An owner's own price to win is never above the common one, and differs from it only
        # where the owner bids: there a price above the group's upper bounds may still match.
        bids_here = None
        if group.owned_owner.size:
            if "owner prices" not in shared:
                shared["owner prices"] = self._owner_prices(rows)
            owners, owner_rows, _ = shared["owner prices"]
            theirs = _ranges(owners, group.owners)  # np.isin: ms per group
            if theirs.size:
                marked = np.zeros(table.size, dtype=bool)
                marked[owner_rows[theirs]] = True
                bids_here = marked[servers]
        for name, (lo, hi) in group.numeric.items():
            if group.having[name].size == len(group.rules):
                above = columns[name] >= lo.min()
                below = columns[name] <= hi.max()
                if bids_here is not None and name in _PRICES:
                    # a lower own price: a lower price and pergpu, a higher deal
                    if name == "deal":
                        above |= bids_here
                    else:
                        below |= bids_here
                keep &= above & below
        if not keep.all():
            servers = servers[keep]
            columns = {name: column[keep] for name, column in columns.items()}
        if not servers.size:
            return
        categories = {
            kind: (self._stacked(group, kind, signatures), index, table.codes[kind][servers])
            for kind, (signatures, index) in group.categories.items()
        }
        corrections = self._corrections(group, rows, servers, shared)
        step = max(1, _BLOCK // servers.size)
        for start in range(0, len(group.rules), step):
            self._evaluate_block(
                group, start, min(start + step, len(group.rules)), servers, columns, categories,
                corrections, parts,
            )  # fmt: skip

    def _evaluate_block(
        self,
        group: RuleGroup,
        start: int,
        stop: int,
        servers: np.ndarray,
        columns: dict[str, np.ndarray],
        categories: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
        corrections: _Pairs,
        parts: list[_Pairs],
    ) -> None:
        """Rules start..stop of `group` against `servers`, one (rules x servers) matrix.

        A condition most rules have is applied to the whole matrix (absent = unbounded);
        a rare one only to the rows of the rules that have it.
        """
        found = np.ones((stop - start, servers.size), dtype=bool)
        for kind, (tables, index, codes) in categories.items():
            having = group.having[kind]
            having = having[(having >= start) & (having < stop)]
            if 2 * having.size > stop - start:
                found &= tables[index[start:stop, None], codes]
            elif having.size:
                found[having - start] &= tables[index[having, None], codes]
        local, column, ptw = corrections
        mine = (local >= start) & (local < stop)
        local, column, ptw = local[mine], column[mine], ptw[mine]
        others_hold = None
        # Price conditions last: where a rule's owner bids, its own price to win replaces the
        # common one, so the verdict of the other conditions is read off the matrix first.
        for name, (lo, hi) in sorted(group.numeric.items(), key=lambda item: item[0] in _PRICES):
            if others_hold is None and name in _PRICES:
                others_hold = found[local - start, column]
            having = group.having[name]
            having = having[(having >= start) & (having < stop)]
            values = columns[name]
            if 2 * having.size > stop - start and name not in _MAY_BE_NAN:
                found &= values >= lo[start:stop, None]
                found &= values <= hi[start:stop, None]
            elif having.size:
                found[having - start] &= (values >= lo[having, None]) & (values <= hi[having, None])
        if others_hold is None:
            others_hold = found[local - start, column]
        if local.size:
            found[local - start, column] = False
            rows = servers[column]
            fits = others_hold & self._prices_fit(group, local, rows, ptw)
            if fits.any():
                parts.append((group.rule_ids[local[fits]], rows[fits], ptw[fits]))
        # 1-D search then divmod: several times faster than np.nonzero on a 2-D matrix
        hit_rules, hit_columns = np.divmod(np.flatnonzero(found), servers.size)
        if hit_rules.size:
            rows = servers[hit_columns]
            ptws = self._table.floats["ptw"][rows]
            parts.append((group.rule_ids[start:stop][hit_rules], rows, ptws))

    def _stacked(self, group: RuleGroup, kind: str, signatures: list[Signature]) -> np.ndarray:
        """The group's (signatures x interned values) table of one kind, kept while no new
        value is interned (a cycle re-evaluating a few servers reuses it)."""
        interner = self._interners[kind]
        cached = group.stacked.get(kind)
        if cached is not None and cached[0] == len(interner.values):
            return cached[1]
        stacked = np.stack([interner.table(sig) for sig in signatures])
        group.stacked[kind] = (len(interner.values), stacked)
        return stacked

    def _owner_prices(self, rows: np.ndarray) -> _Pairs:
        """(owner, row, price to win) among `rows` where an owner with rules bids and its
        own price to win differs from the common one; sorted by owner, then row. Only the
        owner of the best bid can have a price of its own (see `ranking.prices_to_win`)."""
        if not self._rule_owners:
            return _empty_pairs()
        table = self._table
        if self._owner_ids is None:
            self._owner_ids = np.array(sorted(self._rule_owners), dtype=np.int64)
        leaders, own = table.leader[rows], table.floats["lead_ptw"][rows]
        # NaN (no bid) differs from every price: `leader` is -1 there, never a rule owner
        differs = own != table.floats["ptw"][rows]
        at = np.flatnonzero(differs & np.isin(leaders, self._owner_ids))
        at = at[np.argsort(leaders[at], kind="stable")]  # rows stay in order per owner
        return leaders[at], rows[at], own[at]

    def _corrections(
        self, group: RuleGroup, rows: np.ndarray, servers: np.ndarray, shared: dict[object, Any]
    ) -> _Pairs:
        """(rule position, server column, price to win) where the rule's owner bids."""
        if not group.owned_owner.size:
            return _empty_pairs()
        if "owner prices" not in shared:
            shared["owner prices"] = self._owner_prices(rows)
        owners, owner_rows, owner_ptws = shared["owner prices"]
        first = np.searchsorted(owners, group.owned_owner, side="left")
        counts = np.searchsorted(owners, group.owned_owner, side="right") - first
        total = int(counts.sum())
        if not total:
            return _empty_pairs()
        # expand every owned rule into its owner's (row, price) entries
        starts = np.repeat(first - (np.cumsum(counts) - counts), counts)
        at = np.arange(total) + starts
        local = np.repeat(group.owned_local, counts)
        hit_rows, ptws = owner_rows[at], owner_ptws[at]
        column = np.searchsorted(servers, hit_rows)
        inside = column < servers.size
        inside[inside] &= servers[column[inside]] == hit_rows[inside]
        return local[inside], column[inside], ptws[inside]

    def _prices_fit(
        self, group: RuleGroup, local: np.ndarray, rows: np.ndarray, ptw: np.ndarray
    ) -> np.ndarray:
        """Do these prices to win satisfy the price and pergpu conditions of these rules?"""
        fits = np.ones(local.size, dtype=bool)
        if "price" in group.numeric:
            lo, hi = group.numeric["price"]
            fits &= (ptw >= lo[local]) & (ptw <= hi[local])
        if "pergpu" in group.numeric:
            lo, hi = group.numeric["pergpu"]
            n_gpus = self._table.ngpus[rows]
            pergpu = np.full(local.size, np.nan)
            np.divide(ptw, n_gpus, out=pergpu, where=n_gpus > 0)
            asks = np.isin(local, group.having["pergpu"])
            fits &= ~asks | ((pergpu >= lo[local]) & (pergpu <= hi[local]))
        if "deal" in group.numeric:
            lo, hi = group.numeric["deal"]
            deal = self._deal(rows, ptw)
            asks = np.isin(local, group.having["deal"])
            fits &= ~asks | ((deal >= lo[local]) & (deal <= hi[local]))
        return fits

    # ------------------------------------------------------------------ diff

    def _diff(self, rows: np.ndarray, removed_rows: np.ndarray, before: np.ndarray) -> Transitions:
        """Re-evaluate `rows`; what started, stopped or changed price there and at
        `removed_rows`. `before`: each row's common price to win before this update."""
        new_ids, new_rows, new_ptws = self._evaluate(rows)
        touched = np.zeros(self._table.size, dtype=bool)
        touched[rows] = True
        touched[removed_rows] = True
        if not self._pairs[0].size and not self._extra:  # e.g. the first snapshot
            self._set_pairs((new_ids, new_rows, new_ptws))
            none = _empty_pairs()
            return Transitions(
                started=self._pairs_of(new_ids, new_rows, new_ptws),
                stopped=self._pairs_of(*none),
                repriced=self._pairs_of(*none, none[2]),
            )
        # The pairs of re-evaluated servers: out of the live set, without copying the rest.
        gone = self._live & touched[self._pairs[1]]
        olds = [_take(self._pairs, gone)]
        self._live[gone] = False
        extra = []
        for segment in self._extra:
            mine = touched[segment[1]]
            olds.append(_take(segment, mine))
            extra.append(_take(segment, ~mine))
        self._extra = [*extra, (new_ids, new_rows, new_ptws)]
        dead = self._live.size - int(np.count_nonzero(self._live))
        if dead + sum(e[0].size for e in self._extra) > self._live.size // 2:
            self._all_pairs()  # amortised: a compaction after about every 5th busy cycle
        old = _concat(olds)
        started, stopped, repriced, old_prices = self._compare(
            old, (new_ids, new_rows, new_ptws), np.concatenate((rows, removed_rows)), before
        )
        return Transitions(
            started=self._pairs_of(new_ids[started], new_rows[started], new_ptws[started]),
            stopped=self._pairs_of(*_take(old, stopped)),
            repriced=self._pairs_of(
                new_ids[repriced], new_rows[repriced], new_ptws[repriced], old_prices
            ),
        )

    def _rule_places(self) -> tuple[Callable[[np.ndarray], np.ndarray], int]:
        """(rule ids -> their places among the rules, how many places there are)."""
        if self._live_ids is None:
            live = self._live_ids = np.array(sorted(self._rules), dtype=np.int64)
            # a table indexed by rule id while ids are dense enough: 10x a binary search
            if live.size and live[0] >= 0 and live[-1] < 4 * live.size + (1 << 16):
                self._place_of = np.zeros(int(live[-1]) + 1, dtype=np.int64)
                self._place_of[live] = np.arange(live.size)
            else:
                self._place_of = None
        live, table = self._live_ids, self._place_of
        if table is None:
            return (lambda ids: np.searchsorted(live, ids)), live.size + 1
        return table.__getitem__, live.size + 1

    def _compare(
        self, old: _Pairs, new: _Pairs, span: np.ndarray, before: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(started, stopped, repriced, old prices of the repriced) between the old and the
        new pairs of the rows in `span`: masks over `new`, `old`, `new`, and an array.

        A pair is a key (row's place in `span`, rule's place among the rules). While that
        key space is small (a cycle re-evaluating a share of the servers) membership is
        looked up in a bitmap; an old price is only needed where a pair's price is not its
        row's common price (an owner's own), as the others follow from `before`."""
        (old_ids, old_rows, old_ptws), (new_ids, new_rows, new_ptws) = old, new
        place, width = self._rule_places()
        rank = np.zeros(self._table.size, dtype=np.int64)
        rank[span] = np.arange(span.size)
        old_keys = rank[old_rows] * width + place(old_ids)
        new_keys = rank[new_rows] * width + place(new_ids)
        if span.size * width > _MARKS or not (old_ids.size and new_ids.size):
            return _compare_sorted(old_keys, new_keys, old_ptws, new_ptws)
        marks = self._marks
        if marks.size < span.size * width:
            marks = self._marks = np.zeros(span.size * width, dtype=bool)
        # `marks` is all False between calls: every key set here is cleared again
        marks[new_keys] = True
        in_new = marks[old_keys]
        marks[new_keys] = False
        marks[old_keys] = True
        in_old = marks[new_keys]
        marks[old_keys] = False
        now = self._table.floats["ptw"]
        own_old = old_keys[in_new & (old_ptws != before[old_rows])]
        own_new = new_keys[in_old & (new_ptws != now[new_rows])]
        marks[own_old] = True
        marks[own_new] = True
        exact_old = np.flatnonzero(in_new & marks[old_keys])
        exact_new = np.flatnonzero(in_old & marks[new_keys])
        marks[own_old] = False
        marks[own_new] = False
        plain = in_old.copy()
        plain[exact_new] = False
        repriced = plain & (before[new_rows] != now[new_rows])
        old_prices = np.where(repriced, before[new_rows], np.nan)
        old_at, new_at = _common(old_keys[exact_old], new_keys[exact_new])
        old_at, new_at = exact_old[old_at], exact_new[new_at]
        moved = old_ptws[old_at] != new_ptws[new_at]
        repriced[new_at[moved]] = True
        old_prices[new_at[moved]] = old_ptws[old_at[moved]]
        return ~in_old, ~in_new, repriced, old_prices[repriced]

    def _no_transitions(self) -> Transitions:
        none = self._pairs_of(*_empty_pairs())
        return Transitions(none, none, self._pairs_of(*_empty_pairs(), np.zeros(0)))

    # ------------------------------------------------------------------ bids

    def _set_owners(self, row: int, owners: frozenset[int]) -> None:
        for owner in self._row_owners.pop(row, frozenset()):
            rows = self._owner_rows[owner]
            rows.discard(row)
            if not rows:
                del self._owner_rows[owner]
        if owners:
            self._row_owners[row] = owners
            for owner in owners:
                self._owner_rows.setdefault(owner, set()).add(row)

    def _owners_of(self, server_id: str) -> frozenset[int]:
        return self._row_owners.get(self._table.rows[server_id], frozenset())


def _ranges(ordered: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Positions in `ordered` (sorted) of every entry equal to one of `values` (unique)."""
    first = np.searchsorted(ordered, values, side="left")
    counts = np.searchsorted(ordered, values, side="right") - first
    total = int(counts.sum())
    if not total:
        return np.zeros(0, dtype=np.int64)
    return np.repeat(first - (np.cumsum(counts) - counts), counts) + np.arange(total)


def _common(old: np.ndarray, new: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions in `old` and in `new` of the keys in both, in key order: what
    `np.intersect1d(..., assume_unique=True, return_indices=True)` gives, three times
    faster. Keys are unique on each side, so equal keys sort next to each other in twos and
    an unstable (much faster) sort will do."""
    both = np.concatenate((old, new))
    order = np.argsort(both)
    ordered = both[order]
    same = np.flatnonzero(ordered[1:] == ordered[:-1])
    first, second = order[same], order[same + 1]
    old_first = first < old.size
    return np.where(old_first, first, second), np.where(old_first, second, first) - old.size


def _compare_sorted(
    old_keys: np.ndarray, new_keys: np.ndarray, old_ptws: np.ndarray, new_ptws: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`Matcher._compare` by sorting the keys: for a key space too large for a bitmap."""
    old_at, new_at = _common(old_keys, new_keys)
    stopped = np.ones(old_keys.size, dtype=bool)
    stopped[old_at] = False
    started = np.ones(new_keys.size, dtype=bool)
    started[new_at] = False
    moved = old_ptws[old_at] != new_ptws[new_at]
    repriced = np.zeros(new_keys.size, dtype=bool)
    repriced[new_at[moved]] = True
    old_prices = np.full(new_keys.size, np.nan)
    old_prices[new_at] = old_ptws[old_at]
    return started, stopped, repriced, old_prices[repriced]


def _take(pairs: _Pairs, at: np.ndarray) -> _Pairs:
    return pairs[0][at], pairs[1][at], pairs[2][at]


def _same_price(a: float | None, b: float | None) -> bool:
    return a == b or (a is None and b is None)
