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
from datetime import timedelta

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clore.models import CancelResult, EditResult, OrderEdit
from bot.db.models import AuditEntry, User
from bot.db.repositories import actions
from bot.i18n import Say
from bot.market.ranking import BidStanding, bid_standing, standings_for_owner
from bot.market.snapshot import Bid, Server
from bot.orders.raising import AboveCap, AlreadyInFront, PriceMoved, RaiseTo, decide_raise
from bot.services import accounts, money
from bot.services.buttons import Keyboard, KeyboardToMake
from bot.services.clore_words import plain_error
from bot.services.context import ServiceContext, UserError
from bot.services.payloads import Order, OrderCap, OrderPrice, as_dict
from bot.services.results import BidView, OwnBid, TapButton, TapResult

log = logging.getLogger(__name__)

ACTION_TTL = timedelta(days=2)
EPS = 1e-9


async def make_action(
    ctx: ServiceContext, s: AsyncSession, user_id: int, kind: str, **payload: object
) -> str:
    return await actions.add(
        s, user_id=user_id, kind=kind, payload=payload, expires_at=ctx.clock() + ACTION_TTL
    )


async def make_keyboard(
    ctx: ServiceContext, s: AsyncSession, user_id: int, rows: KeyboardToMake
) -> Keyboard:
    return [
        [(b.text, await make_action(ctx, s, user_id, b.kind, **b.payload)) for b in row]
        for row in rows
    ]


def find_bid(server: Server | None, order_id: int, owner: int | None) -> Bid | None:
    if server is None or owner is None:
        return None
    for bid in server.bids:
        if bid.id == order_id and bid.owner == owner and bid.active:
            return bid
    return None


def list_bids(ctx: ServiceContext, user: User) -> list[OwnBid]:
    """The user's active bids in the snapshot in force."""
    accounts.api_key(ctx, user)  # asks to link first
    snapshot = ctx.market.snapshot
    if snapshot is None:
        raise UserError("I have not loaded the market yet. Try again in a minute.")
    step = accounts.profile(ctx, user).raise_step
    standings = standings_for_owner(snapshot, user.clore_user_id or 0, ctx.market.clore_price)
    return [
        OwnBid(st, snapshot.servers[st.server_id], st.lead_price + step) for st in standings
    ]


def _find_order(server: Server | None, order_id: int, owner: int | None) -> Bid | None:
    """The user's order on the server, active or not (a Cancel needs only that it exists)."""
    if server is None or owner is None:
        return None
    return next((b for b in server.bids if b.id == order_id and b.owner == owner), None)


def unconfirmed_text(entry: AuditEntry) -> Say:
    """An action on this order that may or may not have acted: why nothing more is sent."""
    if entry.action == "cancel":
        return Say(
            "⏳ Cancelling order {order_id} ({time}) is not confirmed by clore.ai yet. I will "
            "not send another until the market shows what happened (at most 10 minutes).",
            order_id=entry.order_id,
            time=entry.created_at,
        )
    if entry.automatic:
        return Say(
            "⏳ An automatic raise of order {order_id} to {price} ({time}) is not confirmed by "
            "clore.ai yet. I will not send another until the market shows what happened (at "
            "most 10 minutes).",
            order_id=entry.order_id,
            price=entry.price or 0.0,
            time=entry.created_at,
        )
    return Say(
        "⏳ A raise of order {order_id} to {price} ({time}) is not confirmed by clore.ai yet. "
        "I will not send another until the market shows what happened (at most 10 minutes).",
        order_id=entry.order_id,
        price=entry.price or 0.0,
        time=entry.created_at,
    )


