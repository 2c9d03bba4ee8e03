"""/chart and /stats: the market's price history for one GPU model (and count).

Registered by `bot.app` before `handlers.register` (whose catch-all must come last). The
chart is rendered in a worker thread and sent as a photo through `Delivery` (paced like
every other message).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from telegram import Update
from telegram.ext import Application, CommandHandler, filters

from bot.db.models import User
from bot.i18n import Translator
from bot.services import insight
from bot.telegram import handlers
from bot.telegram.delivery import Sent
from bot.telegram.render import insight as render
from bot.telegram.render import translator_for

log = logging.getLogger(__name__)
# One chart at a time (about half a second of CPU each, mostly holding the GIL): a burst of
# /chart commands queues here instead of slowing everything else down together.
_RENDERING = asyncio.Semaphore(1)


def user_translator(update: Update, user: User) -> Translator:
    return translator_for(user)


async def _problem(
    context: handlers.Context, user: User, tr: Translator,
    result: insight.NoSeries | insight.Ambiguous,
) -> None:  # fmt: skip
    if isinstance(result, insight.NoSeries):
        await handlers.say(context, user.chat_id, render.no_series(tr, result))
    else:
        await handlers.say(context, user.chat_id, render.ambiguous(tr, result))


@handlers.guarded
async def chart(update: Update, context: handlers.Context, user: User) -> None:
    tr = user_translator(update, user)
    query = insight.parse_query(handlers.argument_text(update), with_period=True)
    if query is None:
        await handlers.say(context, user.chat_id, render.usage(tr, "chart"))
        return
    result = await insight.chart(handlers.services(context), query)
    if not isinstance(result, insight.Chart):
        await _problem(context, user, tr, result)
        return
    async with _RENDERING:
        png = await asyncio.to_thread(render.chart_png, tr, result)
    outcome = await handlers.delivery(context).send_photo(
        user.chat_id, png, render.chart_caption(tr, result)
    )
    if not isinstance(outcome, Sent):
        log.warning("chart not sent: %s", outcome)


@handlers.guarded
async def stats(update: Update, context: handlers.Context, user: User) -> None:
    tr = user_translator(update, user)
    query = insight.parse_query(handlers.argument_text(update), with_period=False)
    if query is None:
        await handlers.say(context, user.chat_id, render.usage(tr, "stats"))
        return
    result = await insight.stats(handlers.services(context), query)
    if not isinstance(result, insight.Stats):
        await _problem(context, user, tr, result)
        return
    await handlers.say(context, user.chat_id, render.stats_text(tr, result))


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    private = filters.ChatType.PRIVATE
    application.add_handler(CommandHandler("chart", chart, filters=private))
    application.add_handler(CommandHandler("stats", stats, filters=private))
