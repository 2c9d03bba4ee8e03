"""Stale market data is announced once, and its recovery once, to users with rules."""

from __future__ import annotations

import time

from tests.bot.conftest import ALICE, BOB, BotFactory


async def test_stale_and_recovered_are_each_announced_once(bot_factory: BotFactory) -> None:
    bot = await bot_factory(stale_after_seconds=60)
    await bot.cycle()
    await bot.ask(ALICE, "/watch gpu=4090", expect="saved")
    await bot.ask(BOB, "/start")  # no rule, no key: not told
    mark = bot.telegram.mark()

    bot.clore.publish(timestamp=int(time.time()) - 3600)
    report = await bot.cycle()
    await bot.deliver()
    assert report.status_messages == 1
    assert [t for t in bot.sent_texts(ALICE, since=mark) if "stale" in t] != []

    await bot.cycle()  # the same old snapshot again
    await bot.deliver()
    stale = bot.sent_texts(ALICE, since=mark)
    assert len(stale) == 1 and "stale" in stale[0]

    mark = bot.telegram.mark()
    bot.clore.publish()
    await bot.cycle()
    await bot.deliver()
    await bot.cycle()
    await bot.deliver()
    recovered = bot.sent_texts(ALICE, since=mark)
    assert len(recovered) == 1 and "fresh again" in recovered[0]
    assert len(bot.sent_texts(BOB)) == 1  # only the answer to /start
