"""Taps on the life of an order: Bid again, the fixes offered after a refusal, Watch #S,
and Lead by lowering power.

Every money tap follows the pipeline of `bot.services.money`: claimed once (`taps.claim`),
the (user, server) money lock held, re-checked against the snapshot in force, the intent
committed, ONE clore call, never retried after an ambiguous failure, settled in the audit
log (`/history`). Results are typed; `bot.telegram.render.orderlife` words them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import msgspec

from bot.clore import errors as clore_errors
from bot.clore.models import OrderEdit, Overclock
from bot.db.models import User
from bot.db.repositories import audit, pending_orders
from bot.market.ranking import bid_standing
from bot.market.snapshot import Server
from bot.orders import power, refusals
from bot.orders.template import Template, TemplateError, build_order, price_to_lead
from bot.services import accounts, money, templates, watch
from bot.services.bids import find_bid
from bot.services.clore_words import plain_error
from bot.services.context import ServiceContext, UserError

EPS = 1e-9
POWER_ACTION = "power"  # audit action of an edit that lowers the power limit


# ------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Placed:
    server_id: str
    price: float
    offered: float | None  # the button's price when leading needed less
    lowest_power: bool = False


@dataclass(frozen=True, slots=True)
class Refused:
    server_id: str
    price: float
    refusal: refusals.Refusal
    order_id: int | None = None  # an edit's order


@dataclass(frozen=True, slots=True)
class CallFailed:
    message: str  # plain words (`plain_error`)
    ambiguous: bool


@dataclass(frozen=True, slots=True)
class ServerGone:
    server_id: str


@dataclass(frozen=True, slots=True)
class NoTemplate:
    pass


@dataclass(frozen=True, slots=True)
class TemplateMisfit:
    message: str


@dataclass(frozen=True, slots=True)
class AlreadySent:
    server_id: str
    price: float
    at: datetime


@dataclass(frozen=True, slots=True)
class NeedsConfirmation:
    """Above the user's cap: confirm with the button kind/payload given."""

    server_id: str
    price: float
    cap: float
    kind: str
    payload: dict[str, object]


@dataclass(frozen=True, slots=True)
class PriceMoved:
    server_id: str
    offered: float
    needed: float  # the fresh offer
    payload: dict[str, object]  # of the fresh fix button


@dataclass(frozen=True, slots=True)
class NotConfirmedYet:
    order_id: int
    at: datetime


@dataclass(frozen=True, slots=True)
class OrderGone:
    order_id: int


@dataclass(frozen=True, slots=True)
class PowerLowered:
    order_id: int
    server_id: str
    price: float
    from_pl: float
    to_pl: int


@dataclass(frozen=True, slots=True)
class PowerNoLonger:
    """Lowering the power no longer puts the order in front (or it leads already)."""

    order_id: int
    server_id: str
    leading: bool
    raise_to: float | None  # the ordinary way: lead price + step


@dataclass(frozen=True, slots=True)
class Watching:
    rule_id: int
    server_id: str


TapOutcome = (
    Placed | Refused | CallFailed | ServerGone | NoTemplate | TemplateMisfit | AlreadySent
    | NeedsConfirmation | PriceMoved | NotConfirmedYet | OrderGone | PowerLowered
    | PowerNoLonger | Watching
)  # fmt: skip


# --------------------------------------------------------------------------- creates


def lowest(template: Template) -> Template:
    """The template with every GPU at its lowest limit and no other overclock."""
    return replace(
        template, power="min", core_lock=None, mem_lock=None, core_offset=None, mem_offset=None
    )


def is_lowest(template: Template) -> bool:
    return template == lowest(template)


async def tap_create(
    ctx: ServiceContext,
    user: User,
    payload: dict[str, object],
    *,
    kind: str,
    confirmed: bool,
    action_id: str | None,
) -> TapOutcome:
    """Bid again (payload: server_id, order_id), or a fix after a refusal (payload:
    server_id, price, refused, lowest): re-check, then ONE create call."""
    server_id = str(payload["server_id"])
    key = accounts.api_key(ctx, user)  # asks to link first
    async with ctx.money_locks.hold(user.id, server_id):
        return await _create(ctx, user, key, payload, kind, confirmed, action_id)


