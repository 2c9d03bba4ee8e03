"""An order's life in the running bot: expiry with Bid again, lead by power, won and lost.

Energy in the power cases: energy_price 0.1 USD/kWh at a CLORE price of 0.05 USD makes a
watt held for a day cost 0.048 CLORE, so energy(W) = 0.048 W CLORE/day.
"""

from __future__ import annotations

from tests.bot.conftest import ALICE, ALICE_CLORE, ALICE_KEY, RIVAL, BotFactory, BotHarness
from tests.fakes.clore_server import make_bid, make_server
from tests.fakes.telegram_server import ChatMessage

SERVER, ORDER, RIVAL_ORDER = "300", 9001, 9002
DAY = 86400


def put(bot: BotHarness, *, mine: float | None, rival: float | None, my_pl: int = 300,
        rival_pl: int = 300, max_rental_length: int = 10 * DAY) -> None:
    bids = []
    if mine is not None:
        bids.append(make_bid(ALICE_CLORE, ORDER, mine, pl=my_pl))
    if rival is not None:
        bids.append(make_bid(RIVAL, RIVAL_ORDER, rival, pl=rival_pl))
    with bot.clore.lock:
        bot.clore.market[SERVER] = make_server(
            min_bid=5.0, bids=bids, max_rental_length=max_rental_length
        )


async def texts_after_cycle(bot: BotHarness, *, publish: bool = True) -> list[str]:
    mark = bot.telegram.mark()
    if publish:
        await bot.publish_and_cycle()
    else:
        await bot.cycle()
        await bot.deliver()
    return bot.sent_texts(ALICE, since=mark)


async def power_button_again(bot: BotHarness) -> str:
    """A fresh Lead-by-power button for order 9001 at 204 W (as a second alert would have)."""
    from bot.services.bids import make_action
    from bot.services.buttons import callback_data

    user = await bot.user(ALICE)
    assert user is not None
    async with bot.ctx.sessions() as s, s.begin():
        action = await make_action(
            bot.ctx, s, user.id, "power_lead", order_id=ORDER, server_id=SERVER, pl=204
        )
    return callback_data(action)


def last_message(bot: BotHarness, contains: str) -> ChatMessage:
    return [m for m in bot.telegram.bot_messages(ALICE) if contains in m.text][-1]


# ------------------------------------------------------------------------------ expiry


async def test_an_order_near_its_end_offers_bid_again_and_a_tap_creates_one(
    bot: BotHarness,
) -> None:
    await bot.ask(ALICE, f"/link {ALICE_KEY}", expect="Linked")
    await bot.ask(ALICE, "/template image=ubuntu pl=min", expect="Template saved")
    put(bot, mine=15.0, rival=12.0, max_rental_length=DAY)  # ends a day after first seen
    assert await texts_after_cycle(bot) == []

    bot.clock.advance(11 * 3600)  # 13 h left: not yet
    assert await texts_after_cycle(bot) == []
    bot.clock.advance(2 * 3600)  # 11 h left: within the default 12 h
    texts = await texts_after_cycle(bot)
    assert len(texts) == 1 and "ends in about 11 h" in texts[0]
    assert "first saw it" in texts[0]  # inferred, said so
    assert await texts_after_cycle(bot) == []  # told once

    alert = last_message(bot, "ends in about")
    assert [label for label, _ in alert.buttons] == ["🔁 Bid again on #300"]
    await bot.tap(ALICE, alert, "Bid again")
    await bot.tap(ALICE, alert, "Bid again")  # a double tap: the button is used up
    edited = await bot.edited(ALICE, alert.message_id, 1)
    assert "Bid on #300 at 12.50 CLORE/day sent" in edited.text  # rival 12 + step, re-checked
    calls = bot.clore.calls_for("create_gigaspot_orders", key=ALICE_KEY)
    assert len(calls) == 1
    assert calls[0].body == [{"renting_server": 300, "price": 12.5, "image":
                              "a3f9c4d7e5b088d8a0bff880", "oc": [{"pl": 100}],
                              "currency": "CLORE-Blockchain"}]  # fmt: skip
    assert [(e.action, e.outcome, e.detail) for e in await bot.audit()] == [
        ("create", "ok", None)
    ]
    assert "create on #300 at 12.50 CLORE/day: done" in (await bot.ask(ALICE, "/history")).text


async def test_the_warning_setting_moves_the_warning(bot: BotHarness) -> None:
    await bot.ask(ALICE, f"/link {ALICE_KEY}", expect="Linked")
    put(bot, mine=15.0, rival=12.0, max_rental_length=DAY)
    await texts_after_cycle(bot)
    answer = await bot.ask(ALICE, "/settings expiry 2h", expect="Settings")
    assert "2 h" in answer.text
    bot.clock.advance(20 * 3600)  # 4 h left: the default would warn, 2 h does not
    assert await texts_after_cycle(bot) == []
    bot.clock.advance(2.5 * 3600)
    texts = await texts_after_cycle(bot)
    assert len(texts) == 1 and "Set an order /template" in texts[0]  # no template: no button


