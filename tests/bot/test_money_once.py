"""One money action per order at a time, and only what the market needs now.

Several buttons act on one order (or one machine): an outbid alert and /bids answers all
carry Raise and Cancel; two match alerts may list the same server. Tapped together, they
must make one clore call, and the other taps must say what was already done.
"""

from __future__ import annotations

import json

from tests.bot.conftest import ALICE, ALICE_CLORE, ALICE_KEY, RIVAL, BotFactory, BotHarness
from tests.bot.money_faults import tap_all, tap_while_first_call_is_in_flight
from tests.fakes.clore_server import make_bid, make_server
from tests.fakes.telegram_server import ChatMessage

SERVER, ORDER, RIVAL_ORDER = "300", 9001, 9002


def set_bids(bot: BotHarness, mine: float, rival: float | None) -> None:
    bids = [make_bid(ALICE_CLORE, ORDER, mine)]
    if rival is not None:
        bids.append(make_bid(RIVAL, RIVAL_ORDER, rival))
    with bot.clore.lock:
        bot.clore.market[SERVER] = make_server(min_bid=5.0, bids=bids)


def edits(bot: BotHarness) -> list[object]:
    return [c.body for c in bot.clore.calls_for("edit_gigaspot_orders", key=ALICE_KEY)]


async def outbid(bot: BotHarness, rival: float = 20.0) -> ChatMessage:
    """Alice leads at 15, then a rival bids `rival`: her outbid alert."""
    await bot.ask(ALICE, f"/link {ALICE_KEY}", expect="Linked")
    set_bids(bot, mine=15.0, rival=12.0)
    await bot.publish_and_cycle()
    set_bids(bot, mine=15.0, rival=rival)
    await bot.publish_and_cycle()
    return next(m for m in bot.telegram.bot_messages(ALICE) if "Outbid" in m.text)


async def order_messages(bot: BotHarness, count: int) -> list[ChatMessage]:
    """The outbid alert and `count - 1` /bids answers: each has Raise and Cancel."""
    found = [await outbid(bot)]
    for _ in range(count - 1):
        found.append(await bot.ask(ALICE, "/bids", expect=f"order {ORDER}"))
    assert all("Raise to 20.50" in [label for label, _ in m.buttons] for m in found)
    return found


def buttons(messages: list[ChatMessage], label: str) -> list[tuple[int, str]]:
    return [(m.message_id, m.callback_data_for(label)) for m in messages]


async def asked_to_cancel(bot: BotHarness, messages: list[ChatMessage]) -> list[ChatMessage]:
    """Cancel asks first: each message after its Cancel tap, showing Yes and No."""
    asked = []
    for message in messages:
        await bot.tap(ALICE, message, "Cancel")
        asked.append(await bot.edited(ALICE, message.message_id, 1))
    assert all("↩️ No, keep it" in [label for label, _ in m.buttons] for m in asked)
    return asked


def texts(bot: BotHarness, messages: list[ChatMessage]) -> list[str]:
    return [bot.telegram.message(ALICE, m.message_id).text for m in messages]


async def test_three_raise_buttons_of_one_order_tapped_together_edit_it_once(
    bot: BotHarness,
) -> None:
    messages = await order_messages(bot, 3)

    answers = await tap_all(bot, ALICE, buttons(messages, "Raise"))

    assert answers == ["Working on it…"] * 3
    assert edits(bot) == [[{"order_id": ORDER, "price": 20.5}]]
    results = texts(bot, messages)
    assert sum("raised to 20.5" in t for t in results) == 1, results
    assert sum("already leads on #300 at 20.50" in t and "nothing was sent" in t
               for t in results) == 2, results
    raises = [(a.action, a.outcome, a.price) for a in await bot.audit()]
    assert raises == [("raise", "ok", 20.5)]


