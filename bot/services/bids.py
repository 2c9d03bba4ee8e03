"""A user's bids: list them with buttons, and act on Raise / Cancel taps.

A tap holds the order's money lock (`bot.services.money`) and decides from the snapshot in
force, with what this order's earlier actions on that snapshot did applied, what is needed
now (`bot.orders.raising`): nothing, a lower price than the button's, or the button's price
within the user's cap (above it only after an explicit confirmation). The intent is
committed before the one clore call and settled after; an ambiguous failure is reported and
never repeated on the same market data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from bot import messages
from bot.clore import errors as clore_errors
from bot.clore.models import OrderEdit
from bot.db.models import AuditEntry, User
from bot.db.repositories import actions, audit
from bot.market.ranking import BidStanding, bid_standing, standings_for_owner
from bot.market.snapshot import Bid, Server
from bot.orders.raising import AboveCap, AlreadyInFront, PriceMoved, RaiseTo, decide_raise
from bot.services import accounts, money
from bot.services.buttons import ButtonToMake, Keyboard, KeyboardToMake
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
    used: bool = True  # False: nothing was done, the tapped button stays usable


async def make_action(
    ctx: ServiceContext, s: AsyncSession, user_id: int, kind: str, **payload: object
) -> str:
    return await actions.add(
        s, user_id=user_id, kind=kind, payload=payload, expires_at=ctx.clock() + ACTION_TTL
    )


def bid_buttons(standing: BidStanding, raise_to: float) -> KeyboardToMake:
    """Raise only where the bid is outbid: a leading or tied bid has Cancel and Protect.
    Cancel asks first (`cancel_ask`)."""
    order = {"order_id": standing.order_id, "server_id": standing.server_id}
    cancel = ButtonToMake("Cancel", "cancel_ask", order)
    # A button cannot take the cap: it answers with the /protect command to send.
    protect = ButtonToMake("🛡 Protect", "protect", {"cap": raise_to, **order})
    if standing.state != "outbid":
        return [[cancel, protect]]
    label = f"Raise to {messages.clore(raise_to)}"
    return [[ButtonToMake(label, "raise", {"price": raise_to, **order}), cancel], [protect]]


def confirm_cancel_buttons(order_id: int, server_id: str) -> KeyboardToMake:
    """Cancel asks first: Yes cancels, No puts the order's buttons back."""
    order = {"order_id": order_id, "server_id": server_id}
    return [
        [ButtonToMake(f"🗑 Yes, cancel order {order_id}", "cancel", order)],
        [ButtonToMake("↩️ No, keep it", "keep", order)],
    ]


async def tap_keep(ctx: ServiceContext, user: User, payload: dict[str, object]) -> TapResult:
    """The No of a confirmation about an order: nothing is sent; its current buttons come
    back (from the snapshot in force)."""
    order_id, server_id = int(payload["order_id"]), str(payload["server_id"])  # type: ignore[arg-type]
    server = ctx.market.server(server_id)
    bid = find_bid(server, order_id, user.clore_user_id)
    if server is None or bid is None:
        return TapResult("Nothing was sent", None, None)
    standing = bid_standing(server_id, server, bid, ctx.market.clore_price)
    raise_to = standing.lead_price + accounts.profile(ctx, user).raise_step
    async with ctx.sessions() as s, s.begin():
        keyboard = await bid_keyboard(ctx, s, user.id, standing, raise_to)
    return TapResult("Nothing was sent", None, keyboard)  # fmt: skip


async def make_keyboard(
    ctx: ServiceContext, s: AsyncSession, user_id: int, rows: KeyboardToMake
) -> Keyboard:
    return [
        [(b.text, await make_action(ctx, s, user_id, b.kind, **b.payload)) for b in row]
        for row in rows
    ]


async def bid_keyboard(
    ctx: ServiceContext, s: AsyncSession, user_id: int, standing: BidStanding, raise_to: float
) -> Keyboard:
    return await make_keyboard(ctx, s, user_id, bid_buttons(standing, raise_to))


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


