"""Taps on the life of an order: Bid again, the fixes offered after a refusal, Watch #S,
and Lead by lowering power.

Every money tap follows the pipeline of `bot.services.money`: claimed once (`taps.claim`),
the (user, server) money lock held, re-checked against the snapshot in force, the intent
committed, ONE clore call (`money.spend`), never retried after an ambiguous failure,
settled in the audit log (`/history`). Taps answer a `TapResult` of `Say` notes and
`TapButton`s (the Telegram layer says them in the user's language); the button kinds are
registered in `bot.services.taps.KINDS` with the payload types below.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import msgspec

from bot.clore.models import CreateResult, EditResult, OrderEdit, Overclock
from bot.db.models import User
from bot.db.repositories import audit, pending_orders
from bot.i18n import N_, Say
from bot.market.ranking import bid_standing
from bot.market.snapshot import Bid, Server
from bot.orders import power, refusals
from bot.orders.protection import ProtectionSettings
from bot.orders.template import Template, TemplateError, build_order, price_to_lead
from bot.services import accounts, money, templates, watch
from bot.services.bids import find_bid
from bot.services.clore_words import plain_error
from bot.services.context import ServiceContext, UserError
from bot.services.payloads import OrderPrice
from bot.services.results import TapButton, TapResult

EPS = 1e-9
POWER_ACTION = "power"  # audit action of an edit that lowers the power limit


# ------------------------------------------------------------------------ payloads


class NewBid(msgspec.Struct, frozen=True):
    """Bid again (`order_id`: the order it replaces) or a refusal's fix: a new order on
    `server_id` at `price` (None: decided at the tap), above every `refused` price, with
    the lowest power limits when `lowest`."""

    server_id: str
    price: float | None = None
    refused: float = 0.0
    lowest: bool = False
    order_id: int | None = None


class ServerOnly(msgspec.Struct, frozen=True):
    """Watch #S: save the rule `server=S`."""

    server_id: str


class RaiseAbove(msgspec.Struct, frozen=True):
    """Raise after an edit refusal: to `price`, never to `refused` or less."""

    order_id: int
    server_id: str
    price: float
    refused: float


class PowerLimit(msgspec.Struct, frozen=True):
    """Lead by power: the order, and the total power limit the user agreed to."""

    order_id: int
    server_id: str
    pl: int


def _button(label: Say, kind: str, payload: msgspec.Struct) -> list[list[TapButton]]:
    return [[TapButton(label, kind, msgspec.structs.asdict(payload))]]


# --------------------------------------------------------------------------- creates


def lowest(template: Template) -> Template:
    """The template with every GPU at its lowest limit and no other overclock."""
    return replace(
        template, power="min", core_lock=None, mem_lock=None, core_offset=None, mem_offset=None
    )


def is_lowest(template: Template) -> bool:
    return template == lowest(template)


