"""Outbid protection: /protect, /unprotect, /budget, and the automatic raise of a cycle.

The cycle collects protected bids that fell behind (inside its transaction) and calls
`attempt` for each after committing, outside the market lock. `attempt` holds the order's
money lock (`bot.services.money`), decides from the snapshot in force with what a tap on
this order already did on it, commits the intent (it counts against the budget and the
hourly limit from then on, whatever happens next), and makes at most one edit call (never
retried). The cycle then settles it (`record`) and queues the message in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clore.models import EditResult, OrderEdit
from bot.db.models import User
from bot.db.repositories import protections
from bot.db.repositories.audit import Outcome
from bot.i18n import Say
from bot.market.ranking import BidStanding, bid_standing, standings_for_owner
from bot.orders.protection import (
    BUDGET_WINDOW,
    RATE_WINDOW,
    AtCap,
    Decision,
    InputError,
    NothingToDo,
    OverBudget,
    ProtectionSettings,
    Raise,
    RateLimited,
    decide,
    parse_budget,
    parse_protection,
)
from bot.services import accounts, money, order_taps
from bot.services.bids import find_bid
from bot.services.clore_words import plain_error
from bot.services.context import ServiceContext, UserError
from bot.services.events import ProtectionFailed, ProtectionHeld
from bot.services.results import BudgetState, ProtectionOff, ProtectionOn

EPS = 1e-9
PROTECT_USAGE = Say("Send /protect <order id> <cap> [raises per hour], e.g. /protect 9001 25")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A protected bid that fell behind in this cycle."""

    user: User
    standing: BidStanding
    settings: ProtectionSettings


@dataclass(frozen=True, slots=True)
class Attempt:
    candidate: Candidate
    decision: Decision | order_taps.PowerCut
    outcome: Outcome | None = None  # set when an edit was made
    error: Say | None = None  # why the edit did not take effect, in plain words
    intent: money.Intent | None = None  # recorded before the edit call; `record` settles it


# ------------------------------------------------------------------------------ commands


async def enable(ctx: ServiceContext, user: User, text: str) -> ProtectionOn:
    words = text.split()
    if not words or not words[0].isdigit():
        raise UserError(PROTECT_USAGE)
    order_id = int(words[0])
    rest = words[1:]
    if rest and rest[-1].lower() == "power":  # `/protect 9001 25 power`, `... 25 2 power`
        rest = [*rest[:-1]]
        power_words = ["power"]
    else:
        power_words = []
    if len(rest) == 2 and "=" not in rest[0] + rest[1]:
        rest = [f"cap={rest[0]}", f"per_hour={rest[1]}"]
    try:
        settings = parse_protection(" ".join([*rest, *power_words]))
    except InputError as exc:
        raise UserError("{problem}. {usage}", problem=exc.say, usage=PROTECT_USAGE) from None
    accounts.api_key(ctx, user)  # asks to link first
    snapshot = ctx.market.snapshot
    if snapshot is None:
        raise UserError("I have not loaded the market yet. Try again in a minute.")
    owned = standings_for_owner(snapshot, user.clore_user_id or 0, ctx.market.clore_price)
    standing = next((st for st in owned if st.order_id == order_id), None)
    if standing is None:
        raise UserError(
            "Order {order_id} is not one of your active bids (see /bids).", order_id=order_id
        )
    if settings.cap < standing.price - EPS_CAP:
        # Protection raises, never lowers: a cap below the price can never act.
        raise UserError(
            "The cap {cap} CLORE/day is below order {order_id}'s price of {price} CLORE/day, "
            "so protection could never raise it. Give a cap above {price}, e.g. "
            "/protect {order_id} {example}.",
            cap=settings.cap, order_id=order_id, price=standing.price,
            example=_cap_example(standing, accounts.profile(ctx, user).raise_step),
        )  # fmt: skip
    async with ctx.sessions() as s, s.begin():
        await protections.enable(
            s,
            user_id=user.id,
            order_id=order_id,
            server_id=standing.server_id,
            cap=settings.cap,
            max_raises_per_hour=settings.max_raises_per_hour,
            now=ctx.clock(),
            use_power=settings.use_power,
        )
    return ProtectionOn(order_id, standing.server_id, settings)


async def disable(ctx: ServiceContext, user: User, text: str) -> ProtectionOff:
    word = text.strip()
    if not word.isdigit():
        raise UserError("Send /unprotect followed by the order id.")
    async with ctx.sessions() as s, s.begin():
        found = await protections.set_enabled(s, user.id, int(word), False)
    if not found:
        raise UserError("Order {order_id} is not protected.", order_id=int(word))
    return ProtectionOff(int(word))


async def budget(ctx: ServiceContext, user: User, text: str) -> BudgetState:
    now = ctx.clock()
    async with ctx.sessions() as s, s.begin():
        if text.strip():
            try:
                amount = parse_budget(text)
            except InputError as exc:
                raise UserError(
                    "{problem}. Send /budget 20 or /budget off.", problem=exc.say
                ) from None
            await protections.set_budget(s, user.id, amount, now=now)
        current = await protections.get_budget(s, user.id)
        spent = await protections.automatic_spending_since(s, user.id, now - BUDGET_WINDOW)
    step = accounts.profile(ctx, user).raise_step
    # A budget below one raise step can never pay for an automatic raise: say so at once.
    too_small = current is not None and current + EPS_CAP < step
    return BudgetState(current, spent, step if too_small else None)


EPS_CAP = 1e-9


def _cap_example(standing: BidStanding, step: float) -> float:
    """A cap that lets protection act now: what leading needs plus a step, at least the
    price plus a step."""
    return round(max(standing.price, standing.lead_price) + 2 * step, 4)


