"""Settings that cannot work are refused or warned about when set, with what would work."""

from __future__ import annotations

from tests.bot.conftest import ALICE, ALICE_KEY, BotHarness
from tests.bot.test_bids import linked_and_leading
from tests.bot.test_match_alerts import set_server


async def test_a_template_that_fits_no_server_is_refused(bot: BotHarness) -> None:
    set_server(bot, "10", gpu_model="RTX 4090", pl=(100, 450))
    await bot.publish_and_cycle()
    await bot.ask(ALICE, f"/link {ALICE_KEY}", expect="Linked")
    answer = await bot.ask(ALICE, "/template image=ubuntu pl=9999")
    assert "fits no server" in answer.text and "pl=min" in answer.text
    assert "100 to 450 W" in answer.text
    assert "saved" in (await bot.ask(ALICE, "/template image=ubuntu pl=300")).text.lower()


async def test_a_protection_cap_below_the_price_is_refused(bot: BotHarness) -> None:
    await linked_and_leading(bot)  # order 9001 at 15
    answer = await bot.ask(ALICE, "/protect 9001 10")
    assert "below order 9001's price of 15" in answer.text
    assert "/protect 9001 16" in answer.text  # what would work
    assert "is protected" in (await bot.ask(ALICE, "/protect 9001 20")).text


async def test_a_budget_below_one_raise_step_is_warned_about(bot: BotHarness) -> None:
    answer = await bot.ask(ALICE, "/budget 0.2")
    assert "less than one raise step (0.50 CLORE/day)" in answer.text
    assert "less than one raise step" not in (await bot.ask(ALICE, "/budget 5")).text
