"""What counts as news about a tracked bid: pure decisions over its stored state. No I/O.

(Match alerts decide in `bot.market.alert_memory`, vectorised.)
"""

from __future__ import annotations

from bot.db.repositories.alerts import BidState
from bot.market.ranking import BidStanding

EPS = 1e-9


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