async def tap_raise(
    ctx: ServiceContext, user: User, payload: OrderPrice, *, confirmed: bool,
    refused: float = 0.0,
) -> TapResult:
    """`refused`: the highest price clore refused for this order (a refusal's fix): the
    raise never sends that or less, even where the market says it would lead."""
    order_id, server_id, offered = payload.order_id, payload.server_id, payload.price
    key = accounts.api_key(ctx, user)
    async with ctx.money_locks.hold(user.id, server_id):
        money.snapshot_url(ctx)  # not served before the market is loaded
        server = ctx.market.server(server_id)
        bid = find_bid(server, order_id, user.clore_user_id)
        done = await money.record(ctx, user.id, order_id, bid)
        if done.unconfirmed is not None:
            return TapResult(Say("Not confirmed yet"), unconfirmed_text(done.unconfirmed))
        if done.cancelled is not None:
            return TapResult(
                Say("Cancelled"),
                Say(
                    "Order {order_id} was cancelled ({time}): nothing to raise.",
                    order_id=order_id,
                    time=done.cancelled.created_at,
                ),
            )
        if server is None or bid is None:
            return TapResult(
                Say("Order not found"),
                Say("Order {order_id} is no longer in the market.", order_id=order_id),
            )
        if done.raised is not None and done.raised.price is not None:
            bid = msgspec.structs.replace(bid, price=done.raised.price)
        standing = bid_standing(server_id, server, bid, ctx.market.clore_price)
        profile = accounts.profile(ctx, user)
        decision = decide_raise(
            standing, offered, step=profile.raise_step, cap=profile.price_cap, confirmed=confirmed
        )
        match decision:
            case AlreadyInFront():
                # It is in front: Cancel and Protect still apply, Raise does not.
                return TapResult(
                    Say("Already in front"),
                    _in_front(standing, done.raised),
                    raise_buttons(standing, standing.price),
                )
            case PriceMoved(needed=needed):
                note = Say(
                    "The market moved: {offered} no longer leads on #{server}.",
                    offered=offered,
                    server=server_id,
                )
                buttons = raise_buttons(standing, needed)
                return TapResult(
                    Say("Price no longer leads"), note, buttons, BidView(standing, server)
                )
            case AboveCap(price=price, cap=cap):
                note = Say(
                    "{price} CLORE/day is above your cap of {cap}. Raise order {order_id} anyway?",
                    price=price,
                    cap=cap,
                    order_id=order_id,
                )
                confirm = TapButton(
                    Say("Yes, raise to {price}", price=price),
                    "confirm_raise",
                    as_dict(OrderPrice(order_id, server_id, price)),
                )
                no = TapButton(Say("No"), "keep", as_dict(Order(order_id, server_id)))
                return TapResult(Say("Above your cap"), note, [[confirm, no]])
            case RaiseTo(price=price, below_offered=below):
                if price <= refused + EPS:
                    price, below = offered, False  # the button's price is above the refused
                result = await _edit(ctx, user, key, order_id, server_id, standing.price, price)
                if result.toast.msgid != "Raised":
                    return result
                # The raised bid leads: Cancel and Protect still apply, Raise does not.
                leading = msgspec.structs.replace(standing, state="leading", price=price)
                done_note: Say | None = result.note
                if below:
                    done_note = Say(
                        "{done} Leading needed less than the button's {offered}.",
                        done=result.note,
                        offered=offered,
                    )
                return TapResult(result.toast, done_note, raise_buttons(leading, price))
    raise AssertionError(decision)


def _in_front(standing: BidStanding, raised: AuditEntry | None) -> Say:
    values = {
        "order_id": standing.order_id,
        "server": standing.server_id,
        "price": standing.price,
    }
    if standing.state == "leading":
        if raised is not None:
            return Say(
                "✅ Order {order_id} already leads on #{server} at {price} CLORE/day since the "
                "raise at {time}: nothing was sent.",
                time=raised.created_at,
                **values,
            )
        return Say(
            "✅ Order {order_id} already leads on #{server} at {price} CLORE/day: nothing was "
            "sent.",
            **values,
        )
    if raised is not None:
        return Say(
            "✅ Order {order_id} is already tied at the top on #{server} at {price} CLORE/day "
            "since the raise at {time}: nothing was sent.",
            time=raised.created_at,
            **values,
        )
    return Say(
        "✅ Order {order_id} is already tied at the top on #{server} at {price} CLORE/day: "
        "nothing was sent.",
        **values,
    )


def raise_buttons(standing: BidStanding, raise_to: float) -> list[list[TapButton]]:
    """A bid's buttons (as outbid alerts and /bids show them): Raise only where it is
    outbid; Cancel (which asks first) and Protect always."""
    order = Order(standing.order_id, standing.server_id)
    cancel = TapButton(Say("Cancel"), "cancel_ask", as_dict(order))
    # A button cannot take the cap: it answers with the /protect command to send.
    protect = TapButton(Say("🛡 Protect"), "protect",
                        as_dict(OrderCap(order.order_id, order.server_id, raise_to)))
    if standing.state != "outbid":
        return [[cancel, protect]]
    raise_to_button = TapButton(Say("Raise to {price}", price=raise_to), "raise",
                                as_dict(OrderPrice(order.order_id, order.server_id, raise_to)))
    return [[raise_to_button, cancel, protect]]  # one row per bid (see taps.Edit.ADD)


def ask_cancel(payload: Order) -> TapResult:
    """Cancel asks first: Yes cancels, No puts the order's buttons back."""
    order = as_dict(payload)
    yes = TapButton(Say("🗑 Yes, cancel order {order_id}", order_id=payload.order_id),
                    "cancel", order)
    no = TapButton(Say("↩️ No, keep it"), "keep", order)
    return TapResult(Say("Cancel order {order_id}?", order_id=payload.order_id), None,
                     [[yes, no]])  # fmt: skip


def tap_keep(ctx: ServiceContext, user: User, payload: Order) -> TapResult:
    """The No of a confirmation about an order: nothing is sent, and the order's buttons
    come back as the snapshot in force shows it."""
    server = ctx.market.server(payload.server_id)
    bid = find_bid(server, payload.order_id, user.clore_user_id)
    if server is None or bid is None:
        return TapResult(Say("Nothing was sent"))
    standing = bid_standing(payload.server_id, server, bid, ctx.market.clore_price)
    raise_to = standing.lead_price + accounts.profile(ctx, user).raise_step
    return TapResult(Say("Nothing was sent"), None, raise_buttons(standing, raise_to))


