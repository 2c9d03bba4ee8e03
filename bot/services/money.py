"""The one pipeline every money action (create, raise, cancel; a tap or outbid protection)
goes through.

Each one runs as: hold `ctx.money_locks` for (user, server) -> re-check against the snapshot
in force and this order's `record` -> decide (cap, budget, hourly rate: the pure deciders in
`bot.orders`) -> `spend`: the intent committed (`begin`), exactly ONE clore call, its answer
classified as done / refused / failed / ambiguous, the outcome recorded (`settle`). The
callers are `bids.tap_raise`, `bids.tap_cancel`, `orders.tap_bid` and `protection.attempt`;
none of them calls clore itself. So two buttons of one order, or a button and protection,
act one after the other, and the second sees what the first did although the snapshot does not
show it yet. A crash between the call and `settle` leaves the intent pending: it counts
against budget and hourly limit like an ambiguous call, `recover` marks it ambiguous at the
next start and tells the user, and nothing repeats it on the same information.

The market shows an action once the snapshot in force is not the one it was decided on
and carries its effect (the raised price, the order gone): clore publishes snapshots on
its own schedule, so the first one downloaded after an action may still predate it. An
action the market has not shown after `SHOWN_WITHIN` never will be (an ambiguous call
that did not go through, or the user changed the order on clore.ai).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, Literal, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clore.errors import CloreError
from bot.db.models import AuditEntry
from bot.db.repositories import audit, outbox, pending_orders, protections, users
from bot.db.repositories.audit import MAY_HAVE_ACTED, PENDING, Outcome
from bot.i18n import Say, translator
from bot.market.snapshot import Bid
from bot.services.context import ServiceContext
from bot.services.events import Interrupted
from bot.telegram.render.alerts import notice

log = logging.getLogger(__name__)

INTERRUPTED = "interrupted by a restart before clore.ai answered"
SHOWN_WITHIN = timedelta(minutes=10)  # like a pending order's give-up time
EPS = 1e-9


class NotReady(Exception):
    """The tap cannot be served yet (no snapshot loaded): the button stays usable."""


@dataclass(frozen=True, slots=True)
class Intent:
    entry_id: int  # the audit row
    pending_order_id: int | None = None  # a create's pending order, written with it


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """What the user's recent actions on one order did that the market does not show yet."""

    unconfirmed: AuditEntry | None = None  # may or may not have acted: do not act again
    cancelled: AuditEntry | None = None  # cancelled (ok): nothing is left to act on
    raised: AuditEntry | None = None  # the latest raise that took effect (ok)


def snapshot_url(ctx: ServiceContext) -> str:
    """The snapshot in force; NotReady before the first one is loaded."""
    url = ctx.market.snapshot_url
    if ctx.market.snapshot is None or url is None:
        raise NotReady()
    return url


def shown(entry: AuditEntry, url: str, bid: Bid | None) -> bool:
    """Whether the snapshot `url`, where the order is `bid` (None: absent), shows `entry`."""
    if entry.snapshot_url == url:
        return False  # decided on this very snapshot: it predates the action
    if entry.action == "cancel":
        return bid is None
    if entry.action == protections.RAISE_ACTION:
        return bid is None or entry.price is None or bid.price >= entry.price - EPS
    return True


async def record(ctx: ServiceContext, user_id: int, order_id: int, bid: Bid | None) -> OrderRecord:
    """Call with the lock held. `bid`: the order in the snapshot in force (None: absent)."""
    url = snapshot_url(ctx)
    async with ctx.reads() as s:
        entries = await audit.for_order_since(s, user_id, order_id, ctx.clock() - SHOWN_WITHIN)
    found = OrderRecord()
    for entry in entries:
        if entry.outcome not in MAY_HAVE_ACTED or shown(entry, url, bid):
            continue
        if entry.outcome != "ok":
            found = OrderRecord(unconfirmed=entry)
        elif entry.action == "cancel":
            found = OrderRecord(cancelled=entry)
        elif entry.action == protections.RAISE_ACTION:
            found = OrderRecord(raised=entry)
    return found


async def begin(
    ctx: ServiceContext,
    *,
    user_id: int,
    action: str,
    server_id: str,
    order_id: int | None = None,
    price: float | None = None,
    automatic: bool = False,
    detail: str | None = None,
    pending_order: dict[str, object] | None = None,
) -> Intent:
    """Commit the intent before the clore call. A create's pending order (`pending_order`:
    `known_order_ids`, `action_id`) is written with it, so an order placed just before a
    crash is still recognised when it shows up."""
    now = ctx.clock()
    async with ctx.sessions() as s, s.begin():
        entry = await audit.add(
            s,
            user_id=user_id,
            action=action,
            outcome=PENDING,
            automatic=automatic,
            order_id=order_id,
            server_id=server_id,
            price=price,
            detail=detail,
            snapshot_url=snapshot_url(ctx),
            now=now,
        )
        pending_id = None
        if pending_order is not None and price is not None:
            row = await pending_orders.add(
                s,
                user_id=user_id,
                server_id=server_id,
                price=price,
                now=now,
                **pending_order,  # type: ignore[arg-type]
            )
            pending_id = row.id
    return Intent(entry.id, pending_id)