async def _create(
    ctx: ServiceContext,
    user: User,
    key: str,
    payload: dict[str, object],
    kind: str,
    confirmed: bool,
    action_id: str | None,
) -> TapOutcome:
    server_id = str(payload["server_id"])
    refused = float(payload.get("refused", 0.0))  # type: ignore[arg-type]
    use_lowest = bool(payload.get("lowest", False))
    money.snapshot_url(ctx)  # not served before the market is loaded
    server = ctx.market.server(server_id)
    if server is None:
        return ServerGone(server_id)
    async with ctx.reads() as s:
        rows = await pending_orders.on_server(s, user.id, server_id)
        template = await templates.stored(ctx, s, user.id)  # says if its env is unreadable
    for row in rows:
        if row.resolved_at is None:
            return AlreadySent(server_id, row.price, row.created_at)
    if template is None:
        return NoTemplate()
    if use_lowest:
        template = lowest(template)
    profile = accounts.profile(ctx, user)
    lead = price_to_lead(template, server, ctx.market.clore_price, user.clore_user_id)
    needed = refusals.offer_above(lead + profile.raise_step, refused, profile.raise_step)
    offered = payload.get("price")
    if offered is None or use_lowest:
        price = needed  # Bid again and lowest power: the price is decided now
    else:
        offered_price = float(offered)  # type: ignore[arg-type]
        if offered_price <= lead + EPS or offered_price <= refused + EPS:
            fresh = {**payload, "price": needed}
            return PriceMoved(server_id, offered_price, needed, fresh)
        price = min(offered_price, needed)
    if profile.price_cap is not None and price > profile.price_cap + EPS and not confirmed:
        return NeedsConfirmation(
            server_id, price, profile.price_cap, f"confirm_{kind}", {**payload, "price": price}
        )
    try:
        order = build_order(template, server_id, server, price)
    except TemplateError as exc:
        return TemplateMisfit(str(exc))
    known = sorted(b.id for b in server.bids if b.owner == user.clore_user_id)
    intent = await money.begin(
        ctx,
        user_id=user.id,
        action="create",
        server_id=server_id,
        price=price,
        detail="bid again" if kind == "bid_again" else "fix",
        pending_order={"known_order_ids": known, "action_id": action_id},
    )
    try:
        result = await ctx.clore.create_gigaspot_orders(key, [order])
    except clore_errors.CloreError as exc:
        outcome: audit.Outcome = "ambiguous" if exc.ambiguous else "error"
        await money.settle_now(ctx, intent, outcome, type(exc).__name__)
        return CallFailed(plain_error(exc), exc.ambiguous)
    refusal = refusals.create_refusal(
        result,
        server_id,
        sent_price=price,
        needed=lead + profile.raise_step,
        step=profile.raise_step,
        refused_floor=refused,
        was_lowest_power=is_lowest(template),
    )
    if refusal is not None:
        await money.settle_now(ctx, intent, "rejected", refusal.kind)
        return Refused(server_id, price, refusal)
    await money.settle_now(ctx, intent, "ok")
    below = None
    if offered is not None and not use_lowest and price < float(offered) - EPS:  # type: ignore[arg-type]
        below = float(offered)  # type: ignore[arg-type]
    return Placed(server_id, price, below, use_lowest)


def classify_create(
    ctx: ServiceContext,
    user: User,
    template: Template,
    server: Server,
    server_id: str,
    result: object,
    price: float,
) -> refusals.Refusal | None:
    """The refusal (and its fix) of a create made elsewhere (the match alert's Bid)."""
    profile = accounts.profile(ctx, user)
    lead = price_to_lead(template, server, ctx.market.clore_price, user.clore_user_id)
    return refusals.create_refusal(
        result,  # type: ignore[arg-type]
        server_id,
        sent_price=price,
        needed=lead + profile.raise_step,
        step=profile.raise_step,
        was_lowest_power=is_lowest(template),
    )


# ---------------------------------------------------------------------------- watch


async def tap_watch(ctx: ServiceContext, user: User, payload: dict[str, object]) -> TapOutcome:
    server_id = str(payload["server_id"])
    saved = await watch.save(ctx, user, f"server={server_id}")
    return Watching(saved.rule_id, server_id)


# ---------------------------------------------------------------------------- power


def power_offer(
    ctx: ServiceContext, server_id: str, order_id: int, owner: int | None
) -> power.PowerLead | None:
    """What the outbid alert offers: lead at the same price with a lower power limit."""
    server = ctx.market.server(server_id)
    bid = find_bid(server, order_id, owner)
    if server is None or bid is None:
        return None
    return power.lead_by_power(server, bid, ctx.market.clore_price)


