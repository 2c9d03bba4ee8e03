"""A real telegram.Bot against the fake: errors, edits, wire format, waiting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from telegram import Bot, BotCommand, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import (
    BadRequest,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)

from tests.fakes.telegram_server import FakeTelegram, Fault
from tests.telegram_fake.conftest import TOKEN

USER = 2002


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    fake.add_user(USER)
    async with Bot(TOKEN, base_url=fake.base_url) as client:
        yield client


async def test_injected_faults_surface_as_ptb_errors(fake: FakeTelegram, bot: Bot) -> None:
    fake.fail_next("sendMessage", Fault.flood(retry_after=3))
    fake.fail_next("sendMessage", Fault.blocked(), chat_id=USER)
    fake.fail_next("sendMessage", Fault.bad_request("Bad Request: chat not found"))
    fake.fail_next("sendMessage", Fault.dropped_connection())

    with pytest.raises(RetryAfter) as flood:
        await bot.send_message(USER, "one")
    assert "Retry in 3" in str(flood.value)
    with pytest.raises(Forbidden, match="blocked by the user"):
        await bot.send_message(USER, "two")
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(USER, "three")
    with pytest.raises(NetworkError) as dropped:
        await bot.send_message(USER, "four")
    assert not isinstance(dropped.value, BadRequest)

    assert (await bot.send_message(USER, "five")).text == "five"  # faults are used up
    assert [m.text for m in fake.bot_messages(USER)] == ["five"]
    assert [r.status for r in fake.requests("sendMessage")] == [429, 403, 400, 0, 200]


async def test_fault_for_one_chat_spares_others(fake: FakeTelegram, bot: Bot) -> None:
    other = USER + 1
    fake.add_user(other)
    fake.fail_next("sendMessage", Fault.blocked(), chat_id=other, times=2)

    await bot.send_message(USER, "fine")
    for _ in range(2):
        with pytest.raises(Forbidden):
            await bot.send_message(other, "blocked")
    await bot.send_message(other, "fine again")


async def test_dropped_connection_after_processing_still_delivers(
    fake: FakeTelegram, bot: Bot
) -> None:
    fake.fail_next("sendMessage", Fault.dropped_connection(after_processing=True))
    with pytest.raises(NetworkError):
        await bot.send_message(USER, "ambiguous")
    assert [m.text for m in fake.bot_messages(USER)] == ["ambiguous"]


async def test_blocked_user_and_unknown_chat(fake: FakeTelegram, bot: Bot) -> None:
    fake.block_bot(USER)
    with pytest.raises(Forbidden, match="blocked by the user"):
        await bot.send_message(USER, "hi")
    fake.block_bot(USER, blocked=False)
    await bot.send_message(USER, "hi")
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(999_999, "nobody")


async def test_edits_follow_telegram_rules(fake: FakeTelegram, bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Cancel", callback_data="c:1")]])
    sent = await bot.send_message(USER, "Bid <b>1.5</b>", parse_mode="HTML",
                                  reply_markup=keyboard)
    assert sent.text == "Bid 1.5"
    assert sent.reply_markup == keyboard

    with pytest.raises(BadRequest, match="not modified"):
        await bot.edit_message_text("Bid <b>1.5</b>", USER, sent.message_id,
                                    parse_mode="HTML", reply_markup=keyboard)
    with pytest.raises(BadRequest, match="to edit not found"):
        await bot.edit_message_text("x", USER, sent.message_id + 50)

    await bot.edit_message_reply_markup(USER, sent.message_id)
    await bot.edit_message_text("Bid <i>2</i>", USER, sent.message_id, parse_mode="HTML")
    now = fake.message(USER, sent.message_id)
    assert (now.text, now.html, now.reply_markup) == ("Bid 2", "Bid <i>2</i>", None)
    assert [(v.text, v.reply_markup is None) for v in now.history] == [
        ("Bid 1.5", False), ("Bid 1.5", True)]

    assert await bot.delete_message(USER, sent.message_id)
    assert fake.message(USER, sent.message_id).deleted
    with pytest.raises(BadRequest, match="to delete not found"):
        await bot.delete_message(USER, sent.message_id)


@pytest.mark.parametrize("text", ["1 < 2", "R&D", "<script>x</script>", "<b>open"])
async def test_malformed_html_is_rejected(fake: FakeTelegram, bot: Bot, text: str) -> None:
    with pytest.raises(BadRequest, match="parse entities"):
        await bot.send_message(USER, text, parse_mode="HTML")
    assert await bot.send_message(USER, text)  # as plain text it is fine


async def test_too_long_and_empty_text(bot: Bot) -> None:
    with pytest.raises(BadRequest, match="too long"):
        await bot.send_message(USER, "x" * 4097)
    with pytest.raises(BadRequest, match="text is empty"):
        await bot.send_message(USER, "<b></b>", parse_mode="HTML")


async def test_token_methods_and_commands(fake: FakeTelegram, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.username) == (4242, True, fake.bot_user["username"])
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("noSuchMethod")

    commands = [BotCommand("start", "Start"), BotCommand("rules", "Your rules")]
    assert await bot.set_my_commands(commands)
    assert await bot.get_my_commands() == tuple(commands)
    assert fake.commands() == [c.to_dict() for c in commands]

    with pytest.raises(InvalidToken):
        async with Bot("4242:wrong", base_url=fake.base_url):
            pass
    assert fake.requests()[-1].status == 401


async def test_long_poll_returns_when_an_update_arrives(fake: FakeTelegram, bot: Bot) -> None:
    polled = asyncio.create_task(bot.get_updates(timeout=30))
    await fake.await_for(lambda f: f.requests("getUpdates"))  # the poll has arrived
    fake.user_message(USER, "/rules now")
    updates = await asyncio.wait_for(polled, timeout=10)

    assert [u.message.text for u in updates] == ["/rules now"]
    assert updates[0].message.entities[0].type == "bot_command"
    assert updates[0].message.entities[0].length == len("/rules")
    assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=0) == ()
    assert fake.pending_updates == 0


def test_form_and_multipart_bodies_are_decoded(fake: FakeTelegram) -> None:
    fake.add_user(USER)
    url = f"{fake.base_url}{TOKEN}/sendMessage"
    markup = '{"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}'
    form = httpx.post(url, data={"chat_id": str(USER), "text": "123", "reply_markup": markup})
    multipart = httpx.post(url, data={"chat_id": str(USER), "text": "true"},
                           files={"unused": ("a.txt", b"data")})

    assert form.json()["result"]["reply_markup"]["inline_keyboard"][0][0]["text"] == "A"
    assert multipart.json()["ok"] is True
    first, second = fake.requests("sendMessage")
    assert first.params == {"chat_id": USER, "text": "123", "reply_markup": {
        "inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}}
    assert second.params["text"] == "true"  # text stays a string, never JSON-decoded
    unknown = httpx.post(f"{fake.base_url}{TOKEN}/noSuchMethod")
    assert (unknown.status_code, unknown.json()["ok"]) == (404, False)


def test_tap_requires_a_shown_button_and_waits_time_out(fake: FakeTelegram) -> None:
    fake.add_user(USER)
    with pytest.raises(ValueError, match="no live bot message"):
        fake.user_taps(USER, 1, "x")
    with pytest.raises(TimeoutError, match="bot message in chat"):
        fake.wait_for_bot_message(USER, timeout=0.05)
