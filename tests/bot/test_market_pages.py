"""/market pages with Next / Previous; Bid buttons on /market and /watch previews."""

from __future__ import annotations

from tests.bot.conftest import ALICE, ALICE_KEY, BotHarness
from tests.bot.test_match_alerts import set_server


def labels(message: object) -> list[str]:
    return [label for label, _ in message.buttons]  # type: ignore[attr-defined]


async def seven_machines(bot: BotHarness) -> None:
    for n in range(7):
        set_server(bot, str(40 + n), gpu_model="RTX 4090", min_bid=10.0 + n)
    await bot.publish_and_cycle()


async def test_market_pages_with_next_and_previous(bot: BotHarness) -> None:
    await seven_machines(bot)
    first = await bot.ask(ALICE, "/market gpu=4090")
    assert "7" in first.text and "#40" in first.text and "#44" in first.text
    assert "#45" not in first.text
    assert labels(first) == ["Next ▶"]

    await bot.tap(ALICE, first, "Next")
    second = await bot.edited(ALICE, first.message_id, 1)
    assert "#45" in second.text and "#46" in second.text and "#40" not in second.text
    assert "6–7 of 7" in second.text
    assert labels(second) == ["◀ Previous"]

    await bot.tap(ALICE, second, "Previous")
    again = await bot.edited(ALICE, first.message_id, 2)
    assert "#40" in again.text and labels(again) == ["Next ▶"]


async def test_bid_buttons_on_market_and_watch_previews(bot: BotHarness) -> None:
    await seven_machines(bot)
    assert labels(await bot.ask(ALICE, "/market gpu=4090")) == ["Next ▶"]  # cannot bid yet
    await bot.ask(ALICE, f"/link {ALICE_KEY}", expect="Linked")
    await bot.ask(ALICE, "/template image=ubuntu pl=min", expect="Template saved")

    page = await bot.ask(ALICE, "/market gpu=4090 price<12")
    assert [label.split(" at ")[0] for label in labels(page)] == ["Bid #40", "Bid #41"]

    saved = await bot.ask(ALICE, "/watch gpu=4090", expect="saved")
    assert [label.split(" at ")[0] for label in labels(saved)][:5] == [
        "Bid #40", "Bid #41", "Bid #42", "Bid #43", "Bid #44"]
    assert labels(saved)[-1] == "Next ▶"
