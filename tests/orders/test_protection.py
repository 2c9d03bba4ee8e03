from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.market.ranking import BidStanding, bid_standing
from bot.market.snapshot import Bid, Gpu, Server
from bot.orders.protection import (
    RATE_WINDOW,
    AtCap,
    NothingToDo,
    OverBudget,
    ProtectionSettings,
    Raise,
    RateLimited,
    decide,
    parse_budget,
    parse_protection,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
ME = 7
CLORE_PRICE = 0.02


def _server(bids: tuple[Bid, ...], min_bid: float = 5.0) -> Server:
    return Server(
        bids=bids, on_demand_rented=False, online=True, cpu="cpu", cores=4, threads=8,
        ram=32.0, gpus=(Gpu("RTX 3090", (100.0, 350.0)),), working_properly=True,
        cuda="12.4", max_rental_length=86400, cc="DE", host=1, reliability=0.99,
        min_bid=min_bid, energy_price=0.1,
    )  # fmt: skip


def _standing(mine: float, theirs: float | None, *, my_pl: float = 200) -> BidStanding:
    own = Bid(owner=ME, id=1, active=True, price=mine, pl=my_pl)
    bids = (
        (own,) if theirs is None else (own, Bid(owner=9, id=2, active=True, price=theirs, pl=200))
    )
    return bid_standing("42", _server(bids), own, CLORE_PRICE)


def _decide(standing: BidStanding, **overrides: object):
    args: dict[str, object] = {
        "settings": ProtectionSettings(cap=50.0, max_raises_per_hour=3),
        "recent_raises": [],
        "step": 0.5,
        "daily_budget": None,
        "spent_last_24h": 0.0,
        "now": NOW,
    }
    args.update(overrides)
    settings, raises = args.pop("settings"), args.pop("recent_raises")
    return decide(standing, settings, raises, **args)  # type: ignore[arg-type]


def test_leading_and_tied_bids_are_left_alone() -> None:
    assert _decide(_standing(20.0, 10.0)) == NothingToDo("leading")
    assert _decide(_standing(20.0, None)) == NothingToDo("leading")
    assert _decide(_standing(20.0, 20.0)) == NothingToDo("tied")  # same power: same score


def test_outbid_raises_to_lead_price_plus_step() -> None:
    standing = _standing(20.0, 25.0)
    assert standing.state == "outbid"
    decision = _decide(standing, step=0.75)
    assert decision == Raise(standing.lead_price + 0.75, standing.lead_price + 0.75 - 20.0)
    # Same power on both bids: the lead price is the competitor's price.
    assert decision.price == pytest.approx(25.75)


def test_the_energy_of_a_hungrier_bid_is_paid_for() -> None:
    frugal, hungry = _standing(20.0, 25.0, my_pl=200), _standing(20.0, 25.0, my_pl=300)
    frugal_raise, hungry_raise = _decide(frugal), _decide(hungry)
    assert isinstance(frugal_raise, Raise) and isinstance(hungry_raise, Raise)
    assert hungry_raise.price > frugal_raise.price


def test_never_above_the_cap() -> None:
    standing = _standing(20.0, 25.0)  # needs 25.5 with a step of 0.5
    assert _decide(standing, settings=ProtectionSettings(cap=25.5)) == Raise(25.5, 5.5)
    assert _decide(standing, settings=ProtectionSettings(cap=25.4)) == AtCap(25.5, 25.4)
    assert _decide(standing, settings=ProtectionSettings(cap=25.0), step=0.01) == AtCap(
        pytest.approx(25.01), 25.0
    )


def test_hourly_limit_counts_the_last_hour_only() -> None:
    standing = _standing(20.0, 25.0)
    settings = ProtectionSettings(cap=50.0, max_raises_per_hour=2)
    old = NOW - RATE_WINDOW  # exactly an hour ago: out of the window
    recent = [NOW - timedelta(minutes=50), NOW - timedelta(minutes=10)]
    assert isinstance(_decide(standing, settings=settings, recent_raises=[old, recent[1]]), Raise)
    limited = _decide(standing, settings=settings, recent_raises=[*recent, old])
    assert limited == RateLimited(25.5, recent[0] + RATE_WINDOW)
    three = _decide(
        standing,
        settings=settings,
        recent_raises=[NOW - timedelta(minutes=m) for m in (55, 30, 5)],
    )
    # Two must leave the window before a third fits in: the one from 30 minutes ago too.
    assert three == RateLimited(25.5, NOW + timedelta(minutes=30))


def test_daily_budget_counts_increases() -> None:
    standing = _standing(20.0, 25.0)  # a raise of 5.5
    assert _decide(standing, daily_budget=10.0, spent_last_24h=4.5) == Raise(25.5, 5.5)
    assert _decide(standing, daily_budget=10.0, spent_last_24h=4.6) == OverBudget(
        25.5, 5.5, pytest.approx(5.4)
    )
    assert _decide(standing, daily_budget=3.0, spent_last_24h=7.0) == OverBudget(25.5, 5.5, 0.0)
    assert _decide(standing, daily_budget=None, spent_last_24h=1e6) == Raise(25.5, 5.5)


def test_cap_is_reported_before_budget_and_rate() -> None:
    standing = _standing(20.0, 25.0)
    decision = _decide(
        standing,
        settings=ProtectionSettings(cap=21.0, max_raises_per_hour=1),
        recent_raises=[NOW],
        daily_budget=0.0,
    )
    assert decision == AtCap(25.5, 21.0)


def test_step_must_be_positive() -> None:
    with pytest.raises(ValueError, match="step"):
        _decide(_standing(20.0, 25.0), step=0)


@pytest.mark.parametrize(("cap", "per_hour"), [(0, 3), (-1, 3), (5000.5, 3), (10, 0), (10, 61)])
def test_settings_are_checked(cap: float, per_hour: int) -> None:
    with pytest.raises(ValueError):
        ProtectionSettings(cap=cap, max_raises_per_hour=per_hour)


def test_parse_protection_and_budget() -> None:
    assert parse_protection("25") == ProtectionSettings(25.0, 3)
    assert parse_protection("cap=30.5 per_hour=2") == ProtectionSettings(30.5, 2)
    for bad, words in [("", "highest price"), ("cap=x", "not a number"), ("speed=2", "unknown")]:
        with pytest.raises(ValueError, match=words):
            parse_protection(bad)
    assert parse_budget(" 12.5 ") == 12.5
    assert parse_budget("off") is None
    for bad in ("-1", "lots", "nan"):
        with pytest.raises(ValueError):
            parse_budget(bad)


prices = st.floats(1.0, 200.0)


@given(
    mine=prices,
    theirs=prices,
    my_pl=st.floats(100, 350),
    cap=st.floats(1.0, 300.0),
    step=st.floats(0.01, 5.0),
    budget=st.none() | st.floats(0, 100),
    spent=st.floats(0, 100),
    raised_minutes_ago=st.lists(st.floats(0, 120), max_size=5),
)
def test_a_raise_always_retakes_the_lead_within_cap_and_budget(
    mine: float,
    theirs: float,
    my_pl: float,
    cap: float,
    step: float,
    budget: float | None,
    spent: float,
    raised_minutes_ago: list[float],
) -> None:
    standing = _standing(mine, theirs, my_pl=my_pl)
    raised = [NOW - timedelta(minutes=m) for m in raised_minutes_ago]
    decision = _decide(
        standing,
        settings=ProtectionSettings(cap=cap, max_raises_per_hour=2),
        recent_raises=raised,
        step=step,
        daily_budget=budget,
        spent_last_24h=spent,
    )
    if standing.state != "outbid":
        assert decision == NothingToDo(standing.state)
        return
    if not isinstance(decision, Raise):
        return
    assert decision.price == pytest.approx(standing.lead_price + step)
    assert decision.price <= cap + 1e-9
    assert budget is None or spent + decision.increase <= budget + 1e-9
    assert sum(1 for t in raised if NOW - t < RATE_WINDOW) < 2
    # Put the raised price back into the market: the bid must lead now.
    own = Bid(owner=ME, id=1, active=True, price=decision.price, pl=my_pl)
    other = Bid(owner=9, id=2, active=True, price=theirs, pl=200)
    after = bid_standing("42", _server((own, other)), own, CLORE_PRICE)
    assert after.state == "leading"


def test_power_word_turns_on_lead_by_power() -> None:
    assert parse_protection("25 power") == ProtectionSettings(25.0, use_power=True)
    assert parse_protection("cap=25 per_hour=2 power").use_power
    assert not parse_protection("25").use_power
