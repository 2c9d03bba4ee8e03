"""A crash between a clore call and its record: what was spent still counts, nothing is
repeated blindly, and the user is told.

`crash_before_settling` makes the next money action die after its clore call (which the
fake applies) and before its outcome is written; `restart` then starts the bot again over
the same database, as after kill -9.
"""

from __future__ import annotations

import pytest

from tests.bot.conftest import ALICE, ALICE_CLORE, ALICE_KEY, RIVAL, BotFactory, BotHarness
from tests.bot.money_faults import SimulatedCrash, crash_before_settling, taps_handled
from tests.fakes.clore_server import make_bid, make_server

SERVER, ORDER, RIVAL_ORDER = "300", 9001, 9002


def set_bids(bot: BotHarness, mine: float, rival: float) -> None:
    with bot.clore.lock:
        bot.clore.market[SERVER] = make_server(min_bid=5.0, bids=[
            make_bid(ALICE_CLORE, ORDER, mine), make_bid(RIVAL, RIVAL_ORDER, rival)])


def move_rival(bot: BotHarness, rival: float) -> None:
    with bot.clore.lock:
        for bid in bot.clore.market[SERVER]["bids"]:
            if bid["id"] == RIVAL_ORDER:
                bid["price"] = rival


def alice_price(bot: BotHarness) -> float:
    with bot.clore.lock:
        return float(next(b["price"] for b in bot.clore.market[SERVER]["bids"]
                          if b["id"] == ORDER))


def edits(bot: BotHarness) -> list[object]:
    return [c.body for c in bot.clore.calls_for("edit_gigaspot_orders", key=ALICE_KEY)]


async def texts_after_cycle(bot: BotHarness) -> list[str]:
    mark = bot.telegram.mark()
    await bot.publish_and_cycle()
    return bot.sent_texts(ALICE, since=mark)


async def restarted(bot: BotHarness) -> list[str]:
    """Start again over the same database; the messages sent on the way up."""
    await bot.restart()
    mark = bot.telegram.mark()
    await bot.cycle()  # the snapshot in force before the crash, loaded again
    await bot.deliver()
    return bot.sent_texts(ALICE, since=mark)


async def protected(bot: BotHarness, mine: float, *, cap: float, per_hour: int) -> None:
    await bot.ask(ALICE, f"/link {ALICE_KEY}", expect="Linked")
    set_bids(bot, mine=mine, rival=mine - 5)
    await bot.publish_and_cycle()
    answer = await bot.ask(ALICE, f"/protect {ORDER} {cap:g} {per_hour}")
    assert "is protected" in answer.text, answer.text


async def crash_during_automatic_raise(bot: BotHarness,
                                       rival: float) -> list[str]:
    move_rival(bot, rival)
    bot.clore.publish()
    with crash_before_settling() as crashed, pytest.raises(SimulatedCrash):
        await bot.cycle()
    assert len(crashed) == 1
    return await restarted(bot)


async def test_the_daily_budget_counts_a_raise_cut_short_by_a_crash(
    bot: BotHarness
) -> None:
    await protected(bot, 60.0, cap=100.0, per_hour=10)
    assert "2.00 CLORE/day" in (await bot.ask(ALICE, "/budget 2")).text

    told = await crash_during_automatic_raise(bot, rival=61.0)  # 60 -> 61.5

    assert alice_price(bot) == 61.5  # clore applied it before the crash
    assert len(told) == 1 and "stopped while automatically raising order 9001" in told[0]
    assert "I will not repeat it" in told[0]
    assert "Used in the last 24 h: 1.50" in (await bot.ask(ALICE, "/budget")).text
    assert edits(bot) == [[{"order_id": ORDER, "price": 61.5}]]  # the same snapshot: no repeat

    move_rival(bot, 62.0)  # 61.5 -> 62.5 would add 1 more, with 0.5 left
    texts = await texts_after_cycle(bot)
    assert len(edits(bot)) == 1
    assert len(texts) == 1 and "Outbid" in texts[0] and "budget has 0.50 left" in texts[0]
    history = (await bot.ask(ALICE, "/history")).text
    assert "auto raise order 9001 on #300 60.00 → 61.50 CLORE/day: not confirmed" in history
    assert "interrupted by a restart" in history