# ------------------------------------------------------------------------ lead by power


async def test_outbid_offers_lead_by_power_and_the_tap_makes_one_edit_with_oc(
    bot_factory: BotFactory,
) -> None:
    bot = await bot_factory(clore_price=0.05)
    await bot.cycle()
    await bot.ask(ALICE, f"/link {ALICE_KEY}", expect="Linked")
    put(bot, mine=25.0, rival=10.0, rival_pl=100)  # 25 - 14.4 = 10.6 beats 10 - 4.8 = 5.2
    assert await texts_after_cycle(bot) == []
    put(bot, mine=25.0, rival=20.0, rival_pl=100)  # rival: 20 - 4.8 = 15.2 > 10.6
    texts = await texts_after_cycle(bot)
    assert len(texts) == 1 and "Outbid" in texts[0]
    # 25 - 0.048 W > 15.2  <=>  W < 204.17: 204 W, 32% less than 300 W
    assert "asking 204 W instead of 300 W (32% less power)" in texts[0]
    assert "can slow your workload" in texts[0]
    alert = last_message(bot, "Outbid")
    assert "Lead at 25.00 by lowering power to 204 W" in [label for label, _ in alert.buttons]

    await bot.tap(ALICE, alert, "lowering power")
    edited = await bot.edited(ALICE, alert.message_id, 1)
    assert "now asks 204 W instead of 300 W" in edited.text
    # The same offer from another message (here: the button made again) sends nothing
    # while the snapshot in force predates the change.
    again = await bot.tap_data(ALICE, alert.message_id, await power_button_again(bot))
    assert "Working on it" in again
    repeated = await bot.edited(ALICE, alert.message_id, 2)
    assert "already lowered" in repeated.text
    edits = [c.body for c in bot.clore.calls_for("edit_gigaspot_orders", key=ALICE_KEY)]
    assert edits == [[{"order_id": ORDER, "price": 25.0, "oc": [{"pl": 204}]}]]
    audit = [(e.action, e.outcome, e.price) for e in await bot.audit()]
    assert audit == [("power", "ok", 25.0)]
    history = (await bot.ask(ALICE, "/history")).text
    assert "power order 9001 on #300 at 25.00 CLORE/day: done" in history
    # the next snapshot shows Alice in front again: no new outbid alert
    assert not any("Outbid" in t for t in await texts_after_cycle(bot))


async def test_lead_by_power_rechecks_at_the_tap(bot_factory: BotFactory) -> None:
    bot = await bot_factory(clore_price=0.05)
    await bot.cycle()
    await bot.ask(ALICE, f"/link {ALICE_KEY}", expect="Linked")
    put(bot, mine=25.0, rival=10.0, rival_pl=100)
    await texts_after_cycle(bot)
    put(bot, mine=25.0, rival=20.0, rival_pl=100)
    await texts_after_cycle(bot)
    alert = last_message(bot, "Outbid")
    put(bot, mine=25.0, rival=40.0, rival_pl=100)  # now no power limit leads at 25
    await texts_after_cycle(bot)

    await bot.tap(ALICE, alert, "lowering power")
    edited = await bot.edited(ALICE, alert.message_id, 1)
    assert "no longer puts order 9001 in front" in edited.text
    assert bot.clore.calls_for("edit_gigaspot_orders") == []
    assert any(label.startswith("Raise to") for label, _ in edited.buttons)


# ------------------------------------------------------------------------- won and lost


async def test_won_and_lost_are_told_once(bot: BotHarness) -> None:
    await bot.ask(ALICE, f"/link {ALICE_KEY}", expect="Linked")
    put(bot, mine=10.0, rival=12.0)  # first seen behind: the outbid alert
    assert any("Outbid" in t for t in await texts_after_cycle(bot))
    put(bot, mine=10.0, rival=None)  # the rival left: Alice's bid runs
    texts = await texts_after_cycle(bot)
    assert [t for t in texts if "is now the best bid" in t] == [texts[0]] and len(texts) == 1
    put(bot, mine=10.0, rival=12.0)
    await texts_after_cycle(bot)
    put(bot, mine=10.0, rival=None)
    assert await texts_after_cycle(bot) == []  # won once per order
    put(bot, mine=None, rival=None)  # the order left the market while running
    texts = await texts_after_cycle(bot)
    assert len(texts) == 1 and "has left the market" in texts[0]
    assert await texts_after_cycle(bot) == []


