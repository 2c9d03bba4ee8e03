"""A real telegram.ext.Application polling the fake: commands, taps, update offsets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import (
    Application,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.fakes.telegram_server import FakeTelegram
from tests.telegram_fake.conftest import TOKEN

USER = 1001


@asynccontextmanager
async def polling(
    fake: FakeTelegram, handlers: Sequence[BaseHandler]
) -> AsyncIterator[Application]:
    application = Application.builder().token(TOKEN).base_url(fake.base_url).build()
    application.add_handlers(list(handlers))
    async with application:
        await application.start()
        await application.updater.start_polling(poll_interval=0, timeout=1)
        try:
            yield application
        finally:
            await application.updater.stop()
            await application.stop()


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    name = update.effective_user.first_name
    await update.effective_message.reply_text(f"Hello, <b>{name}</b>", parse_mode=ParseMode.HTML)


async def test_start_command_is_answered(fake: FakeTelegram) -> None:
    async with polling(fake, [CommandHandler("start", start)]):
        asked = fake.user_message(USER, "/start", first_name="Ada")
        reply = await fake.await_bot_message(USER, after=asked)

    assert reply.text == "Hello, Ada"
    assert reply.html == "Hello, <b>Ada</b>"
    sent = fake.requests("sendMessage")
    assert [r.params["chat_id"] for r in sent] == [USER]
    assert sent[0].params["parse_mode"] == "HTML"


async def test_tap_is_answered_and_message_edited(fake: FakeTelegram) -> None:
    async def on_tap(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        await query.answer(f"got {query.data}")
        await query.edit_message_text(f"done: {query.data}")

    fake.add_user(USER)
    async with polling(fake, [CallbackQueryHandler(on_tap)]) as application:
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Raise", callback_data="r:7")]])
        sent = await application.bot.send_message(USER, "Outbid!", reply_markup=keyboard)
        shown = fake.message(USER, sent.message_id)
        query_id = fake.user_taps(USER, sent.message_id, shown.callback_data_for("Raise"))
        answer = await fake.await_callback_answer(query_id)
        edited = await fake.await_edit(USER, sent.message_id)

    assert answer.answer_text == "got r:7"
    assert edited.text == "done: r:7"
    assert edited.reply_markup is None  # an edit without a keyboard removes it
    assert [v.text for v in edited.history] == ["Outbid!"]
    assert edited.history[0].reply_markup == keyboard.to_dict()


async def test_each_update_is_delivered_once(fake: FakeTelegram) -> None:
    seen: list[str] = []

    async def record(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(update.effective_message.text)
        await update.effective_message.reply_text(f"ack {update.effective_message.text}")

    texts = [f"message {n}" for n in range(5)]
    async with polling(fake, [MessageHandler(filters.TEXT, record)]):
        for text in texts:
            fake.user_message(USER, text)
        await fake.await_for(lambda f: len(f.bot_messages(USER)) >= len(texts))
    assert fake.pending_updates == 0  # the updater's last getUpdates confirmed them all

    async with polling(fake, [MessageHandler(filters.TEXT, record)]):
        fake.user_message(USER, "after restart")
        await fake.await_for(lambda f: len(f.bot_messages(USER)) > len(texts))

    assert seen == [*texts, "after restart"]
    for poll in fake.requests("getUpdates"):
        offset = poll.params.get("offset") or 0
        assert all(update["update_id"] >= offset for update in poll.result or [])


async def test_a_photo_sent_through_ptb_is_kept_with_its_caption(fake: FakeTelegram) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # binary, not UTF-8
    fake.add_user(USER)
    async with polling(fake, []) as application:
        sent = await application.bot.send_photo(
            USER, png, caption="Price of <b>RTX 4090</b>", parse_mode=ParseMode.HTML)

    stored = fake.message(USER, sent.message_id)
    assert stored.photo == png
    assert (stored.text, stored.html) == ("Price of RTX 4090", "Price of <b>RTX 4090</b>")
    assert sent.caption == "Price of RTX 4090" and sent.photo[0].file_size == len(png)
