"""Outbid protection and the daily budget in the running bot."""

from __future__ import annotations

from tests.bot.conftest import ALICE, ALICE_CLORE, ALICE_KEY, BOB_CLORE, RIVAL, BotHarness
from tests.fakes.clore_server import make_bid, make_server

SERVER, ORDER, RIVAL_ORDER, OTHER_ORDER = "300", 9001, 9002, 9003


def set_bids(bot: BotHarness, mine: float, rival: float, other: float = 5.0) -> None:
    """Alice's order and two competitors (different owners) on one server."""
    with bot.clore.lock:
        bot.clore.market[SERVER] = make_server(
            min_bid=5.0,
            bids=[
                make_bid(ALICE_CLORE, ORDER, mine),
                make_bid(RIVAL, RIVAL_ORDER, rival),
                make_bid(BOB_CLORE, OTHER_ORDER, other),
            ],
        )


def competitors(bot: BotHarness, rival: float, other: float) -> None:
    """Move the competitors, keeping Alice's price as the fake market has it."""
    with bot.clore.lock:
        for bid in bot.clore.market[SERVER]["bids"]:
            if bid["id"] == RIVAL_ORDER:
                bid["price"] = rival
            elif bid["id"] == OTHER_ORDER:
                bid["price"] = other


def alice_price(bot: BotHarness) -> float:
    with bot.clore.lock:
        bids = bot.clore.market[SERVER]["bids"]
        return float(next(b["price"] for b in bids if b["id"] == ORDER))


async def texts_after_cycle(bot: BotHarness) -> list[str]:
    mark = bot.telegram.mark()
    await bot.publish_and_cycle()
    return bot.sent_texts(ALICE, since=mark)


def edits(bot: BotHarness) -> list[object]:
    return [c.body for c in bot.clore.calls_for("edit_gigaspot_orders", key=ALICE_KEY)]


async def protected(bot: BotHarness, cap: float, per_hour: int | None = None) -> None:
    await bot.ask(ALICE, f"/link {ALICE_KEY}", expect="Linked")
    set_bids(bot, mine=15.0, rival=12.0)
    assert not any("Outbid" in t for t in await texts_after_cycle(bot))
    extra = f" {per_hour}" if per_hour is not None else ""
    answer = await bot.ask(ALICE, f"/protect {ORDER} {cap:g}{extra}")
    assert "is protected" in answer.text, answer.text


async def test_competitors_raising_in_turn_stop_at_the_cap(bot: BotHarness) -> None:
    await protected(bot, cap=18.0, per_hour=10)

    expected: list[object] = []
    for rival, other in [(16.0, 5.0), (16.0, 17.0)]:  # each overtakes Alice in turn
        competitors(bot, rival, other)
        texts = await texts_after_cycle(bot)
        needed = max(rival, other) + 0.5
        expected.append([{"order_id": ORDER, "price": needed}])
        assert edits(bot) == expected
        assert texts == [f"🛡 Raised order {ORDER} on #{SERVER} to {needed:.2f} CLORE/day "
                         f"(rival at {max(rival, other):.2f} CLORE/day)"]
        assert alice_price(bot) == needed
        assert await texts_after_cycle(bot) == []  # Alice leads again: nothing more

    competitors(bot, 17.8, 17.0)  # leading needs 18.3, above the cap
    texts = await texts_after_cycle(bot)
    assert edits(bot) == expected
    assert len(texts) == 1 and "Outbid" in texts[0] and "above your cap of 18" in texts[0]
    alert = next(m for m in bot.telegram.bot_messages(ALICE) if "Outbid" in m.text)
    labels = [label for label, _ in alert.buttons]
    assert labels == ["Raise to 18.30", "Cancel", "🛡 Protect"]
    raises = [(a.outcome, a.price, a.automatic) for a in await bot.audit()]
    assert raises == [("ok", 17.5 - 1.0, True), ("ok", 17.5, True)]