async def test_protection_with_power_leads_by_lowering_power_first(
    bot_factory: BotFactory,
) -> None:
    bot = await bot_factory(clore_price=0.05)
    await bot.cycle()
    await bot.ask(ALICE, f"/link {ALICE_KEY}", expect="Linked")
    put(bot, mine=25.0, rival=10.0, rival_pl=100)
    await texts_after_cycle(bot)
    answer = await bot.ask(ALICE, f"/protect {ORDER} 30 power")
    assert "is protected" in answer.text and "lower power limit" in answer.text

    put(bot, mine=25.0, rival=20.0, rival_pl=100)  # lowering to 204 W leads at 25
    texts = await texts_after_cycle(bot)
    assert len(texts) == 1 and "lowered its power limit from 300 W to 204 W" in texts[0]
    edits = [c.body for c in bot.clore.calls_for("edit_gigaspot_orders", key=ALICE_KEY)]
    assert edits == [[{"order_id": ORDER, "price": 25.0, "oc": [{"pl": 204}]}]]  # no raise
    audit = [(e.action, e.outcome, e.automatic, e.price) for e in await bot.audit()]
    assert audit == [("power", "ok", True, 25.0)]
    assert await texts_after_cycle(bot) == []  # the snapshot shows it leading: nothing more


async def test_the_end_comes_from_clore_creation_time_when_my_orders_gives_it(
    bot: BotHarness,
) -> None:
    await bot.ask(ALICE, f"/link {ALICE_KEY}", expect="Linked")
    put(bot, mine=15.0, rival=12.0, max_rental_length=DAY)
    assert await texts_after_cycle(bot) == []  # first seen now: it would end in 24 h
    with bot.clore.lock:  # clore created it 20 h ago: it ends in 4 h
        bot.clore.sim.my_orders(ALICE_CLORE)
        bot.clore.sim.orders[ORDER].ct = int(bot.clock().timestamp()) - 20 * 3600
    assert bot.running is not None and bot.running.wallets is not None
    await bot.running.wallets.run_once()  # reads wallets and my_orders
    assert len(bot.clore.calls_for("my_orders", key=ALICE_KEY)) == 1
    texts = await texts_after_cycle(bot)
    assert len(texts) == 1 and "ends in about 4 h" in texts[0]
    assert "from when clore.ai created it" in texts[0]


async def test_an_order_that_reached_its_end_offers_bid_again(bot: BotHarness) -> None:
    await bot.ask(ALICE, f"/link {ALICE_KEY}", expect="Linked")
    await bot.ask(ALICE, "/template image=ubuntu pl=min", expect="Template saved")
    put(bot, mine=10.0, rival=12.0, max_rental_length=20 * 3600)
    await texts_after_cycle(bot)
    put(bot, mine=10.0, rival=None, max_rental_length=20 * 3600)  # Alice's bid runs
    await texts_after_cycle(bot)
    # past its end (under a day: the outbox gives up messages a day old by this clock);
    # the warning would be too late, and the order leaves the market
    bot.clock.advance(20 * 3600)
    put(bot, mine=None, rival=12.0, max_rental_length=20 * 3600)
    texts = await texts_after_cycle(bot)
    assert len(texts) == 1 and "it reached its end" in texts[0]
    lost = last_message(bot, "reached its end")
    await bot.tap(ALICE, lost, "Bid again")
    edited = await bot.edited(ALICE, lost.message_id, 1)
    assert "Bid on #300 at 12.50 CLORE/day sent" in edited.text
    assert len(bot.clore.calls_for("create_gigaspot_orders", key=ALICE_KEY)) == 1


async def test_bid_again_after_an_ambiguous_failure_is_not_repeated(bot: BotHarness) -> None:
    await bot.ask(ALICE, f"/link {ALICE_KEY}", expect="Linked")
    await bot.ask(ALICE, "/template image=ubuntu pl=min", expect="Template saved")
    put(bot, mine=15.0, rival=12.0, max_rental_length=DAY)
    await texts_after_cycle(bot)
    bot.clock.advance(13 * 3600)
    await texts_after_cycle(bot)
    alert = last_message(bot, "ends in about")
    bot.clore.fail("create_gigaspot_orders", "drop", apply=True)  # placed, answer lost

    await bot.tap(ALICE, alert, "Bid again")
    edited = await bot.edited(ALICE, alert.message_id, 1)
    assert "did not confirm" in edited.text
    assert [(e.action, e.outcome) for e in await bot.audit()] == [("create", "ambiguous")]
    assert len(bot.clore.calls_for("create_gigaspot_orders", key=ALICE_KEY)) == 1
    assert edited.buttons == []  # nothing offers to send it again