async def settle(
    s: AsyncSession, intent: Intent, outcome: Outcome, detail: str | None = None
) -> None:
    """The outcome of the call, in the caller's transaction (with the message about it)."""
    await audit.settle(s, intent.entry_id, outcome, detail)
    if intent.pending_order_id is not None and outcome not in MAY_HAVE_ACTED:
        await pending_orders.discard(s, intent.pending_order_id)


async def settle_now(
    ctx: ServiceContext, intent: Intent, outcome: Outcome, detail: str | None = None
) -> None:
    async with ctx.sessions() as s, s.begin():
        await settle(s, intent, outcome, detail)


async def recover(ctx: ServiceContext) -> int:
    """At start-up: intents a crash left pending become ambiguous (never repeated: they may
    have been spent) and their users are told. Returns how many."""
    async with ctx.sessions() as s, s.begin():
        rows = await audit.pending(s)
        queued = []
        for entry in rows:
            await audit.settle(s, entry.id, "ambiguous", _interrupted_detail(entry))
            user = await users.get(s, entry.user_id) if entry.user_id is not None else None
            if user is not None:
                queued.append(
                    outbox.NewMessage(
                        user_id=user.id,
                        chat_id=user.chat_id,
                        kind="action",
                        text=notice(translator(user.language), interrupted(entry)).text,
                        dedupe_key=f"interrupted:{entry.id}",
                    )
                )
        await outbox.enqueue_many(s, queued)
    if rows:
        log.warning("%d money actions were interrupted by the last stop", len(rows))
        ctx.kick_sender()
    return len(rows)


def _interrupted_detail(entry: AuditEntry) -> str:
    if entry.automatic and entry.action == protections.RAISE_ACTION:
        from_price, _reason = protections.parse_raise_detail(entry.detail)
        if from_price is not None:
            return protections.raise_detail(from_price, INTERRUPTED)
    return INTERRUPTED


def interrupted(entry: AuditEntry) -> Interrupted:
    return Interrupted(
        entry.action, entry.automatic, entry.order_id, entry.server_id, entry.price
    )


R = TypeVar("R")
Classified = Literal["done", "refused", "failed", "ambiguous"]


@dataclass(frozen=True, slots=True)
class Spend(Generic[R]):
    """One money action decided on: what to record, the ONE clore call, how to read it."""

    action: str  # "create", "raise" or "cancel"
    server_id: str
    call: Callable[[], Awaitable[R]]
    refusal: Callable[[R], Say | None]  # why clore's answer means "not done"; None: done
    order_id: int | None = None
    price: float | None = None
    automatic: bool = False
    detail: str | None = None
    pending_order: dict[str, Any] | None = None  # see `begin`


@dataclass(frozen=True, slots=True)
class Spent:
    outcome: Classified
    intent: Intent
    refusal: Say | None = None  # refused: clore's reason
    error: CloreError | None = None  # failed or ambiguous: what the call raised

    @property
    def recorded(self) -> Outcome:
        """The audit log's word for the outcome."""
        return _RECORDED[self.outcome]


_RECORDED: dict[Classified, Outcome] = {
    "done": "ok",
    "refused": "rejected",
    "failed": "error",
    "ambiguous": "ambiguous",
}


async def spend(
    ctx: ServiceContext, user_id: int, action: Spend[R], *, settle_now_: bool = True
) -> Spent:
    """Caller holds the order's lock and has re-checked and decided. Commits the intent,
    makes the call once (never retried: an ambiguous failure may have acted), classifies
    the answer and records the outcome (unless `settle_now_` is False: then the caller
    settles it in the transaction that queues its message, as the cycle does)."""
    intent = await begin(
        ctx,
        user_id=user_id,
        action=action.action,
        server_id=action.server_id,
        order_id=action.order_id,
        price=action.price,
        automatic=action.automatic,
        detail=action.detail,
        pending_order=action.pending_order,
    )
    try:
        answer = await action.call()
    except CloreError as exc:
        spent = Spent("ambiguous" if exc.ambiguous else "failed", intent, error=exc)
        detail: str | None = type(exc).__name__
    else:
        reason = action.refusal(answer)
        spent = Spent("done", intent) if reason is None else Spent("refused", intent, reason)
        detail = reason.english() if reason is not None else None
    if settle_now_:
        await settle_now(ctx, intent, spent.recorded, detail)
    return spent