def _find_order(server: Server | None, order_id: int, owner: int | None) -> Bid | None:
    """The user's order on the server, active or not (a Cancel needs only that it exists)."""
    if server is None or owner is None:
        return None
    return next((b for b in server.bids if b.id == order_id and b.owner == owner), None)


def _at(entry: AuditEntry) -> str:
    return f"{entry.created_at:%H:%M} UTC"


def unconfirmed_text(entry: AuditEntry) -> str:
    """An action on this order that may or may not have acted: why nothing more is sent."""
    if entry.action == "cancel":
        what = f"Cancelling order {entry.order_id}"
    else:
        who = "An automatic raise" if entry.automatic else "A raise"
        what = f"{who} of order {entry.order_id} to {messages.clore(entry.price or 0.0)}"
    return (
        f"⏳ {what} ({_at(entry)}) is not confirmed by clore.ai yet. I will not send another "
        "until the market shows what happened (at most 10 minutes)."
    )


async def tap_raise(
    ctx: ServiceContext, user: User, payload: dict[str, object], *, confirmed: bool
) -> TapResult:
    order_id, server_id = int(payload["order_id"]), str(payload["server_id"])  # type: ignore[arg-type]
    offered = float(payload["price"])  # type: ignore[arg-type]
    key = accounts.api_key(ctx, user)
    async with ctx.money_locks.hold(user.id, server_id):
        money.snapshot_url(ctx)  # not served before the market is loaded
        server = ctx.market.server(server_id)
        bid = find_bid(server, order_id, user.clore_user_id)
        done = await money.record(ctx, user.id, order_id, bid)
        if done.unconfirmed is not None:
            return TapResult("Not confirmed yet", unconfirmed_text(done.unconfirmed))
        if done.cancelled is not None:
            return TapResult(
                "Cancelled",
                f"Order {order_id} was cancelled ({_at(done.cancelled)}): nothing to raise.",
            )
        if server is None or bid is None:
            return TapResult("Order not found", f"Order {order_id} is no longer in the market.")
        if done.raised is not None and done.raised.price is not None:
            bid = msgspec.structs.replace(bid, price=done.raised.price)
        standing = bid_standing(server_id, server, bid, ctx.market.clore_price)
        profile = accounts.profile(ctx, user)
        decision = decide_raise(
            standing, offered, step=profile.raise_step, cap=profile.price_cap, confirmed=confirmed
        )
        where = f"#{messages.esc(server_id)}"
        match decision:
            case AlreadyInFront():
                how = (
                    "already leads" if standing.state == "leading" else "is already tied at the top"
                )
                since = f" since the raise at {_at(done.raised)}" if done.raised else ""
                return TapResult(
                    "Already in front",
                    f"✅ Order {order_id} {how} on {where} at {messages.clore(standing.price)} "
                    f"CLORE/day{since}: nothing was sent.",
                    await _front_buttons(ctx, user, standing, standing.price),
                )
            case PriceMoved(needed=needed):
                async with ctx.sessions() as s, s.begin():
                    keyboard = await bid_keyboard(ctx, s, user.id, standing, needed)
                text = (
                    f"The market moved: {messages.clore(offered)} no longer leads on "
                    f"{where}.\n{messages.bid_line(standing, server)}"
                )
                return TapResult("Price no longer leads", text, keyboard)
            case AboveCap(price=price, cap=cap):
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
                    keep = await make_action(
                        ctx, s, user.id, "keep", order_id=order_id, server_id=server_id
                    )
                text = (
                    f"{messages.clore(price)} CLORE/day is above your cap of "
                    f"{messages.clore(cap)}. Raise order {order_id} anyway?"
                )
                return TapResult(
                    "Above your cap",
                    text,
                    [[(f"Yes, raise to {messages.clore(price)}", confirm)], [("No", keep)]],
                )
            case RaiseTo(price=price, below_offered=below):
                result = await _edit(ctx, user, key, order_id, server_id, standing.price, price)
                if result.toast != "Raised":
                    return result
                # Cancel and Protect still apply to the raised bid; Raise does not.
                keyboard = await _front_buttons(ctx, user, standing, price)
                note = (
                    f" Leading needed less than the button's {messages.clore(offered)}."
                    if below else ""
                )
                return TapResult(result.toast, (result.text or "") + note, keyboard)
    raise AssertionError(decision)