async def tap_power(ctx: ServiceContext, user: User, payload: dict[str, object]) -> TapOutcome:
    """Lead at the same price by lowering the power limit: re-check, ONE edit with `oc`."""
    order_id, server_id = int(payload["order_id"]), str(payload["server_id"])  # type: ignore[call-overload]
    agreed = int(payload["pl"])  # type: ignore[call-overload]
    key = accounts.api_key(ctx, user)
    async with ctx.money_locks.hold(user.id, server_id):
        money.snapshot_url(ctx)
        server = ctx.market.server(server_id)
        bid = find_bid(server, order_id, user.clore_user_id)
        done = await money.record(ctx, user.id, order_id, bid)
        if done.unconfirmed is not None:
            return NotConfirmedYet(order_id, done.unconfirmed.created_at)
        if server is None or bid is None or done.cancelled is not None:
            return OrderGone(order_id)
        if done.raised is not None and done.raised.price is not None:
            bid = msgspec.structs.replace(bid, price=done.raised.price)
        step = accounts.profile(ctx, user).raise_step
        standing = bid_standing(server_id, server, bid, ctx.market.clore_price)
        lead = power.lead_by_power(server, bid, ctx.market.clore_price)
        if lead is None:
            leading = standing.state != "outbid"
            return PowerNoLonger(
                order_id, server_id, leading, None if leading else standing.lead_price + step
            )
        if lead.total_pl < agreed:
            # Leading now needs a deeper cut than the user agreed to: ask again.
            fresh = {"order_id": order_id, "server_id": server_id, "pl": lead.total_pl}
            return PriceMoved(server_id, float(agreed), float(lead.total_pl), fresh)
        return await _lower(ctx, user, key, lead, server_id, standing.lead_price + step)


async def lower_power(
    ctx: ServiceContext, user: User, key: str, lead: power.PowerLead, server_id: str,
    *, automatic: bool = False,
) -> tuple[audit.Outcome, str | None, money.Intent]:
    """Caller holds the lock: the intent, ONE edit with `oc`, its outcome (settled by the
    caller). Returns (outcome, refusal kind or error, intent)."""
    intent = await money.begin(
        ctx,
        user_id=user.id,
        action=POWER_ACTION,
        order_id=lead.order_id,
        server_id=server_id,
        price=lead.price,
        automatic=automatic,
        detail=f"power {lead.from_pl:g} W -> {lead.total_pl} W",
    )
    edit = OrderEdit(
        order_id=lead.order_id,
        price=lead.price,
        oc=tuple(Overclock(pl=watts) for watts in lead.per_gpu),
    )
    try:
        result = await ctx.clore.edit_gigaspot_orders(key, [edit])
    except clore_errors.CloreError as exc:
        return ("ambiguous" if exc.ambiguous else "error"), plain_error(exc), intent
    if lead.order_id in result.success_ids:
        return "ok", None, intent
    why = "too_low" if lead.order_id in result.too_low_ids else "failed_update"
    return "rejected", why, intent


async def _lower(
    ctx: ServiceContext, user: User, key: str, lead: power.PowerLead, server_id: str,
    needed: float,
) -> TapOutcome:
    outcome, why, intent = await lower_power(ctx, user, key, lead, server_id)
    detail = f"power {lead.from_pl:g} W -> {lead.total_pl} W" + (f": {why}" if why else "")
    await money.settle_now(ctx, intent, outcome, detail)
    if outcome == "ok":
        return PowerLowered(lead.order_id, server_id, lead.price, lead.from_pl, lead.total_pl)
    if outcome in ("ambiguous", "error"):
        return CallFailed(why or "", outcome == "ambiguous")
    step = accounts.profile(ctx, user).raise_step
    refusal = refusals.Refusal(
        why or "failed_update",
        refusals.RaiseAt(refusals.offer_above(needed, 0.0, step), 0.0),
    )
    return Refused(server_id, lead.price, refusal, lead.order_id)


def check_kind(kind: str) -> None:
    if kind not in TAP_KINDS:
        raise UserError("This button does nothing any more.")


CREATE_KINDS = frozenset({"bid_again", "confirm_bid_again", "fix_bid", "confirm_fix_bid"})
TAP_KINDS = CREATE_KINDS | {"watch_server", "power_lead"}
MONEY_KINDS = CREATE_KINDS | {"power_lead"}
