"""Buttons that fit the bid: Raise only where outbid, Cancel asks first, every confirmation
has a No, a tap keeps the buttons that still apply, Stop protecting on automatic raises."""

from __future__ import annotations

from tests.bot.conftest import ALICE, BotHarness
from tests.bot.test_bids import linked_and_leading, outbid_alert, set_bids
from tests.bot.test_protection import competitors, protected


def labels(message: object) -> list[str]:
    return [label for label, _ in message.buttons]  # type: ignore[attr-defined]


async def test_a_leading_bid_has_no_raise(bot: BotHarness) -> None:
    await linked_and_leading(bot)
    answer = await bot.ask(ALICE, "/bids", expect="9001")
    assert labels(answer) == ["Cancel", "🛡 Protect"]


async def test_an_outbid_bid_has_raise(bot: BotHarness) -> None:
    alert = await outbid_alert(bot, rival=20.0)
    assert labels(alert) == ["Raise to 20.50", "Cancel", "🛡 Protect"]


async def test_cancel_asks_and_no_puts_the_buttons_back(bot: BotHarness) -> None:
    alert = await outbid_alert(bot, rival=20.0)
    await bot.tap(ALICE, alert, "Cancel")
    asked = await bot.edited(ALICE, alert.message_id, 1)
    assert labels(asked) == ["🗑 Yes, cancel order 9001", "↩️ No, keep it"]
    assert asked.text == alert.text  # the alert itself is unchanged

    await bot.tap(ALICE, asked, "No, keep it")
    back = await bot.edited(ALICE, alert.message_id, 2)
    assert labels(back) == ["Raise to 20.50", "Cancel", "🛡 Protect"]
    assert bot.clore.calls_for("cancel_orders") == []


async def test_the_above_cap_confirmation_has_a_no(bot: BotHarness) -> None:
    alert = await outbid_alert(bot, rival=20.0)
    await bot.ask(ALICE, "/settings cap 18", expect="18")
    await bot.tap(ALICE, alert, "Raise")
    asked = await bot.edited(ALICE, alert.message_id, 1)
    assert labels(asked) == ["Yes, raise to 20.50", "No"]
    await bot.tap(ALICE, asked, "No")
    back = await bot.edited(ALICE, alert.message_id, 2)
    assert "Raise to 20.50" in labels(back)
    assert bot.clore.calls_for("edit_gigaspot_orders") == []


async def test_a_raise_keeps_cancel_and_protect(bot: BotHarness) -> None:
    alert = await outbid_alert(bot, rival=20.0)
    await bot.tap(ALICE, alert, "Raise")
    done = await bot.edited(ALICE, alert.message_id, 1)
    assert "raised to 20.5" in done.text
    assert labels(done) == ["Cancel", "🛡 Protect"]


async def test_the_automatic_raise_message_can_stop_protecting(bot: BotHarness) -> None:
    await protected(bot, cap=30.0)
    competitors(bot, 16.0, 5.0)
    await bot.publish_and_cycle()
    raised = next(m for m in bot.telegram.bot_messages(ALICE) if "🛡 Raised" in m.text)
    assert labels(raised) == ["🛡 Stop protecting"]

    await bot.tap(ALICE, raised, "Stop protecting")
    done = await bot.edited(ALICE, raised.message_id, 1)
    assert "Protection of order 9001 is off" in done.text
    assert labels(done) == []
    set_bids(bot, mine=16.5, rival=20.0)  # outbid again: an alert, no automatic raise
    mark = bot.telegram.mark()
    await bot.publish_and_cycle()
    assert any("Outbid" in t for t in bot.sent_texts(ALICE, since=mark))


async def test_a_tap_keeps_the_messages_formatting(bot: BotHarness) -> None:
    alert = await outbid_alert(bot, rival=20.0)
    assert "<b>" in alert.html
    await bot.tap(ALICE, alert, "Raise")
    done = await bot.edited(ALICE, alert.message_id, 1)
    assert done.html.startswith(alert.html)  # the alert as sent, bold and all
    assert "raised to 20.5" in done.text