async def _front_buttons(
    ctx: ServiceContext, user: User, standing: BidStanding, price: float
) -> Keyboard:
    """The buttons of a bid in front at `price`: Cancel and Protect."""
    leading = msgspec.structs.replace(standing, state="leading", price=price)
    async with ctx.sessions() as s, s.begin():
        return await bid_keyboard(ctx, s, user.id, leading, price)


async def _edit(
    ctx: ServiceContext,
    user: User,
    key: str,
    order_id: int,
    server_id: str,
    from_price: float,
    price: float,
) -> TapResult:
    """Caller holds the lock: the intent, ONE edit call, its outcome."""
    intent = await money.begin(
        ctx, user_id=user.id, action="raise", order_id=order_id, server_id=server_id, price=price
    )
    try:
        result = await ctx.clore.edit_gigaspot_orders(
            key, [OrderEdit(order_id=order_id, price=price)]
        )
    except clore_errors.CloreError as exc:
        outcome: audit.Outcome = "ambiguous" if exc.ambiguous else "error"
        await money.settle_now(ctx, intent, outcome, type(exc).__name__)
        return TapResult("Not confirmed" if exc.ambiguous else "Failed", plain_error(exc))
    if order_id in result.success_ids:
        await money.settle_now(ctx, intent, "ok")
        return TapResult(
            "Raised",
            f"✅ Order {order_id} raised to {messages.clore(price)} CLORE/day "
            f"(from {messages.clore(from_price)}).",
        )
    reason = "too low for clore" if order_id in result.too_low_ids else "refused by clore"
    await money.settle_now(ctx, intent, "rejected", reason)
    return TapResult("Not raised", f"❌ Order {order_id} was not raised: {reason}.")


async def tap_cancel(ctx: ServiceContext, user: User, payload: dict[str, object]) -> TapResult:
    order_id, server_id = int(payload["order_id"]), str(payload["server_id"])  # type: ignore[arg-type]
    key = accounts.api_key(ctx, user)
    async with ctx.money_locks.hold(user.id, server_id):
        money.snapshot_url(ctx)  # not served before the market is loaded
        order = _find_order(ctx.market.server(server_id), order_id, user.clore_user_id)
        done = await money.record(ctx, user.id, order_id, order)
        if done.unconfirmed is not None:
            return TapResult("Not confirmed yet", unconfirmed_text(done.unconfirmed))
        if done.cancelled is not None:
            return TapResult(
                "Already cancelled",
                f"Order {order_id} was already cancelled ({_at(done.cancelled)}): "
                "nothing was sent.",
            )
        if order is None:
            return TapResult(
                "Order not found",
                f"Order {order_id} is no longer in the market: nothing to cancel.",
            )
        return await _cancel(ctx, user, key, order_id, server_id)


async def _cancel(
    ctx: ServiceContext, user: User, key: str, order_id: int, server_id: str
) -> TapResult:
    intent = await money.begin(
        ctx, user_id=user.id, action="cancel", order_id=order_id, server_id=server_id
    )
    try:
        result = await ctx.clore.cancel_orders(key, [order_id])
    except clore_errors.CloreError as exc:
        outcome: audit.Outcome = "ambiguous" if exc.ambiguous else "error"
        await money.settle_now(ctx, intent, outcome, type(exc).__name__)
        return TapResult("Not confirmed" if exc.ambiguous else "Failed", plain_error(exc))
    if order_id in result.failed_ids:
        await money.settle_now(ctx, intent, "rejected", "failed_to_cancel")
        return TapResult("Not cancelled", f"❌ clore.ai could not cancel order {order_id}.")
    await money.settle_now(ctx, intent, "ok")
    return TapResult("Cancelled", f"🗑 Order {order_id} on #{messages.esc(server_id)} cancelled.")
