"""Outbid alerts and the Raise button: re-checks, the price cap, ambiguous failures."""

from __future__ import annotations

from tests.bot.conftest import ALICE, ALICE_CLORE, ALICE_KEY, RIVAL, BotHarness
from tests.fakes.clore_server import make_bid, make_server
from tests.fakes.telegram_server import ChatMessage

SERVER, ORDER, RIVAL_ORDER = "300", 9001, 9002


def set_bids(bot: BotHarness, mine: float, rival: float) -> None:
    with bot.clore.lock:
        bot.clore.market[SERVER] = make_server(
            min_bid=5.0,
            bids=[make_bid(ALICE_CLORE, ORDER, mine), make_bid(RIVAL, RIVAL_ORDER, rival)],
        )


async def texts_after_cycle(bot: BotHarness) -> list[str]:
    mark = bot.telegram.mark()
    await bot.publish_and_cycle()
    return bot.sent_texts(ALICE, since=mark)


async def linked_and_leading(bot: BotHarness) -> None:
    await bot.ask(ALICE, f"/link {ALICE_KEY}", expect="Linked")
    set_bids(bot, mine=15.0, rival=12.0)
    assert not any("Outbid" in t for t in await texts_after_cycle(bot))


async def outbid_alert(bot: BotHarness, rival: float = 20.0) -> ChatMessage:
    await linked_and_leading(bot)
    set_bids(bot, mine=15.0, rival=rival)
    await bot.publish_and_cycle()
    alerts = [m for m in bot.telegram.bot_messages(ALICE) if "Outbid" in m.text]
    assert len(alerts) == 1
    return alerts[0]


def raise_label(message: ChatMessage) -> str:
    return next(label for label, _ in message.buttons if label.startswith("Raise"))


async def test_outbid_alerts_once_and_again_when_the_rival_raises(bot: BotHarness) -> None:
    await linked_and_leading(bot)

    set_bids(bot, mine=15.0, rival=20.0)
    first = await texts_after_cycle(bot)
    assert len(first) == 1 and "Outbid" in first[0] and "20.5" in first[0]

    assert await texts_after_cycle(bot) == []  # same market, new URL

    set_bids(bot, mine=15.0, rival=22.0)
    second = await texts_after_cycle(bot)
    assert len(second) == 1 and "Outbid" in second[0] and "22.5" in second[0]

    set_bids(bot, mine=15.0, rival=21.0)  # still behind, but the rival came down
    assert await texts_after_cycle(bot) == []


async def test_outbid_alerts_overtake_match_alerts_of_the_same_cycle(bot: BotHarness) -> None:
    await bot.ask(ALICE, "/watch gpu=3090", expect="saved")
    await linked_and_leading(bot)

    with bot.clore.lock:
        bot.clore.market["400"] = make_server(gpu_model="RTX 3090", min_bid=8.0)
    set_bids(bot, mine=15.0, rival=20.0)
    texts = await texts_after_cycle(bot)

    assert len(texts) == 2
    assert "Outbid" in texts[0] and "#400" in texts[1]


async def test_raise_rechecks_the_market_and_offers_the_new_price(bot: BotHarness) -> None:
    alert = await outbid_alert(bot, rival=20.0)
    assert "20.5" in raise_label(alert)

    set_bids(bot, mine=15.0, rival=25.0)
    await bot.publish_and_cycle()
    await bot.tap(ALICE, alert, "Raise")
    moved = await bot.edited(ALICE, alert.message_id, edits=1)

    assert "market moved" in moved.text
    assert "25.5" in raise_label(moved)
    assert bot.clore.calls_for("edit_gigaspot_orders") == []


async def test_raise_above_the_cap_asks_first_then_edits_once(bot: BotHarness) -> None:
    alert = await outbid_alert(bot, rival=20.0)
    assert "18" in (await bot.ask(ALICE, "/settings cap 18")).text

    await bot.tap(ALICE, alert, "Raise")
    asked = await bot.edited(ALICE, alert.message_id, edits=1)
    assert "above your cap" in asked.text
    assert bot.clore.calls_for("edit_gigaspot_orders") == []
    confirm = asked.callback_data_for("Yes")

    await bot.tap(ALICE, asked, "Yes")
    done = await bot.edited(ALICE, alert.message_id, edits=2)
    assert "raised to 20.5" in done.text
    assert "already used" in await bot.tap_data(ALICE, alert.message_id, confirm)

    edits = bot.clore.calls_for("edit_gigaspot_orders")
    assert [c.body for c in edits] == [[{"order_id": ORDER, "price": 20.5}]]
    assert [(a.action, a.outcome, a.price) for a in await bot.audit()] == [
        ("raise", "ok", 20.5)
    ]


async def test_an_ambiguous_raise_is_reported_audited_and_not_retried(bot: BotHarness) -> None:
    alert = await outbid_alert(bot, rival=20.0)
    bot.clore.fail("edit_gigaspot_orders", "drop", apply=True)

    await bot.tap(ALICE, alert, "Raise")
    told = await bot.edited(ALICE, alert.message_id, edits=1)

    assert "did not confirm" in told.text and "will not repeat" in told.text
    assert len(bot.clore.calls_for("edit_gigaspot_orders")) == 1
    entries = await bot.audit()
    assert [(a.action, a.outcome, a.order_id, a.price) for a in entries] == [
        ("raise", "ambiguous", ORDER, 20.5)
    ]
    assert ALICE_KEY not in (entries[0].detail or "")


async def test_a_double_tap_on_raise_edits_the_order_once(bot: BotHarness) -> None:
    alert = await outbid_alert(bot, rival=20.0)
    data = alert.callback_data_for("Raise")

    first = bot.telegram.user_taps(ALICE, alert.message_id, data)
    second = bot.telegram.user_taps(ALICE, alert.message_id, data)
    answers = sorted([await bot.answer_of(first), await bot.answer_of(second)])
    done = await bot.edited(ALICE, alert.message_id, edits=1)

    assert answers[0].startswith("This button was already used")
    assert "raised to 20.5" in done.text
    assert len(bot.clore.calls_for("edit_gigaspot_orders")) == 1


async def test_an_ambiguous_cancel_is_reported_and_audited(bot: BotHarness) -> None:
    alert = await outbid_alert(bot, rival=20.0)
    bot.clore.fail("cancel_orders", "http", status=502)

    await bot.tap(ALICE, alert, "Cancel")
    asked = await bot.edited(ALICE, alert.message_id, edits=1)
    await bot.tap(ALICE, asked, "Yes, cancel")
    told = await bot.edited(ALICE, alert.message_id, edits=2)

    assert "may or may not have gone through" in told.text
    assert len(bot.clore.calls_for("cancel_orders")) == 1
    assert [(a.action, a.outcome) for a in await bot.audit()] == [("cancel", "ambiguous")]