def refused_tap(server_id: str, price: float, refusal: refusals.Refusal,
                order_id: int | None = None) -> TapResult:
    """A refusal in plain words, with the button of its fix."""
    watch = _button(Say("👁 Watch #{server}", server=server_id), "watch_server",
                    ServerOnly(server_id))  # fmt: skip
    toast = Say("Not placed") if order_id is None else Say("Not changed")
    match refusal.kind, refusal.fix:
        case "too_low", refusals.BidAt(price=offer, refused=floor):
            note = Say(
                "❌ No bid on #{server}: clore.ai refused {price} CLORE/day as too low. "
                "{offer} CLORE/day leads now.",
                server=server_id, price=price, offer=offer,
            )
            fix = _button(Say("Bid {price}", price=offer), "fix_bid",
                          NewBid(server_id, offer, floor))  # fmt: skip
            return TapResult(toast, note, fix)
        case "failed_oc", refusals.BidLowestPower():
            note = Say(
                "❌ No bid on #{server}: clore.ai could not apply your template's power limit "
                "or overclock there. A bid with every GPU at its lowest power limit and no "
                "overclock may go through (your workload may run slower).",
                server=server_id,
            )
            fix = _button(Say("Bid with lowest power"), "fix_bid",
                          NewBid(server_id, lowest=True))  # fmt: skip
            return TapResult(toast, note, fix)
        case "failed_oc", _:
            note = Say(
                "❌ No bid on #{server}: clore.ai could not apply even the lowest power limit "
                "there. The machine may not take GigaSPOT orders now; watch it to hear when "
                "it matches again.",
                server=server_id,
            )
            return TapResult(toast, note, watch)
        case "failed_rent", _:
            note = Say(
                "❌ No bid on #{server}: this machine cannot be rented right now. Nothing was "
                "placed. Watch it to hear when it can be.",
                server=server_id,
            )
            return TapResult(toast, note, watch)
        case "too_low", refusals.RaiseAt(price=offer, refused=floor):
            note = Say(
                "❌ Order {order} was not changed: clore.ai refused {price} CLORE/day as too "
                "low. {offer} CLORE/day leads now.",
                order=order_id or 0, price=price, offer=offer,
            )
            fix = _button(Say("Raise to {price}", price=offer), "fix_raise",
                          RaiseAbove(order_id or 0, server_id, offer, floor))  # fmt: skip
            return TapResult(toast, note, fix)
        case "failed_update", refusals.RaiseAt(price=offer):
            note = Say(
                "❌ clore.ai did not lower the power limit of order {order}. Raising the price "
                "to {offer} CLORE/day (at its current power) also puts it in front.",
                order=order_id or 0, offer=offer,
            )
            return TapResult(toast, note, _raise_button(order_id or 0, server_id, offer))
    note = Say(
        "❌ clore.ai could not update order {order} on #{server} (it may have ended).",
        order=order_id or 0, server=server_id,
    )
    return TapResult(toast, note, watch)


def server_gone(server_id: str) -> TapResult:
    """A Bid tap's answer when its server left the market."""
    return TapResult(
        Say("Server gone"), Say("Server #{server} is no longer in the market.", server=server_id)
    )


NO_TEMPLATE = TapResult(
    Say("No template"), Say("You have no order template. Set one with /template.")
)


def _raise_button(order_id: int, server_id: str, price: float) -> list[list[TapButton]]:
    return _button(Say("Raise to {price}", price=price), "raise",
                   OrderPrice(order_id, server_id, price))  # fmt: skip


async def tap_create(
    ctx: ServiceContext, user: User, payload: NewBid, *, kind: str, confirmed: bool,
    action_id: str | None,
) -> TapResult:
    """Bid again, or a fix after a refusal: re-check, then ONE create call."""
    key = accounts.api_key(ctx, user)  # asks to link first
    async with ctx.money_locks.hold(user.id, payload.server_id):
        return await _create(ctx, user, key, payload, kind, confirmed, action_id)


