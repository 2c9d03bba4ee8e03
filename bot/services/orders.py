"""New orders from match alerts: the Bid buttons, the Bid tap, and confirming the order.

A Bid tap spends money: it is claimed once (`taps.claim`), holds the (user, server) money
lock, is re-checked against the snapshot in force, and sent to clore exactly once. clore
returns no order id, so a pending order, written with the intent before the call,
remembers the user's bids on the server at tap time; the first other bid of theirs there
in a later snapshot is the new order (`bot.orders.pending`). While that order has not shown
up, or while it is in the market, another Bid button for the same server sends nothing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot import messages
from bot.clore import errors as clore_errors
from bot.clore.models import CreateResult
from bot.db.models import PendingOrder, User
from bot.db.repositories import audit, outbox, pending_orders, users
from bot.market.ranking import bid_standing
from bot.market.snapshot import Server
from bot.orders.pending import Waiting, match_pending
from bot.orders.template import (
    Template,
    TemplateError,
    build_order,
    price_to_lead,
)
from bot.services import accounts, money, templates
from bot.services.bids import TapResult, make_action
from bot.services.buttons import Keyboard
from bot.services.clore_words import plain_error
from bot.services.context import ServiceContext

log = logging.getLogger(__name__)

EPS = 1e-9
PENDING_GIVE_UP = timedelta(minutes=10)


async def stored_template(ctx: ServiceContext, s: AsyncSession, user_id: int) -> Template | None:
    """The user's template for Bid buttons; None when there is none or it cannot be used."""
    try:
        return await templates.stored(ctx, s, user_id)
    except templates.TemplateUnreadable:
        return None


def bid_price(ctx: ServiceContext, user: User, template: Template, server_id: str) -> float | None:
    """What a Bid button offers now: the price to lead with this template plus the step."""
    server = ctx.market.server(server_id)
    if server is None:
        return None
    step = user.raise_step or ctx.settings.default_raise_step
    return price_to_lead(template, server, ctx.market.clore_price, user.clore_user_id) + step


def bid_label(server_id: str, price: float) -> str:
    return f"Bid #{server_id} at {messages.clore(price)}"


async def match_keyboard(
    ctx: ServiceContext, s: AsyncSession, user: User, items: Sequence[messages.MatchItem]
) -> Keyboard | None:
    """One Bid button per machine the alert lists; None without a linked key or template."""
    if (
        not user.api_key_encrypted
        or user.clore_user_id is None
        or user.api_key_unreadable_at is not None
    ):
        return None
    template = await stored_template(ctx, s, user.id)
    if template is None:
        return None
    keyboard: Keyboard = []
    for item in messages.listed_machines(items, ctx.settings.max_matches_per_message):
        price = bid_price(ctx, user, template, item.server_id)
        if price is None:
            continue
        action = await make_action(
            ctx, s, user.id, "bid", server_id=item.server_id, price=price
        )
        keyboard.append([(bid_label(item.server_id, price), action)])
    return keyboard or None


def _own_order_ids(server: Server, owner: int | None) -> set[int]:
    return {bid.id for bid in server.bids if bid.owner == owner}


async def tap_bid(
    ctx: ServiceContext,
    user: User,
    payload: dict[str, object],
    *,
    confirmed: bool,
    action_id: str | None = None,
) -> TapResult:
    """A Bid (or confirm_bid) tap, already claimed: re-check, then ONE create call."""
    server_id = str(payload["server_id"])
    key = accounts.api_key(ctx, user)  # asks to link first
    async with ctx.money_locks.hold(user.id, server_id):
        return await _bid(ctx, user, key, payload, confirmed=confirmed, action_id=action_id)


async def _bid(
    ctx: ServiceContext,
    user: User,
    key: str,
    payload: dict[str, object],
    *,
    confirmed: bool,
    action_id: str | None,
) -> TapResult:
    server_id, offered = str(payload["server_id"]), float(payload["price"])  # type: ignore[arg-type]
    money.snapshot_url(ctx)  # not served before the market is loaded
    where = f"#{messages.esc(server_id)}"
    server = ctx.market.server(server_id)
    if server is None:
        return TapResult("Server gone", f"Server {where} is no longer in the market.")
    placed = await _placed_already(ctx, user, server_id, server)
    if placed is not None:
        return placed
    async with ctx.reads() as s:
        template = await templates.stored(ctx, s, user.id)  # says if its env is unreadable
    if template is None:
        return TapResult("No template", "You have no order template. Set one with /template.")
    lead = price_to_lead(template, server, ctx.market.clore_price, user.clore_user_id)
    needed = lead + accounts.profile(ctx, user).raise_step
    if offered <= lead + EPS:
        async with ctx.sessions() as s, s.begin():
            again = await make_action(ctx, s, user.id, "bid", server_id=server_id, price=needed)
        text = (
            f"The market moved: {messages.clore(offered)} no longer leads on {where}. "
            f"Leading now takes more than {messages.clore(lead)} CLORE/day."
        )
        return TapResult("Price no longer leads", text, [[(bid_label(server_id, needed), again)]])
    price = min(offered, needed)  # never more than leading needs, nor than the button said
    cap = accounts.profile(ctx, user).price_cap
    if cap is not None and price > cap + EPS and not confirmed:
        async with ctx.sessions() as s, s.begin():
            confirm = await make_action(
                ctx, s, user.id, "confirm_bid", server_id=server_id, price=price
            )
            no = await make_action(ctx, s, user.id, "dismiss")
        text = (
            f"{messages.clore(price)} CLORE/day is above your cap of {messages.clore(cap)}. "
            f"Bid on {where} anyway?"
        )
        return TapResult(
            "Above your cap", text,
            [[(f"Yes, bid {messages.clore(price)}", confirm), ("No", no)]],
        )
    try:
        order = build_order(template, server_id, server, price)
    except TemplateError as exc:
        return TapResult("Template does not fit", f"❌ {messages.esc(exc)} Nothing was sent.")
    known = sorted(_own_order_ids(server, user.clore_user_id))
    intent = await money.begin(
        ctx,
        user_id=user.id,
        action="create",
        server_id=server_id,
        price=price,
        pending_order={"known_order_ids": known, "action_id": action_id},
    )
    try:
        result = await ctx.clore.create_gigaspot_orders(key, [order])
    except clore_errors.CloreError as exc:
        outcome: audit.Outcome = "ambiguous" if exc.ambiguous else "error"
        await money.settle_now(ctx, intent, outcome, type(exc).__name__)
        return TapResult("Not confirmed" if exc.ambiguous else "Failed", plain_error(exc))
    reason = refusal(result, int(server_id))
    if reason is not None:
        await money.settle_now(ctx, intent, "rejected", reason)
        return TapResult("Not placed", f"❌ No bid on {where}: {reason}.")
    await money.settle_now(ctx, intent, "ok")
    lower = (
        f" Leading needed less than the button's {messages.clore(offered)}."
        if price < offered - EPS
        else ""
    )
    return TapResult(
        "Bid placed",
        f"✅ Bid on {where} at {messages.clore(price)} CLORE/day sent.{lower} I will tell you "
        "when the order shows up in the market.",
    )


