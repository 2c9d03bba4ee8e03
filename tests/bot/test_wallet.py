"""/balance and the low-balance alert against the fake clore's wallets."""

from __future__ import annotations

from tests.bot.conftest import ALICE, ALICE_CLORE, ALICE_KEY, BotHarness
from tests.bot.test_order_life import put, texts_after_cycle

WALLETS = "wallets"


def set_balance(bot: BotHarness, balance: float) -> None:
    with bot.clore.lock:
        bot.clore.wallets[ALICE_CLORE] = [
            {"name": "CLORE-Blockchain", "deposit": "addr", "balance": balance,
             "withdrawal_fee": 0.0001},
            {"name": "bitcoin", "deposit": "addr2", "balance": 0.5, "withdrawal_fee": 0.0001},
        ]  # fmt: skip


async def watch_pass(bot: BotHarness) -> list[str]:
    """Ten minutes later, one pass of the wallet watch; the messages it sent."""
    bot.clock.advance(600)
    mark = bot.telegram.mark()
    assert bot.running is not None and bot.running.wallets is not None
    await bot.running.wallets.run_once()
    await bot.deliver()
    return bot.sent_texts(ALICE, since=mark)


async def leading_bid(bot: BotHarness) -> None:
    await bot.ask(ALICE, f"/link {ALICE_KEY}", expect="Linked")
    put(bot, mine=15.0, rival=12.0)  # Alice leads: 15.00 CLORE/day is being paid
    await texts_after_cycle(bot)


async def test_balance_shows_wallets_cost_and_how_long_it_lasts(bot: BotHarness) -> None:
    set_balance(bot, 30.0)
    await leading_bid(bot)
    answer = await bot.ask(ALICE, "/balance")
    assert "CLORE-Blockchain: 30" in answer.text
    assert "bitcoin" in answer.text
    assert "Your 1 leading bid costs 15.00 CLORE/day" in answer.text
    assert "lasts about 2 d 0 h" in answer.text
    again = await bot.ask(ALICE, "/balance")  # within 10 minutes: the same read
    assert "lasts about 2 d 0 h" in again.text
    assert len(bot.clore.calls_for(WALLETS, key=ALICE_KEY)) == 1


async def test_low_balance_alerts_once_per_crossing(bot: BotHarness) -> None:
    set_balance(bot, 100.0)  # 6.7 days at 15/day
    await leading_bid(bot)
    assert await watch_pass(bot) == []
    set_balance(bot, 10.0)  # 16 h < 24 h
    texts = await watch_pass(bot)
    assert len(texts) == 1 and "lasts only about 16 h" in texts[0]
    set_balance(bot, 9.0)
    assert await watch_pass(bot) == []  # still low: told already
    set_balance(bot, 100.0)
    assert await watch_pass(bot) == []  # above again: re-armed, nothing to say
    set_balance(bot, 5.0)
    texts = await watch_pass(bot)
    assert len(texts) == 1 and "lasts only about 8 h" in texts[0]  # a new crossing
    calls = bot.clore.calls_for(WALLETS, key=ALICE_KEY)
    assert len(calls) == 5  # one read per pass, ten minutes apart


async def test_threshold_setting_and_no_alert_within_ten_minutes(bot: BotHarness) -> None:
    set_balance(bot, 10.0)  # 16 h at 15/day
    await leading_bid(bot)
    answer = await bot.ask(ALICE, "/settings lowbalance 12h", expect="Settings")
    assert "lasts less than 12 h" in answer.text
    assert await watch_pass(bot) == []  # 16 h is above 12 h
    bad = await bot.ask(ALICE, "/settings lowbalance soon")
    assert "not a duration" in bad.text


async def test_a_failed_read_is_never_a_zero_balance(bot: BotHarness) -> None:
    set_balance(bot, 100.0)
    await leading_bid(bot)
    await watch_pass(bot)
    bot.clore.fail(WALLETS, "http", status=500, times=20)
    set_balance(bot, 0.0)  # not readable: must not alert as if it were zero
    assert await watch_pass(bot) == []
    answer = await bot.ask(ALICE, "/balance")
    assert "CLORE-Blockchain: 100" in answer.text and "last read failed" in answer.text


async def test_a_bid_that_starts_leading_can_make_the_balance_low_between_reads(
    bot: BotHarness,
) -> None:
    set_balance(bot, 10.0)
    await bot.ask(ALICE, f"/link {ALICE_KEY}", expect="Linked")
    put(bot, mine=10.0, rival=12.0)  # behind: nothing is being paid
    await texts_after_cycle(bot)
    assert await watch_pass(bot) == []
    put(bot, mine=15.0, rival=12.0)  # now it leads: 10 CLORE last 16 h at 15/day
    await texts_after_cycle(bot)
    mark = bot.telegram.mark()
    assert bot.running is not None and bot.running.wallets is not None
    assert await bot.running.wallets.run_once() == 0  # no read: the last one is recent
    await bot.deliver()
    texts = bot.sent_texts(ALICE, since=mark)
    assert len(texts) == 1 and "lasts only about 16 h" in texts[0]
    assert len(bot.clore.calls_for(WALLETS, key=ALICE_KEY)) == 1
