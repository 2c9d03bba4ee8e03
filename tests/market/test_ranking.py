"""Ranking cases worked by hand.

Server: min_bid 10, energy_price 0.1 USD/kWh, two GPUs with lowest power 100 W and 150 W, so
base_pl = 250 W. At clore_price 0.05 USD, energy(pl) = pl * 24 / 1000 * 0.1 / 0.05
= 0.048 * pl CLORE/day, and energy(base_pl) = 12.

Bids: A (owner 1) 30 CLORE at 500 W -> score 30 - 24 = 6;
      B (owner 2) 20 CLORE at 100 W -> score 20 - 4.8 = 15.2;
      C (owner 3) 50 CLORE, inactive -> ignored.
"""

from __future__ import annotations

import math
import random

import pytest

from bot.market import ranking
from bot.market.ranking import (
    base_pl,
    bid_standing,
    energy,
    price_to_win,
    raise_price,
    score,
    standings_for_owner,
)
from tests.market import factory
from tests.market.factory import bid, gpu, server, server_dict, snapshot

CLORE = 0.05


@pytest.fixture
def market():
    return server(
        min_bid=10.0,
        energy_price=0.1,
        gpus=[gpu("RTX 3090", (100, 350)), gpu("RTX 3090", (150, 350))],
        bids=[bid(1, 30, 500, id=11), bid(2, 20, 100, id=22), bid(3, 50, 100, False, id=33)],
    )


def test_energy_and_score(market) -> None:
    assert energy(500, 0.1, CLORE) == pytest.approx(24.0)
    assert energy(500, 0.1, None) == 0.0
    assert base_pl(market) == 250
    a, b, _ = market.bids
    assert score(a, market, CLORE) == pytest.approx(6.0)
    assert score(b, market, CLORE) == pytest.approx(15.2)
    assert score(a, market, None) == 30


def test_price_to_win_with_energy(market) -> None:
    assert price_to_win(market, CLORE, None) == pytest.approx(15.2 + 12)
    assert price_to_win(market, CLORE, 1) == pytest.approx(15.2 + 12)
    assert price_to_win(market, CLORE, 2) == pytest.approx(6 + 12)


def test_price_to_win_without_clore_price_ranks_by_price(market) -> None:
    assert price_to_win(market, None, None) == 30
    assert price_to_win(market, None, 1) == 20


def test_min_bid_is_the_floor() -> None:
    cheap = server(min_bid=10.0, bids=[bid(1, 3)])
    assert price_to_win(cheap, None, None) == 10.0
    assert price_to_win(server(min_bid=7.5), CLORE, None) == 7.5
    assert price_to_win(server(min_bid=7.5, bids=[bid(1, 99, active=False)]), None, None) == 7.5


def test_outbid_bid_and_its_lead_price(market) -> None:
    a = market.bids[0]
    standing = bid_standing("5", market, a, CLORE)
    assert standing.state == "outbid"
    assert (standing.server_id, standing.order_id, standing.owner) == ("5", 11, 1)
    assert standing.top_price == 20
    assert standing.top_score == pytest.approx(15.2)
    assert standing.lead_price == pytest.approx(15.2 + 24)  # top score + energy(A's 500 W)
    assert raise_price(market, a, CLORE, 0.5) == pytest.approx(39.7)


def test_leading_bid(market) -> None:
    standing = bid_standing("5", market, market.bids[1], CLORE)
    assert standing.state == "leading"
    assert standing.lead_price == pytest.approx(10.8)  # max(min_bid, 6 + 4.8)


def test_without_clore_price_the_higher_price_leads(market) -> None:
    assert bid_standing("5", market, market.bids[0], None).state == "leading"
    behind = bid_standing("5", market, market.bids[1], None)
    assert behind.state == "outbid"
    assert behind.lead_price == 30


def test_tie_and_lonely_bid() -> None:
    tied = server(bids=[bid(1, 20, id=1), bid(2, 20, id=2)])
    assert bid_standing("1", tied, tied.bids[0], CLORE).state == "tied"
    alone = server(min_bid=12.0, bids=[bid(1, 20, id=1), bid(1, 25, id=2)])
    standing = bid_standing("1", alone, alone.bids[0], CLORE)  # own bids never compete
    assert (standing.state, standing.top_price, standing.lead_price) == ("leading", None, 12.0)


