from __future__ import annotations

import json
import random
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.market import matcher as matcher_module
from bot.market.generate import (
    generate_rules,
    generate_snapshot,
    generate_snapshot_dict,
    mutate_document,
    owners_in,
)
from bot.market.matcher import Match, Matcher
from bot.market.ranking import standings_for_owner
from bot.market.rules import parse_rule
from bot.market.snapshot import decode_snapshot
from tests.market.factory import bid, gpu, server_dict, snapshot
from tests.market.reference import RuleSet, random_rule, reference_matches


def state_of(matcher: Matcher, rules: RuleSet) -> dict[tuple[int, str], float]:
    return {(rid, sid): p for rid in rules for sid, p in matcher.matches(rid).items()}


def mixed_rules(document: dict, seed: int, n: int = 60) -> RuleSet:
    """Generated and all-key random rules; many owned by the busiest bidders."""
    rng = random.Random(seed)
    owners = [*owners_in(document)[:5], None, None, 424242]
    texts = generate_rules(n // 2, seed)
    rules: RuleSet = {i: (parse_rule(t), rng.choice(owners)) for i, t in enumerate(texts)}
    for i in range(n // 2, n):
        rules[i * 7 + 1] = (random_rule(rng, list(document)), rng.choice(owners))
    return rules


@pytest.mark.parametrize("seed,clore", [(1, None), (2, 0.02), (3, 0.05)])
def test_full_evaluation_equals_reference(seed: int, clore: float | None) -> None:
    document = generate_snapshot_dict(250, seed)
    snap = decode_snapshot(json.dumps(document).encode())
    rules = mixed_rules(document, seed, 120)
    matcher = Matcher()
    for rule_id, (rule, owner) in rules.items():
        assert matcher.set_rule(rule_id, rule, owner).matches() == []  # no snapshot yet
    started = matcher.update(snap, clore).started.sorted().matches()
    expected = reference_matches(snap, rules, clore)
    assert {(m.rule_id, m.server_id): m.price_to_win for m in started} == expected
    assert len(started) == len(expected) > 0
    assert started == sorted(started, key=lambda m: (m.rule_id, int(m.server_id)))
    assert state_of(matcher, rules) == expected


def test_owner_bids_are_left_out_for_that_owner_only() -> None:
    doc = {"5": server_dict(min_bid=10.0, bids=[bid(1, 50), bid(2, 30)])}
    matcher = Matcher()
    matcher.update(snapshot(doc), None)
    rule = parse_rule("price<=40")
    assert matcher.set_rule(1, rule, owner=1).matches() == [Match(1, "5", 30.0)]
    assert matcher.set_rule(2, rule, owner=2).matches() == []
    assert matcher.set_rule(3, rule, owner=None).matches() == []
    assert matcher.evaluate(parse_rule("price>0"), 2).matches() == [Match(-1, "5", 50.0)]


def test_set_rule_reports_current_matches_once_and_replace_remove() -> None:
    doc = {str(i): server_dict(min_bid=float(i)) for i in (3, 20, 9)}
    matcher = Matcher()
    matcher.update(snapshot(doc), None)
    now = matcher.set_rule(7, parse_rule("price<=10"), None).matches()
    assert now == [Match(7, "3", 3.0), Match(7, "9", 9.0)]
    assert matcher.matches(7) == {"3": 3.0, "9": 9.0}
    doc["3"] = server_dict(min_bid=4.0)
    moved = matcher.update(snapshot(doc, matcher._snapshot), None)
    assert (len(moved.started), len(moved.stopped)) == (0, 0)
    assert [(r.server_id, r.old, r.new) for r in moved.repriced.repriced()] == [("3", 3.0, 4.0)]
    assert matcher.set_rule(7, parse_rule("price>=9"), None).matches() == [
        Match(7, "9", 9.0),
        Match(7, "20", 20.0),
    ]
    assert matcher.matches(7) == {"9": 9.0, "20": 20.0}
    matcher.remove_rule(7)
    assert matcher.matches(7) == {}
    doc["9"] = server_dict(min_bid=11.0)
    assert len(matcher.update(snapshot(doc), None).repriced) == 0


def test_vanished_servers_stop_matching_and_idle_update_is_empty() -> None:
    doc = {"1": server_dict(), "2": server_dict(gpus=[gpu("RTX 3090")])}
    matcher = Matcher()
    matcher.set_rule(1, parse_rule("gpu=4090"), None)
    first = snapshot(doc)
    assert matcher.update(first, None).started.matches() == [Match(1, "1", 10.0)]
    assert matcher.update(first, None).started.matches() == []
    del doc["1"]
    gone = matcher.update(snapshot(doc, first), None)
    assert gone.stopped.matches() == [Match(1, "1", 10.0)] and not len(gone.started)


def test_clore_price_change_reprices_everything() -> None:
    doc = {"1": server_dict(min_bid=1.0, energy_price=0.1, bids=[bid(9, 20, pl=500)])}
    matcher = Matcher()
    matcher.set_rule(1, parse_rule("price<=100"), None)
    snap = snapshot(doc)
    assert matcher.update(snap, None).started.matches() == [Match(1, "1", 20.0)]
    changed = matcher.update(snap, 0.05)
    # score 20 - 500*0.048 = -4, plus energy(150 W) = 7.2 -> 3.2
    assert [(r.old, round(r.new, 9)) for r in changed.repriced.repriced()] == [(20.0, 3.2)]


def test_evaluate_sorts_by_price_then_server_and_accepts_other_snapshots() -> None:
    doc = {"10": server_dict(min_bid=5.0), "9": server_dict(min_bid=5.0), "1": server_dict()}
    matcher = Matcher()
    assert matcher.evaluate(parse_rule("price<100"), None).matches() == []
    result = matcher.evaluate(parse_rule("price<100"), None, snapshot(doc), None).matches()
    assert result == [Match(-1, "9", 5.0), Match(-1, "10", 5.0), Match(-1, "1", 10.0)]


def test_tracked_bids_first_seen_outbid_top_rising_and_gone() -> None:
    doc = {"1": server_dict(bids=[bid(7, 20, id=70), bid(8, 15, id=80)])}
    matcher = Matcher()
    matcher.track_owners({7})
    first = matcher.update(snapshot(doc), None)
    assert [(c.standing.order_id, c.standing.state, c.previous_state) for c in first.bids] == [
        (70, "leading", None)
    ]
    doc["1"] = server_dict(bids=[bid(7, 20, id=70), bid(8, 25, id=80)])
    outbid = matcher.update(snapshot(doc), None)
    assert [(c.standing.state, c.previous_state) for c in outbid.bids] == [("outbid", "leading")]
    assert outbid.bids[0].standing.lead_price == 25
    doc["1"] = server_dict(bids=[bid(7, 20, id=70), bid(8, 25, id=80), bid(9, 1, id=90)])
    assert matcher.update(snapshot(doc), None).bids == []  # still outbid, same top
    doc["1"] = server_dict(bids=[bid(7, 20, id=70), bid(8, 26, id=80)])
    higher = matcher.update(snapshot(doc), None)
    assert [(c.standing.top_price, c.previous_state) for c in higher.bids] == [(26, "outbid")]
    doc["1"] = server_dict(bids=[bid(8, 26, id=80)])
    gone = matcher.update(snapshot(doc), None)
    assert [(s.order_id, s.state) for s in gone.gone_bids] == [(70, "outbid")]
    matcher.track_owners({8})
    later = matcher.update(snapshot(doc), None)  # same document: only the new owner's bids
    assert [(c.standing.order_id, c.previous_state) for c in later.bids] == [(80, None)]


# ------------------------------------------------------------------ incremental property


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    steps=st.lists(
        st.tuples(st.floats(0.0, 0.6), st.sampled_from([None, 0.02, 0.05]), st.booleans()),
        min_size=1,
        max_size=4,
    ),
    sorted_keys=st.booleans(),
    sparse_ids=st.booleans(),
)
def test_incremental_transitions_equal_full_re_evaluation(
    seed: int, steps, sorted_keys: bool, sparse_ids: bool
) -> None:
    """Both ways of comparing a cycle's pairs (a bitmap, or sorted keys when the bitmap
    would be too large), with rule ids dense or not, against the reference."""
    with mock.patch("bot.market.matcher._MARKS", 0 if sorted_keys else matcher_module._MARKS):
        _check_incremental(seed, steps, 1_000_003 if sparse_ids else 1)


def _check_incremental(seed: int, steps, id_step: int) -> None:
    document = generate_snapshot_dict(60, seed)
    rules = {rid * id_step: rule for rid, rule in mixed_rules(document, seed, 40).items()}
    owners = set(owners_in(document)[:4])
    matcher = Matcher()
    for rule_id, (rule, owner) in rules.items():
        matcher.set_rule(rule_id, rule, owner)
    matcher.track_owners(owners)
    previous_snapshot, clore = None, None
    before: dict[tuple[int, str], float] = {}
    bids_before: dict[tuple[str, int], str] = {}
    for step, (share, new_clore, same_clore) in enumerate(steps):
        clore = clore if same_clore and step else new_clore
        document = mutate_document(document, share, seed + step) if step else document
        snap = decode_snapshot(json.dumps(document).encode(), previous_snapshot)
        found = matcher.update(snap, clore)
        after = reference_matches(snap, rules, clore)
        assert state_of(matcher, rules) == after
        started, stopped = found.started.matches(), found.stopped.matches()
        assert {(m.rule_id, m.server_id) for m in started} == after.keys() - before.keys()
        assert {(m.rule_id, m.server_id): m.price_to_win for m in stopped} == {
            k: before[k] for k in before.keys() - after.keys()
        }
        assert {(r.rule_id, r.server_id): (r.old, r.new) for r in found.repriced.repriced()} == {
            k: (before[k], after[k]) for k in before.keys() & after.keys() if before[k] != after[k]
        }
        bids_after = {
            (s.server_id, s.order_id): s.state
            for owner in owners
            for s in standings_for_owner(snap, owner, clore)
        }
        assert {(s.server_id, s.order_id) for s in found.gone_bids} == (
            bids_before.keys() - bids_after.keys()
        )
        for change in found.bids:
            key = (change.standing.server_id, change.standing.order_id)
            assert change.standing.state == bids_after[key]
            assert change.previous_state == bids_before.get(key)
        seen = {(c.standing.server_id, c.standing.order_id) for c in found.bids}
        for key, state in bids_after.items():
            if key not in bids_before or (bids_before[key] == "outbid") != (state == "outbid"):
                assert key in seen
        before, bids_before, previous_snapshot = after, bids_after, snap


def test_generated_snapshot_and_rules_are_deterministic() -> None:
    assert generate_snapshot(30, 5) == generate_snapshot(30, 5)
    assert generate_snapshot(30, 5) != generate_snapshot(30, 6)
    assert generate_rules(20, 3) == generate_rules(20, 3)
    snap = decode_snapshot(generate_snapshot(200, 5))
    assert len(snap.servers) == 200 and not snap.skipped
    models = {g.model for s in snap.servers.values() for g in s.gpus}
    assert {"RTX 4090", "RTX 3090", "GTX 1660 SUPER"} <= models
    assert any(not s.online for s in snap.servers.values())
    for text in generate_rules(200, 3):
        parse_rule(text)
