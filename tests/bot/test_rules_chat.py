"""Watch rules over chat: rejection, canonical answers, previews, /rules buttons and taps."""

from __future__ import annotations

import pytest

from tests.bot.conftest import ALICE, BOB, BotFactory, BotHarness
from tests.fakes.clore_server import make_server


@pytest.mark.parametrize(
    ("rule", "offending"),
    [
        ("gpu=4090 colour=red", "colour=red"),
        ("gpu>4090 price<30", "gpu>4090"),
        ('gpu="RTX 4090 price<30', 'gpu="RTX 4090 price<30'),
    ],
)
async def test_a_bad_rule_names_its_condition_and_saves_nothing(
    bot: BotHarness, rule: str, offending: str
) -> None:
    reply = await bot.ask(ALICE, f"/watch {rule}")

    assert offending in reply.text
    assert "saved" not in reply.text
    assert await bot.rules_of(ALICE) == []
    listing = await bot.ask(ALICE, "/rules")
    assert "no watch rules" in listing.text
    assert listing.buttons == []


async def test_watch_answers_canonical_form_and_current_matches_cheapest_first(
    bot: BotHarness,
) -> None:
    with bot.clore.lock:
        bot.clore.market.update({
            "11": make_server(min_bid=20.0),
            "12": make_server(min_bid=12.0),
            "13": make_server(min_bid=15.0),
            "14": make_server(min_bid=11.0, gpu_model="RTX 3090"),
            "15": make_server(min_bid=40.0),  # too dear for the rule
        })
    await bot.publish_and_cycle()

    reply = await bot.ask(ALICE, "/watch GPU=4090   price<30", expect="saved")

    assert "gpu=4090 price<30" in reply.text
    assert "3 machines match" in reply.text
    positions = [reply.text.index(f"#{sid}") for sid in ("12", "13", "11")]
    assert positions == sorted(positions)
    assert "#14" not in reply.text and "#15" not in reply.text
    assert [r.text for r in await bot.rules_of(ALICE)] == ["gpu=4090 price<30"]

    # What the answer listed is not announced again by the next cycle.
    mark = bot.telegram.mark()
    await bot.publish_and_cycle()
    assert bot.sent_texts(ALICE, since=mark) == []


async def test_market_previews_without_saving(bot: BotHarness) -> None:
    with bot.clore.lock:
        bot.clore.market["21"] = make_server(min_bid=9.5)
    await bot.publish_and_cycle()

    reply = await bot.ask(ALICE, "/market gpu=4090")

    assert "1 machine matches" in reply.text and "#21" in reply.text and "9.5" in reply.text
    assert await bot.rules_of(ALICE) == []


async def test_watch_alone_teaches_the_rule_language(bot: BotHarness) -> None:
    reply = await bot.ask(ALICE, "/watch")

    assert "Operators" in reply.text and "price&lt;30" not in reply.text
    assert 'gpu="RTX 4090"' in reply.text
    assert await bot.rules_of(ALICE) == []


async def test_rules_buttons_pause_then_delete_and_a_used_button_does_nothing(
    bot: BotHarness,
) -> None:
    await bot.ask(ALICE, "/watch gpu=4090", expect="saved")
    listing = await bot.ask(ALICE, "/rules")
    labels = [label for label, _ in listing.buttons]
    assert any("Pause" in label for label in labels)
    assert any("Delete" in label for label in labels)
    pause_data = listing.callback_data_for("Pause")

    await bot.tap(ALICE, listing, "Pause")
    paused = await bot.edited(ALICE, listing.message_id, edits=1)
    assert "paused" in paused.text
    assert [r.paused for r in await bot.rules_of(ALICE)] == [True]
    assert any("Resume" in label for label, _ in paused.buttons)

    again = await bot.tap_data(ALICE, listing.message_id, pause_data)
    assert "already used" in again
    assert len(bot.telegram.message(ALICE, listing.message_id).history) == 1

    await bot.tap(ALICE, paused, "Delete")
    deleted = await bot.edited(ALICE, listing.message_id, edits=2)
    assert "no watch rules" in deleted.text
    assert await bot.rules_of(ALICE) == []


async def test_forged_and_foreign_buttons_are_refused_without_action(bot: BotHarness) -> None:
    await bot.ask(ALICE, "/watch gpu=4090", expect="saved")
    listing = await bot.ask(ALICE, "/rules")
    alice_delete = listing.callback_data_for("Delete")
    bobs_message = await bot.ask(BOB, "/start")

    forged = await bot.tap_data(ALICE, listing.message_id, "a:AAAAAAAAAAAAAAAAAAAAAA")
    garbage = await bot.tap_data(ALICE, listing.message_id, "delete rule 1")
    foreign = await bot.tap_data(BOB, bobs_message.message_id, alice_delete)

    assert "not valid" in forged and "not valid" in garbage
    assert "not yours" in foreign
    assert [r.paused for r in await bot.rules_of(ALICE)] == [False]
    assert bot.telegram.requests("editMessageText") == []
    # The refused taps did not burn the owner's button, but time does.
    bot.clock.advance(3 * 24 * 3600)
    assert "expired" in await bot.tap_data(ALICE, listing.message_id, alice_delete)
    listing = await bot.ask(ALICE, "/rules")
    await bot.tap(ALICE, listing, "Delete")
    await bot.edited(ALICE, listing.message_id, edits=1)
    assert await bot.rules_of(ALICE) == []


async def test_allowed_ids_refuse_strangers(bot_factory: BotFactory) -> None:
    bot = await bot_factory(allowed_telegram_ids=frozenset({ALICE}))
    await bot.ask(ALICE, "/watch gpu=4090", expect="saved")
    alice_rules = await bot.ask(ALICE, "/rules")

    refused = await bot.ask(BOB, "/watch gpu=3090")
    tapped = await bot.tap_data(BOB, refused.message_id, alice_rules.callback_data_for("Delete"))

    assert "private" in refused.text and "private" in tapped
    assert await bot.user(BOB) is None
    assert len(await bot.rules_of(ALICE)) == 1
