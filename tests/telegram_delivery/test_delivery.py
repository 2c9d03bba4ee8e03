"""Delivery against the fake Bot API: pacing, flood control, outcomes, edits, escaping."""

from __future__ import annotations

import asyncio
from itertools import pairwise

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup

from bot.telegram.delivery import Blocked, Delivery, Failed, Pacing, Sent
from bot.telegram.html import esc, split_message
from tests.fakes.telegram_server import FakeTelegram, Fault
from tests.telegram_delivery.conftest import ALICE, BOB, CAROL

FAST = Pacing(per_chat_interval=0.0, global_per_second=10_000)
# Per-chat spacing is counted from the reply, so arrivals are exactly an interval apart or
# more; the global gate spaces dispatches, so arrivals may jitter a little under load.
JITTER = 0.75


def arrivals(fake: FakeTelegram, chat_id: int | None = None) -> list[float]:
    return [r.at for r in fake.requests("sendMessage", chat_id=chat_id)]


def gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in pairwise(times)]


async def test_messages_to_one_chat_keep_order_and_interval(
    fake: FakeTelegram, bot: Bot
) -> None:
    delivery = Delivery(bot, Pacing(per_chat_interval=0.3, global_per_second=10_000))
    texts = ["first", "second", "third"]
    outcomes = await asyncio.gather(*(delivery.send(ALICE, text) for text in texts))

    assert all(isinstance(outcome, Sent) for outcome in outcomes)
    assert [m.text for m in fake.bot_messages(ALICE)] == texts
    times = arrivals(fake, ALICE)
    assert all(gap >= 0.3 for gap in gaps(times))


async def test_a_busy_chat_does_not_hold_up_another(fake: FakeTelegram, bot: Bot) -> None:
    delivery = Delivery(bot, Pacing(per_chat_interval=0.5, global_per_second=10_000))
    await asyncio.gather(delivery.send(ALICE, "a1"), delivery.send(ALICE, "a2"),
                         delivery.send(BOB, "b1"))

    order = [r.params["text"] for r in fake.requests("sendMessage")]
    assert order.index("b1") < order.index("a2")


async def test_global_rate_spaces_messages_across_chats(fake: FakeTelegram, bot: Bot) -> None:
    delivery = Delivery(bot, Pacing(per_chat_interval=0.0, global_per_second=5))
    await asyncio.gather(*(delivery.send(chat, "hello") for chat in (ALICE, BOB, CAROL)))

    times = sorted(arrivals(fake))
    assert len(times) == 3
    assert all(gap >= 0.2 * JITTER for gap in gaps(times))


async def test_retry_after_is_waited_out_and_message_arrives_once(
    fake: FakeTelegram, bot: Bot
) -> None:
    fake.fail_next("sendMessage", Fault.flood(retry_after=1))
    outcome = await Delivery(bot, FAST).send(ALICE, "after the flood")

    assert isinstance(outcome, Sent)
    assert [m.text for m in fake.bot_messages(ALICE)] == ["after the flood"]
    flooded, delivered = fake.requests("sendMessage")
    assert (flooded.status, delivered.status) == (429, 200)
    assert delivered.at - flooded.at >= 1


async def test_flood_wait_beyond_the_bound_is_reported(fake: FakeTelegram, bot: Bot) -> None:
    fake.fail_next("sendMessage", Fault.flood(retry_after=120))
    outcome = await Delivery(bot, Pacing(max_retry_after=5)).send(ALICE, "later")

    assert isinstance(outcome, Failed)
    assert not outcome.permanent
    assert len(fake.requests("sendMessage")) == 1


async def test_repeated_floods_give_up_after_max_attempts(fake: FakeTelegram, bot: Bot) -> None:
    fake.fail_next("sendMessage", Fault.flood(retry_after=1), times=5)
    pacing = Pacing(per_chat_interval=0.0, global_per_second=10_000, max_attempts=1)
    outcome = await Delivery(bot, pacing).send(ALICE, "x")

    assert outcome == Failed("flood control: retry after 1 s", permanent=False, retry_after=1)
    assert fake.bot_messages(ALICE) == []


async def test_blocked_user_and_missing_chat_are_blocked(fake: FakeTelegram, bot: Bot) -> None:
    delivery = Delivery(bot, FAST)
    fake.block_bot(BOB)

    assert isinstance(await delivery.send(BOB, "hi"), Blocked)
    assert isinstance(await delivery.send(999_001, "hi"), Blocked)  # chat not found
    fake.fail_next("sendMessage", Fault.blocked("Forbidden: user is deactivated"))
    assert await delivery.send(ALICE, "hi") == Blocked("Forbidden: user is deactivated")