async def test_the_hourly_limit_counts_a_raise_cut_short_by_a_crash(
    bot: BotHarness
) -> None:
    await protected(bot, 15.0, cap=40.0, per_hour=1)

    await crash_during_automatic_raise(bot, rival=20.0)
    assert edits(bot) == [[{"order_id": ORDER, "price": 20.5}]]

    move_rival(bot, 22.0)
    texts = await texts_after_cycle(bot)
    assert len(edits(bot)) == 1
    assert len(texts) == 1 and "hourly raise limit is reached" in texts[0]

    bot.clock.advance(3601)  # the interrupted raise leaves the window
    move_rival(bot, 23.0)
    await texts_after_cycle(bot)
    assert edits(bot)[-1] == [{"order_id": ORDER, "price": 23.5}]


async def test_a_raise_tap_cut_short_by_a_crash_is_not_repeated_by_another_button(
    bot: BotHarness
) -> None:
    await bot.ask(ALICE, f"/link {ALICE_KEY}", expect="Linked")
    set_bids(bot, mine=15.0, rival=12.0)
    await bot.publish_and_cycle()
    set_bids(bot, mine=15.0, rival=20.0)
    await bot.publish_and_cycle()
    alert = next(m for m in bot.telegram.bot_messages(ALICE) if "Outbid" in m.text)
    listed = await bot.ask(ALICE, "/bids", expect=f"order {ORDER}")

    with crash_before_settling() as crashed:
        bot.telegram.user_taps(ALICE, alert.message_id, alert.callback_data_for("Raise"))
        await taps_handled(bot)
    assert len(crashed) == 1 and alice_price(bot) == 20.5
    told = await restarted(bot)
    assert len(told) == 1 and "stopped while raising order 9001 on #300 to 20.5" in told[0]

    await bot.tap(ALICE, listed, "Raise")  # the same snapshot as before the crash
    answer = await bot.edited(ALICE, listed.message_id, 1)
    assert "is not confirmed by clore.ai yet" in answer.text
    assert "I will not send another" in answer.text
    assert len(edits(bot)) == 1

    await bot.publish_and_cycle()  # the next snapshot shows what happened
    again = await bot.ask(ALICE, "/bids", expect=f"order {ORDER}")
    assert "leading" in again.text and "20.5" in again.text


async def test_a_bid_cut_short_by_a_crash_is_still_recognised(
    bot_factory: BotFactory
) -> None:
    bot = await bot_factory(clore_price=None)
    await bot.cycle()
    await bot.ask(ALICE, f"/link {ALICE_KEY}", expect="Linked")
    await bot.ask(ALICE, "/template image=ubuntu pl=min", expect="Template saved")
    await bot.ask(ALICE, "/watch gpu=4090", expect="saved")
    with bot.clore.lock:
        bot.clore.market["200"] = make_server(min_bid=10.0, bids=[make_bid(RIVAL, 8001, 12.0)])
    await bot.publish_and_cycle()
    alert = next(m for m in bot.telegram.bot_messages(ALICE) if "new machine" in m.text)

    with crash_before_settling():
        bot.telegram.user_taps(ALICE, alert.message_id, alert.callback_data_for("Bid"))
        await taps_handled(bot)
    told = await restarted(bot)
    assert len(told) == 1 and "stopped while placing your bid on #200 at 12.50" in told[0]

    assert "already used" in await bot.tap(ALICE, alert, "Bid")  # it did act
    assert len(bot.clore.calls_for("create_gigaspot_orders", key=ALICE_KEY)) == 1

    texts = await texts_after_cycle(bot)
    assert any("Your order 700000 on #200 is in the market" in t for t in texts), texts
