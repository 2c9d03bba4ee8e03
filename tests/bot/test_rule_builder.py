"""/watch alone builds a rule with buttons from the live market; /gpus lists the models."""

from __future__ import annotations

from tests.bot.conftest import ALICE, BotFactory
from tests.bot.test_learnable_rules import market_bot
from tests.bot.test_match_alerts import set_server


async def test_gpus_lists_models_with_counts_and_cheapest_price(bot_factory: BotFactory) -> None:
    bot = await market_bot(bot_factory)  # RTX 4090 at 12 (DE), RTX 3090 at 8 (RU)
    set_server(bot, "12", gpu_model="RTX 4090", min_bid=20.0)
    await bot.publish_and_cycle()
    text = (await bot.ask(ALICE, "/gpus")).text
    assert "RTX 4090 · 2 rentable · from 12.00 CLORE/day" in text
    assert "RTX 3090 · 1 rentable · from 8.00 CLORE/day" in text
    assert text.index("RTX 4090") < text.index("RTX 3090")  # most rentable first


async def test_the_builder_ends_with_the_rule_and_saves_it(bot_factory: BotFactory) -> None:
    bot = await market_bot(bot_factory)
    asked = bot.telegram.user_message(ALICE, "/watch")
    step = await bot.telegram.await_bot_message(
        ALICE, after=asked, where=lambda m: "step 1" in m.text
    )
    assert [label for label, _ in step.buttons] == ["RTX 3090 (1)", "RTX 4090 (1)"]
    edits = 0
    for label in ["RTX 4090", "1 GPU or more", "≤ 15", "95%", "only DE"]:
        await bot.tap(ALICE, step, label)
        edits += 1
        step = await bot.edited(ALICE, step.message_id, edits)
    assert "gpu=" in step.text and "price&lt;=15" not in step.text  # the text, unescaped
    assert 'gpu="RTX 4090" price<=15 rel>=95 cc=DE' in step.text
    assert "/watch" in step.text

    await bot.tap(ALICE, step, "Save this rule")
    saved = await bot.edited(ALICE, step.message_id, edits + 1)
    assert "Rule 1 saved" in saved.text
    assert [r.text for r in await bot.rules_of(ALICE)] == ['gpu="RTX 4090" price<=15 rel>=95 cc=DE']
