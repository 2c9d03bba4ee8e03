"""Bids: a bid's line in /bids, its standing, and its Raise / Cancel / Protect buttons."""

from __future__ import annotations

from bot.i18n import Translator
from bot.market.ranking import BidStanding
from bot.market.snapshot import Server
from bot.services.buttons import ButtonToMake, KeyboardToMake
from bot.services.results import OwnBid
from bot.telegram.html import esc
from bot.telegram.render import Rendered
from bot.telegram.render.common import clore, gpu_summary


def standing_label(tr: Translator, standing: BidStanding) -> str:
    if standing.state == "outbid":
        gap = (standing.top_score or 0.0) - standing.score
        return tr.gettext("outbid by {gap}", gap=clore(gap))
    if standing.state == "tied":
        return tr.gettext("tied")
    return tr.gettext("leading")


def bid_line(tr: Translator, standing: BidStanding, server: Server | None) -> str:
    return tr.gettext(
        "<b>#{server}</b> {gpus} · order {order_id} · {price} CLORE/day · <b>{standing}</b>",
        server=esc(standing.server_id),
        gpus=esc(gpu_summary(tr, server)) if server is not None else "?",
        order_id=standing.order_id,
        price=clore(standing.price),
        standing=esc(standing_label(tr, standing)),
    )


def bid_buttons(tr: Translator, standing: BidStanding, raise_to: float) -> KeyboardToMake:
    """Raise only where the bid is outbid (a leading or tied bid has Cancel and Protect);
    Cancel asks first."""
    order = {"order_id": standing.order_id, "server_id": standing.server_id}
    cancel = ButtonToMake(tr.gettext("Cancel"), "cancel_ask", order)
    # A button cannot take the cap: it answers with the /protect command to send.
    protect = ButtonToMake(tr.gettext("🛡 Protect"), "protect", {"cap": raise_to, **order})
    if standing.state != "outbid":
        return [[cancel, protect]]
    label = tr.gettext("Raise to {price}", price=clore(raise_to))
    # One row per bid: a tap's result takes the place of its bid's row (see Edit.ADD).
    return [[ButtonToMake(label, "raise", {"price": raise_to, **order}), cancel, protect]]


def bid_label(tr: Translator, server_id: str, price: float) -> str:
    """A match alert's Bid button for one machine."""
    return tr.gettext("Bid #{server} at {price}", server=server_id, price=clore(price))


def own_bid(tr: Translator, bid: OwnBid) -> Rendered:
    """One message of /bids: the bid's line and its buttons."""
    return Rendered(
        bid_line(tr, bid.standing, bid.server), bid_buttons(tr, bid.standing, bid.raise_to)
    )