async def test_raise_buttons_tapped_while_the_first_edit_is_in_flight_wait_for_it(
    bot: BotHarness,
) -> None:
    messages = await order_messages(bot, 3)

    await tap_while_first_call_is_in_flight(
        bot, ALICE, "edit_gigaspot_orders", buttons(messages, "Raise"))

    assert edits(bot) == [[{"order_id": ORDER, "price": 20.5}]]
    results = texts(bot, messages)
    assert "raised to 20.5" in results[0]
    assert all("already leads on #300 at 20.50" in t for t in results[1:]), results


async def test_three_cancel_buttons_of_one_order_tapped_together_cancel_it_once(
    bot: BotHarness,
) -> None:
    messages = await asked_to_cancel(bot, await order_messages(bot, 3))

    await tap_all(bot, ALICE, buttons(messages, "Yes, cancel"))

    assert len(bot.clore.calls_for("cancel_orders", key=ALICE_KEY)) == 1
    results = texts(bot, messages)
    assert sum("cancelled" in t and "already" not in t for t in results) == 1, results
    assert sum("already cancelled" in t for t in results) == 2, results


async def test_raise_and_cancel_of_one_order_tapped_together_act_one_after_the_other(
    bot: BotHarness,
) -> None:
    messages = await order_messages(bot, 2)
    messages[:1] = await asked_to_cancel(bot, messages[:1])

    await tap_all(bot, ALICE, [buttons(messages[:1], "Yes, cancel")[0],
                               buttons(messages[1:], "Raise")[0]])

    # Either the cancel went first and the raise found nothing to raise, or the raise went
    # first and the cancel then cancelled the raised order: never both on a stale view.
    cancels = bot.clore.calls_for("cancel_orders", key=ALICE_KEY)
    assert len(cancels) == 1
    assert len(edits(bot)) <= 1
    if not edits(bot):
        assert "cancelled" in texts(bot, messages[1:])[0]


async def test_a_snapshot_taken_before_the_raise_does_not_undo_it(bot: BotHarness) -> None:
    messages = await order_messages(bot, 2)
    with bot.clore.lock:
        before = json.dumps(bot.clore.market).encode()  # clore's view just before the tap
    await bot.tap(ALICE, messages[0], "Raise")
    await bot.edited(ALICE, messages[0].message_id, 1)
    bot.clore.publish(raw=before)  # a new snapshot URL, made before the edit arrived
    await bot.cycle()

    await bot.tap(ALICE, messages[1], "Raise")
    done = await bot.edited(ALICE, messages[1].message_id, 1)

    assert "already leads on #300 at 20.50" in done.text and "nothing was sent" in done.text
    assert edits(bot) == [[{"order_id": ORDER, "price": 20.5}]]


async def test_raise_after_the_rival_left_sends_nothing(bot: BotHarness) -> None:
    alert = await outbid(bot)
    set_bids(bot, mine=15.0, rival=None)  # the rival cancelled: Alice leads again
    await bot.publish_and_cycle()

    await bot.tap(ALICE, alert, "Raise")
    done = await bot.edited(ALICE, alert.message_id, 1)

    assert "already leads on #300 at 15.00 CLORE/day: nothing was sent" in done.text
    assert edits(bot) == []
    # It leads: Cancel and Protect still apply, Raise does not.
    assert [label for label, _ in done.buttons] == ["Cancel", "🛡 Protect"]


async def test_raise_after_the_rival_lowered_sends_only_what_leading_needs(
    bot: BotHarness,
) -> None:
    alert = await outbid(bot, rival=20.0)  # the button says 20.5
    set_bids(bot, mine=15.0, rival=17.0)
    await bot.publish_and_cycle()

    await bot.tap(ALICE, alert, "Raise")
    done = await bot.edited(ALICE, alert.message_id, 1)

    assert edits(bot) == [[{"order_id": ORDER, "price": 17.5}]]
    assert "raised to 17.5" in done.text
    assert "Leading needed less than the button's 20.5" in done.text


