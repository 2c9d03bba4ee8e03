"""The machines a match alert lists: bot/services/cycle.py `user_alerts` against a plain
Python reading of the same rule (cheapest first, a machine once, under its lowest rule)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from bot.db.repositories.rules import ActiveRule
from bot.market.matcher import Pairs
from bot.services.cycle import RuleView, user_alerts
from tests.market.factory import server_dict, snapshot


@pytest.mark.parametrize("seed", range(8))
def test_listing_equals_a_plain_sort(seed: int) -> None:
    rng = random.Random(seed)
    ids = [str(n) for n in rng.sample(range(1, 5000), 40)]
    snap = snapshot({sid: server_dict() for sid in ids})
    rules = [
        ActiveRule(rule_id, rng.randrange(1, 6), f"rule {rule_id}", None, 1, False)
        for rule_id in rng.sample(range(1, 500), 12)
    ]
    view = RuleView(rules)
    owner_of = {r.rule_id: r.user_id for r in rules}
    common = {row: rng.choice([1.0, 2.5, 2.5, 7.0, 9.25]) for row in range(len(ids))}
    triples = {}
    for rule in rules:
        for row in rng.sample(range(len(ids)), rng.randrange(0, 20)):
            # a user's own bids change its price on some servers (same for all its rules)
            price = common[row] - (0.5 if (rule.user_id + row) % 7 == 0 else 0.0)
            triples[(rule.rule_id, row)] = price
    triples[(999_999, 0)] = 1.0  # a rule that is no longer active: nobody to tell
    keys = list(triples)
    rng.shuffle(keys)
    pairs = Pairs(
        np.array([k[0] for k in keys], dtype=np.int64),
        np.array([k[1] for k in keys], dtype=np.int64),
        np.array([triples[k] for k in keys]),
        ids,
        np.array([int(sid) for sid in ids], dtype=np.int64),
    )
    found = {a.user_id: a for a in user_alerts(pairs, view, snap, limit=4)}
    expected: dict[int, list[tuple[str, float, int]]] = {}
    for (rule_id, row), price in sorted(
        triples.items(), key=lambda kv: (kv[1], int(ids[kv[0][1]]), kv[0][0])
    ):
        user = owner_of.get(rule_id)
        if user is None:
            continue
        listed = expected.setdefault(user, [])
        if all(sid != ids[row] for sid, _, _ in listed):
            listed.append((ids[row], price, rule_id))
    assert found.keys() == {u for u, machines in expected.items() if machines}
    for user, machines in expected.items():
        alert = found[user]
        assert alert.total == len(machines)
        assert [(i.server_id, i.price_to_win, i.rule_id) for i in alert.items] == machines[:4]
        assert all(i.rule_text == f"rule {i.rule_id}" for i in alert.items)


def test_no_active_rule_no_alert() -> None:
    snap = snapshot({"1": server_dict()})
    pairs = Pairs(np.array([5]), np.array([0]), np.array([1.0]), ["1"], np.array([1]))
    assert user_alerts(pairs, RuleView([]), snap, limit=3) == []