async def test_a_failed_raise_is_reported_and_not_retried(bot: BotHarness) -> None:
    await protected(bot, cap=30.0)
    bot.clore.fail("edit_gigaspot_orders", "code", code=6, error="not_enough_balance")

    competitors(bot, 20.0, 5.0)
    texts = await texts_after_cycle(bot)
    assert len(edits(bot)) == 1
    assert len(texts) == 1 and "Outbid" in texts[0]
    assert "failed" in texts[0] and "balance is too low" in texts[0]

    for _ in range(2):  # same rival price: no second attempt and no second report
        assert await texts_after_cycle(bot) == []
        assert len(edits(bot)) == 1
    assert [(a.outcome, a.price) for a in await bot.audit()] == [("error", 20.5)]


async def test_an_ambiguous_raise_is_reported_and_not_retried(bot: BotHarness) -> None:
    await protected(bot, cap=30.0)
    bot.clore.fail("edit_gigaspot_orders", "drop", apply=True)

    competitors(bot, 20.0, 5.0)
    texts = await texts_after_cycle(bot)
    assert len(texts) == 1 and "was not confirmed" in texts[0]
    assert len(edits(bot)) == 1
    assert alice_price(bot) == 20.5  # it did go through

    assert await texts_after_cycle(bot) == []
    assert len(edits(bot)) == 1
    assert [(a.outcome, a.price) for a in await bot.audit()] == [("ambiguous", 20.5)]


async def test_protection_survives_a_restart(bot: BotHarness) -> None:
    await protected(bot, cap=30.0)
    await bot.restart()
    await bot.publish_and_cycle()  # the same market after the restart: nothing to do
    assert edits(bot) == []

    competitors(bot, 20.0, 5.0)
    texts = await texts_after_cycle(bot)
    assert edits(bot) == [[{"order_id": ORDER, "price": 20.5}]]
    assert texts == [
        f"🛡 Raised order {ORDER} on #{SERVER} to 20.50 CLORE/day (rival at 20.00 CLORE/day)"
    ]


async def test_unprotect_brings_back_the_outbid_alert(bot: BotHarness) -> None:
    await protected(bot, cap=30.0)
    assert "is off" in (await bot.ask(ALICE, f"/unprotect {ORDER}")).text

    competitors(bot, 20.0, 5.0)
    texts = await texts_after_cycle(bot)
    assert edits(bot) == []
    assert len(texts) == 1 and "Outbid" in texts[0] and "🛡" not in texts[0]


async def test_the_daily_budget_stops_raises(bot: BotHarness) -> None:
    await protected(bot, cap=40.0, per_hour=10)
    assert "2.00 CLORE/day" in (await bot.ask(ALICE, "/budget 2")).text

    competitors(bot, 16.0, 5.0)  # 15 -> 16.5 adds 1.5 of the 2
    await texts_after_cycle(bot)
    assert len(edits(bot)) == 1

    competitors(bot, 17.0, 5.0)  # 16.5 -> 17.5 would add 1 more
    texts = await texts_after_cycle(bot)
    assert len(edits(bot)) == 1
    assert len(texts) == 1 and "Outbid" in texts[0] and "budget has 0.50 left" in texts[0]
    assert "Used in the last 24 h: 1.50" in (await bot.ask(ALICE, "/budget")).text


async def test_protect_refuses_an_order_that_is_not_the_users(bot: BotHarness) -> None:
    await bot.ask(ALICE, f"/link {ALICE_KEY}", expect="Linked")
    set_bids(bot, mine=15.0, rival=12.0)
    await bot.publish_and_cycle()

    answer = await bot.ask(ALICE, f"/protect {RIVAL_ORDER} 30")
    assert "not one of your active bids" in answer.text
    assert "cap" in (await bot.ask(ALICE, f"/protect {ORDER} lots")).text


async def test_the_protect_button_answers_with_the_command(bot: BotHarness) -> None:
    await bot.ask(ALICE, f"/link {ALICE_KEY}", expect="Linked")
    set_bids(bot, mine=15.0, rival=20.0)
    await bot.publish_and_cycle()
    alert = next(m for m in bot.telegram.bot_messages(ALICE) if "Outbid" in m.text)

    await bot.tap(ALICE, alert, "Protect")
    edited = await bot.edited(ALICE, alert.message_id, 1)

    assert f"/protect {ORDER} 20.5" in edited.text
    assert [label for label, _ in edited.buttons] == ["Raise to 20.50", "Cancel"]
