"""A first run that teaches: /start in three steps with buttons, /help in groups, /bids in
one message."""

from __future__ import annotations

from tests.bot.conftest import ALICE, ALICE_CLORE, ALICE_KEY, RIVAL, BotFactory, BotHarness
from tests.bot.test_learnable_rules import market_bot
from tests.fakes.clore_server import make_bid, make_server


def labels(message: object) -> list[str]:
    return [label for label, _ in message.buttons]  # type: ignore[attr-defined]


async def test_start_gives_three_steps_with_buttons(bot_factory: BotFactory) -> None:
    bot = await market_bot(bot_factory)
    welcome = await bot.ask(ALICE, "/start")
    assert labels(welcome) == ["🧭 1. Add a rule", "🔑 2. Link my key", "🔎 3. See the market"]
    assert "/watch" not in welcome.text.split("/help")[0]  # not the command list

    await bot.tap(ALICE, welcome, "See the market")
    shown = await bot.edited(ALICE, welcome.message_id, 1)
    assert "RTX 4090 · 1 rentable" in shown.text
    assert labels(shown) == ["🧭 1. Add a rule", "🔑 2. Link my key"]

    await bot.tap(ALICE, shown, "Add a rule")
    builder = await bot.edited(ALICE, welcome.message_id, 2)
    assert "step 1 of 5" in builder.text


async def test_help_groups_the_commands(bot: BotHarness) -> None:
    text = (await bot.ask(ALICE, "/help")).text
    for group in ("Rules", "Alerts", "Bids"):
        assert group in text
    assert text.index("/watch") < text.index("/pause") < text.index("/link")


async def test_bids_is_one_message_with_a_row_per_bid(bot: BotHarness) -> None:
    await bot.ask(ALICE, f"/link {ALICE_KEY}", expect="Linked")
    with bot.clore.lock:
        bot.clore.market["300"] = make_server(
            min_bid=5.0, bids=[make_bid(ALICE_CLORE, 9001, 15.0), make_bid(RIVAL, 9002, 12.0)])
        bot.clore.market["301"] = make_server(
            min_bid=5.0, bids=[make_bid(ALICE_CLORE, 9003, 10.0), make_bid(RIVAL, 9004, 20.0)])
    await bot.publish_and_cycle()

    mark = bot.telegram.mark()
    listing = await bot.ask(ALICE, "/bids")
    assert len(bot.sent_texts(ALICE, since=mark)) == 1
    assert "1. " in listing.text and "2. " in listing.text
    assert "1 bid in front costs 15.00 CLORE/day in all" in listing.text
    assert labels(listing) == ["1: Cancel", "1: 🛡 Protect",
                               "2: Raise to 20.50", "2: Cancel", "2: 🛡 Protect"]

    await bot.tap(ALICE, listing, "2: Raise")
    done = await bot.edited(ALICE, listing.message_id, 1)
    assert "raised to 20.5" in done.text
    # The first bid's buttons stay; the raised bid now leads: Cancel and Protect.
    assert labels(done) == ["1: Cancel", "1: 🛡 Protect", "Cancel", "🛡 Protect"]
