"""Deliver one message (or edit) within Telegram's limits and say what happened.

Telegram allows about 30 messages/s per bot and 1 message/s per private chat; PTB's
AIORateLimiter does not pace private chats, so `Delivery` does both itself: one FIFO lock per
chat (messages to a chat keep their order and are spaced by `per_chat_interval`) and a global
pacing gate (GCRA) shared by all chats. A `RetryAfter` pauses everything for the given time
and the call is tried again, a bounded number of times: Telegram did not process the request,
so retrying it cannot duplicate a message. Network errors are NOT retried here: the message may
have arrived, so the caller (the outbox sender) decides. `chat_wait`, `global_wait` and
`reserve_slot` let the sender choose what to send at the moment a slot is free instead of
queueing calls here.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import logging
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from telegram import Bot, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError, TimedOut
from telegram.warnings import PTBDeprecationWarning

from bot.counters import TELEGRAM_ERRORS

_LOGGER = logging.getLogger(__name__)
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
# BadRequest descriptions that mean the chat is gone for good, like a block.
_GONE_CHAT = ("chat not found", "user is deactivated", "peer_id_invalid")
_PRUNE_ABOVE = 1024  # chats whose pacing state is kept before idle ones are dropped


@dataclass(frozen=True)
class Sent:
    message_id: int


@dataclass(frozen=True)
class Blocked:
    reason: str


@dataclass(frozen=True)
class Failed:
    reason: str
    permanent: bool  # True: trying the same call again cannot succeed
    retry_after: float | None = None  # Telegram's flood wait, when that is why it failed


Outcome = Sent | Blocked | Failed


@dataclass(frozen=True)
class Pacing:
    per_chat_interval: float = 1.0  # seconds between two calls to one chat
    global_per_second: float = 30.0
    global_burst: int = 1  # calls allowed back to back before the global spacing applies
    max_retry_after: float = 60.0  # a longer flood wait is reported, not slept through
    max_attempts: int = 3  # per call, counting RetryAfter retries


@dataclass
class _ChatState:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next_allowed: float = 0.0
    users: int = 0


class Delivery:
    """Sends and edits HTML messages through `bot`, paced; every call returns an Outcome."""

    def __init__(self, bot: Bot, pacing: Pacing | None = None) -> None:
        self.bot = bot
        self.pacing = pacing or Pacing()
        self._chats: dict[int, _ChatState] = {}
        self._emission = 1.0 / self.pacing.global_per_second
        self._tolerance = (self.pacing.global_burst - 1) * self._emission
        self._theoretical_arrival = 0.0
        self._paused_until = 0.0

    async def send(self, chat_id: int, text: str,
                   reply_markup: InlineKeyboardMarkup | None = None, *,
                   reserved: bool = False, silent: bool = False) -> Outcome:
        """`reserved`: the caller already took this call's global slot (`reserve_slot`).
        `silent`: delivered without a notification sound (`disable_notification`)."""
        async def call() -> int:
            message = await self.bot.send_message(
                chat_id, text, parse_mode=ParseMode.HTML, link_preview_options=_NO_PREVIEW,
                reply_markup=reply_markup, disable_notification=silent or None)
            return message.message_id
        return await self._deliver(chat_id, None, call, reserved)

    async def send_photo(self, chat_id: int, photo: bytes, caption: str, *,
                         filename: str = "chart.png") -> Outcome:
        """A PNG with an HTML caption (at most 1024 characters), paced like a message."""
        async def call() -> int:
            message = await self.bot.send_photo(
                chat_id, photo, caption=caption, parse_mode=ParseMode.HTML, filename=filename)
            return message.message_id
        return await self._deliver(chat_id, None, call)

    async def edit(self, chat_id: int, message_id: int, text: str,
                   reply_markup: InlineKeyboardMarkup | None = None) -> Outcome:
        """Replace text and keyboard (no `reply_markup` removes the keyboard, as in Telegram)."""
        async def call() -> int:
            await self.bot.edit_message_text(
                text, chat_id=chat_id, message_id=message_id, parse_mode=ParseMode.HTML,
                link_preview_options=_NO_PREVIEW, reply_markup=reply_markup)
            return message_id
        return await self._deliver(chat_id, message_id, call)

    async def edit_markup(self, chat_id: int, message_id: int,
                          reply_markup: InlineKeyboardMarkup | None = None) -> Outcome:
        async def call() -> int:
            await self.bot.edit_message_reply_markup(
                chat_id=chat_id, message_id=message_id, reply_markup=reply_markup)
            return message_id
        return await self._deliver(chat_id, message_id, call)

    async def _deliver(self, chat_id: int, edited_id: int | None,
                       call: Callable[[], Awaitable[int]], reserved: bool = False) -> Outcome:
        state = self._chats.setdefault(chat_id, _ChatState())
        state.users += 1
        try:
            async with state.lock:
                return await self._attempts(state, edited_id, call, reserved)
        finally:
            state.users -= 1
            if len(self._chats) > _PRUNE_ABOVE:
                self._prune()

    async def _attempts(self, state: _ChatState, edited_id: int | None,
                        call: Callable[[], Awaitable[int]], reserved: bool) -> Outcome:
        reason, wait = "no attempt made", 0.0
        for attempt in range(self.pacing.max_attempts):
            await _sleep_until(state.next_allowed)
            if attempt > 0 or not reserved:
                await self._global_slot()
            try:
                return Sent(await call())
            except RetryAfter as flood:
                TELEGRAM_ERRORS.labels("429").inc()
                wait = _retry_after_seconds(flood)
                reason = f"flood control: retry after {wait:g} s"
                if wait > self.pacing.max_retry_after:
                    break
                self._paused_until = max(self._paused_until, time.monotonic() + wait)
                state.next_allowed = self._paused_until
            except TelegramError as error:
                return _classify(error, edited_id)
            finally:
                # Counted from the reply: Telegram has the call by then, however slow the way.
                state.next_allowed = max(state.next_allowed,
                                         time.monotonic() + self.pacing.per_chat_interval)
        _LOGGER.warning("giving up after flood control: %s", reason)
        return Failed(reason, permanent=False, retry_after=wait)

    def chat_wait(self, chat_id: int) -> float:
        """Seconds before a call to `chat_id` would start; one in progress counts as a full
        interval, since the spacing restarts when it is answered."""
        state = self._chats.get(chat_id)
        if state is not None and state.lock.locked():
            return max(self.pacing.per_chat_interval, 0.001)
        allowed = max(self._paused_until, state.next_allowed if state is not None else 0.0)
        return max(0.0, allowed - time.monotonic())

    def global_wait(self) -> float:
        """Seconds before the global gate would let a call through (nothing is reserved)."""
        start = max(self._paused_until, self._theoretical_arrival - self._tolerance)
        return max(0.0, start - time.monotonic())

    def reserve_slot(self) -> bool:
        """Take a global slot now if one is free. Deciding what to send and taking its slot
        in one step keeps calls from queueing here, where nothing can overtake them."""
        now = time.monotonic()
        if self.global_wait() > 0:
            return False
        self._theoretical_arrival = max(self._theoretical_arrival, now) + self._emission
        return True

    async def _global_slot(self) -> None:
        """Wait for a global slot; re-checked after sleeping since a flood pause may start."""
        while True:
            now = time.monotonic()
            start = max(now, self._paused_until, self._theoretical_arrival - self._tolerance)
            if start <= now:
                self._theoretical_arrival = max(self._theoretical_arrival, now) + self._emission
                return
            await asyncio.sleep(start - now)

    def _prune(self) -> None:
        now = time.monotonic()
        for chat_id, state in list(self._chats.items()):
            if state.users == 0 and state.next_allowed <= now:
                del self._chats[chat_id]


def _classify(error: TelegramError, edited_id: int | None) -> Outcome:
    description = error.message
    lowered = description.lower()
    if isinstance(error, Forbidden):
        TELEGRAM_ERRORS.labels("403").inc()
        return Blocked(description)
    # BadRequest subclasses NetworkError, so it is tested before any network error.
    if isinstance(error, BadRequest):
        if edited_id is not None and "message is not modified" in lowered:
            return Sent(edited_id)
        if any(marker in lowered for marker in _GONE_CHAT):
            return Blocked(description)
        return Failed(description, permanent=True)
    if isinstance(error, TimedOut):
        return Failed(f"timed out, may have been delivered: {description}", permanent=False)
    return Failed(f"{type(error).__name__}: {description}", permanent=False)


def _retry_after_seconds(flood: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns that the type becomes timedelta
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = flood.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


async def _sleep_until(deadline: float) -> None:
    delay = deadline - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)
