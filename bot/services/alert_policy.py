"""What counts as news: pure decisions over the stored alert state. No I/O."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from bot.db.repositories.alerts import BidState, MatchState
from bot.market.ranking import BidStanding

EPS = 1e-9


def price_fell(announced: float | None, price: float, share: float) -> bool:
    return announced is not None and price <= announced * (1 - share) + EPS


def on_match(
    state: MatchState | None,
    rule_id: int,
    server_id: str,
    price: float,
    now: datetime,
    *,
    realert_after: timedelta,
    price_drop: float,
    muted: bool,
) -> tuple[MatchState, bool]:
    """A pair matches at `price` (it started, or its price changed): new state, announce?

    Announced again only after it stopped matching for `realert_after`, or when its price
    to win fell by `price_drop` since the last announcement. A muted user is told nothing,
    but the state stays current so that unmuting does not replay old news.
    """
    if state is None:
        announce = True
    elif state.matching:
        announce = price_fell(state.announced_price, price, price_drop)
    else:
        off_long = state.stopped_at is None or now - state.stopped_at >= realert_after
        announce = off_long or price_fell(state.announced_price, price, price_drop)
    announce = announce and not muted
    announced_price = price if announce else (state.announced_price if state else None)
    announced_at = now if announce else (state.announced_at if state else None)
    new = MatchState(rule_id, server_id, True, price, announced_price, announced_at, None)
    return new, announce


def on_stop(state: MatchState | None, price: float, now: datetime) -> MatchState | None:
    if state is None or not state.matching:
        return state
    return replace(state, matching=False, last_price=price, stopped_at=now)


def on_bid(
    state: BidState | None, user_id: int, standing: BidStanding, *, muted: bool
) -> tuple[BidState, bool]:
    """A tracked bid's standing: new state, send an outbid alert?

    Alert when it falls behind, and again when the top competitor raises further while it
    is behind; never twice for the same competitor score.
    """
    last_top = state.last_alerted_top_score if state else None
    if standing.state != "outbid":
        return BidState(user_id, standing.order_id, standing.server_id, standing.state), False
    behind_before = state is not None and state.state == "outbid" and last_top is not None
    alert = not behind_before or (standing.top_score or 0.0) > (last_top or 0.0) + EPS
    if alert or muted or last_top is None:
        last_top = standing.top_score
    new = BidState(user_id, standing.order_id, standing.server_id, standing.state, last_top)
    return new, alert and not muted