async def test_a_tap_after_protection_raised_on_the_same_snapshot_sends_nothing(
    bot: BotHarness,
) -> None:
    alert = await outbid(bot)  # an unprotected outbid: an alert with Raise to 20.50
    assert "is protected" in (await bot.ask(ALICE, f"/protect {ORDER} 30 10")).text
    set_bids(bot, mine=15.0, rival=22.0)
    await bot.publish_and_cycle()  # protection raises to 22.5 in this cycle
    assert edits(bot) == [[{"order_id": ORDER, "price": 22.5}]]

    # The snapshot in force still shows 15; the intent record shows the raise.
    await bot.tap(ALICE, alert, "Raise")
    done = await bot.edited(ALICE, alert.message_id, 1)

    assert "already leads on #300 at 22.50" in done.text
    assert edits(bot) == [[{"order_id": ORDER, "price": 22.5}]]


# --------------------------------------------------------------------------- Bid buttons

BID_SERVER = "200"


def put_server(bot: BotHarness, rival: float) -> None:
    with bot.clore.lock:
        bot.clore.market[BID_SERVER] = make_server(
            min_bid=10.0, bids=[make_bid(RIVAL, 8001, rival)]
        )


async def two_alerts_for_one_server(bot_factory: BotFactory) -> tuple[BotHarness,
                                                                      list[ChatMessage]]:
    """Server 200 announced twice: when it appears, and when its price fell by a third."""
    bot = await bot_factory(clore_price=None)  # no energy term: price to win = the rival's
    await bot.cycle()
    await bot.ask(ALICE, f"/link {ALICE_KEY}", expect="Linked")
    await bot.ask(ALICE, "/template image=ubuntu pl=min", expect="Template saved")
    await bot.ask(ALICE, "/watch gpu=4090", expect="saved")
    put_server(bot, rival=30.0)
    await bot.publish_and_cycle()
    put_server(bot, rival=20.0)
    await bot.publish_and_cycle()
    alerts = [m for m in bot.telegram.bot_messages(ALICE) if "new machine" in m.text]
    assert [label for m in alerts for label, _ in m.buttons if label.startswith("Bid")] == [
        "Bid #200 at 30.50", "Bid #200 at 20.50"]
    return bot, alerts


async def test_two_bid_buttons_for_one_server_tapped_together_create_one_order(
    bot_factory: BotFactory,
) -> None:
    bot, alerts = await two_alerts_for_one_server(bot_factory)

    await tap_all(bot, ALICE, buttons(alerts, "Bid"))

    creates = bot.clore.calls_for("create_gigaspot_orders", key=ALICE_KEY)
    assert len(creates) == 1
    assert creates[0].body[0]["price"] == 20.5  # what leading needs, whichever button won
    results = texts(bot, alerts)
    assert sum("sent" in t and "has not shown up" not in t for t in results) == 1, results
    assert sum("has not shown up in the market yet" in t for t in results) == 1, results


async def test_a_bid_button_tapped_while_the_first_create_is_in_flight_sends_nothing(
    bot_factory: BotFactory,
) -> None:
    bot, alerts = await two_alerts_for_one_server(bot_factory)

    await tap_while_first_call_is_in_flight(
        bot, ALICE, "create_gigaspot_orders", buttons(alerts[::-1], "Bid"))

    assert len(bot.clore.calls_for("create_gigaspot_orders", key=ALICE_KEY)) == 1
    assert "Bid on #200 at 20.50 CLORE/day sent" in texts(bot, alerts)[1]
    assert "has not shown up in the market yet" in texts(bot, alerts)[0]


async def test_a_bid_button_after_the_order_showed_up_sends_nothing(
    bot_factory: BotFactory,
) -> None:
    bot, alerts = await two_alerts_for_one_server(bot_factory)
    await bot.tap(ALICE, alerts[1], "Bid")
    await bot.edited(ALICE, alerts[1].message_id, 1)
    await bot.publish_and_cycle()  # the order shows up: "Your order ... is in the market"

    await bot.tap(ALICE, alerts[0], "Bid")
    done = await bot.edited(ALICE, alerts[0].message_id, 1)

    assert "You already have order" in done.text and "Nothing was sent" in done.text
    assert len(bot.clore.calls_for("create_gigaspot_orders", key=ALICE_KEY)) == 1
