"""A button is used up only by an action taken: a tap that cannot be served yet leaves it
usable, and the user is asked to tap again in a moment."""

from __future__ import annotations

import pytest

from tests.bot.conftest import ALICE, ALICE_CLORE, ALICE_KEY, RIVAL, BotHarness
from tests.bot.money_faults import taps_handled
from tests.fakes.clore_server import make_bid, make_server
from tests.fakes.telegram_server import ChatMessage, Fault

SERVER, ORDER, RIVAL_ORDER = "300", 9001, 9002


def set_bids(bot: BotHarness, mine: float, rival: float) -> None:
    with bot.clore.lock:
        bot.clore.market[SERVER] = make_server(min_bid=5.0, bids=[
            make_bid(ALICE_CLORE, ORDER, mine), make_bid(RIVAL, RIVAL_ORDER, rival)])


async def outbid_alert(bot: BotHarness) -> ChatMessage:
    await bot.ask(ALICE, f"/link {ALICE_KEY}", expect="Linked")
    set_bids(bot, mine=15.0, rival=12.0)
    await bot.publish_and_cycle()
    set_bids(bot, mine=15.0, rival=20.0)
    await bot.publish_and_cycle()
    return next(m for m in bot.telegram.bot_messages(ALICE) if "Outbid" in m.text)


def edits(bot: BotHarness) -> int:
    return len(bot.clore.calls_for("edit_gigaspot_orders", key=ALICE_KEY))


async def test_a_raise_before_the_first_snapshot_after_a_restart_keeps_its_button(
    bot: BotHarness,
) -> None:
    alert = await outbid_alert(bot)
    await bot.restart()  # no cycle yet: the market is not loaded

    query = bot.telegram.user_taps(ALICE, alert.message_id, alert.callback_data_for("Raise"))
    answer = await bot.answer_of(query)
    await taps_handled(bot)

    assert "still loading the market" in answer and "again in a moment" in answer
    assert bot.telegram.callback_query(query).show_alert
    assert edits(bot) == 0
    assert bot.telegram.message(ALICE, alert.message_id).history == []  # untouched

    await bot.cycle()
    assert await bot.tap(ALICE, alert, "Raise") == "Working on it…"
    done = await bot.edited(ALICE, alert.message_id, 1)
    assert "raised to 20.5" in done.text and edits(bot) == 1


@pytest.mark.parametrize(
    "fault",
    [
        Fault.bad_request("Bad Request: query is too old and response timeout expired"),
        Fault.flood(retry_after=5),
    ],
    ids=["400", "429"],
)
async def test_a_tap_whose_answer_telegram_refuses_keeps_its_button(
    bot: BotHarness, fault: Fault
) -> None:
    alert = await outbid_alert(bot)
    bot.telegram.fail_next("answerCallbackQuery", fault)

    asked = bot.telegram.mark()
    bot.telegram.user_taps(ALICE, alert.message_id, alert.callback_data_for("Raise"))
    told = await bot.telegram.await_request(
        "sendMessage", chat_id=ALICE, since=asked,
        where=lambda r: "did not take my answer" in str(r.params.get("text")),
    )

    assert "Tap the button again in a moment" in str(told.params["text"])
    await taps_handled(bot)
    assert edits(bot) == 0

    assert await bot.tap(ALICE, alert, "Raise") == "Working on it…"
    done = await bot.edited(ALICE, alert.message_id, 1)
    assert "raised to 20.5" in done.text and edits(bot) == 1


async def test_a_button_that_did_act_stays_used(bot: BotHarness) -> None:
    alert = await outbid_alert(bot)
    set_bids(bot, mine=15.0, rival=10.0)  # Alice leads again: the tap decides nothing is due
    await bot.publish_and_cycle()
    data = alert.callback_data_for("Raise")

    await bot.tap(ALICE, alert, "Raise")
    await bot.edited(ALICE, alert.message_id, 1)

    assert "already used" in await bot.tap_data(ALICE, alert.message_id, data)