# ---------------------------------------------------------------------- automatic raises


async def protected_orders(s: AsyncSession) -> dict[tuple[int, int], ProtectionSettings]:
    """(user id, order id) -> settings of every enabled protection."""
    return {
        (row.user_id, row.order_id): ProtectionSettings(
            row.cap, row.max_raises_per_hour, use_power=row.use_power
        )
        for row in await protections.list_enabled(s)
    }


async def attempt(ctx: ServiceContext, c: Candidate) -> Attempt | None:
    """Decide, and raise at most once. None: nothing to tell (a tap acted on this snapshot
    already and told the user, or this very raise was tried before)."""
    async with ctx.money_locks.hold(c.user.id, c.standing.server_id):
        return await _attempt(ctx, c)


async def _attempt(ctx: ServiceContext, c: Candidate) -> Attempt | None:
    now = ctx.clock()
    user = c.user
    server = ctx.market.server(c.standing.server_id)
    bid = find_bid(server, c.standing.order_id, user.clore_user_id)
    if server is None or bid is None:
        return None
    done = await money.record(ctx, user.id, c.standing.order_id, bid)
    if done.unconfirmed is not None or done.cancelled is not None:
        return None
    if done.raised is not None and done.raised.price is not None:
        bid = msgspec.structs.replace(bid, price=done.raised.price)  # a tap raised it meanwhile
    standing = bid_standing(c.standing.server_id, server, bid, ctx.market.clore_price)
    c = Candidate(user, standing, c.settings)
    step = accounts.profile(ctx, user).raise_step
    async with ctx.reads() as s:
        recent = await protections.automatic_raises_since(
            s, user.id, standing.order_id, now - RATE_WINDOW
        )
        daily_budget = await protections.get_budget(s, user.id)
        spent = await protections.automatic_spending_since(s, user.id, now - BUDGET_WINDOW)
    if c.settings.use_power and standing.state == "outbid":
        cut = await order_taps.automatic_power(
            ctx, user, standing.server_id, server, bid, len(recent), c.settings
        )
        if cut is not None:
            return Attempt(c, cut.decision, cut.outcome, cut.error, cut.intent)
    decision = decide(
        standing,
        c.settings,
        [r.created_at for r in recent],
        step=step,
        daily_budget=daily_budget,
        spent_last_24h=spent,
        now=now,
    )
    if isinstance(decision, NothingToDo):
        return None
    if not isinstance(decision, Raise):
        return Attempt(c, decision)
    if (
        recent
        and recent[-1].to_price is not None
        and abs(recent[-1].to_price - decision.price) <= EPS
    ):
        # This very raise was made before (the snapshot does not show it yet, or the user
        # changed the price since) or failed and was reported: never repeat it.
        return None
    try:
        key = accounts.api_key(ctx, user)
    except accounts.KeyUnreadable:
        await accounts.key_unreadable(ctx, user.id)  # told once to /link again
        return None  # skipped: the other users' raises of this cycle go on
    except UserError as exc:
        return Attempt(c, decision, "error", exc.say)
    order_id = standing.order_id

    def refusal(result: EditResult) -> Say | None:
        if order_id in result.success_ids:
            return None
        if order_id in result.too_low_ids:
            return Say("clore.ai did not raise it: too low for clore.")
        return Say("clore.ai did not raise it: refused.")

    edit = OrderEdit(order_id=order_id, price=decision.price)
    outcome = await money.spend(
        ctx,
        user.id,
        money.Spend(
            protections.RAISE_ACTION,
            standing.server_id,
            lambda: ctx.clore.edit_gigaspot_orders(key, [edit]),
            refusal,
            order_id=order_id,
            price=decision.price,
            automatic=True,
            detail=protections.raise_detail(standing.price),
        ),
        settle_now_=False,  # `record` settles it with the message about it
    )
    error = plain_error(outcome.error) if outcome.error is not None else outcome.refusal
    return Attempt(c, decision, outcome.recorded, error, outcome.intent)


async def record(s: AsyncSession, a: Attempt, now: datetime) -> None:
    """Settle the attempt's intent (in the transaction that queues the message about it)."""
    if isinstance(a.decision, order_taps.PowerCut) and a.intent is not None:
        detail = order_taps.power_detail(a.decision.lead)
        if a.error is not None:
            detail += f": {a.error.english()}"
        await money.settle(s, a.intent, a.outcome or "error", detail)
        return
    if not isinstance(a.decision, Raise) or a.outcome is None:
        return
    st = a.candidate.standing
    if a.intent is not None:
        detail = protections.raise_detail(st.price, _english(a.error))
        await money.settle(s, a.intent, a.outcome, detail)
        return
    await protections.record_automatic_raise(  # no call was made: nothing to settle
        s,
        user_id=a.candidate.user.id,
        order_id=st.order_id,
        server_id=st.server_id,
        from_price=st.price,
        to_price=a.decision.price,
        outcome=a.outcome,
        reason=_english(a.error),
        now=now,
    )


def _english(note: Say | None) -> str | None:
    return note.english() if note is not None else None


def why_not(a: Attempt) -> ProtectionHeld | None:
    """Why protection did not raise (the outbid alert says it), None when it did."""
    d = a.decision
    match d:
        case AtCap() | OverBudget() | RateLimited():
            return d
        case Raise() | order_taps.PowerCut() if a.outcome != "ok":
            why = a.error or Say("clore.ai did not say why.")
            return ProtectionFailed(d.price, a.outcome or "error", why)
    return None
