"""What counts as news about a bid: the pure decisions of bot/services/alert_policy.py."""

from __future__ import annotations

from bot.db.repositories.alerts import BidState
from bot.market.ranking import BidStanding
from bot.services.alert_policy import on_bid


def standing(state: str, top_score: float | None, score: float = 15.0) -> BidStanding:
    return BidStanding("7", 900, 42, score, 300, score, state,  # type: ignore[arg-type]
                       top_score, top_score, (top_score or 0.0))


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
