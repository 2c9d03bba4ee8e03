"""Drains the outbox: at every free slot, the most urgent queued message goes out.

Scheduling. The sender keeps a light copy of the pending rows (ids, chats, priorities, due
times; a text is read only when its row is sent), each chat's rows in (priority, id) order,
and a heap of the chats' first rows. Whenever `Delivery`'s pacing (1 msg/s per chat, 30/s
overall) has a free slot, it sends the best first row among the chats that can take a
message now. A chat has at most one message in flight, and its next one is chosen only when
that one is answered; at most `max_in_flight` calls are out at once. `kick()` (called after
a cycle or a tap commits rows) loads the new rows before the next choice, so an outbid alert
overtakes every match alert not yet handed to Telegram, in every chat.

Outages. A transient failure (5xx, cut connection, timeout, a flood wait too long to sleep
through) says Telegram is down or flood-limiting: everything is held, then one message at a
time probes it, with a capped exponential backoff and never before Telegram's `retry_after`;
the first answer resumes full speed. A row that fails on its own while others get through
holds only its own chat (capped backoff), which keeps the chat's order. A row is given up
only on a permanent error (blocked, chat gone, bad request) or once it has waited
`OUTBOX_GIVE_UP_AFTER_SECONDS`, which is logged and counted in `stats`. At-least-once: a
message that may have arrived (network error after sending) can arrive twice, since dropping
an alert is worse than repeating one.

Times that can be long (holds, backoffs, giving up) follow `ctx.clock`, so tests move them
with an injected clock; Telegram's own pacing stays in real time inside `Delivery`.
"""

from __future__ import annotations

import asyncio
import bisect
import heapq
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from telegram import Bot, InlineKeyboardMarkup

from bot.db.repositories import outbox, users
from bot.services.context import ServiceContext
from bot.telegram.delivery import Blocked, Delivery, Failed, Outcome, Sent
from bot.telegram.html import truncate_html

log = logging.getLogger(__name__)

FIRST_BACKOFF = 1.0  # seconds: the first hold after a transient failure
MAX_OUTAGE_BACKOFF = 60.0  # at most this long between two probes of a Telegram that is down
MAX_CHAT_BACKOFF = 300.0  # at most this long between two tries of one failing chat
FULL_RELOAD_EVERY = 60.0  # seconds: re-read every pending row when nothing is in flight
SHUTDOWN_GRACE = 2.0  # seconds given to calls in flight to be answered and recorded


@dataclass
class DeliveryStats:
    """Counters since start, for the log and for metrics."""

    sent: int = 0
    retried: int = 0  # transient failures, tried again later
    failed: int = 0  # permanent errors of one message (e.g. a bad request)
    blocked: int = 0  # messages dropped because the user blocked the bot or the chat is gone
    given_up: int = 0  # undelivered for OUTBOX_GIVE_UP_AFTER_SECONDS
    outages: int = 0  # times Telegram stopped taking messages


@dataclass(slots=True)
class _Queued:
    id: int
    user_id: int
    chat_id: int
    kind: str
    priority: int
    created_at: datetime
    due: datetime
    last_error: str | None

    @property
    def key(self) -> tuple[int, int]:
        return (self.priority, self.id)


def _markup(bot: Bot, raw: str | None) -> InlineKeyboardMarkup | None:
    return InlineKeyboardMarkup.de_json(json.loads(raw), bot) if raw else None


def _seconds(delta: timedelta) -> float:
    return delta.total_seconds()


