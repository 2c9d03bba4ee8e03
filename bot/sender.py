"""Drains the outbox: at every free slot, the most urgent queued message goes out.

Scheduling. The sender keeps a light copy of the pending rows (`SendQueue`: ids, chats,
priorities, due times; a text is read only when its row is sent). Whenever `Delivery`'s
pacing (1 msg/s per chat, 30/s overall) has a free slot, it sends the most urgent first row
among the chats that can take a message now. A chat has at most one message in flight, and
its next one is chosen only when that one is answered; at most `max_in_flight` calls are out
at once. `kick()` (called after a cycle or a tap commits rows) loads the new rows before the
next choice, so an outbid alert overtakes every match alert not yet handed to Telegram, in
every chat. Outcomes are written in batches by one recorder (few short write transactions
whatever the rate, and a busy database never stops the sending).

Outages. A transient failure (5xx, cut connection, timeout, a flood wait too long to sleep
through) says Telegram is down or flood-limiting: everything is held, then one message at a
time probes it, with a capped exponential backoff and never before Telegram's `retry_after`;
the first answer resumes full speed. A row whose failure came while Telegram seemed up also
holds its own chat with a backoff of its own (capped), so one troubled chat cannot stall
the others; a held chat keeps its order. A row is given up
only on a permanent error (blocked, chat gone, bad request) or once it has waited
`OUTBOX_GIVE_UP_AFTER_SECONDS`, which is logged and counted in `stats`. At-least-once: a
message that may have arrived (network error after sending, or a crash before its outcome
was written) can arrive twice, since dropping an alert is worse than repeating one.

Times that can be long (holds, backoffs, giving up) follow `ctx.clock`, so tests move them
with an injected clock; Telegram's own pacing stays in real time inside `Delivery`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot, InlineKeyboardMarkup

from bot.db.repositories import outbox, users
from bot.send_queue import Queued, SendQueue
from bot.services.bids import make_keyboard
from bot.services.buttons import KeyboardToMake, keyboard_to_make, markup_json
from bot.services.context import ServiceContext
from bot.telegram.delivery import Blocked, Delivery, Failed, Outcome, Sent
from bot.telegram.html import truncate_html

log = logging.getLogger(__name__)

FIRST_BACKOFF = 1.0  # seconds: the first hold after a transient failure
MAX_OUTAGE_BACKOFF = 60.0  # at most this long between two probes of a Telegram that is down
MAX_CHAT_BACKOFF = 300.0  # at most this long between two tries of one failing chat
FULL_RELOAD_EVERY = 60.0  # seconds: re-read every pending row when nothing is in flight
SHUTDOWN_GRACE = 2.0  # seconds given to calls in flight to be answered and recorded
# Outcomes are written at most this often, so the write lock stays free for cycles and taps.
RECORD_EVERY = 0.25

_Mark = Callable[[AsyncSession], Awaitable[object]]


@dataclass
class DeliveryStats:
    """Counters since start, for the log and for metrics."""

    sent: int = 0
    retried: int = 0  # transient failures, tried again later
    failed: int = 0  # permanent errors of one message (e.g. a bad request)
    blocked: int = 0  # users found to have blocked the bot (their queue is dropped)
    given_up: int = 0  # undelivered for OUTBOX_GIVE_UP_AFTER_SECONDS
    outages: int = 0  # times Telegram stopped taking messages


def _markup(bot: Bot, raw: str | None) -> InlineKeyboardMarkup | None:
    return InlineKeyboardMarkup.de_json(json.loads(raw), bot) if raw else None


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
        self._queue = SendQueue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._strikes: dict[int, int] = {}  # chat -> transient failures in a row, alone
        self._marks: list[tuple[list[int], _Mark]] = []  # outcomes not yet written
        self._sent: list[tuple[int, int | None, datetime]] = []  # (id, message id, when)
        self._unwritten: Counter[int] = Counter()  # row ids with marks in `_marks`
        self._marks_ready = asyncio.Event()
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

    def queued(self) -> int:
        """Rows not yet delivered, those in flight included."""
        return len(self._queue)

    def kick(self) -> None:
        """New rows were committed: look at priorities again before the next send."""
        self._kicked = True
        self._changed.set()

    async def run(self) -> None:
        recorder = asyncio.create_task(self._record_forever())
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
            recorder.cancel()
            await asyncio.gather(recorder, return_exceptions=True)  # its transaction ends
            try:
                await self._write_marks()
            except Exception as exc:  # they are sent again after the restart
                log.warning("%d delivery outcomes not recorded at stop: %s",
                            len(self._marks) + len(self._sent), exc)

    async def drain_once(self) -> int:
        """Send what is due now (urgent first) until nothing more is, and record it; returns
        the rows handled (delivered, failed, given up or put back to wait)."""
        async with self._pump_lock:
            before = self._handled
            await self._pump(until_idle=True)
            await self._write_marks()
            return self._handled - before

    # -- the loop -------------------------------------------------------------------------

    async def _pump(self, *, until_idle: bool) -> None:
        while True:
            self._changed.clear()
            now = self.ctx.clock()
            if self._full_reload_due():
                await self._load(now, full=True)
            elif self._kicked:
                await self._load(now, full=False)
            self._give_up_old(now)
            row, pacing = (self._queue.pick(now, self.delivery.chat_wait)
                           if self._may_dispatch(now) else (None, None))
            if row is not None:
                if not self.delivery.reserve_slot():  # a kick meanwhile may bring news
                    self._queue.put_back(row)
                    await self._wait(self.delivery.global_wait())
                    continue
                self._dispatch(row)
                continue
            if until_idle and not self._queue.sending and pacing is None:
                return
            await self._wait(self._next_wake(now, pacing, until_idle))

    def _may_dispatch(self, now: datetime) -> bool:
        if self._confirmed and self._down_since is None:
            return len(self._queue.sending) < self.max_in_flight
        held = self._hold_until is not None and now < self._hold_until
        return not self._queue.sending and not held

    def _next_wake(self, now: datetime, pacing: float | None, until_idle: bool) -> float | None:
        waits = [] if pacing is None else [pacing]
        if not until_idle:  # a drain by hand leaves holds to the (test's) clock
            waits.append(self.idle)
            for deadline in (self._hold_until, self._queue.next_due()):
                if deadline is not None:
                    waits.append((deadline - now).total_seconds())
        return max(0.0, min(waits)) if waits else None

    async def _wait(self, seconds: float | None) -> None:
        """Until a kick, an answer, or `seconds` (None: no limit)."""
        # Not asyncio.wait_for: on 3.11 it can swallow a cancellation that arrives as the
        # event is set, and the loop would then never stop.
        try:
            async with asyncio.timeout(seconds):
                await self._changed.wait()
        except TimeoutError:
            pass

    def _dispatch(self, row: Queued) -> None:
        probe = not self._confirmed or self._down_since is not None
        self._probes += probe
        self._queue.start(row)
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

    # -- reading and writing the outbox ---------------------------------------------------

    def _full_reload_due(self) -> bool:
        if self._queue.sending or self._marks or self._sent:
            return False  # a full read could see rows whose outcome is not written yet
        return self._full_reload or time.monotonic() - self._reloaded_at >= FULL_RELOAD_EVERY

    async def _load(self, now: datetime, *, full: bool) -> None:
        self._kicked = False
        async with self.ctx.reads() as s:
            rows = await outbox.pending(s, after_id=0 if full else self._max_id)
        self._note_success()
        if full:
            self._queue.clear()
            self._max_id = 0
            self._full_reload = False
            self._reloaded_at = time.monotonic()
        if rows:
            self._max_id = max(self._max_id, rows[-1].id)
        self._queue.add(
            (Queued(r.id, r.user_id, r.chat_id, r.kind, r.priority, r.created_at,
                    r.next_attempt_at, r.last_error)
             for r in rows if r.id not in self._unwritten),
            now,
        )

    def _mark(self, row_ids: list[int], mark: _Mark) -> None:
        self._marks.append((row_ids, mark))
        self._unwritten.update(row_ids)
        self._marks_ready.set()

    def _mark_sent(self, row_id: int, message_id: int | None, now: datetime) -> None:
        self._sent.append((row_id, message_id, now))
        self._unwritten[row_id] += 1
        self._marks_ready.set()

    async def _write_marks(self) -> None:
        """Write every recorded outcome in one short transaction; kept for the next try if
        it fails."""
        if not self._marks and not self._sent:
            return
        batch, self._marks = self._marks, []
        sent, self._sent = self._sent, []
        try:
            async with self.ctx.sessions() as s, s.begin():
                for _, mark in batch:  # a row's retry always comes before its delivery
                    await mark(s)
                await outbox.mark_sent_many(s, sent)
        except BaseException:
            self._marks[:0] = batch
            self._sent[:0] = sent
            raise
        for row_ids, _ in batch:
            self._unwritten.subtract(row_ids)
        self._unwritten.subtract(row_id for row_id, _, _ in sent)
        self._unwritten = +self._unwritten  # drops the ids counted down to zero
        self._note_success()

    async def _record_forever(self) -> None:
        while True:
            await self._marks_ready.wait()
            self._marks_ready.clear()
            try:
                await self._write_marks()
            except Exception as exc:
                self._note_failure(exc)
                await asyncio.sleep(self.idle)
                self._marks_ready.set()
            await asyncio.sleep(RECORD_EVERY)

    # -- one message ----------------------------------------------------------------------

    async def _send(self, row: Queued, probe: bool) -> None:
        try:
            async with self.ctx.reads() as s:
                full = await outbox.get_pending(s, row.id)
                message = None if full is None else (
                    full.text, full.reply_markup, full.user_id, bool(full.silent)
                )
            if message is None:  # settled meanwhile (e.g. the user blocked the bot)
                self._queue.forget(row, self.ctx.clock())
                return
            text, markup, user_id, silent = message
            if (to_make := keyboard_to_make(markup)) is not None:
                markup = await self._make_buttons(row.id, user_id, to_make)
            outcome = await self.delivery.send(row.chat_id, truncate_html(text),
                                               _markup(self.delivery.bot, markup),
                                               reserved=True, silent=silent)
            self._handled += 1
            self._settle(row, outcome, probe)
        except Exception as exc:  # reading the text failed: the row waits a little
            self._note_failure(exc)
            row.due = self.ctx.clock() + timedelta(seconds=self.first_backoff)
        finally:
            self._queue.finish(row, self.ctx.clock())
            self._changed.set()

    async def _make_buttons(self, row_id: int, user_id: int, to_make: KeyboardToMake) -> str:
        """Create the row's button actions and keep the finished markup on the row, so a
        retry sends the same buttons."""
        async with self.ctx.sessions() as s, s.begin():
            markup = markup_json(await make_keyboard(self.ctx, s, user_id, to_make)) or ""
            await outbox.set_reply_markup(s, row_id, markup)
        return markup

    def _settle(self, row: Queued, outcome: Outcome, probe: bool) -> None:
        now = self.ctx.clock()
        match outcome:
            case Sent(message_id=message_id):
                self.stats.sent += 1
                self._queue.forget(row, now)
                self._strikes.pop(row.chat_id, None)
                self._telegram_answered(now)
                self._mark_sent(row.id, message_id, now)
            case Blocked(reason=reason):
                log.info("user %s blocked the bot; marked inactive", row.user_id)
                self.stats.blocked += 1
                self._queue.forget_user(row.user_id, now)
                self._telegram_answered(now)

                async def blocked(s: AsyncSession) -> None:
                    await users.set_active(s, row.user_id, False)
                    await outbox.fail_pending_for_user(s, row.user_id, error=reason, now=now)
                self._mark([row.id], blocked)
            case Failed(reason=reason, permanent=True):
                log.warning("outbox %s failed permanently: %s", row.id, reason)
                self.stats.failed += 1
                self._queue.forget(row, now)
                self._telegram_answered(now)
                self._mark([row.id], lambda s: outbox.mark_failed(
                    s, row.id, error=reason, now=now))
            case Failed(reason=reason, retry_after=retry_after):
                self.stats.retried += 1
                row.last_error = reason
                if now - row.created_at >= self.give_up_after:
                    self._give_up([row], now)
                    return
                row.due = due = self._transient_failure(
                    row.chat_id, now, reason, retry_after, probe)
                self._mark([row.id], lambda s: outbox.mark_retry(
                    s, row.id, error=reason, retry_at=due))

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

    def _give_up_old(self, now: datetime) -> None:
        if self._next_sweep is not None and now < self._next_sweep:
            return
        self._next_sweep = now + min(timedelta(minutes=1), self.give_up_after / 4)
        old = self._queue.older_than(now - self.give_up_after)
        if old:
            self._give_up(old, now)
            self._handled += len(old)

    def _give_up(self, rows: list[Queued], now: datetime) -> None:
        waited = _describe(self.give_up_after)
        last = next((r.last_error for r in rows if r.last_error), None) or "never sent"
        ids = [r.id for r in rows]
        error = f"undelivered for {waited}; last error: {last}"
        for row in rows:
            self._queue.forget(row, now)
        self._mark(ids, lambda s: outbox.give_up(s, ids, error=error, now=now))
        self.stats.given_up += len(rows)
        counts = sorted(Counter(r.kind for r in rows).items())
        kinds = ", ".join(f"{n} {kind}" for kind, n in counts)
        log.warning("gave up on %d messages undelivered for %s (%s; ids %s..%s); last error: %s",
                    len(rows), waited, kinds, min(ids), max(ids), last)
