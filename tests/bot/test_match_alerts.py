"""Match alerts from poll cycles: grouping, limits, re-alert rules, pause and resume."""

from __future__ import annotations

from typing import Any

from tests.bot.conftest import ALICE, BOB, RIVAL, BotFactory, BotHarness
from tests.fakes.clore_server import make_bid, make_server

REALERT_AFTER = 600.0


async def alert_bot(bot_factory: BotFactory, **overrides: Any) -> BotHarness:
    bot = await bot_factory(
        max_matches_per_message=3,
        realert_after_seconds=REALERT_AFTER,
        realert_price_drop=0.2,
        **overrides,
    )
    # The fetcher refuses an empty market after a full one: keep a machine nobody watches.
    set_server(bot, "99", gpu_model="GTX 1660", min_bid=1.0)
    await bot.publish_and_cycle()
    await bot.ask(ALICE, "/watch gpu=4090", expect="saved")
    return bot


def set_server(bot: BotHarness, server_id: str, **fields: Any) -> None:
    with bot.clore.lock:
        bot.clore.market[server_id] = make_server(**fields)


def drop_server(bot: BotHarness, server_id: str) -> None:
    with bot.clore.lock:
        del bot.clore.market[server_id]


async def alerts_after(bot: BotHarness, user: int = ALICE) -> list[str]:
    """Publish the market, run one cycle, deliver: the texts the user received."""
    mark = bot.telegram.mark()
    await bot.publish_and_cycle()
    return bot.sent_texts(user, since=mark)


async def test_one_message_per_user_per_cycle_with_a_limit(bot_factory: BotFactory) -> None:
    bot = await alert_bot(bot_factory)
    await bot.ask(ALICE, "/watch gpu=4090 price<100", expect="saved")
    await bot.ask(BOB, "/watch gpu=3090", expect="saved")
    for n, price in enumerate([30.0, 14.0, 22.0, 11.0, 18.0]):
        set_server(bot, str(31 + n), min_bid=price)
    set_server(bot, "40", gpu_model="RTX 3090", min_bid=9.0)

    mark = bot.telegram.mark()
    await bot.publish_and_cycle()
    alice, bob = bot.sent_texts(ALICE, since=mark), bot.sent_texts(BOB, since=mark)

    assert len(alice) == 1
    text = alice[0]
    assert "5 new machines match" in text
    shown = [sid for sid in ("31", "32", "33", "34", "35") if f"#{sid}" in text]
    assert shown == ["32", "34", "35"]  # the three cheapest: 14, 11, 18
    assert "and 2 more" in text
    assert text.count("#34") == 1  # matched by both of Alice's rules, shown once
    assert len(bob) == 1 and "#40" in bob[0] and "#3" not in bob[0]


async def test_a_pair_that_comes_back_soon_is_not_announced_again(
    bot_factory: BotFactory,
) -> None:
    bot = await alert_bot(bot_factory)
    set_server(bot, "50", min_bid=20.0)
    assert len(await alerts_after(bot)) == 1

    set_server(bot, "50", min_bid=20.0, on_demand_rented=True)
    assert await alerts_after(bot) == []
    bot.clock.advance(REALERT_AFTER / 2)
    set_server(bot, "50", min_bid=20.0)
    assert await alerts_after(bot) == []

    drop_server(bot, "50")
    assert await alerts_after(bot) == []
    bot.clock.advance(REALERT_AFTER + 1)
    set_server(bot, "50", min_bid=20.0)
    again = await alerts_after(bot)
    assert len(again) == 1 and "#50" in again[0]


async def test_a_falling_price_to_win_is_announced_again(bot_factory: BotFactory) -> None:
    bot = await alert_bot(bot_factory)
    set_server(bot, "60", min_bid=10.0, bids=[make_bid(RIVAL, 600, 25.0)])
    first = await alerts_after(bot)
    assert len(first) == 1 and "25" in first[0]

    set_server(bot, "60", min_bid=10.0, bids=[make_bid(RIVAL, 600, 22.0)])  # -12%
    assert await alerts_after(bot) == []

    set_server(bot, "60", min_bid=10.0, bids=[make_bid(RIVAL, 600, 19.0)])  # -24%
    cheaper = await alerts_after(bot)
    assert len(cheaper) == 1 and "#60" in cheaper[0] and "19" in cheaper[0]


async def test_pause_mutes_and_resume_does_not_replay(bot_factory: BotFactory) -> None:
    bot = await alert_bot(bot_factory)
    assert "paused" in (await bot.ask(ALICE, "/pause")).text

    set_server(bot, "70", min_bid=15.0)
    assert await alerts_after(bot) == []

    assert "on" in (await bot.ask(ALICE, "/resume")).text
    assert await alerts_after(bot) == []

    set_server(bot, "71", min_bid=16.0)
    news = await alerts_after(bot)
    assert len(news) == 1 and "#71" in news[0] and "#70" not in news[0]