async def _placed_already(
    ctx: ServiceContext, user: User, server_id: str, server: Server
) -> TapResult | None:
    """A bid this bot placed for the user on this server that has not shown up yet, or
    that is in the market: another Bid button for the server must not place a second."""
    where = f"#{messages.esc(server_id)}"
    async with ctx.reads() as s:
        rows = await pending_orders.on_server(s, user.id, server_id)
    for row in rows:
        if row.resolved_at is None:
            return TapResult(
                "Bid already sent",
                f"Your bid on {where} at {messages.clore(row.price)} CLORE/day "
                f"({row.created_at:%H:%M} UTC) has not shown up in the market yet. I will not "
                "send another; I will tell you when it does.",
            )
    live = {b.id: b for b in server.bids if b.owner == user.clore_user_id and b.active}
    for row in rows:
        bid = live.get(row.order_id) if row.order_id is not None else None
        if bid is not None:
            standing = bid_standing(server_id, server, bid, ctx.market.clore_price)
            return TapResult(
                "You bid there already",
                f"You already have order {bid.id} on {where} from a Bid button: "
                f"{messages.clore(bid.price)} CLORE/day, "
                f"{messages.esc(messages.standing_label(standing))}. Nothing was sent; /bids "
                "has its Raise and Cancel buttons.",
            )
    return None


def refusal(result: CreateResult, server_id: int) -> str | None:
    """Why clore did not place the order on `server_id`, in plain words (None: placed)."""
    if server_id in result.failed_to_oc_servers:
        return "clore could not apply the template's power limit or overclock there"
    if server_id in result.failed_to_rent_servers:
        return "the server cannot be rented right now"
    if server_id in result.too_low_bids_servers:
        return "the price is below what the server accepts"
    return None


async def confirm_pending(ctx: ServiceContext, s: AsyncSession) -> int:
    """After a new snapshot: attach order ids to pending orders that show up in it, tell
    their users, and give up on those older than PENDING_GIVE_UP. Returns messages queued."""
    snapshot = ctx.market.snapshot
    if snapshot is None:
        return 0
    now = ctx.clock()
    by_user: dict[int, list[PendingOrder]] = defaultdict(list)
    for row in await pending_orders.unresolved(s):
        by_user[row.user_id].append(row)
    queued: list[outbox.NewMessage] = []
    for user_id, rows in by_user.items():
        user = await users.get(s, user_id)
        if user is None or user.clore_user_id is None:
            continue  # unlinked meanwhile: the give-up below closes them
        waiting = [
            Waiting(row.id, row.server_id, pending_orders.known_order_ids(row)) for row in rows
        ]
        taken = await pending_orders.taken_order_ids(s, user_id)
        found = match_pending(waiting, snapshot.servers, user.clore_user_id, taken)
        for row in rows:
            bid = found.get(row.id)
            if bid is None or not await pending_orders.resolve(s, row.id, user_id, bid.id, now=now):
                continue
            server = snapshot.servers[row.server_id]
            standing = bid_standing(row.server_id, server, bid, ctx.market.clore_price)
            text = (
                f"Your order {bid.id} on #{messages.esc(row.server_id)} is in the market: "
                f"<b>{messages.esc(messages.standing_label(standing))}</b>."
            )
            queued.append(_order_message(user, text, f"pending:{row.id}"))
    for row in await pending_orders.give_up(s, created_before=now - PENDING_GIVE_UP, now=now):
        user = await users.get(s, row.user_id)
        if user is None:
            continue
        text = (
            f"Your bid on #{messages.esc(row.server_id)} at {messages.clore(row.price)} "
            "CLORE/day has not shown up in the market after 10 minutes: clore.ai probably "
            "did not place it. /bids shows your bids."
        )
        queued.append(_order_message(user, text, f"pending-gone:{row.id}"))
    await outbox.enqueue_many(s, queued, decided_at=now)
    return len(queued)


def _order_message(user: User, text: str, dedupe_key: str) -> outbox.NewMessage:
    return outbox.NewMessage(
        user_id=user.id, chat_id=user.chat_id, kind="action", text=text,
        dedupe_key=dedupe_key, alert="orders",
    )