async def _create(
    ctx: ServiceContext, user: User, key: str, payload: NewBid, kind: str, confirmed: bool,
    action_id: str | None,
) -> TapResult:
    server_id, refused = payload.server_id, payload.refused
    money.snapshot_url(ctx)  # not served before the market is loaded
    server = ctx.market.server(server_id)
    if server is None:
        return server_gone(server_id)
    async with ctx.reads() as s:
        rows = await pending_orders.on_server(s, user.id, server_id)
        template = await templates.stored(ctx, s, user.id)  # says if its env is unreadable
    for row in rows:
        if row.resolved_at is None:
            return TapResult(Say("Bid already sent"), Say(
                "Your bid on #{server} at {price} CLORE/day ({time}) has not shown up in "
                "the market yet. I will not send another; I will tell you when it does.",
                server=server_id, price=row.price, time=row.created_at,
            ))  # fmt: skip
    if template is None:
        return NO_TEMPLATE
    if payload.lowest:
        template = lowest(template)
    profile = accounts.profile(ctx, user)
    step = profile.raise_step
    lead = price_to_lead(template, server, ctx.market.clore_price, user.clore_user_id)
    needed = refusals.offer_above(lead + step, refused, step)
    offered = payload.price
    if offered is None or payload.lowest:
        price = needed  # Bid again and lowest power: the price is decided now
    elif offered <= lead + EPS or offered <= refused + EPS:
        note = Say(
            "The market moved: {offered} no longer leads on #{server}.",
            offered=offered, server=server_id,
        )
        fresh = msgspec.structs.replace(payload, price=needed)
        return TapResult(Say("Price no longer leads"), note,
                         _button(Say("Bid {price}", price=needed), "fix_bid", fresh))  # fmt: skip
    else:
        price = min(offered, needed)
    if profile.price_cap is not None and price > profile.price_cap + EPS and not confirmed:
        note = Say(
            "{price} CLORE/day is above your cap of {cap}. Bid on #{server} anyway?",
            price=price, cap=profile.price_cap, server=server_id,
        )
        fixed = msgspec.structs.replace(payload, price=price)
        label = Say("Yes, bid {price}", price=price)
        return TapResult(Say("Above your cap"), note, _button(label, f"confirm_{kind}", fixed))
    try:
        order = build_order(template, server_id, server, price)
    except TemplateError as exc:
        return TapResult(
            Say("Template does not fit"), Say("❌ {problem} Nothing was sent.", problem=exc.say)
        )
    known = sorted(b.id for b in server.bids if b.owner == user.clore_user_id)
    found: list[refusals.Refusal] = []  # the structured refusal, for the fix it offers

    def refusal_of(result: CreateResult) -> Say | None:
        refusal = refusals.create_refusal(
            result, server_id, sent_price=price, needed=lead + step, step=step,
            refused_floor=refused, was_lowest_power=is_lowest(template),
        )  # fmt: skip
        if refusal is None:
            return None
        found.append(refusal)
        return Say(REFUSAL_WORDS[refusal.kind])

    spent = await money.spend(
        ctx,
        user.id,
        money.Spend(
            "create",
            server_id,
            lambda: ctx.clore.create_gigaspot_orders(key, [order]),
            refusal_of,
            price=price,
            detail=f"bid again after order {payload.order_id}" if kind == "bid_again" else None,
            pending_order={"known_order_ids": known, "action_id": action_id},
        ),
    )
    if spent.outcome == "refused":
        return refused_tap(server_id, price, found[0])
    if spent.error is not None:
        return _not_done(spent)
    if payload.lowest:
        note = Say(
            "✅ Bid on #{server} at {price} CLORE/day sent, every GPU at its lowest power "
            "limit. I will tell you when the order shows up in the market.",
            server=server_id, price=price,
        )
    elif offered is not None and price < offered - EPS:
        note = Say(
            "✅ Bid on #{server} at {price} CLORE/day sent. Leading needed less than the "
            "button's {offered}. I will tell you when the order shows up in the market.",
            server=server_id, price=price, offered=offered,
        )
    else:
        note = Say(
            "✅ Bid on #{server} at {price} CLORE/day sent. I will tell you when the order "
            "shows up in the market.",
            server=server_id, price=price,
        )
    return TapResult(Say("Bid placed"), note)


def classify_create(
    ctx: ServiceContext, user: User, template: Template, server: Server, server_id: str,
    result: CreateResult, price: float,
) -> refusals.Refusal | None:
    """The refusal (and its fix) of a create made elsewhere (the match alert's Bid)."""
    step = accounts.profile(ctx, user).raise_step
    lead = price_to_lead(template, server, ctx.market.clore_price, user.clore_user_id)
    return refusals.create_refusal(
        result, server_id, sent_price=price, needed=lead + step, step=step,
        was_lowest_power=is_lowest(template),
    )  # fmt: skip


# ---------------------------------------------------------------------------- watch


async def tap_watch(ctx: ServiceContext, user: User, payload: ServerOnly) -> TapResult:
    saved = await watch.save(ctx, user, f"server={payload.server_id}")
    return TapResult(Say("Watching"), Say(
        "👁 Rule {rule} saved: I will tell you when #{server} matches (it must be online, "
        "working and rentable).",
        rule=saved.rule_id, server=payload.server_id,
    ))  # fmt: skip


# ---------------------------------------------------------------------------- power


