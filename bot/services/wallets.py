"""The linked account's wallets: /balance, the low-balance alert, and the order-life settings.

`WalletWatch.run_once` reads, for every linked user whose last read (of any outcome) is 10
minutes old or more, `GET /v1/wallets` and `GET /v1/my_orders` with the user's key, through
the client's per-key queue (1 request/second per key; different keys run side by side).
A failed read keeps the last good balance and is retried at the next slot: it is never
shown as a zero balance and never alerts. my_orders' creation times (`ct`) replace the
"first seen" start of the user's orders (`bot.services.order_news`).

The low-balance alert compares how long the CLORE balance lasts at what the user's bids in
front cost per day with their threshold (`/settings lowbalance 24h`), and fires once per
crossing (`bot.orders.wallet.crossed_low`). It is decided at every pass of the watch (every
`RUN_EVERY` seconds) for every linked user, from the last good balance and what leads in
the snapshot in force (so a bid that starts leading can make a balance low between reads).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clore import errors as clore_errors
from bot.db.models import AccountWatch, User
from bot.db.repositories import orderlife as repo
from bot.db.repositories import outbox, users
from bot.market.ranking import BidStanding, standings_for_owner
from bot.orders.expiry import MAX_WARN_AHEAD, MIN_WARN_AHEAD, creation_times, parse_duration
from bot.orders.wallet import (
    DEFAULT_LOW_BALANCE,
    MAX_LOW_BALANCE,
    READ_EVERY,
    Runway,
    WalletLine,
    clore_balance,
    crossed_low,
    daily_cost,
    read_due,
)
from bot.services import accounts
from bot.services.clore_words import plain_error
from bot.services.context import ServiceContext, UserError
from bot.telegram.render import orderlife as render
from bot.telegram.render import translator_for

log = logging.getLogger(__name__)

CONCURRENT_READS = 16  # users read at the same time (each has its own key's queue)
RUN_EVERY = 30.0  # seconds between passes of the background loop


@dataclass(frozen=True, slots=True)
class BalanceView:
    wallets: list[WalletLine]
    runway: Runway | None  # None: no CLORE wallet (or never read)
    read_at: datetime | None
    error: str | None
    threshold: timedelta


def threshold(row: AccountWatch | None) -> timedelta:
    if row is None or row.low_balance_seconds is None:
        return DEFAULT_LOW_BALANCE
    return timedelta(seconds=row.low_balance_seconds)


def runway(
    ctx: ServiceContext, user: User, wallets: list[WalletLine],
    standings: list[BidStanding] | None = None,
) -> Runway | None:
    """The CLORE balance against what the user's bids in front cost. `standings`: the
    user's bids when the caller has them (the watch pass), else read from the snapshot."""
    balance = clore_balance(wallets)
    snapshot = ctx.market.snapshot
    if balance is None:
        return None
    if snapshot is None or user.clore_user_id is None:
        return Runway(balance, 0.0, 0)
    if standings is None:
        standings = standings_for_owner(snapshot, user.clore_user_id, ctx.market.clore_price)
    standings = [st for st in standings if st.server_id in snapshot.servers]
    currencies = {
        (st.server_id, st.order_id): bid.currency
        for st in standings
        for bid in snapshot.servers[st.server_id].bids
        if bid.id == st.order_id
    }
    cost, leading = daily_cost(standings, currencies)
    return Runway(balance, cost, leading)


# ---------------------------------------------------------------------------- commands


async def balance(ctx: ServiceContext, user: User) -> BalanceView:
    """/balance: reads now when the last read is 10 minutes old, else shows the last one."""
    accounts.api_key(ctx, user)  # asks to link first
    async with ctx.reads() as s:
        row = await repo.watch(s, user.id)
    if read_due(row.attempt_at if row else None, ctx.clock()):
        await read_one(ctx, user)
        async with ctx.reads() as s:
            row = await repo.watch(s, user.id)
    wallets = repo.wallet_lines(row)
    return BalanceView(
        wallets=wallets,
        runway=runway(ctx, user, wallets) if row and row.read_at else None,
        read_at=row.read_at if row else None,
        error=row.read_error if row else None,
        threshold=threshold(row),
    )


def _duration(text: str, low: timedelta, high: timedelta, what: str) -> int | None:
    if text.strip().lower() in ("default", "off", "none"):
        return None
    try:
        span = parse_duration(text)
    except ValueError:
        raise UserError(
            "{what}: {text} is not a duration like 12h, 90m or 2d.", what=what, text=text[:20]
        ) from None
    if not low <= span <= high:
        raise UserError(
            "{what}: give a duration between {low} and {high}.",
            what=what, low=_hours(low), high=_hours(high),
        )  # fmt: skip
    return int(span.total_seconds())


def _hours(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours / 24:g} days" if hours >= 48 else f"{hours:g} h"


async def set_low_balance(ctx: ServiceContext, user: User, text: str) -> None:
    seconds = _duration(text, timedelta(hours=1), MAX_LOW_BALANCE, "lowbalance")
    async with ctx.sessions() as s, s.begin():
        await repo.set_low_balance(s, user.id, seconds)


