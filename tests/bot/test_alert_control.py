"""Alert control: /pause pauses match alerts only, quiet hours hold match alerts for one
digest and make other alerts silent, modes per kind in /settings, the mute-rule button."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.bot.conftest import ALICE, BotFactory, BotHarness
from tests.bot.test_bids import linked_and_leading, set_bids
from tests.bot.test_match_alerts import alert_bot, alerts_after, drop_server, set_server


def sent_requests(bot: BotHarness, since: int) -> list[dict[str, object]]:
    return [r.params for r in bot.telegram.requests("sendMessage", chat_id=ALICE, since=since)
            if r.status == 200]


async def test_pause_keeps_outbid_alerts_and_says_so(bot: BotHarness) -> None:
    await linked_and_leading(bot)
    answer = await bot.ask(ALICE, "/pause", expect="paused")
    assert "until /resume" in answer.text
    assert "outbid alerts" in answer.text.lower()  # what still comes through

    set_bids(bot, mine=15.0, rival=20.0)
    mark = bot.telegram.mark()
    await bot.publish_and_cycle()
    sent = sent_requests(bot, mark)
    assert any("Outbid" in str(p["text"]) for p in sent)
    assert not any(p.get("disable_notification") for p in sent)


async def test_a_timed_pause_ends_by_itself(bot_factory: BotFactory) -> None:
    bot = await alert_bot(bot_factory)
    answer = await bot.ask(ALICE, "/pause 2h", expect="paused")
    assert "until" in answer.text and "/resume" not in answer.text.split("\n")[0]

    set_server(bot, "50", min_bid=20.0)
    assert await alerts_after(bot) == []  # paused: not news while it goes on matching

    bot.clock.advance(2 * 3600 + 60)
    set_server(bot, "51", min_bid=21.0)
    texts = await alerts_after(bot)
    assert len(texts) == 1 and "#51" in texts[0] and "#50" not in texts[0]


async def test_bad_pause_duration_is_explained(bot: BotHarness) -> None:
    answer = await bot.ask(ALICE, "/pause soon")
    assert "30m, 2h, 1d" in answer.text


def quiet_window_around_now(bot: BotHarness) -> str:
    """Quiet hours from an hour ago to an hour from now (UTC, the default zone)."""
    now = bot.clock()
    start, end = now - timedelta(hours=1), now + timedelta(hours=1)
    return f"{start:%H:%M}-{end:%H:%M}"


async def test_quiet_hours_hold_match_alerts_for_one_digest(bot_factory: BotFactory) -> None:
    bot = await alert_bot(bot_factory)
    answer = await bot.ask(ALICE, f"/quiet {quiet_window_around_now(bot)}", expect="Quiet")
    assert "digest" in answer.text

    set_server(bot, "50", min_bid=20.0)
    assert await alerts_after(bot) == []
    set_server(bot, "51", min_bid=12.0)
    set_server(bot, "52", min_bid=14.0)
    assert await alerts_after(bot) == []
    drop_server(bot, "52")  # stopped matching during the quiet hours: left out
    assert await alerts_after(bot) == []

    bot.clock.advance(2 * 3600)  # the quiet hours are over
    texts = await alerts_after(bot)
    assert len(texts) == 1
    digest = texts[0]
    assert "quiet hours" in digest and "#50" in digest and "#51" in digest
    assert "#52" not in digest
    assert await alerts_after(bot) == []  # sent once


async def test_outbid_alerts_come_silently_in_quiet_hours(bot: BotHarness) -> None:
    await linked_and_leading(bot)
    await bot.ask(ALICE, f"/quiet {quiet_window_around_now(bot)}", expect="Quiet")
    set_bids(bot, mine=15.0, rival=20.0)
    mark = bot.telegram.mark()
    await bot.publish_and_cycle()
    outbid = [p for p in sent_requests(bot, mark) if "Outbid" in str(p["text"])]
    assert len(outbid) == 1 and outbid[0].get("disable_notification") is True


async def test_settings_buttons_switch_a_kind_silent_then_off(bot_factory: BotFactory) -> None:
    bot = await alert_bot(bot_factory)
    settings = await bot.ask(ALICE, "/settings", expect="Alerts")
    assert "Match alerts: on" in settings.text
    await bot.tap(ALICE, settings, "Match alerts")
    settings = await bot.edited(ALICE, settings.message_id, 1)
    assert "Match alerts: silent" in settings.text

    set_server(bot, "50", min_bid=20.0)
    mark = bot.telegram.mark()
    await bot.publish_and_cycle()
    sent = sent_requests(bot, mark)
    assert len(sent) == 1 and sent[0].get("disable_notification") is True

    await bot.tap(ALICE, settings, "Match alerts")
    settings = await bot.edited(ALICE, settings.message_id, 2)
    assert "Match alerts: off" in settings.text
    set_server(bot, "51", min_bid=20.0)
    assert await alerts_after(bot) == []


async def test_outbid_alerts_off_in_settings(bot: BotHarness) -> None:
    await linked_and_leading(bot)
    settings = await bot.ask(ALICE, "/settings", expect="Alerts")
    await bot.tap(ALICE, settings, "Outbid alerts")
    settings = await bot.edited(ALICE, settings.message_id, 1)
    await bot.tap(ALICE, settings, "Outbid alerts")
    settings = await bot.edited(ALICE, settings.message_id, 2)
    assert "Outbid alerts: off" in settings.text
    set_bids(bot, mine=15.0, rival=20.0)
    mark = bot.telegram.mark()
    await bot.publish_and_cycle()
    assert not any("Outbid" in str(p["text"]) for p in sent_requests(bot, mark))


async def test_the_mute_button_pauses_the_rule_that_fired(bot_factory: BotFactory) -> None:
    bot = await alert_bot(bot_factory)
    set_server(bot, "50", min_bid=20.0)
    await bot.publish_and_cycle()
    alert = next(m for m in bot.telegram.bot_messages(ALICE) if "#50" in m.text)
    await bot.tap(ALICE, alert, "Mute rule 1")
    edited = await bot.edited(ALICE, alert.message_id, 1)
    assert "#50" in edited.text and "Rule 1 paused" in edited.text
    assert not any("Mute" in label for label, _ in edited.buttons)
    rules = await bot.rules_of(ALICE)
    assert [r.paused for r in rules] == [True]


async def test_time_zone_by_name_and_offset(bot: BotHarness) -> None:
    assert "Europe/Berlin" in (await bot.ask(ALICE, "/tz europe/berlin")).text
    assert "UTC+03:00" in (await bot.ask(ALICE, "/tz UTC+3")).text
    assert "Europe/Berlin" in (await bot.ask(ALICE, "/tz Mars/Olympus")).text  # the advice
    user = await bot.user(ALICE)
    assert user is not None and user.time_zone == "UTC+03:00"
    assert datetime.now(UTC).tzinfo is UTC


async def test_details_show_each_machine_in_full(bot_factory: BotFactory) -> None:
    bot = await alert_bot(bot_factory)
    set_server(bot, "50", min_bid=20.0)
    await bot.publish_and_cycle()
    alert = next(m for m in bot.telegram.bot_messages(ALICE) if "#50" in m.text)
    assert "CUDA" not in alert.text  # one line per machine
    await bot.tap(ALICE, alert, "Details")
    edited = await bot.edited(ALICE, alert.message_id, 1)
    assert "CUDA 12.4" in edited.text and "AMD Ryzen 9 7950X" in edited.text
    assert [label for label, _ in edited.buttons] == ["🔕 Mute rule 1"]


async def test_pause_and_settings_in_russian(bot: BotHarness) -> None:
    asked = bot.telegram.user_message(ALICE, "/pause 2h", language_code="ru")
    answer = await bot.telegram.await_bot_message(ALICE, after=asked)
    assert "приостановлены до" in answer.text and "перебитые ставки" in answer.text
    asked = bot.telegram.user_message(ALICE, "/settings", language_code="ru")
    settings = await bot.telegram.await_bot_message(ALICE, after=asked)
    assert "🔔 Совпадения: вкл" in [label for label, _ in settings.buttons]


async def test_a_long_alert_pages_through_the_rest(bot_factory: BotFactory) -> None:
    """An alert listing 3 of 7 machines has "More ▶": the rule's /market page, with Next."""
    bot = await alert_bot(bot_factory)
    for n in range(7):
        set_server(bot, str(60 + n), min_bid=20.0 + n)
    await bot.publish_and_cycle()
    alert = next(m for m in bot.telegram.bot_messages(ALICE) if "#60" in m.text)
    assert "#63" not in alert.text and "4 more" in alert.text
    labels = [label for label, _ in alert.buttons]
    assert "More ▶" in labels and "🔕 Mute rule 1" in labels  # the mute button stays
    await bot.tap(ALICE, alert, "More ▶")
    page = await bot.edited(ALICE, alert.message_id, 1)
    assert "#60" in page.text and "#64" in page.text and "#65" not in page.text
    await bot.tap(ALICE, page, "Next ▶")
    rest = await bot.edited(ALICE, alert.message_id, 2)
    assert "#65" in rest.text and "#66" in rest.text and "#60" not in rest.text
    assert "◀ Previous" in [label for label, _ in rest.buttons]


async def test_a_short_alert_has_no_more_button(bot_factory: BotFactory) -> None:
    bot = await alert_bot(bot_factory)
    set_server(bot, "50", min_bid=20.0)
    await bot.publish_and_cycle()
    alert = next(m for m in bot.telegram.bot_messages(ALICE) if "#50" in m.text)
    assert not any("More" in label for label, _ in alert.buttons)
