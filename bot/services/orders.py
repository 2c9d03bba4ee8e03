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

from bot.clore.models import CreateResult
from bot.db.models import PendingOrder, User
from bot.db.repositories import outbox, pending_orders, users
from bot.i18n import Say, translator
from bot.market.ranking import bid_standing
from bot.market.snapshot import Server
from bot.orders.pending import Waiting, match_pending
from bot.orders.refusals import Refusal
from bot.orders.template import (
    Template,
    TemplateError,
    build_order,
    price_to_lead,
)
from bot.services import accounts, money, order_taps, templates
from bot.services import events as ev
from bot.services.clore_words import plain_error
from bot.services.context import ServiceContext
from bot.services.events import MatchItem, listed_machines
from bot.services.payloads import ServerPrice, as_dict
from bot.services.results import BidView, TapButton, TapResult
from bot.telegram.render.alerts import notice

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


async def bid_offers(
    ctx: ServiceContext, s: AsyncSession, user: User, items: Sequence[MatchItem]
) -> list[ServerPrice] | None:
    """One Bid offer per machine the alert lists; None without a linked key or template."""
    if (
        not user.api_key_encrypted
        or user.clore_user_id is None
        or user.api_key_unreadable_at is not None
    ):
        return None
    template = await stored_template(ctx, s, user.id)
    if template is None:
        return None
    offers = []
    for item in listed_machines(items, ctx.settings.max_matches_per_message):
        price = bid_price(ctx, user, template, item.server_id)
        if price is not None:
            offers.append(ServerPrice(item.server_id, price))
    return offers or None


def _own_order_ids(server: Server, owner: int | None) -> set[int]:
    return {bid.id for bid in server.bids if bid.owner == owner}


async def tap_bid(
    ctx: ServiceContext,
    user: User,
    payload: ServerPrice,
    *,
    confirmed: bool,
    action_id: str | None = None,
) -> TapResult:
    """A Bid (or confirm_bid) tap, already claimed: re-check, then ONE create call."""
    key = accounts.api_key(ctx, user)  # asks to link first
    async with ctx.money_locks.hold(user.id, payload.server_id):
        return await _bid(ctx, user, key, payload, confirmed=confirmed, action_id=action_id)


def _bid_button(kind: str, label: Say, server_id: str, price: float) -> list[list[TapButton]]:
    return [[TapButton(label, kind, as_dict(ServerPrice(server_id, price)))]]


async def _bid(
    ctx: ServiceContext,
    user: User,
    key: str,
    payload: ServerPrice,
    *,
    confirmed: bool,
    action_id: str | None,
) -> TapResult:
    server_id, offered = payload.server_id, payload.price
    money.snapshot_url(ctx)  # not served before the market is loaded
    server = ctx.market.server(server_id)
    if server is None:
        return order_taps.server_gone(server_id)
    placed = await _placed_already(ctx, user, server_id, server)
    if placed is not None:
        return placed
    async with ctx.reads() as s:
        template = await templates.stored(ctx, s, user.id)  # says if its env is unreadable
    if template is None:
        return order_taps.NO_TEMPLATE
    lead = price_to_lead(template, server, ctx.market.clore_price, user.clore_user_id)
    needed = lead + accounts.profile(ctx, user).raise_step
    if offered <= lead + EPS:
        note = Say(
            "The market moved: {offered} no longer leads on #{server}. Leading now takes more "
            "than {lead} CLORE/day.",
            offered=offered,
            server=server_id,
            lead=lead,
        )
        label = Say("Bid #{server} at {price}", server=server_id, price=needed)
        return TapResult(
            Say("Price no longer leads"), note, _bid_button("bid", label, server_id, needed)
        )
    price = min(offered, needed)  # never more than leading needs, nor than the button said
    cap = accounts.profile(ctx, user).price_cap
    if cap is not None and price > cap + EPS and not confirmed:
        note = Say(
            "{price} CLORE/day is above your cap of {cap}. Bid on #{server} anyway?",
            price=price,
            cap=cap,
            server=server_id,
        )
        label = Say("Yes, bid {price}", price=price)
        return TapResult(
            Say("Above your cap"),
            note,
            # Yes and No in one row: tapping either takes the other with it.
            [_bid_button("confirm_bid", label, server_id, price)[0]
             + [TapButton(Say("No"), "dismiss", {})]],
        )
    try:
        order = build_order(template, server_id, server, price)
    except TemplateError as exc:
        return TapResult(
            Say("Template does not fit"), Say("❌ {problem} Nothing was sent.", problem=exc.say)
        )
    known = sorted(_own_order_ids(server, user.clore_user_id))
    refused: list[Refusal] = []  # the structured refusal, for the fix it offers

    def refusal_of(result: CreateResult) -> Say | None:
        found = order_taps.classify_create(ctx, user, template, server, server_id, result, price)
        if found is not None:
            refused.append(found)
        return refusal(result, int(server_id))

    spent = await money.spend(
        ctx,
        user.id,
        money.Spend(
            "create",
            server_id,
            lambda: ctx.clore.create_gigaspot_orders(key, [order]),
            refusal_of,
            price=price,
            pending_order={"known_order_ids": known, "action_id": action_id},
        ),
    )
    if spent.outcome == "refused" and refused:  # said plainly, with the fix it offers
        return order_taps.refused_tap(server_id, price, refused[0])
    if spent.outcome == "refused":
        return TapResult(
            Say("Not placed"),
            Say("❌ No bid on #{server}: {reason}.", server=server_id, reason=spent.refusal),
        )
    if spent.error is not None:
        toast = Say("Not confirmed") if spent.outcome == "ambiguous" else Say("Failed")
        return TapResult(toast, plain_error(spent.error))
    if price < offered - EPS:
        note = Say(
            "✅ Bid on #{server} at {price} CLORE/day sent. Leading needed less than the "
            "button's {offered}. I will tell you when the order shows up in the market.",
            server=server_id,
            price=price,
            offered=offered,
        )
    else:
        note = Say(
            "✅ Bid on #{server} at {price} CLORE/day sent. I will tell you when the order "
            "shows up in the market.",
            server=server_id,
            price=price,
        )
    return TapResult(Say("Bid placed"), note)