async def set_expiry_warning(ctx: ServiceContext, user: User, text: str) -> None:
    seconds = _duration(text, MIN_WARN_AHEAD, MAX_WARN_AHEAD, "expiry")
    async with ctx.sessions() as s, s.begin():
        await repo.set_expiry_warning(s, user.id, seconds)


async def settings_lines(ctx: ServiceContext, user: User) -> tuple[timedelta, timedelta]:
    """(low-balance threshold, expiry warning) for /settings."""
    async with ctx.reads() as s:
        row = await repo.watch(s, user.id)
    return threshold(row), repo.warn_ahead(row)


# ------------------------------------------------------------------------------- reads


async def read_one(ctx: ServiceContext, user: User) -> bool:
    """Read the user's wallets and orders (outside any transaction), then record them and
    decide the low-balance alert in one short transaction. False: the read failed."""
    now = ctx.clock()
    try:
        key = accounts.api_key(ctx, user)
    except UserError:
        return False
    try:
        wallets = await ctx.clore.wallets(key)
    except clore_errors.CloreError as exc:
        async with ctx.sessions() as s, s.begin():
            await repo.record_failed_read(s, user.id, plain_error(exc).english(), now)
        log.info("wallets of user %s not read: %s", user.id, type(exc).__name__)
        return False
    try:
        created = creation_times(await ctx.clore.my_orders(key))
    except clore_errors.CloreError:
        created = {}  # the start stays "first seen" until the next read
    lines = [WalletLine(w.name, w.balance) for w in wallets]
    async with ctx.sessions() as s, s.begin():
        row = await repo.record_read(s, user.id, lines, now)
        if created:
            await repo.set_created(s, user.id, created, repo.warn_ahead(row))
        queued = await _decide_low(ctx, s, user, row)
    if queued:
        ctx.kick_sender()
    return True


def _crossing(
    ctx: ServiceContext, user: User, row: AccountWatch,
    standings: list[BidStanding] | None = None,
) -> tuple[bool, Runway | None]:
    """(low now, the runway when an alert is due); no I/O."""
    if row.read_at is None:
        return row.low, None  # never read: nothing is known, nothing is low
    way = runway(ctx, user, repo.wallet_lines(row), standings)
    if way is None:
        return row.low, None
    low, alert = crossed_low(row.low, way, threshold(row))
    return low, (way if alert else None)


async def _decide_low(
    ctx: ServiceContext, s: AsyncSession, user: User, row: AccountWatch,
    standings: list[BidStanding] | None = None,
) -> bool:
    """In the caller's transaction: the low-balance state, and the alert on a crossing."""
    low, way = _crossing(ctx, user, row, standings)
    row.low = low
    if way is None:
        return False
    limit = threshold(row)
    text = render.low_balance_alert(translator_for(user), way, limit)
    stamp = (row.read_at or ctx.clock()).isoformat()
    # kind "outbid": money at risk (the alert kind for the user's settings is `balance`)
    await outbox.enqueue_many(
        s,
        [outbox.NewMessage(
            user_id=user.id, chat_id=user.chat_id, kind="outbid", text=text,
            dedupe_key=f"lowbalance:{user.id}:{stamp}", alert="balance",
        )],
        decided_at=ctx.clock(),
    )  # fmt: skip
    return True


class WalletWatch:
    """Reads every linked user's wallets at most every `READ_EVERY`, and decides the
    low-balance alert of every linked user at each pass."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    async def run_once(self) -> int:
        """One pass: returns how many users were read."""
        ctx = self.ctx
        now = ctx.clock()
        async with ctx.reads() as s:
            linked = [
                u for u in await users.list_linked(s)
                if u.active and u.api_key_unreadable_at is None
            ]  # fmt: skip
            watches = await repo.watches(s, [u.id for u in linked])
        due = [u for u in linked if read_due(_attempt(watches.get(u.id)), now, READ_EVERY)]
        gate = asyncio.Semaphore(CONCURRENT_READS)

        async def read(user: User) -> None:
            async with gate:
                await read_one(ctx, user)

        await asyncio.gather(*(read(u) for u in due))
        # The others: decided from their last good balance and what leads now. Read first;
        # a write transaction only for those whose state changes.
        fresh = {u.id for u in due}
        rest = [u for u in linked if u.id not in fresh and u.id in watches]
        owned = await ctx.market.tracked_standings()
        changing = [
            u for u in rest
            if _crossing(ctx, u, watches[u.id], owned.get(u.clore_user_id or 0, []))[0]
            != watches[u.id].low
        ]  # fmt: skip
        told = False
        if changing:
            async with ctx.sessions() as s, s.begin():
                for user in changing:
                    row = await repo.watch(s, user.id)
                    if row is not None:
                        mine = owned.get(user.clore_user_id or 0, [])
                        told = await _decide_low(ctx, s, user, row, mine) or told
        if told:
            ctx.kick_sender()
        return len(due)

    async def run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("wallet watch pass failed; the next one will try again")
            await asyncio.sleep(RUN_EVERY)


def _attempt(row: AccountWatch | None) -> datetime | None:
    return row.attempt_at if row is not None else None