async def _edit(
    ctx: ServiceContext,
    user: User,
    key: str,
    order_id: int,
    server_id: str,
    from_price: float,
    price: float,
) -> TapResult:
    """Caller holds the lock and decided: the one edit call through the money pipeline."""

    answers: list[EditResult] = []  # clore's answer, for the fix its lists offer

    def refusal(result: EditResult) -> Say | None:
        answers.append(result)
        if order_id in result.success_ids:
            return None
        if order_id in result.too_low_ids:
            return Say("too low for clore")
        return Say("refused by clore")

    edit = OrderEdit(order_id=order_id, price=price)
    spent = await money.spend(
        ctx,
        user.id,
        money.Spend(
            "raise",
            server_id,
            lambda: ctx.clore.edit_gigaspot_orders(key, [edit]),
            refusal,
            order_id=order_id,
            price=price,
        ),
    )
    match spent.outcome:
        case "done":
            return TapResult(
                Say("Raised"),
                Say(
                    "✅ Order {order_id} raised to {price} CLORE/day (from {from_price}).",
                    order_id=order_id,
                    price=price,
                    from_price=from_price,
                ),
            )
        case "refused":
            return _refused(ctx, user, order_id, server_id, price, answers[0])
    return _not_done(spent)


def _refused(
    ctx: ServiceContext, user: User, order_id: int, server_id: str, price: float,
    result: EditResult,
) -> TapResult:
    """A refused raise in plain words, with the fix its list offers (a price above the
    refused one, or watching the machine). Imported here: order_taps builds on this module."""
    from bot.orders.refusals import edit_refusal
    from bot.services.order_taps import refused_tap

    step = accounts.profile(ctx, user).raise_step
    server = ctx.market.server(server_id)
    bid = find_bid(server, order_id, user.clore_user_id)
    needed = price + step
    if server is not None and bid is not None:
        needed = bid_standing(server_id, server, bid, ctx.market.clore_price).lead_price + step
    refusal = edit_refusal(
        result, order_id, server_id, sent_price=price, needed=needed, step=step, with_oc=False
    )
    assert refusal is not None  # refused: not among the updated ids
    return refused_tap(server_id, price, refusal, order_id)


def _not_done(spent: money.Spent) -> TapResult:
    """A call that failed or whose outcome is unknown, in plain words."""
    assert spent.error is not None
    toast = Say("Not confirmed") if spent.outcome == "ambiguous" else Say("Failed")
    return TapResult(toast, plain_error(spent.error))


async def tap_cancel(ctx: ServiceContext, user: User, payload: Order) -> TapResult:
    order_id, server_id = payload.order_id, payload.server_id
    key = accounts.api_key(ctx, user)
    async with ctx.money_locks.hold(user.id, server_id):
        money.snapshot_url(ctx)  # not served before the market is loaded
        order = _find_order(ctx.market.server(server_id), order_id, user.clore_user_id)
        done = await money.record(ctx, user.id, order_id, order)
        if done.unconfirmed is not None:
            return TapResult(Say("Not confirmed yet"), unconfirmed_text(done.unconfirmed))
        if done.cancelled is not None:
            return TapResult(
                Say("Already cancelled"),
                Say(
                    "Order {order_id} was already cancelled ({time}): nothing was sent.",
                    order_id=order_id,
                    time=done.cancelled.created_at,
                ),
            )
        if order is None:
            return TapResult(
                Say("Order not found"),
                Say(
                    "Order {order_id} is no longer in the market: nothing to cancel.",
                    order_id=order_id,
                ),
            )
        return await _cancel(ctx, user, key, order_id, server_id)


async def _cancel(
    ctx: ServiceContext, user: User, key: str, order_id: int, server_id: str
) -> TapResult:
    """Caller holds the lock and decided: the one cancel call through the money pipeline."""

    def refusal(result: CancelResult) -> Say | None:
        return Say("clore.ai could not cancel the order") if order_id in result.failed_ids else None

    spent = await money.spend(
        ctx,
        user.id,
        money.Spend(
            "cancel",
            server_id,
            lambda: ctx.clore.cancel_orders(key, [order_id]),
            refusal,
            order_id=order_id,
        ),
    )
    match spent.outcome:
        case "done":
            return TapResult(
                Say("Cancelled"),
                Say(
                    "🗑 Order {order_id} on #{server} cancelled.",
                    order_id=order_id,
                    server=server_id,
                ),
            )
        case "refused":
            return TapResult(
                Say("Not cancelled"),
                Say("❌ clore.ai could not cancel order {order_id}.", order_id=order_id),
            )
    return _not_done(spent)