async def tap_power(ctx: ServiceContext, user: User, payload: PowerLimit) -> TapResult:
    """Lead at the same price by lowering the power limit: re-check, ONE edit with `oc`."""
    order_id, server_id = payload.order_id, payload.server_id
    key = accounts.api_key(ctx, user)
    async with ctx.money_locks.hold(user.id, server_id):
        money.snapshot_url(ctx)
        server = ctx.market.server(server_id)
        bid = find_bid(server, order_id, user.clore_user_id)
        done = await money.record(ctx, user.id, order_id, bid)
        if done.unconfirmed is not None:
            return TapResult(Say("Not confirmed yet"), Say(
                "⏳ An action on order {order} ({time}) is not confirmed by clore.ai yet. I "
                "will not send another until the market shows what happened (at most 10 "
                "minutes).",
                order=order_id, time=done.unconfirmed.created_at,
            ))  # fmt: skip
        if server is None or bid is None or done.cancelled is not None:
            return TapResult(Say("Order not found"), Say(
                "Order {order} is no longer in the market.", order=order_id
            ))  # fmt: skip
        if done.raised is not None and done.raised.price is not None:
            bid = msgspec.structs.replace(bid, price=done.raised.price)
        lowered = await _lowered_on_this_snapshot(ctx, user, order_id)
        if lowered is not None:  # another alert's button did it; the snapshot predates it
            return TapResult(Say("Already lowered"), Say(
                "✅ The power limit of order {order} was already lowered ({time}): nothing "
                "was sent.",
                order=order_id, time=lowered,
            ))  # fmt: skip
        step = accounts.profile(ctx, user).raise_step
        standing = bid_standing(server_id, server, bid, ctx.market.clore_price)
        lead = power.lead_by_power(server, bid, ctx.market.clore_price)
        if lead is None and standing.state != "outbid":
            return TapResult(Say("Already in front"), Say(
                "✅ Order {order} already leads on #{server}: nothing was sent.",
                order=order_id, server=server_id,
            ))  # fmt: skip
        if lead is None:
            raise_to = standing.lead_price + step
            return TapResult(Say("No longer possible"), Say(
                "Lowering the power limit no longer puts order {order} in front on #{server}. "
                "Nothing was sent.",
                order=order_id, server=server_id,
            ), _raise_button(order_id, server_id, raise_to))  # fmt: skip
        if lead.total_pl < payload.pl:
            # Leading now needs a deeper cut than the user agreed to: ask again.
            fresh = PowerLimit(order_id, server_id, lead.total_pl)
            return TapResult(Say("Market moved"), Say(
                "The market moved: {agreed} W no longer leads on #{server}; it takes {watts} W "
                "now.",
                agreed=payload.pl, server=server_id, watts=lead.total_pl,
            ), _button(Say("Lower power to {watts} W", watts=lead.total_pl), "power_lead",
                       fresh))  # fmt: skip
        return await _lower(ctx, user, key, lead, server_id, standing.lead_price + step)


async def lower_power(
    ctx: ServiceContext, user: User, key: str, lead: power.PowerLead, server_id: str,
    *, automatic: bool = False,
) -> tuple[audit.Outcome, Say | str | None, money.Intent]:
    """Caller holds the lock: the intent, ONE edit with `oc`; the caller settles it.
    Returns (outcome, why it did not take effect, intent)."""
    answers: list[EditResult] = []

    def refusal_of(result: EditResult) -> Say | None:
        answers.append(result)
        if lead.order_id in result.success_ids:
            return None
        if lead.order_id in result.too_low_ids:
            return Say("too low for clore")
        return Say("refused by clore")

    edit = OrderEdit(
        order_id=lead.order_id,
        price=lead.price,
        oc=tuple(Overclock(pl=watts) for watts in lead.per_gpu),
    )
    spent = await money.spend(
        ctx,
        user.id,
        money.Spend(
            POWER_ACTION,
            server_id,
            lambda: ctx.clore.edit_gigaspot_orders(key, [edit]),
            refusal_of,
            order_id=lead.order_id,
            price=lead.price,
            automatic=automatic,
            detail=power_detail(lead),
        ),
        settle_now_=False,  # settled with the power detail kept (see `settle_power`)
    )
    if spent.error is not None:
        return spent.recorded, plain_error(spent.error), spent.intent
    if spent.outcome == "done":
        return "ok", None, spent.intent
    why = "too_low" if answers and lead.order_id in answers[0].too_low_ids else "failed_update"
    return "rejected", why, spent.intent


