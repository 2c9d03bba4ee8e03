"""Telegram down or flood-limiting for minutes: nothing is lost, nothing is hammered.

The service clock (`bot.clock.advance`) stands in for the minutes; each `bot.deliver()` is
one look at the outbox at that moment.
"""

from __future__ import annotations

import logging

import pytest

from tests.bot.conftest import ALICE, BotFactory, BotHarness
from tests.fakes.clore_server import make_server
from tests.fakes.telegram_server import Fault

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

USERS = [ALICE, *range(2001, 2010)]  # ten users, one alert each per new machine
FOREVER = 10**6


async def ten_watchers(bot_factory: BotFactory, **settings: object) -> BotHarness:
    bot = await bot_factory(**settings)
    new_machine(bot, "1", gpu_model="GTX 1660")  # never matches; keeps the market non-empty
    await bot.publish_and_cycle()
    for user in USERS:
        await bot.ask(user, "/watch gpu=4090", expect="saved")
    return bot


def new_machine(bot: BotHarness, server_id: str, gpu_model: str = "RTX 4090") -> None:
    with bot.clore.lock:
        bot.clore.market[server_id] = make_server(gpu_model=gpu_model, min_bid=10.0)


async def queue_alerts(bot: BotHarness, server_id: str) -> None:
    new_machine(bot, server_id)
    bot.clore.publish()
    report = await bot.cycle()
    assert report.match_alerts == len(USERS)


def sends(bot: BotHarness, since: int) -> list[tuple[int, int | None, str]]:
    return [(r.chat_id, r.status, str(r.params.get("text")))
            for r in bot.telegram.requests("sendMessage", since=since)]


async def live_through(bot: BotHarness, seconds: int, step: int) -> list[int]:
    """Look at the outbox every `step` seconds of service time; new requests per look."""
    per_look = []
    for _ in range(seconds // step):
        mark = bot.telegram.mark()
        await bot.deliver()
        per_look.append(len(bot.telegram.requests("sendMessage", since=mark)))
        bot.clock.advance(step)
    return per_look


async def test_a_long_bad_gateway_delays_alerts_and_loses_none(bot_factory: BotFactory) -> None:
    bot = await ten_watchers(bot_factory)
    bot.telegram.fail_next("sendMessage", Fault.server_error(502), times=FOREVER)
    mark = bot.telegram.mark()
    await queue_alerts(bot, "10")

    per_look = await live_through(bot, seconds=330, step=15)  # five and a half minutes
    assert max(per_look) == 1  # one probe at a time, never the whole queue
    assert sum(per_look) <= 12  # backoff doubles up to a minute: 1, 2, 4, ... 60 s
    assert {status for _, status, _ in sends(bot, mark)} == {502}
    assert all(r.sent_at is None and r.failed_at is None for r in await bot.outbox())

    bot.telegram.clear_faults()  # Telegram is back
    bot.clock.advance(60)
    await bot.deliver()
    delivered = [(chat, text) for chat, status, text in sends(bot, mark) if status == 200]
    assert sorted(chat for chat, _ in delivered) == sorted(USERS)  # each exactly once
    assert all("#10" in text for _, text in delivered)
    assert all(r.sent_at is not None for r in await bot.outbox())
    assert bot.running is not None and bot.running.sender.stats.given_up == 0


async def test_a_long_flood_wait_is_honoured_then_everything_arrives(
    bot_factory: BotFactory,
) -> None:
    bot = await ten_watchers(bot_factory)
    bot.telegram.fail_next("sendMessage", Fault.flood(retry_after=300), times=FOREVER)
    mark = bot.telegram.mark()
    await queue_alerts(bot, "10")
    await bot.deliver()
    assert len(sends(bot, mark)) == 1

    bot.clock.advance(290)
    assert await bot.deliver() == 0  # not before retry_after
    assert len(sends(bot, mark)) == 1
    bot.clock.advance(15)
    await bot.deliver()  # one probe, flooded again
    assert [status for _, status, _ in sends(bot, mark)] == [429, 429]

    bot.telegram.clear_faults()
    bot.clock.advance(300)
    await bot.deliver()
    delivered = sorted(chat for chat, status, _ in sends(bot, mark) if status == 200)
    assert delivered == sorted(USERS)


async def test_cut_connections_keep_each_chats_order(bot_factory: BotFactory) -> None:
    bot = await ten_watchers(bot_factory)
    bot.telegram.fail_next("sendMessage", Fault.dropped_connection(), times=FOREVER)
    mark = bot.telegram.mark()
    for server_id in ("20", "21", "22"):  # three cycles while Telegram cannot be reached
        await queue_alerts(bot, server_id)
        await bot.deliver()
        bot.clock.advance(30)
    assert all(status == 0 for _, status, _ in sends(bot, mark))

    bot.telegram.clear_faults()
    bot.clock.advance(60)
    await bot.deliver()
    for user in USERS:
        texts = [text for chat, status, text in sends(bot, mark) if chat == user and status == 200]
        assert [next(s for s in ("#20", "#21", "#22") if s in t) for t in texts] == [
            "#20", "#21", "#22"]


async def test_undelivered_for_the_give_up_time_is_logged_and_counted(
    bot_factory: BotFactory, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await ten_watchers(bot_factory, outbox_give_up_after_seconds=3600)
    bot.telegram.fail_next("sendMessage", Fault.server_error(503, "Service Unavailable"),
                           times=FOREVER)
    await queue_alerts(bot, "10")
    await live_through(bot, seconds=3540, step=60)
    assert all(r.failed_at is None for r in await bot.outbox())  # not yet

    caplog.set_level(logging.WARNING, logger="bot.sender")
    bot.clock.advance(120)
    await bot.deliver()
    rows = await bot.outbox()
    assert all(r.failed_at is not None and r.sent_at is None for r in rows)
    assert all("undelivered for" in (r.last_error or "") for r in rows)
    gave_up = [r.getMessage() for r in caplog.records if "gave up on" in r.getMessage()]
    assert len(gave_up) == 1 and "10 messages" in gave_up[0] and "10 match" in gave_up[0]
    assert bot.running is not None and bot.running.sender.stats.given_up == 10

    bot.telegram.clear_faults()
    mark = bot.telegram.mark()
    bot.clock.advance(60)
    assert await bot.deliver() == 0
    assert sends(bot, mark) == []


async def test_a_permanent_error_gives_up_at_once_and_others_still_arrive(
    bot_factory: BotFactory,
) -> None:
    bot = await ten_watchers(bot_factory)
    bot.telegram.fail_next("sendMessage", Fault.bad_request("Bad Request: can't parse"),
                           chat_id=ALICE, times=FOREVER)
    mark = bot.telegram.mark()
    await queue_alerts(bot, "10")
    await bot.deliver()
    bot.clock.advance(3600)
    assert await bot.deliver() == 0  # not retried

    results = sends(bot, mark)
    assert [status for chat, status, _ in results if chat == ALICE] == [400]
    assert sorted(chat for chat, status, _ in results if status == 200) == sorted(USERS[1:])
    failed = [r for r in await bot.outbox() if r.failed_at is not None]
    assert len(failed) == 1 and "can't parse" in (failed[0].last_error or "").lower()