async def _placed_already(
    ctx: ServiceContext, user: User, server_id: str, server: Server
) -> TapResult | None:
    """A bid this bot placed for the user on this server that has not shown up yet, or
    that is in the market: another Bid button for the server must not place a second."""
    async with ctx.reads() as s:
        rows = await pending_orders.on_server(s, user.id, server_id)
    for row in rows:
        if row.resolved_at is None:
            return TapResult(
                Say("Bid already sent"),
                Say(
                    "Your bid on #{server} at {price} CLORE/day ({time}) has not shown up in "
                    "the market yet. I will not send another; I will tell you when it does.",
                    server=server_id,
                    price=row.price,
                    time=row.created_at,
                ),
            )
    live = {b.id: b for b in server.bids if b.owner == user.clore_user_id and b.active}
    for row in rows:
        bid = live.get(row.order_id) if row.order_id is not None else None
        if bid is not None:
            standing = bid_standing(server_id, server, bid, ctx.market.clore_price)
            return TapResult(
                Say("You bid there already"),
                Say(
                    "You already have order {order_id} on #{server} from a Bid button. "
                    "Nothing was sent; /bids has its Raise and Cancel buttons.",
                    order_id=bid.id,
                    server=server_id,
                ),
                view=BidView(standing, server),
            )
    return None


def refusal(result: CreateResult, server_id: int) -> Say | None:
    """Why clore did not place the order on `server_id`, in plain words (None: placed)."""
    if server_id in result.failed_to_oc_servers:
        return Say("clore could not apply the template's power limit or overclock there")
    if server_id in result.failed_to_rent_servers:
        return Say("the server cannot be rented right now")
    if server_id in result.too_low_bids_servers:
        return Say("the price is below what the server accepts")
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
            event = ev.OrderInMarket(standing)
            queued.append(_order_message(user, event, f"pending:{row.id}"))
    for row in await pending_orders.give_up(s, created_before=now - PENDING_GIVE_UP, now=now):
        user = await users.get(s, row.user_id)
        if user is None:
            continue
        gone = ev.OrderNotShown(row.server_id, row.price)
        queued.append(_order_message(user, gone, f"pending-gone:{row.id}"))
    await outbox.enqueue_many(s, queued, decided_at=now)
    return len(queued)


def _order_message(user: User, event: ev.Notice, dedupe_key: str) -> outbox.NewMessage:
    text = notice(translator(user.language), event).text
    return outbox.NewMessage(
        user_id=user.id, chat_id=user.chat_id, kind="action", text=text,
        dedupe_key=dedupe_key, alert="orders",
    )
