"""Per-series aggregation of a snapshot, and the `deal` rule key against hand-made medians."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.market.generate import (
    generate_rules,
    generate_snapshot_dict,
    mutate_document,
    owners_in,
)
from bot.market.history import ALL_COUNTS, SeriesIndex, deal_percent, series_key
from bot.market.matcher import Matcher
from bot.market.ranking import price_to_win
from bot.market.rules import RuleError, format_rule, parse_rule, rule_matches
from bot.market.snapshot import decode_snapshot
from tests.market.factory import bid, gpu, server_dict, snapshot
from tests.market.reference import RuleSet


def test_series_key_folds_spaces_and_skips_mixed_rigs() -> None:
    assert series_key(["RTX  4090", "RTX 4090"]) == ("RTX 4090", 2)
    assert series_key(["RTX 4090", "RTX 3090"]) is None
    assert series_key([]) is None


@pytest.mark.parametrize("clore", [None, 0.03])
def test_aggregate_equals_numpy_per_series(clore: float | None) -> None:
    document = generate_snapshot_dict(400, seed=5)
    snap = decode_snapshot(json.dumps(document).encode())
    matcher = Matcher()
    matcher.update(snap, clore)
    result = matcher.history(SeriesIndex())
    expected: dict[tuple[str, int], dict[str, list[float] | int]] = {}
    for server in snap.servers.values():
        key = series_key(g.model for g in server.gpus)
        if key is None or server.max_rental_length <= 0:
            continue
        free = server.online and server.working_properly and not server.on_demand_rented
        for k in (key, (key[0], ALL_COUNTS)):
            entry = expected.setdefault(k, {"rentable": 0, "available": 0, "prices": []})
            entry["rentable"] += 1  # type: ignore[operator]
            if free:
                entry["available"] += 1  # type: ignore[operator]
                entry["prices"].append(price_to_win(server, clore, None) / len(server.gpus))  # type: ignore[union-attr]
    assert sorted(result.keys) == sorted(expected)
    for i, key in enumerate(result.keys):
        entry = expected[key]
        assert result.rentable[i] == entry["rentable"]
        assert result.available[i] == entry["available"]
        prices = np.array(entry["prices"])
        if not prices.size:
            assert math.isnan(result.median[i])
            continue
        assert result.low[i] == prices.min()
        for got, q in ((result.p25, 0.25), (result.median, 0.5), (result.p90, 0.9)):
            assert got[i] == pytest.approx(np.quantile(prices, q), rel=1e-12)


def test_aggregate_of_an_empty_market() -> None:
    matcher = Matcher()
    matcher.update(snapshot({}), None)
    assert len(matcher.history(SeriesIndex())) == 0


def test_deal_against_a_hand_computed_median() -> None:
    # Four 1x RTX 4090 machines at 40, 50, 60, 70 CLORE/day; hours of history had medians
    # 60, 62, 58 and 64: the 7-day median is 61 (the mean of the middle two).
    median = float(np.median([60.0, 62.0, 58.0, 64.0]))
    assert median == 61.0
    doc = {str(i): server_dict(min_bid=price, gpus=[gpu()]) for i, price in
           enumerate([40.0, 50.0, 60.0, 70.0], start=1)}  # fmt: skip
    doc["9"] = server_dict(min_bid=20.0, gpus=[gpu("RTX 3090")])  # no history: never a deal
    matcher = Matcher()
    matcher.set_rule(1, parse_rule("deal>=15"), None)
    matcher.set_rule(2, parse_rule("deal>0 deal<30"), None)
    matcher.set_rule(3, parse_rule("deal<-10"), None)
    matcher.set_medians({("RTX 4090", 1): median})
    started = matcher.update(snapshot(doc), None).started.sorted().matches()
    got = {(m.rule_id, m.server_id) for m in started}
    # 40: 34.4% below; 50: 18.0% below; 60: 1.6% below; 70: 14.8% above
    assert got == {(1, "1"), (1, "2"), (2, "2"), (2, "3"), (3, "4")}
    assert deal_percent(50.0, median) == pytest.approx(18.0327868852459)


def test_new_medians_re_evaluate_deal_rules_only_where_they_moved() -> None:
    doc = {"1": server_dict(min_bid=50.0), "2": server_dict(min_bid=9.0, gpus=[gpu("RTX 3060")])}
    matcher = Matcher()
    matcher.set_rule(1, parse_rule("deal>=15"), None)
    snap = snapshot(doc)
    assert len(matcher.update(snap, None).started) == 0  # no medians yet
    matcher.set_medians({("RTX 4090", 1): 61.0})
    t = matcher.update(snap, None)  # same snapshot: only the medians moved
    assert [(m.rule_id, m.server_id) for m in t.started.matches()] == [(1, "1")]
    matcher.set_medians({("RTX 4090", 1): 52.0})
    t = matcher.update(snap, None)
    assert [(m.rule_id, m.server_id) for m in t.stopped.matches()] == [(1, "1")]
    matcher.set_medians({("RTX 4090", 1): 52.0})
    assert not matcher.update(snap, None).started  # unchanged: nothing to do


def test_deal_uses_the_rule_owners_own_price_to_win() -> None:
    # Owner 7's bid leads at 58 (min bid 30): for owner 7 the price to win is 30 + rivals'.
    doc = {"1": server_dict(min_bid=30.0, bids=[bid(7, 58.0, pl=150), bid(8, 40.0, pl=150)])}
    matcher = Matcher()
    matcher.set_medians({("RTX 4090", 1): 50.0})
    matcher.set_rule(1, parse_rule("deal>=15"), 7)  # own ptw 40: 20% below
    matcher.set_rule(2, parse_rule("deal>=15"), None)  # common ptw 58: above the median
    started = matcher.update(snapshot(doc), None).started.matches()
    assert [(m.rule_id, m.price_to_win) for m in started] == [(1, 40.0)]


def test_deal_with_generated_rules_equals_the_reference() -> None:
    document = generate_snapshot_dict(300, seed=11)
    snap = decode_snapshot(json.dumps(document).encode())
    rng = random.Random(4)
    medians = {
        (model, count): rng.uniform(5, 80)
        for model in {g["model"] for s in document.values() for g in s["gpus"]}
        for count in (1, 2, 3, 4, 6, 8)
        if rng.random() < 0.7
    }
    owners = [*owners_in(document)[:3], None]
    texts = [f"{t} deal>={rng.randint(-20, 40)}" for t in generate_rules(40, 3)]
    texts += ["deal>=10", "deal<0 gpus>=2", "deal>5 price<100"]
    rules: RuleSet = {i: (parse_rule(t), rng.choice(owners)) for i, t in enumerate(texts)}
    matcher = Matcher()
    matcher.set_medians(medians)
    for rule_id, (rule, owner) in rules.items():
        matcher.set_rule(rule_id, rule, owner)
    started = matcher.update(snap, 0.04).started.matches()
    expected = {}
    for server_id, server in snap.servers.items():
        for rule_id, (rule, owner) in rules.items():
            ptw = price_to_win(server, 0.04, owner)
            if rule_matches(rule, server, ptw, server_id, medians):
                expected[(rule_id, server_id)] = ptw
    assert {(m.rule_id, m.server_id): m.price_to_win for m in started} == expected
    assert expected


def test_deal_parses_as_a_numeric_key() -> None:
    assert format_rule(parse_rule("DEAL>=15 gpu=4090")) == "gpu=4090 deal>=15"
    with pytest.raises(RuleError, match="not a number"):
        parse_rule("deal>=lots")


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    steps=st.lists(st.tuples(st.floats(0.0, 0.5), st.booleans(), st.booleans()),
                   min_size=1, max_size=4),
)
def test_deal_stays_right_as_snapshots_and_medians_change(seed: int, steps) -> None:
    """Incremental updates with new medians now and then equal a full reference evaluation."""
    document = generate_snapshot_dict(60, seed)
    rng = random.Random(seed)
    owners = [*owners_in(document)[:3], None]
    texts = [f"{t} deal>={rng.randint(-30, 40)}" for t in generate_rules(15, seed)]
    texts += ["deal>=5", "deal<=-5 gpus>=2", "deal>=0 price<200"]
    rules: RuleSet = {i: (parse_rule(t), rng.choice(owners)) for i, t in enumerate(texts)}
    models = sorted({g["model"] for s in document.values() for g in s["gpus"]})

    def new_medians() -> dict[tuple[str, int], float]:
        return {(m, c): rng.uniform(5, 120) for m in models for c in (1, 2, 3, 4, 6, 8)
                if rng.random() < 0.6}  # fmt: skip

    matcher = Matcher()
    for rule_id, (rule, owner) in rules.items():
        matcher.set_rule(rule_id, rule, owner)
    medians: dict[tuple[str, int], float] = {}
    previous = None
    before: dict[tuple[int, str], float] = {}
    for step, (share, change_medians, change_market) in enumerate(steps):
        if change_medians or not step:
            medians = new_medians()
            matcher.set_medians(medians)
        if change_market and step:
            document = mutate_document(document, share, seed + step)
        snap = decode_snapshot(json.dumps(document).encode(), previous)
        found = matcher.update(snap, 0.03)
        after = {
            (rule_id, server_id): ptw
            for server_id, server in snap.servers.items()
            for rule_id, (rule, owner) in rules.items()
            if rule_matches(rule, server, ptw := price_to_win(server, 0.03, owner), server_id,
                            medians)
        }
        current = {(r, s): p for r in rules for s, p in matcher.matches(r).items()}
        assert current == after
        assert {(m.rule_id, m.server_id) for m in found.started.matches()} == (
            after.keys() - before.keys()
        )
        assert {(m.rule_id, m.server_id) for m in found.stopped.matches()} == (
            before.keys() - after.keys()
        )
        before, previous = after, snap