def test_raise_step_must_be_positive(market) -> None:
    for step in (0, -1, float("nan")):
        with pytest.raises(ValueError):
            raise_price(market, market.bids[0], CLORE, step)


def test_standings_for_owner_sorted_by_server_number() -> None:
    snap = snapshot(
        {
            "10": server_dict(bids=[bid(7, 20, id=3), bid(8, 30, id=4)]),
            "9": server_dict(bids=[bid(7, 20, id=5), bid(7, 21, active=False, id=6)]),
        }
    )
    standings = standings_for_owner(snap, 7, None)
    assert [(s.server_id, s.order_id, s.state) for s in standings] == [
        ("9", 5, "leading"),
        ("10", 3, "outbid"),
    ]


@pytest.mark.parametrize("seed", range(20))
def test_only_the_leader_has_a_price_to_win_of_its_own(seed: int) -> None:
    """`leader_price_to_win` (the rule behind the matcher's owner columns) against
    `price_to_win` for every owner, to the bit, ties and inactive bids included."""
    rng = random.Random(seed)
    bids = [
        factory.bid(rng.randrange(1, 5), rng.choice([1.0, 2.0, 2.0, 3.5]),
                    pl=rng.choice([150, 300]), active=rng.random() > 0.2, id=n + 1)
        for n in range(rng.randrange(0, 7))
    ]  # fmt: skip
    server = factory.server(bids=bids)
    for clore_price in (None, 0.02):
        lead = ranking.leader_price_to_win(server, clore_price)
        common = ranking.price_to_win(server, clore_price, None)
        if lead is None:
            assert not any(b.active for b in server.bids)
            continue
        for owner in range(1, 6):
            own = ranking.price_to_win(server, clore_price, owner)
            assert own == (lead[1] if owner == lead[0] else common)


@pytest.mark.parametrize("seed", range(20))
def test_standings_of_equal_bid_standing(seed: int) -> None:
    rng = random.Random(seed)
    bids = [
        factory.bid(rng.randrange(1, 5), rng.choice([1.0, 2.0, 2.0, 3.5]),
                    pl=rng.choice([150, 300]), active=rng.random() > 0.2, id=n + 1)
        for n in range(rng.randrange(0, 7))
    ]  # fmt: skip
    server = factory.server(bids=bids)
    owners = set(rng.sample(range(1, 5), rng.randrange(0, 5)))
    for clore_price in (None, 0.02):
        expected = [
            ranking.bid_standing("7", server, b, clore_price)
            for b in server.bids
            if b.active and b.owner in owners
        ]
        assert ranking.standings_of("7", server, owners, clore_price) == expected


@pytest.mark.parametrize("seed", range(8))
def test_prices_to_win_equal_price_to_win(seed: int) -> None:
    rng = random.Random(seed)
    servers = [
        factory.server(
            bids=[factory.bid(rng.randrange(1, 5), rng.choice([0.5, 1.0, 2.0, 3.5]),
                              pl=rng.choice([150, 300]), active=rng.random() > 0.2, id=n + 1)
                  for n in range(rng.randrange(0, 6))],
            gpus=[gpu(pl=(rng.choice([100.0, 150.0]), 450.0)) for _ in range(rng.randrange(0, 4))],
            min_bid=rng.choice([0.1, 1.0, 2.5]), energy_price=rng.choice([0.0, 0.1, 0.25]),
        )
        for _ in range(60)
    ]  # fmt: skip
    for clore_price in (None, 0.0, 0.02, float("nan")):
        found = ranking.prices_to_win(servers, clore_price)
        assert [common for common, _, _ in found] == [
            price_to_win(s, clore_price, None) for s in servers
        ]
        for one, (_, leader, own) in zip(servers, found, strict=True):
            lead = ranking.leader_price_to_win(one, clore_price)
            if lead is None:
                assert leader == -1 and math.isnan(own)
            else:
                assert (leader, own) == lead
