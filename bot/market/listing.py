"""Which machines a match alert lists: per user, the cheapest few distinct machines among
the pairs announced to them, and how many distinct machines there are in all.

A first cycle announces millions of pairs, so this is linear in the pairs: a pair's
(price, server id) becomes a rank among the few distinct (price, server) values, and
(user, rank) a cell of a users x ranks bitmap; the bitmap's set cells, read in order, are
every user's distinct machines, cheapest first, without sorting the pairs. When the bitmap
would be too large (very many users and servers) the pairs are sorted instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bot.market.matcher import Pairs

_MAX_CELLS = 1 << 26  # bytes of the bitmap (64 MB); above this, sort


@dataclass(frozen=True, slots=True)
class Listing:
    """`users` (ascending) and how many distinct machines each has in all (`totals`);
    `listed`: positions of the pairs to list, by user, then price, then server id as a
    number (one per machine: the pair of its lowest rule id); `listed_users` their user."""

    users: np.ndarray
    totals: np.ndarray
    listed: np.ndarray
    listed_users: np.ndarray


def _dense(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct values ascending, each value's index among them); values are small ints."""
    present = np.zeros(int(values.max()) + 1, dtype=bool)
    present[values] = True
    distinct = np.flatnonzero(present)
    index = np.cumsum(present) - 1
    return distinct, index[values]


def _price_ranks(pairs: Pairs) -> tuple[np.ndarray, int]:
    """Per pair, the rank of its (price, server id as a number) among all pairs', and how
    many ranks there are. Almost every pair of a server has the server's common price, so
    only servers plus the exceptions (an owner's own price to win) are sorted."""
    size = int(pairs.rows.max()) + 1
    seen = np.zeros(size, dtype=bool)
    seen[pairs.rows] = True
    common = np.zeros(size)
    common[pairs.rows] = pairs.prices  # one price per server, from some pair of it
    rows = np.flatnonzero(seen)
    exceptional = np.flatnonzero(pairs.prices != common[pairs.rows])
    sid = pairs.sid_number
    values_p = np.concatenate([common[rows], pairs.prices[exceptional]])
    values_s = np.concatenate([sid[rows], sid[pairs.rows[exceptional]]])
    order = np.lexsort((values_s, values_p))  # small: servers + exceptions
    # equal (price, server) values share a rank (several rules of one owner on one server)
    differs = np.ones(order.size, dtype=bool)
    differs[1:] = (np.diff(values_p[order]) != 0) | (np.diff(values_s[order]) != 0)
    rank_of = np.empty(order.size, dtype=np.int64)
    rank_of[order] = np.cumsum(differs) - 1
    row_rank = np.zeros(size, dtype=np.int64)
    row_rank[rows] = rank_of[: rows.size]
    rank = row_rank[pairs.rows]
    rank[exceptional] = rank_of[rows.size :]
    return rank, int(differs.sum())


def listing(pairs: Pairs, owners: np.ndarray, limit: int) -> Listing:
    """Per owner (a user id >= 0 per pair), the cheapest `limit` distinct machines (a
    machine several of the user's rules match is listed once, under the lowest rule id).

    A user's rules share one clore owner, hence one price per machine: a machine is one
    (user, price, server) cell.
    """
    users, dense = _dense(owners)
    rank, n_ranks = _price_ranks(pairs)
    if users.size * n_ranks > _MAX_CELLS:
        return _by_sorting(pairs, users, dense, rank, n_ranks, limit)
    cells = dense * n_ranks + rank
    bitmap = np.zeros(users.size * n_ranks, dtype=bool)
    bitmap[cells] = True
    machines = np.flatnonzero(bitmap)  # by user, then price and server: no sort needed
    # each user's machines are one run of `machines`: its bounds, not a user per machine
    bounds = np.searchsorted(machines, np.arange(users.size + 1, dtype=np.int64) * n_ranks)
    totals = np.diff(bounds)
    shown = machines[_first_of_runs(bounds[:-1], totals, limit)]
    # the lowest rule id of each shown cell: only the pairs of shown cells are sorted
    bitmap[:] = False
    bitmap[shown] = True
    candidates = np.flatnonzero(bitmap[cells])
    order = np.lexsort((pairs.rule_ids[candidates], cells[candidates]))
    candidates, their_cells = candidates[order], cells[candidates[order]]
    first = np.ones(candidates.size, dtype=bool)
    first[1:] = their_cells[1:] != their_cells[:-1]
    listed = candidates[first]
    return Listing(users, totals, listed, users[their_cells[first] // n_ranks])


def _first_of_runs(starts: np.ndarray, sizes: np.ndarray, limit: int) -> np.ndarray:
    """Positions of the first `limit` items of each run (`starts`, `sizes`), in order:
    users x limit positions, not one per machine."""
    steps = np.arange(limit, dtype=np.int64)
    return (starts[:, None] + steps)[steps < sizes[:, None]]


def _by_sorting(
    pairs: Pairs, users: np.ndarray, dense: np.ndarray, rank: np.ndarray, n_ranks: int,
    limit: int,
) -> Listing:  # fmt: skip
    """The same as `listing`, by one sort of every pair (for a bitmap too large)."""
    width_rule = int(pairs.rule_ids.max()) + 1
    if users.size * n_ranks * width_rule < 2**62:
        order = np.argsort((dense * n_ranks + rank) * width_rule + pairs.rule_ids)
    else:
        order = np.lexsort((pairs.rule_ids, rank, dense))
    owners, cells = dense[order], rank[order]
    first = np.ones(order.size, dtype=bool)
    first[1:] = (owners[1:] != owners[:-1]) | (cells[1:] != cells[:-1])
    order, owners = order[first], owners[first]
    totals = np.bincount(owners, minlength=users.size)
    listed = _first_of_runs(np.cumsum(totals) - totals, totals, limit)
    return Listing(users, totals, order[listed], users[owners[listed]])
