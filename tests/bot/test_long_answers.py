"""Answers longer than one Telegram message are split or paged, never lost."""

from __future__ import annotations

import re

from tests.bot.conftest import ALICE, ALICE_KEY, BotHarness
from tests.fakes.clore_server import make_server
from tests.fakes.telegram_server import MAX_TEXT_LENGTH, ChatMessage


def long_rule(number: int) -> str:
    """A rule of about 480 characters (the limit is 500) that matches nothing."""
    models = ",".join(f'"RTX {number:02d}{item:02d} Ti"' for item in range(34))
    return f"gpu={models} price<{number + 1}"


def rule_ids(message: ChatMessage) -> list[int]:
    return [int(n) for n in re.findall(r"^(\d+)\. ", message.text, flags=re.MULTILINE)]


def button_rules(message: ChatMessage) -> list[int]:
    return sorted({int(label.split()[-1]) for label, _ in message.buttons})


async def test_forty_nine_long_rules_are_paged_with_their_buttons(bot: BotHarness) -> None:
    for number in range(49):
        await bot.ask(ALICE, f"/watch {long_rule(number)}", expect="saved")
    saved = [rule.id for rule in await bot.rules_of(ALICE)]
    assert len(saved) == 49

    asked = bot.telegram.user_message(ALICE, "/rules")
    await bot.telegram.await_for(
        lambda fake: sum(len(rule_ids(m)) for m in fake.bot_messages(ALICE)
                         if m.message_id > asked) == 49,
        what="all 49 rules listed",
    )
    pages = [m for m in bot.telegram.bot_messages(ALICE) if m.message_id > asked]

    assert len(pages) > 1
    assert all(len(page.text) <= MAX_TEXT_LENGTH for page in pages)
    assert [rule for page in pages for rule in rule_ids(page)] == saved
    for page in pages:  # each page carries the buttons of the rules it lists
        assert button_rules(page) == rule_ids(page)
    assert "of 49" in pages[0].text

    # Deleting a rule from the second page keeps that page in its place.
    second = pages[1]
    first_there, doomed = rule_ids(second)[0], rule_ids(second)[1]
    await bot.tap(ALICE, second, f"Delete {doomed}")
    edited = await bot.edited(ALICE, second.message_id, edits=1)
    assert rule_ids(edited)[0] == first_there and doomed not in rule_ids(edited)
    assert button_rules(edited) == rule_ids(edited)
    assert doomed not in [rule.id for rule in await bot.rules_of(ALICE)]


async def test_a_preview_of_machines_with_huge_names_is_split(bot: BotHarness) -> None:
    with bot.clore.lock:
        for number in range(5):
            bot.clore.market[str(400 + number)] = make_server(
                min_bid=10.0 + number, gpus=8,
                gpu_model="RTX 4090 " + "&<Ω>" * 120 + str(number),
            )
    await bot.publish_and_cycle()

    asked = bot.telegram.user_message(ALICE, "/market gpu=4090")
    await bot.telegram.await_for(
        lambda fake: any("#404" in m.text for m in fake.bot_messages(ALICE)
                         if m.message_id > asked),
        what="the preview's last part",
    )
    parts = [m for m in bot.telegram.bot_messages(ALICE) if m.message_id > asked]
    assert len(parts) > 1 and all(len(part.text) <= MAX_TEXT_LENGTH for part in parts)
    text = "\n".join(part.text for part in parts)
    assert all(f"#{400 + number}" in text for number in range(5))


async def test_a_tap_result_on_a_full_alert_still_fits(bot: BotHarness) -> None:
    await bot.ask(ALICE, f"/link {ALICE_KEY}", expect="Linked")
    await bot.ask(ALICE, "/template image=ubuntu pl=min", expect="Template saved")
    await bot.ask(ALICE, "/watch gpu=4090", expect="saved")
    with bot.clore.lock:
        for number in range(10):  # an alert of ten machines with long names: cut to 4096
            bot.clore.market[str(500 + number)] = make_server(
                min_bid=10.0 + number, gpu_model="RTX 4090 " + "x" * 300 + str(number),
                cpu="EPYC " + "y" * 200,
            )
    await bot.publish_and_cycle()
    alert = next(m for m in bot.telegram.bot_messages(ALICE) if "new machines" in m.text)
    assert len(alert.text) > 3000  # nearly full (the HTML behind it is longer)

    await bot.tap(ALICE, alert, "Bid #500")
    edited = await bot.edited(ALICE, alert.message_id, edits=1)

    assert "Bid on #500" in edited.text and len(edited.text) <= MAX_TEXT_LENGTH
    assert len(bot.clore.calls_for("create_gigaspot_orders")) == 1
