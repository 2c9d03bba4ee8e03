"""The user's language: from Telegram on first contact, changed with /lang."""

from __future__ import annotations

from tests.bot.conftest import ALICE, BOB, BotHarness
from tests.fakes.clore_server import make_server


async def test_first_contact_takes_the_telegram_language_and_lang_changes_it(
    bot: BotHarness,
) -> None:
    asked = bot.telegram.user_message(ALICE, "/start", language_code="ru-RU")
    await bot.telegram.await_bot_message(ALICE, after=asked)
    bob = bot.telegram.user_message(BOB, "/start", language_code="de")
    await bot.telegram.await_bot_message(BOB, after=bob)
    alice_row, bob_row = await bot.user(ALICE), await bot.user(BOB)
    assert alice_row is not None and alice_row.language == "ru"
    assert bob_row is not None and bob_row.language == "en"

    # A later message from an app set to another language keeps the choice.
    picker = await bot.ask(ALICE, "/lang")
    assert [label for label, _ in picker.buttons] == ["English", "✅ Русский"]
    await bot.tap(ALICE, picker, "English")
    edited = await bot.edited(ALICE, picker.message_id, 1)
    assert "✅ English" in [label for label, _ in edited.buttons]
    assert edited.text.startswith("Choose the language")
    alice_row = await bot.user(ALICE)
    assert alice_row is not None and alice_row.language == "en"


async def test_command_menus_are_registered_in_english_and_russian(bot: BotHarness) -> None:
    default = {c["command"]: c["description"] for c in bot.telegram.commands()}
    russian = {c["command"]: c["description"] for c in bot.telegram.commands(language_code="ru")}
    assert set(default) == set(russian)
    assert "lang" in default
    assert default["watch"] == "alert me when machines match a rule"
    assert russian["watch"] != default["watch"]


async def test_a_russian_user_hears_russian_answers_and_alerts(bot: BotHarness) -> None:
    with bot.clore.lock:
        bot.clore.market["99"] = make_server(gpu_model="GTX 1660", min_bid=1.0)
    await bot.publish_and_cycle()
    asked = bot.telegram.user_message(ALICE, "/start", language_code="ru")
    help_text = await bot.telegram.await_bot_message(ALICE, after=asked)
    assert "следит за рынком" in help_text.text
    saved = bot.telegram.user_message(ALICE, "/watch gpu=4090", language_code="ru")
    answer = await bot.telegram.await_bot_message(ALICE, after=saved)
    assert "Правило 1 сохранено" in answer.text
    bad = bot.telegram.user_message(ALICE, "/unwatch 7", language_code="ru")
    assert "У вас нет правила 7" in (await bot.telegram.await_bot_message(ALICE, after=bad)).text

    for n, price in enumerate([30.0, 14.0, 22.0, 11.0, 18.0]):
        with bot.clore.lock:
            bot.clore.market[str(31 + n)] = make_server(min_bid=price)
    mark = bot.telegram.mark()
    await bot.publish_and_cycle()
    [alert] = bot.sent_texts(ALICE, since=mark)
    assert "Вашим правилам подходят <b>5 новых машин</b>" in alert
    assert "CLORE/день" in alert
