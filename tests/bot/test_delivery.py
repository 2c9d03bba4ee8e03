"""Getting alerts out: Telegram flood control, blocked users, the outbox across restarts."""

from __future__ import annotations

import pytest

from tests.bot.conftest import ALICE, BotFactory, BotHarness
from tests.fakes.clore_server import make_server
from tests.fakes.telegram_server import Fault

# PTB warns about RetryAfter.retry_after's future type when it builds the error.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


async def watching(bot_factory: BotFactory) -> BotHarness:
    bot = await bot_factory()
    new_machine(bot, "1", gpu_model="GTX 1660")  # never matches; keeps the market non-empty
    await bot.publish_and_cycle()
    await bot.ask(ALICE, "/watch gpu=4090", expect="saved")
    return bot


def new_machine(bot: BotHarness, server_id: str, gpu_model: str = "RTX 4090") -> None:
    with bot.clore.lock:
        bot.clore.market[server_id] = make_server(gpu_model=gpu_model, min_bid=10.0)


def send_attempts(bot: BotHarness, since: int, text: str) -> list[int | None]:
    """HTTP statuses of the sendMessage calls to Alice, since `since`, carrying `text`."""
    return [r.status for r in bot.telegram.requests("sendMessage", chat_id=ALICE, since=since)
            if text in str(r.params.get("text"))]


async def test_flood_control_delays_an_alert_without_losing_or_repeating_it(
    bot_factory: BotFactory,
) -> None:
    bot = await watching(bot_factory)
    mark = bot.telegram.mark()
    bot.telegram.fail_next("sendMessage", Fault.flood(retry_after=1), chat_id=ALICE)
    new_machine(bot, "10")
    await bot.publish_and_cycle()
    assert send_attempts(bot, mark, "#10") == [429, 200]

    # A flood wait too long to sleep through: the row waits in the outbox, and nothing is
    # sent before Telegram's retry_after has passed.
    mark = bot.telegram.mark()
    bot.telegram.fail_next("sendMessage", Fault.flood(retry_after=3600), chat_id=ALICE)
    new_machine(bot, "11")
    await bot.publish_and_cycle()
    assert send_attempts(bot, mark, "#11") == [429]
    bot.clock.advance(120)
    assert await bot.deliver() == 0
    bot.clock.advance(3600)
    assert await bot.deliver() == 1
    assert await bot.deliver() == 0
    assert send_attempts(bot, mark, "#11") == [429, 200]
    assert all(row.sent_at is not None for row in await bot.outbox())


async def test_a_blocked_user_is_marked_inactive_and_start_reactivates(
    bot_factory: BotFactory,
) -> None:
    bot = await watching(bot_factory)
    bot.telegram.block_bot(ALICE)
    new_machine(bot, "20")
    await bot.publish_and_cycle()
    user = await bot.user(ALICE)
    assert user is not None and not user.active
    assert [row.failed_at is not None for row in await bot.outbox()] == [True]

    mark = bot.telegram.mark()
    new_machine(bot, "21")
    await bot.publish_and_cycle()
    assert bot.telegram.requests("sendMessage", chat_id=ALICE, since=mark) == []

    bot.telegram.block_bot(ALICE, blocked=False)
    await bot.ask(ALICE, "/start")
    user = await bot.user(ALICE)
    assert user is not None and user.active
    mark = bot.telegram.mark()
    new_machine(bot, "22")
    await bot.publish_and_cycle()
    texts = bot.sent_texts(ALICE, since=mark)
    assert len(texts) == 1 and "#22" in texts[0]


async def test_a_queued_alert_survives_a_restart(bot_factory: BotFactory) -> None:
    bot = await watching(bot_factory)
    mark = bot.telegram.mark()
    new_machine(bot, "30")
    bot.clore.publish()
    report = await bot.cycle()  # queued, not delivered
    assert report.match_alerts == 1

    await bot.restart()
    assert bot.telegram.requests("sendMessage", chat_id=ALICE, since=mark) == []
    assert await bot.deliver() == 1
    await bot.restart()
    await bot.cycle()
    assert await bot.deliver() == 0
    assert send_attempts(bot, mark, "#30") == [200]


async def test_a_user_blocked_across_a_restart_gets_alerts_again_after_start(
    bot_factory: BotFactory,
) -> None:
    bot = await watching(bot_factory)
    bot.telegram.block_bot(ALICE)
    new_machine(bot, "40")
    await bot.publish_and_cycle()
    await bot.restart()
    await bot.cycle()

    bot.telegram.block_bot(ALICE, blocked=False)
    await bot.ask(ALICE, "/start")
    mark = bot.telegram.mark()
    new_machine(bot, "41")
    await bot.publish_and_cycle()
    texts = bot.sent_texts(ALICE, since=mark)
    assert len(texts) == 1 and "#41" in texts[0]
