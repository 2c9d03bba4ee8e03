"""A user's bids: list them with buttons, and act on Raise / Cancel taps.

Every tap re-checks the snapshot in force before spending: the button's price must still
lead and stay within the user's cap (above it only after an explicit confirmation). Order
calls are made once; an ambiguous failure is reported and left for the next snapshot.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot import messages
from bot.clore import errors as clore_errors
from bot.clore.models import OrderEdit
from bot.db.models import User
from bot.db.repositories import actions, audit
from bot.market.ranking import BidStanding, bid_standing, raise_price, standings_for_owner
from bot.market.snapshot import Bid, Server
from bot.services import accounts
from bot.services.buttons import Keyboard
from bot.services.clore_words import plain_error
from bot.services.context import ServiceContext, UserError

log = logging.getLogger(__name__)

ACTION_TTL = timedelta(days=2)
EPS = 1e-9


@dataclass(frozen=True, slots=True)
class TapResult:
    toast: str  # the short answer to the callback query
    text: str | None = None  # replaces the message's text (None: keep it)
    keyboard: Keyboard | None = None  # new buttons (None: remove them)


async def make_action(
    ctx: ServiceContext, s: AsyncSession, user_id: int, kind: str, **payload: object
) -> str:
    return await actions.add(
        s, user_id=user_id, kind=kind, payload=payload, expires_at=ctx.clock() + ACTION_TTL
    )


async def bid_keyboard(
    ctx: ServiceContext, s: AsyncSession, user_id: int, standing: BidStanding, raise_to: float
) -> Keyboard:
    order = {"order_id": standing.order_id, "server_id": standing.server_id}
    raise_id = await make_action(ctx, s, user_id, "raise", price=raise_to, **order)
    cancel_id = await make_action(ctx, s, user_id, "cancel", **order)
    # A button cannot take the cap: it answers with the /protect command to send.
    protect_id = await make_action(ctx, s, user_id, "protect", cap=raise_to, **order)
    return [
        [(f"Raise to {messages.clore(raise_to)}", raise_id), ("Cancel", cancel_id)],
        [("🛡 Protect", protect_id)],
    ]


def find_bid(server: Server | None, order_id: int, owner: int | None) -> Bid | None:
    if server is None or owner is None:
        return None
    for bid in server.bids:
        if bid.id == order_id and bid.owner == owner and bid.active:
            return bid
    return None


async def list_bids(ctx: ServiceContext, user: User) -> list[tuple[str, Keyboard]]:
    """One (text, keyboard) per active bid of the user in the snapshot in force."""
    accounts.api_key(ctx, user)  # asks to link first
    snapshot = ctx.market.snapshot
    if snapshot is None:
        raise UserError("I have not loaded the market yet. Try again in a minute.")
    step = accounts.profile(ctx, user).raise_step
    standings = standings_for_owner(snapshot, user.clore_user_id or 0, ctx.market.clore_price)
    out: list[tuple[str, Keyboard]] = []
    async with ctx.sessions() as s, s.begin():
        for standing in standings:
            server = snapshot.servers[standing.server_id]
            raise_to = standing.lead_price + step
            out.append(
                (
                    messages.bid_line(standing, server),
                    await bid_keyboard(ctx, s, user.id, standing, raise_to),
                )
            )
    return out


async def tap_raise(
    ctx: ServiceContext, user: User, payload: dict[str, object], *, confirmed: bool
) -> TapResult:
    order_id, server_id = int(payload["order_id"]), str(payload["server_id"])  # type: ignore[arg-type]
    price = float(payload["price"])  # type: ignore[arg-type]
    key = accounts.api_key(ctx, user)
    server = ctx.market.server(server_id)
    bid = find_bid(server, order_id, user.clore_user_id)
    if server is None or bid is None:
        return TapResult("Order not found", f"Order {order_id} is no longer in the market.")
    standing = bid_standing(server_id, server, bid, ctx.market.clore_price)
    profile = accounts.profile(ctx, user)
    if standing.state != "outbid" and bid.price >= price - EPS:
        return TapResult("Already in front", messages.bid_line(standing, server))
    if price <= standing.lead_price + EPS:
        fresh = raise_price(server, bid, ctx.market.clore_price, profile.raise_step)
        async with ctx.sessions() as s, s.begin():
            keyboard = await bid_keyboard(ctx, s, user.id, standing, fresh)
        text = (
            f"The market moved: {messages.clore(price)} no longer leads on "
            f"#{messages.esc(server_id)}.\n{messages.bid_line(standing, server)}"
        )
        return TapResult("Price no longer leads", text, keyboard)
    if profile.price_cap is not None and price > profile.price_cap + EPS and not confirmed:
        async with ctx.sessions() as s, s.begin():
            confirm = await make_action(
                ctx,
                s,
                user.id,
                "confirm_raise",
                order_id=order_id,
                server_id=server_id,
                price=price,
            )
        text = (
            f"{messages.clore(price)} CLORE/day is above your cap of "
            f"{messages.clore(profile.price_cap)}. Raise order {order_id} anyway?"
        )
        return TapResult(
            "Above your cap", text, [[(f"Yes, raise to {messages.clore(price)}", confirm)]]
        )
    return await _edit(ctx, user, key, order_id, server_id, price)


async def _edit(
    ctx: ServiceContext, user: User, key: str, order_id: int, server_id: str, price: float
) -> TapResult:
    record = {"order_id": order_id, "server_id": server_id, "price": price}
    try:
        result = await ctx.clore.edit_gigaspot_orders(
            key, [OrderEdit(order_id=order_id, price=price)]
        )
    except clore_errors.CloreError as exc:
        outcome = "ambiguous" if exc.ambiguous else "error"
        await _audit(ctx, user, "raise", outcome, detail=type(exc).__name__, **record)
        return TapResult("Not confirmed" if exc.ambiguous else "Failed", plain_error(exc))
    if order_id in result.success_ids:
        await _audit(ctx, user, "raise", "ok", **record)
        return TapResult(
            "Raised", f"✅ Order {order_id} raised to {messages.clore(price)} CLORE/day."
        )
    reason = "too low for clore" if order_id in result.too_low_ids else "refused by clore"
    await _audit(ctx, user, "raise", "rejected", detail=reason, **record)
    return TapResult("Not raised", f"❌ Order {order_id} was not raised: {reason}.")


async def tap_cancel(ctx: ServiceContext, user: User, payload: dict[str, object]) -> TapResult:
    order_id, server_id = int(payload["order_id"]), str(payload["server_id"])  # type: ignore[arg-type]
    key = accounts.api_key(ctx, user)
    record = {"order_id": order_id, "server_id": server_id, "price": None}
    try:
        result = await ctx.clore.cancel_orders(key, [order_id])
    except clore_errors.CloreError as exc:
        outcome = "ambiguous" if exc.ambiguous else "error"
        await _audit(ctx, user, "cancel", outcome, detail=type(exc).__name__, **record)
        return TapResult("Not confirmed" if exc.ambiguous else "Failed", plain_error(exc))
    if order_id in result.failed_ids:
        await _audit(ctx, user, "cancel", "rejected", detail="failed_to_cancel", **record)
        return TapResult("Not cancelled", f"❌ clore.ai could not cancel order {order_id}.")
    await _audit(ctx, user, "cancel", "ok", **record)
    return TapResult("Cancelled", f"🗑 Order {order_id} on #{messages.esc(server_id)} cancelled.")


async def _audit(
    ctx: ServiceContext,
    user: User,
    action: str,
    outcome: str,
    *,
    order_id: int | None,
    server_id: str | None,
    price: float | None,
    detail: str | None = None,
    automatic: bool = False,
) -> None:
    async with ctx.sessions() as s, s.begin():
        await audit.add(
            s,
            user_id=user.id,
            action=action,
            outcome=outcome,
            automatic=automatic,
            order_id=order_id,
            server_id=server_id,
            price=price,
            detail=detail,
        )
