"""What counts as news: the pure decisions of bot/services/alert_policy.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.db.repositories.alerts import BidState, MatchState
from bot.market.ranking import BidStanding
from bot.services.alert_policy import on_bid, on_match, on_stop, price_fell

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def match(state: MatchState | None, price: float, now: datetime = T0, *,
          muted: bool = False) -> tuple[MatchState, bool]:
    return on_match(state, 1, "7", price, now, realert_after=HOUR, price_drop=0.2, muted=muted)


def standing(state: str, top_score: float | None, score: float = 15.0) -> BidStanding:
    return BidStanding("7", 900, 42, score, 300, score, state,  # type: ignore[arg-type]
                       top_score, top_score, (top_score or 0.0))


def test_price_fell_needs_the_whole_share() -> None:
    assert price_fell(100.0, 80.0, 0.2)
    assert not price_fell(100.0, 80.01, 0.2)
    assert not price_fell(None, 1.0, 0.2)


def test_a_new_match_is_announced_with_its_price() -> None:
    state, announce = match(None, 20.0)
    assert announce
    assert (state.matching, state.announced_price, state.announced_at) == (True, 20.0, T0)


def test_a_repriced_match_is_announced_only_after_a_big_enough_drop() -> None:
    state, _ = match(None, 20.0)
    state, announce = match(state, 17.0, T0 + HOUR)
    assert not announce and state.announced_price == 20.0 and state.last_price == 17.0
    state, announce = match(state, 16.0, T0 + 2 * HOUR)
    assert announce and state.announced_price == 16.0


def test_a_pair_back_soon_is_quiet_and_back_late_is_news() -> None:
    state, _ = match(None, 20.0)
    stopped = on_stop(state, 20.0, T0 + HOUR)
    assert stopped is not None and not stopped.matching and stopped.stopped_at == T0 + HOUR

    _, soon = match(stopped, 20.0, T0 + HOUR + HOUR / 2)
    _, late = match(stopped, 20.0, T0 + 2 * HOUR)
    _, cheaper = match(stopped, 15.0, T0 + HOUR + HOUR / 2)
    assert (soon, late, cheaper) == (False, True, True)


def test_on_stop_leaves_unknown_and_stopped_pairs_alone() -> None:
    assert on_stop(None, 1.0, T0) is None
    state, _ = match(None, 20.0)
    stopped = on_stop(state, 20.0, T0)
    assert on_stop(stopped, 25.0, T0 + HOUR) is stopped


def test_muted_matches_stay_current_without_news() -> None:
    state, announce = match(None, 20.0, muted=True)
    assert not announce and state.matching and state.announced_price is None
    state, announce = match(state, 10.0, T0 + HOUR)  # unmuted: no replay of the old price
    assert not announce


def test_outbid_alerts_once_then_only_when_the_rival_raises() -> None:
    state, alert = on_bid(None, 1, standing("leading", 12.0), muted=False)
    assert not alert and state.state == "leading"

    state, alert = on_bid(state, 1, standing("outbid", 20.0), muted=False)
    assert alert and state.last_alerted_top_score == 20.0
    state, alert = on_bid(state, 1, standing("outbid", 20.0), muted=False)
    assert not alert
    state, alert = on_bid(state, 1, standing("outbid", 19.0), muted=False)
    assert not alert
    state, alert = on_bid(state, 1, standing("outbid", 22.0), muted=False)
    assert alert and state.last_alerted_top_score == 22.0


def test_a_bid_back_in_front_then_behind_again_alerts_again() -> None:
    state, _ = on_bid(None, 1, standing("outbid", 20.0), muted=False)
    state, alert = on_bid(state, 1, standing("leading", 20.0, score=21.0), muted=False)
    assert not alert
    _, alert = on_bid(state, 1, standing("outbid", 20.5, score=20.0), muted=False)
    assert alert


def test_a_muted_outbid_is_remembered_not_sent() -> None:
    state, alert = on_bid(None, 1, standing("outbid", 20.0), muted=True)
    assert not alert and state == BidState(1, 900, "7", "outbid", 20.0)
    _, alert = on_bid(state, 1, standing("outbid", 20.0), muted=False)
    assert not alert
