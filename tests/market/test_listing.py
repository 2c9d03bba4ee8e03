"""`bot.market.listing`: the bitmap path and the sorting path list the same machines, in
the same order, as a plain Python reading (cheapest first, a machine once, lowest rule)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from bot.market import listing as listing_module
from bot.market.listing import listing
from bot.market.matcher import Pairs


def _plain(triples: dict[tuple[int, int], float], owner_of: dict[int, int], sid: list[int],
           limit: int) -> dict[int, tuple[int, list[tuple[int, float, int]]]]:  # fmt: skip
    found: dict[int, list[tuple[int, float, int]]] = {}
    for (rule, row), price in sorted(triples.items(), key=lambda kv: (kv[1], sid[kv[0][1]],
                                                                       kv[0][0])):  # fmt: skip
        machines = found.setdefault(owner_of[rule], [])
        if all(r != row for r, _, _ in machines):
            machines.append((row, price, rule))
    return {user: (len(m), m[:limit]) for user, m in found.items()}


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("bitmap", [True, False])
def test_listing_equals_a_plain_sort(seed: int, bitmap: bool, monkeypatch) -> None:
    if not bitmap:
        monkeypatch.setattr(listing_module, "_MAX_CELLS", 0)
    rng = random.Random(seed)
    sid = rng.sample(range(1, 10_000), 30)
    owner_of = {rule: rng.randrange(0, 8) for rule in rng.sample(range(1, 300), 15)}
    common = {row: rng.choice([1.0, 2.5, 2.5, 4.0]) for row in range(len(sid))}
    triples = {}
    for rule, owner in owner_of.items():
        for row in rng.sample(range(len(sid)), rng.randrange(0, 25)):
            # an owner's own bids lower its price on some servers, for all of its rules
            triples[(rule, row)] = common[row] - (0.5 if (owner + row) % 5 == 0 else 0.0)
    if not triples:
        return
    keys = list(triples)
    rng.shuffle(keys)
    pairs = Pairs(
        np.array([k[0] for k in keys], dtype=np.int64),
        np.array([k[1] for k in keys], dtype=np.int64),
        np.array([triples[k] for k in keys]),
        [str(n) for n in sid],
        np.array(sid, dtype=np.int64),
    )
    owners = np.array([owner_of[k[0]] for k in keys], dtype=np.int64)
    found = listing(pairs, owners, limit=3)
    listed = [(int(u), int(pairs.rows[i]), float(pairs.prices[i]), int(pairs.rule_ids[i]))
              for u, i in zip(found.listed_users, found.listed, strict=True)]  # fmt: skip
    expected = _plain(triples, owner_of, sid, limit=3)
    assert found.users.tolist() == sorted(expected)
    assert dict(zip(found.users.tolist(), found.totals.tolist(), strict=True)) == {
        user: total for user, (total, _) in expected.items()
    }
    assert listed == [(user, *machine) for user in sorted(expected)
                      for machine in expected[user][1]]  # fmt: skip
