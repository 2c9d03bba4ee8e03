"""Rules users can learn: numbers per user, /edit, duplicates, suggestions, guesses."""

from __future__ import annotations

from tests.bot.conftest import ALICE, BOB, BotFactory, BotHarness
from tests.bot.test_match_alerts import set_server


async def market_bot(bot_factory: BotFactory) -> BotHarness:
    bot = await bot_factory()
    set_server(bot, "10", gpu_model="RTX 4090", min_bid=12.0, cc="DE")
    set_server(bot, "11", gpu_model="RTX 3090", min_bid=8.0, cc="RU")
    await bot.publish_and_cycle()
    return bot


async def test_rule_numbers_are_per_user(bot_factory: BotFactory) -> None:
    bot = await market_bot(bot_factory)
    assert "Rule 1 saved" in (await bot.ask(ALICE, "/watch gpu=4090")).text
    assert "Rule 2 saved" in (await bot.ask(ALICE, "/watch gpu=3090")).text
    assert "Rule 1 saved" in (await bot.ask(BOB, "/watch gpu=3090 price<20")).text
    assert "Rule 2 saved" in (await bot.ask(BOB, "/watch cc=DE")).text
    listing = await bot.ask(BOB, "/rules")
    assert "Pause 1" in " ".join(label for label, _ in listing.buttons)

    assert "Rule 1 deleted" in (await bot.ask(BOB, "/unwatch 1")).text
    assert [r.text for r in await bot.rules_of(ALICE)] == ["gpu=4090", "gpu=3090"]
    assert "Rule 3 saved" in (await bot.ask(BOB, "/watch gpu=4090 price<50")).text


async def test_a_duplicate_rule_is_refused_with_its_number(bot_factory: BotFactory) -> None:
    bot = await market_bot(bot_factory)
    await bot.ask(ALICE, "/watch gpu=4090 price<30", expect="saved")
    answer = await bot.ask(ALICE, "/watch  price<30   GPU=4090")
    assert "already have this rule: rule 1" in answer.text
    assert len(await bot.rules_of(ALICE)) == 1


async def test_edit_changes_a_rule_in_place(bot_factory: BotFactory) -> None:
    bot = await market_bot(bot_factory)
    await bot.ask(ALICE, "/watch gpu=4090", expect="saved")
    answer = await bot.ask(ALICE, "/edit 1 gpu=3090 price<10")
    assert "Rule 1 changed" in answer.text and "#11" in answer.text
    assert [r.text for r in await bot.rules_of(ALICE)] == ["gpu=3090 price<10"]
    assert "no rule 7" in (await bot.ask(ALICE, "/edit 7 gpu=4090")).text


async def test_a_model_nobody_has_gets_a_suggestion(bot_factory: BotFactory) -> None:
    bot = await market_bot(bot_factory)
    answer = await bot.ask(ALICE, "/watch gpu=RTX4090 cc=Germany")
    assert "saved" in answer.text  # saved, with a warning
    assert "No machine in the market has" in answer.text
    assert 'gpu="RTX 4090"' in answer.text and "cc=DE" in answer.text


async def test_an_unknown_key_suggests_the_nearest(bot: BotHarness) -> None:
    answer = await bot.ask(ALICE, "/watch pric<30")
    assert "Did you mean price?" in answer.text
    assert "keys:" not in answer.text  # not the list of all 18 keys


async def test_free_text_gets_a_guessed_rule(bot: BotHarness) -> None:
    answer = await bot.ask(ALICE, "/watch 4090 under 30")
    assert "Did you mean: gpu=4090 price&lt;30" in answer.text or (
        "Did you mean: gpu=4090 price<30" in answer.text
    )
    assert await bot.rules_of(ALICE) == []


async def test_russian_user_gets_suggestions_in_russian(bot_factory: BotFactory) -> None:
    bot = await market_bot(bot_factory)
    asked = bot.telegram.user_message(ALICE, "/watch gpu=RTX4090", language_code="ru")
    answer = await bot.telegram.await_bot_message(ALICE, after=asked)
    assert "Ни одна машина" in answer.text and 'gpu="RTX 4090"' in answer.text


async def test_market_with_no_match_says_what_exists(bot_factory: BotFactory) -> None:
    bot = await market_bot(bot_factory)
    answer = await bot.ask(ALICE, "/market gpu=RTX4090")
    assert "No machine matches right now" in answer.text
    assert 'gpu="RTX 4090"' in answer.text