async def test_bad_request_is_permanent_and_network_errors_are_not(
    fake: FakeTelegram, bot: Bot
) -> None:
    delivery = Delivery(bot, FAST)
    fake.fail_next("sendMessage", Fault.bad_request("Bad Request: can't parse entities"))
    fake.fail_next("sendMessage", Fault.dropped_connection())

    bad = await delivery.send(ALICE, "x")
    dropped = await delivery.send(ALICE, "y")

    assert bad == Failed("Can't parse entities", permanent=True)
    assert isinstance(dropped, Failed)
    assert not dropped.permanent
    assert len(fake.requests("sendMessage")) == 2  # neither was retried


async def test_sends_html_without_link_previews(fake: FakeTelegram, bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Raise", callback_data="r")]])
    await Delivery(bot, FAST).send(ALICE, "see https://clore.ai", keyboard)

    params = fake.requests("sendMessage")[0].params
    assert params["parse_mode"] == "HTML"
    assert params["link_preview_options"] == {"is_disabled": True}
    assert params["reply_markup"] == keyboard.to_dict()


async def test_edits_count_not_modified_as_success(fake: FakeTelegram, bot: Bot) -> None:
    delivery = Delivery(bot, FAST)
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Cancel", callback_data="c")]])
    sent = await delivery.send(ALICE, "bid <b>1</b>", keyboard)
    assert isinstance(sent, Sent)

    assert await delivery.edit(ALICE, sent.message_id, "bid <b>1</b>", keyboard) == sent
    assert fake.requests("editMessageText")[-1].status == 400  # Telegram said not modified
    assert await delivery.edit(ALICE, sent.message_id, "bid <b>2</b>") == sent
    assert await delivery.edit_markup(ALICE, sent.message_id, keyboard) == sent

    now = fake.message(ALICE, sent.message_id)
    assert (now.text, now.reply_markup) == ("bid 2", keyboard.to_dict())
    missing = await delivery.edit(ALICE, sent.message_id + 40, "x")
    assert isinstance(missing, Failed)
    assert missing.permanent


@pytest.mark.parametrize("name", ["<RTX 4090>", "A&B", 'say "hi"', "x < y > z"])
async def test_escaped_dynamic_values_arrive_verbatim(
    fake: FakeTelegram, bot: Bot, name: str
) -> None:
    outcome = await Delivery(bot, FAST).send(ALICE, f"<b>Rule</b> {esc(name)}")

    assert isinstance(outcome, Sent)  # the fake rejects a stray < or & like Telegram does
    assert fake.bot_messages(ALICE)[0].text == f"Rule {name}"


async def test_long_report_is_split_into_sendable_parts(fake: FakeTelegram, bot: Bot) -> None:
    lines = [f"{n}. <i>{esc('GPU <' + str(n) + '> & co')}</i> at {n / 7:.4f}" for n in range(600)]
    report = "<b>Matches</b>\n<blockquote>" + "\n".join(lines) + "</blockquote>"
    parts = split_message(report)
    assert len(parts) > 1

    delivery = Delivery(bot, FAST)
    outcomes = [await delivery.send(ALICE, part) for part in parts]

    assert all(isinstance(outcome, Sent) for outcome in outcomes)
    shown = "\n".join(m.text for m in fake.bot_messages(ALICE))
    expected = "Matches\n" + "\n".join(
        f"{n}. GPU <{n}> & co at {n / 7:.4f}" for n in range(600))
    assert shown == expected


async def test_a_reserved_global_slot_is_not_taken_twice(fake: FakeTelegram, bot: Bot) -> None:
    delivery = Delivery(bot, Pacing(per_chat_interval=0.0, global_per_second=2))
    assert delivery.reserve_slot()
    assert not delivery.reserve_slot()  # the next slot is half a second away
    outcome = await delivery.send(ALICE, "reserved", reserved=True)

    assert isinstance(outcome, Sent)
    assert 0 < delivery.global_wait() <= 0.5  # still the second slot, not a third


async def test_chat_wait_counts_the_per_chat_interval_from_the_reply(
    fake: FakeTelegram, bot: Bot
) -> None:
    delivery = Delivery(bot, Pacing(per_chat_interval=30.0, global_per_second=10_000))
    assert delivery.chat_wait(ALICE) == 0
    await delivery.send(ALICE, "first")

    assert 0 < delivery.chat_wait(ALICE) <= 30
    assert delivery.chat_wait(BOB) == 0
