"""Issue 5: /template, /history, the Bid button on match alerts and its confirmation."""

from __future__ import annotations

from tests.bot.conftest import ALICE, BotHarness


async def test_template_is_set_edited_and_shown(bot: BotHarness) -> None:
    empty = await bot.ask(ALICE, "/template")
    assert "no order template" in empty.text

    saved = await bot.ask(ALICE, "/template image=ubuntu pl=min env=TOKEN:s3cret")
    assert "Template saved" in saved.text and "Ubuntu" in saved.text
    assert "s3cret" not in saved.text  # env values may be secrets

    edited = await bot.ask(ALICE, "/template pl=250", expect="Template saved")
    assert "250 W per GPU" in edited.text and "Ubuntu" in edited.text  # the rest is kept

    shown = await bot.ask(ALICE, "/template")
    assert "250 W per GPU" in shown.text and "TOKEN" in shown.text


async def test_a_bad_template_is_refused_in_plain_words(bot: BotHarness) -> None:
    answer = await bot.ask(ALICE, "/template pl=min")  # no image and nothing to edit
    assert "image" in answer.text
    assert "no order template" in (await bot.ask(ALICE, "/template")).text


async def test_history_is_empty_at_first(bot: BotHarness) -> None:
    assert "No order actions" in (await bot.ask(ALICE, "/history")).text
