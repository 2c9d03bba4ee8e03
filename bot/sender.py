"""Drains the outbox: delivers queued messages within Telegram's limits, marks each row.

Rows are read in a short transaction, sent outside any transaction, and marked in another.
Chats are served concurrently (`Delivery` paces each chat at 1 msg/s and all chats at
30 msg/s); within a chat messages go in priority order, so outbid alerts overtake queued
match alerts. A transient failure is retried with backoff; a message that may have arrived
(network error after sending) can then arrive twice: at-least-once is the guarantee, since
dropping an alert is worse than repeating one.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from telegram import Bot, InlineKeyboardMarkup

from bot.db.repositories import outbox, users
from bot.services.context import ServiceContext
from bot.telegram.delivery import Blocked, Delivery, Failed, Sent
from bot.telegram.html import truncate_html

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
MAX_BACKOFF = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class _Row:
    id: int
    user_id: int
    chat_id: int
    text: str
    reply_markup: str | None
    attempts: int


def _markup(bot: Bot, raw: str | None) -> InlineKeyboardMarkup | None:
    return InlineKeyboardMarkup.de_json(json.loads(raw), bot) if raw else None


class Sender:
    def __init__(
        self, ctx: ServiceContext, delivery: Delivery, *, batch: int = 100, idle: float = 5.0
    ) -> None:
        self.ctx = ctx
        self.delivery = delivery
        self.batch = batch
        self.idle = idle
        self._wake = asyncio.Event()

    def kick(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                delivered = await self.drain_once()
            except Exception:
                log.exception("outbox drain failed; retrying shortly")
                delivered = 0
            if delivered:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), self.idle)
            except TimeoutError:
                pass
            self._wake.clear()

    async def drain_once(self) -> int:
        """Send what is due now; returns how many rows were handled."""
        async with self.ctx.reads() as s:
            rows = [
                _Row(r.id, r.user_id, r.chat_id, r.text, r.reply_markup, r.attempts)
                for r in await outbox.next_due(s, limit=self.batch, now=self.ctx.clock())
            ]
        by_chat: dict[int, list[_Row]] = defaultdict(list)
        for row in rows:
            by_chat[row.chat_id].append(row)
        await asyncio.gather(*(self._send_chat(chat_rows) for chat_rows in by_chat.values()))
        return len(rows)

    async def _send_chat(self, rows: list[_Row]) -> None:
        for row in rows:
            if not await self._send(row):
                return  # the chat is gone or failing: keep the rest for later

    async def _send(self, row: _Row) -> bool:
        bot = self.delivery.bot
        outcome = await self.delivery.send(
            row.chat_id, truncate_html(row.text), _markup(bot, row.reply_markup)
        )
        now = self.ctx.clock()
        async with self.ctx.sessions() as s, s.begin():
            match outcome:
                case Sent(message_id=message_id):
                    await outbox.mark_sent(s, row.id, message_id=message_id, now=now)
                    return True
                case Blocked(reason=reason):
                    log.info("user %s blocked the bot; marked inactive", row.user_id)
                    await users.set_active(s, row.user_id, False)
                    await outbox.fail_pending_for_user(s, row.user_id, error=reason, now=now)
                case Failed(reason=reason, permanent=True):
                    log.warning("outbox %s failed permanently: %s", row.id, reason)
                    await outbox.mark_failed(s, row.id, error=reason, now=now)
                    return True
                case Failed(reason=reason):
                    if row.attempts + 1 >= MAX_ATTEMPTS:
                        await outbox.mark_failed(s, row.id, error=reason, now=now)
                    else:
                        wait = min(timedelta(seconds=2**row.attempts), MAX_BACKOFF)
                        await outbox.mark_retry(s, row.id, error=reason, retry_at=now + wait)
        return False
