"""An outbid alert's buttons are made when the message is sent, once, and then work."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.db.models import CallbackAction, Outbox
from tests.bot.conftest import ALICE, BotHarness
from tests.bot.test_bids import linked_and_leading, set_bids


async def actions(bot: BotHarness) -> int:
    return int(await bot.query(lambda s: s.scalar(select(func.count(CallbackAction.id)))))


async def test_buttons_exist_only_once_the_alert_is_sent(bot: BotHarness) -> None:
    await linked_and_leading(bot)
    before = await actions(bot)
    set_bids(bot, mine=15.0, rival=20.0)
    bot.clore.publish()
    await bot.cycle()

    (queued,) = [row for row in await bot.outbox() if row.kind == "outbid"]
    assert queued.reply_markup is not None and queued.reply_markup.startswith('{"make"')
    assert await actions(bot) == before  # the cycle made none

    await bot.deliver()
    (alert,) = [m for m in bot.telegram.bot_messages(ALICE) if "Outbid" in m.text]
    assert [label for label, _ in alert.buttons] == ["Raise to 20.50", "Cancel", "🛡 Protect"]
    assert await actions(bot) == before + 3
    sent = await bot.query(lambda s: s.scalar(select(Outbox).where(Outbox.id == queued.id)))
    assert "inline_keyboard" in sent.reply_markup  # a retry would send these same buttons

    await bot.tap(ALICE, alert, "Cancel")
    asked = await bot.edited(ALICE, alert.message_id, edits=1)
    await bot.tap(ALICE, asked, "Yes, cancel")
    edited = await bot.edited(ALICE, alert.message_id, edits=2)
    assert "cancelled" in edited.text.lower()