def _describe(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class Sender:
    def __init__(
        self,
        ctx: ServiceContext,
        delivery: Delivery,
        *,
        idle: float = 5.0,
        max_in_flight: int = 30,
        first_backoff: float = FIRST_BACKOFF,
        max_outage_backoff: float = MAX_OUTAGE_BACKOFF,
        max_chat_backoff: float = MAX_CHAT_BACKOFF,
    ) -> None:
        self.ctx = ctx
        self.delivery = delivery
        self.idle = idle
        self.max_in_flight = max_in_flight
        self.first_backoff = first_backoff
        self.max_outage_backoff = max_outage_backoff
        self.max_chat_backoff = max_chat_backoff
        self.stats = DeliveryStats()
        self._chats: dict[int, list[_Queued]] = {}  # chat -> pending rows by (priority, id)
        self._heads: list[tuple[int, int, int]] = []  # (priority, id, chat); may be stale
        self._later: list[tuple[datetime, int, int]] = []  # (due, id, chat) of held heads
        self._sending: dict[int, int] = {}  # chat -> id of its row in flight
        self._tasks: set[asyncio.Task[None]] = set()
        self._strikes: dict[int, int] = {}  # chat -> transient failures in a row, alone
        self._unrecorded: dict[int, tuple[int, datetime]] = {}  # sent, mark_sent failed
        self._max_id = 0
        self._full_reload = True
        self._reloaded_at = 0.0
        self._kicked = False
        self._changed = asyncio.Event()
        self._pump_lock = asyncio.Lock()
        self._handled = 0
        # Until Telegram has answered once (after a start or an outage) one message probes.
        self._confirmed = False
        self._down_since: datetime | None = None
        self._hold_until: datetime | None = None
        self._backoff = first_backoff
        self._probes = 0
        self._next_sweep: datetime | None = None
        self._failure: str | None = None

    @property
    def give_up_after(self) -> timedelta:
        return timedelta(seconds=self.ctx.settings.outbox_give_up_after_seconds)

    def kick(self) -> None:
        """New rows were committed: look at priorities again before the next send."""
        self._kicked = True
        self._changed.set()

    async def run(self) -> None:
        try:
            while True:
                try:
                    async with self._pump_lock:
                        await self._pump(until_idle=False)
                except Exception as exc:
                    self._note_failure(exc)
                    self._full_reload = True
                    await self._wait(self.idle)
        finally:
            await self._finish_in_flight()

    async def drain_once(self) -> int:
        """Send what is due now (urgent first) until nothing more is; returns the rows
        handled (delivered, failed, given up or put back to wait)."""
        async with self._pump_lock:
            before = self._handled
            await self._pump(until_idle=True)
            return self._handled - before

    # -- the loop -------------------------------------------------------------------------

    async def _pump(self, *, until_idle: bool) -> None:
        while True:
            self._changed.clear()
            now = self.ctx.clock()
            await self._flush_unrecorded()
            if self._full_reload_due():
                self._kicked = False
                await self._load(now, full=True)
            elif self._kicked:
                self._kicked = False
                await self._load(now, full=False)
            self._note_success()
            await self._give_up_old(now)
            row, pacing = self._pick(now) if self._may_dispatch(now) else (None, None)
            if row is not None:
                wait = self.delivery.global_wait()
                if wait > 0:  # a kick while waiting may bring something more urgent
                    heapq.heappush(self._heads, (row.priority, row.id, row.chat_id))
                    await self._wait(wait)
                    continue
                self._dispatch(row)
                continue
            if until_idle and not self._sending and pacing is None:
                return
            await self._wait(self._next_wake(now, pacing, until_idle))

    def _may_dispatch(self, now: datetime) -> bool:
        if self._confirmed and self._down_since is None:
            return len(self._sending) < self.max_in_flight
        held = self._hold_until is not None and now < self._hold_until
        return not self._sending and not held

    def _pick(self, now: datetime) -> tuple[_Queued | None, float | None]:
        """The most urgent first row of a chat that can take a message now, and (when some
        chat could not) how long until one can."""
        while self._later and self._later[0][0] <= now:
            _, _, chat_id = heapq.heappop(self._later)
            self._push_head(chat_id, now)
        waiting: list[tuple[int, int, int]] = []
        pacing: float | None = None
        picked: _Queued | None = None
        while self._heads:
            entry = heapq.heappop(self._heads)
            _, row_id, chat_id = entry
            rows = self._chats.get(chat_id)
            if chat_id in self._sending or not rows or rows[0].id != row_id:
                continue  # stale: the chat is busy (re-pushed when answered) or changed
            if rows[0].due > now:
                heapq.heappush(self._later, (rows[0].due, row_id, chat_id))
                continue
            wait = self.delivery.chat_wait(chat_id)
            if wait > 0:
                waiting.append(entry)
                pacing = wait if pacing is None else min(pacing, wait)
                continue
            picked = rows[0]
            break
        for entry in waiting:
            heapq.heappush(self._heads, entry)
        return picked, pacing

    def _next_wake(self, now: datetime, pacing: float | None, until_idle: bool) -> float | None:
        waits = [] if pacing is None else [pacing]
        if not until_idle:  # a drain by hand leaves holds to the (test's) clock
            waits.append(self.idle)
            if self._hold_until is not None:
                waits.append(_seconds(self._hold_until - now))
            if self._later:
                waits.append(_seconds(self._later[0][0] - now))
        return max(0.0, min(waits)) if waits else None

    async def _wait(self, seconds: float | None) -> None:
        """Until a kick, an answer, or `seconds` (None: no limit)."""
        try:
            await asyncio.wait_for(self._changed.wait(), seconds)
        except TimeoutError:
            pass

    def _dispatch(self, row: _Queued) -> None:
        probe = not self._confirmed or self._down_since is not None
        if probe:
            self._probes += 1
        self._sending[row.chat_id] = row.id
        task = asyncio.create_task(self._send(row, probe))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _finish_in_flight(self) -> None:
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=SHUTDOWN_GRACE)
            for task in late:
                task.cancel()

    def _note_failure(self, exc: Exception) -> None:
        """Log a database (or other) failure once, not once per row or per round."""
        text = f"{type(exc).__name__}: {exc}"
        if text != self._failure:
            log.error("outbox drain failed; retrying shortly", exc_info=exc)
        self._failure = text

    def _note_success(self) -> None:
        if self._failure is not None:
            log.info("outbox drain works again")
            self._failure = None

    # -- the queue in memory --------------------------------------------------------------

    def _full_reload_due(self) -> bool:
        if self._sending:
            return False  # a full read could race a row being marked sent
        return self._full_reload or time.monotonic() - self._reloaded_at >= FULL_RELOAD_EVERY

    async def _load(self, now: datetime, *, full: bool) -> None:
        async with self.ctx.reads() as s:
            rows = await outbox.pending(s, after_id=0 if full else self._max_id)
        if full:
            self._chats.clear()
            self._heads.clear()
            self._later.clear()
            self._max_id = 0
            self._full_reload = False
            self._reloaded_at = time.monotonic()
        touched: set[int] = set()
        for r in rows:
            self._max_id = max(self._max_id, r.id)
            if r.id in self._unrecorded:
                continue
            queued = _Queued(r.id, r.user_id, r.chat_id, r.kind, r.priority, r.created_at,
                             r.next_attempt_at, r.last_error)
            bisect.insort(self._chats.setdefault(r.chat_id, []), queued, key=lambda q: q.key)
            touched.add(r.chat_id)
        for chat_id in touched:
            self._push_head(chat_id, now)

    def _push_head(self, chat_id: int, now: datetime) -> None:
        rows = self._chats.get(chat_id)
        if not rows or chat_id in self._sending:
            return
        head = rows[0]
        if head.due <= now:
            heapq.heappush(self._heads, (head.priority, head.id, chat_id))
        else:
            heapq.heappush(self._later, (head.due, head.id, chat_id))

    def _forget(self, row: _Queued) -> None:
        rows = self._chats.get(row.chat_id, [])
        for index, queued in enumerate(rows):
            if queued.id == row.id:
                del rows[index]
                break
        if not rows:
            self._chats.pop(row.chat_id, None)

    def _forget_user(self, user_id: int) -> None:
        for chat_id, rows in list(self._chats.items()):
            rows[:] = [r for r in rows if r.user_id != user_id]
            if not rows:
                del self._chats[chat_id]

    def queued(self) -> int:
        """Rows not yet delivered, in flight included."""
        return sum(len(rows) for rows in self._chats.values())

    # -- one message ----------------------------------------------------------------------

    async def _send(self, row: _Queued, probe: bool) -> None:
        try:
            async with self.ctx.reads() as s:
                full = await outbox.get_pending(s, row.id)
                message = None if full is None else (full.text, full.reply_markup)
            if message is None:  # settled meanwhile (e.g. the user blocked the bot)
                self._forget(row)
                return
            text, markup = message
            bot = self.delivery.bot
            outcome = await self.delivery.send(row.chat_id, truncate_html(text),
                                               _markup(bot, markup))
            self._handled += 1
            await self._settle(row, outcome, probe)
            self._note_success()
        except Exception as exc:  # the database, mostly: the row stays queued
            self._note_failure(exc)
            self._full_reload = True
        finally:
            self._sending.pop(row.chat_id, None)
            self._push_head(row.chat_id, self.ctx.clock())
            self._changed.set()

    async def _settle(self, row: _Queued, outcome: Outcome, probe: bool) -> None:
        now = self.ctx.clock()
        match outcome:
            case Sent(message_id=message_id):
                self.stats.sent += 1
                self._forget(row)
                self._strikes.pop(row.chat_id, None)
                self._telegram_answered(now)
                try:
                    async with self.ctx.sessions() as s, s.begin():
                        await outbox.mark_sent(s, row.id, message_id=message_id, now=now)
                except Exception:
                    self._unrecorded[row.id] = (message_id, now)  # never send it again
                    raise
            case Blocked(reason=reason):
                log.info("user %s blocked the bot; marked inactive", row.user_id)
                self._forget_user(row.user_id)
                self._telegram_answered(now)
                async with self.ctx.sessions() as s, s.begin():
                    await users.set_active(s, row.user_id, False)
                    self.stats.blocked += await outbox.fail_pending_for_user(
                        s, row.user_id, error=reason, now=now)
            case Failed(reason=reason, permanent=True):
                log.warning("outbox %s failed permanently: %s", row.id, reason)
                self.stats.failed += 1
                self._forget(row)
                self._telegram_answered(now)
                async with self.ctx.sessions() as s, s.begin():
                    await outbox.mark_failed(s, row.id, error=reason, now=now)
            case Failed(reason=reason, retry_after=retry_after):
                self.stats.retried += 1
                row.last_error = reason
                if now - row.created_at >= self.give_up_after:
                    await self._give_up([row], now)
                    return
                row.due = self._transient_failure(row.chat_id, now, reason, retry_after, probe)
                async with self.ctx.sessions() as s, s.begin():
                    await outbox.mark_retry(s, row.id, error=reason, retry_at=row.due)

    async def _flush_unrecorded(self) -> None:
        if not self._unrecorded:
            return
        async with self.ctx.sessions() as s, s.begin():
            for row_id, (message_id, at) in self._unrecorded.items():
                await outbox.mark_sent(s, row_id, message_id=message_id, now=at)
        self._unrecorded.clear()

    # -- outages and giving up ------------------------------------------------------------

    def _telegram_answered(self, now: datetime) -> None:
        self._confirmed = True
        if self._down_since is not None:
            log.info("Telegram takes messages again after %s (%d probes); %d queued",
                     _describe(now - self._down_since), self._probes, self.queued())
        self._down_since = self._hold_until = None
        self._backoff = self.first_backoff
        self._probes = 0

    def _transient_failure(self, chat_id: int, now: datetime, reason: str,
                           retry_after: float | None, probe: bool) -> datetime:
        """Hold everything (Telegram is down or flood-limiting) and, when the failure came
        while Telegram seemed up, the chat too; returns when the row may be tried again."""
        flood = timedelta(seconds=retry_after or 0.0)
        if self._down_since is None:
            self._down_since = now
            self.stats.outages += 1
            log.warning("Telegram is not taking messages (%s): holding %d queued, probing with "
                        "one at a time", reason, self.queued())
        if probe or self._hold_until is None:
            hold = max(timedelta(seconds=self._backoff), flood)
            self._backoff = min(self._backoff * 2, self.max_outage_backoff)
        else:
            hold = flood
        self._hold_until = max(self._hold_until or now, now + hold)
        if probe:
            return self._hold_until
        # Sent while others got through: this chat may be the trouble, so it waits longer.
        strikes = self._strikes[chat_id] = self._strikes.get(chat_id, 0) + 1
        own = min(self.first_backoff * 2 ** (strikes - 1), self.max_chat_backoff)
        return now + max(timedelta(seconds=own), flood)

    async def _give_up_old(self, now: datetime) -> None:
        if self._next_sweep is not None and now < self._next_sweep:
            return
        self._next_sweep = now + min(timedelta(minutes=1), self.give_up_after / 4)
        cutoff = now - self.give_up_after
        in_flight = set(self._sending.values())
        old = [r for rows in self._chats.values() for r in rows
               if r.created_at <= cutoff and r.id not in in_flight]
        if old:
            await self._give_up(old, now)
            self._handled += len(old)

    async def _give_up(self, rows: list[_Queued], now: datetime) -> None:
        waited = _describe(self.give_up_after)
        last = next((r.last_error for r in rows if r.last_error), None) or "never sent"
        async with self.ctx.sessions() as s, s.begin():
            await outbox.give_up(s, [r.id for r in rows], now=now,
                                 error=f"undelivered for {waited}; last error: {last}")
        for row in rows:
            self._forget(row)
            self._push_head(row.chat_id, now)
        self.stats.given_up += len(rows)
        counts = sorted(Counter(r.kind for r in rows).items())
        kinds = ", ".join(f"{n} {kind}" for kind, n in counts)
        log.warning("gave up on %d messages undelivered for %s (%s; ids %s..%s); last error: %s",
                    len(rows), waited, kinds, min(r.id for r in rows), max(r.id for r in rows),
                    last)