async def _lowered_on_this_snapshot(
    ctx: ServiceContext, user: User, order_id: int
) -> datetime | None:
    """When a power change of this order took effect on the snapshot in force, if one did."""
    url = money.snapshot_url(ctx)
    async with ctx.reads() as s:
        entries = await audit.for_order_since(
            s, user.id, order_id, ctx.clock() - money.SHOWN_WITHIN
        )
    for entry in reversed(entries):
        if entry.action == POWER_ACTION and entry.outcome == "ok" and entry.snapshot_url == url:
            return entry.created_at
    return None


def power_detail(lead: power.PowerLead) -> str:
    return f"power {lead.from_pl:g} W -> {lead.total_pl} W"


async def _lower(
    ctx: ServiceContext, user: User, key: str, lead: power.PowerLead, server_id: str,
    needed: float,
) -> TapResult:
    outcome, why, intent = await lower_power(ctx, user, key, lead, server_id)
    reason = why.english() if isinstance(why, Say) else why
    await money.settle_now(
        ctx, intent, outcome, power_detail(lead) + (f": {reason}" if reason else "")
    )
    if outcome == "ok":
        return TapResult(Say("Power lowered"), Say(
            "✅ Order {order} on #{server} now asks {new} W instead of {old} W at the same "
            "{price} CLORE/day. Your workload gets less power and may run slower.",
            order=lead.order_id, server=server_id, new=lead.total_pl, old=f"{lead.from_pl:g}",
            price=lead.price,
        ))  # fmt: skip
    if isinstance(why, Say):
        return TapResult(Say("Not confirmed") if outcome == "ambiguous" else Say("Failed"), why)
    step = accounts.profile(ctx, user).raise_step
    refusal = refusals.Refusal(
        why or "failed_update", refusals.RaiseAt(refusals.offer_above(needed, 0.0, step), 0.0)
    )
    return refused_tap(server_id, lead.price, refusal, lead.order_id)


# ---------------------------------------------------------------- automatic (protection)


@dataclass(frozen=True, slots=True)
class PowerCut:
    """Outbid protection's decision to lead by lowering the power limit (`/protect ...
    power`): no price change, so nothing counts against the daily budget."""

    lead: power.PowerLead

    @property
    def price(self) -> float:
        return self.lead.price


@dataclass(frozen=True, slots=True)
class PowerAttempt:
    decision: PowerCut
    outcome: audit.Outcome
    error: Say | None
    intent: money.Intent | None


async def automatic_power(
    ctx: ServiceContext, user: User, server_id: str, server: Server, bid: Bid,
    raises_this_hour: int, settings: ProtectionSettings,
) -> PowerAttempt | None:
    """Protection's lead by power, with the order's lock held: one edit with `oc`, or None
    when lowering cannot lead (then protection raises the price as usual), the hourly limit
    is used up, or this very cut was already tried within the hour."""
    lead = power.lead_by_power(server, bid, ctx.market.clore_price)
    if lead is None:
        return None
    async with ctx.reads() as s:
        tried = await audit.for_order_since(
            s, user.id, bid.id, ctx.clock() - timedelta(hours=1)
        )
    cuts = [e for e in tried if e.action == POWER_ACTION and e.automatic]
    if raises_this_hour + len(cuts) >= settings.max_raises_per_hour:
        return None
    if any((e.detail or "").startswith(power_detail(lead)) for e in cuts):
        return None  # never repeat the same cut (the snapshot may not show it yet)
    try:
        key = accounts.api_key(ctx, user)
    except UserError:
        return None
    outcome, why, intent = await lower_power(ctx, user, key, lead, server_id, automatic=True)
    error = why if isinstance(why, Say) else (Say("clore.ai did not lower the power limit.")
                                              if why else None)  # fmt: skip
    return PowerAttempt(PowerCut(lead), outcome, error, intent)


REFUSAL_WORDS = {  # what the audit log records for each refusal list
    "too_low": N_("the price is below what the server accepts"),
    "failed_oc": N_("clore could not apply the template's power limit or overclock there"),
    "failed_rent": N_("the server cannot be rented right now"),
}


def _not_done(spent: money.Spent) -> TapResult:
    """A call that failed or whose outcome is unknown, in plain words."""
    assert spent.error is not None
    toast = Say("Not confirmed") if spent.outcome == "ambiguous" else Say("Failed")
    return TapResult(toast, plain_error(spent.error))
