"""Wallet arithmetic, by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.market.ranking import BidStanding
from bot.orders.wallet import (
    Runway,
    WalletLine,
    clore_balance,
    crossed_low,
    daily_cost,
    is_low,
    read_due,
)

DAY = timedelta(days=1)


def _st(order_id: int, price: float, state: str) -> BidStanding:
    return BidStanding("1", order_id, 7, price, 300.0, price, state, None, None, 10.0)  # type: ignore[arg-type]


def test_daily_cost_counts_bids_in_front_only() -> None:
    standings = [_st(1, 20, "leading"), _st(2, 12.5, "tied"), _st(3, 99, "outbid")]
    assert daily_cost(standings) == (32.5, 2)
    assert daily_cost(standings, {("1", 2): "USD"}) == (20, 1)


def test_runway_lasts_balance_over_cost() -> None:
    runway = Runway(balance=16.25, cost_per_day=32.5, leading=2)
    assert runway.lasts == timedelta(hours=12)
    assert Runway(0, 32.5, 2).lasts == timedelta()
    assert Runway(-3, 32.5, 2).lasts == timedelta()
    assert Runway(100, 0, 0).lasts is None  # nothing is being paid for


def test_low_against_a_threshold() -> None:
    assert is_low(Runway(16.25, 32.5, 2), DAY)  # 12 h < 24 h
    assert not is_low(Runway(32.5, 32.5, 2), DAY)  # exactly 24 h is enough
    assert not is_low(Runway(0, 0, 0), DAY)


def test_alert_once_per_crossing() -> None:
    low = Runway(10, 32.5, 2)
    high = Runway(100, 32.5, 2)
    assert crossed_low(False, low, DAY) == (True, True)
    assert crossed_low(True, low, DAY) == (True, False)  # still low: said already
    assert crossed_low(True, high, DAY) == (False, False)  # re-armed
    assert crossed_low(False, low, DAY) == (True, True)  # a new crossing


def test_clore_wallet_is_picked_by_name() -> None:
    wallets = [WalletLine("bitcoin", 1.0), WalletLine("CLORE-Blockchain", 12.5)]
    assert clore_balance(wallets) == 12.5
    assert clore_balance([WalletLine("bitcoin", 1.0)]) is None


def test_reads_are_spaced_ten_minutes() -> None:
    t = datetime(2026, 12, 1, tzinfo=UTC)
    assert read_due(None, t)
    assert not read_due(t, t + timedelta(minutes=9, seconds=59))
    assert read_due(t, t + timedelta(minutes=10))
