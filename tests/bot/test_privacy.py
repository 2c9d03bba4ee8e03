"""A user's alerts and answers stay in the private chat with them; template environment
values are encrypted at rest and never echoed or logged."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from tests.bot.conftest import ALICE, ALICE_KEY, BOB, BotHarness
from tests.fakes.clore_server import make_server

# About the SQLite file itself (read with the sqlite3 module).
pytestmark = pytest.mark.sqlite_only

GROUP = -100777  # a group Alice is in
SECRET = "s3cret-Value-42"


def database_bytes(bot: BotHarness) -> bytes:
    """The database file and its WAL as they are on disk."""
    db = Path(bot.settings.database_url.removeprefix("sqlite+aiosqlite:///"))
    return b"".join(path.read_bytes() for path in (db, Path(f"{db}-wal")) if path.exists())


async def test_a_tap_in_a_group_does_nothing_and_alerts_stay_private(bot: BotHarness) -> None:
    await bot.ask(ALICE, "/watch gpu=4090", expect="saved")
    listing = await bot.ask(ALICE, "/rules")
    # The list with its buttons ends up in a group (shared, forwarded) and is tapped there.
    shared = bot.telegram.post_as_bot(GROUP, ALICE, listing.text, listing.reply_markup)
    pause = listing.callback_data_for("Pause")

    answer = await bot.answer_of(bot.telegram.user_taps(ALICE, shared, pause, chat_id=GROUP))
    stranger = await bot.answer_of(bot.telegram.user_taps(BOB, shared, pause, chat_id=GROUP))
    bot.telegram.user_message(ALICE, "/settings", chat_id=GROUP)
    await bot.ask(ALICE, "/help")

    assert "private chat" in answer and "private chat" in stranger
    assert [rule.paused for rule in await bot.rules_of(ALICE)] == [False]
    alice = await bot.user(ALICE)
    assert alice is not None and alice.chat_id == ALICE
    assert await bot.user(BOB) is None  # a group tap is nobody's first contact
    # The button was not used up: it still works where it belongs.
    await bot.tap(ALICE, listing, "Pause")
    await bot.edited(ALICE, listing.message_id, edits=1)
    assert [rule.paused for rule in await bot.rules_of(ALICE)] == [True]
    await bot.tap(ALICE, await bot.edited(ALICE, listing.message_id, edits=1), "Resume")
    await bot.edited(ALICE, listing.message_id, edits=2)

    with bot.clore.lock:
        bot.clore.market["200"] = make_server(min_bid=12.0)
    await bot.publish_and_cycle()

    assert any("#200" in text for text in bot.sent_texts(ALICE))
    group_calls = [r for r in bot.telegram.requests() if r.params.get("chat_id") == GROUP]
    assert group_calls == []
    assert {row.chat_id for row in await bot.outbox()} == {ALICE}


@pytest.fixture
def every_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="bot")
    return caplog


async def test_template_env_values_are_encrypted_never_echoed_nor_logged(
    bot: BotHarness, every_log: pytest.LogCaptureFixture
) -> None:
    await bot.ask(ALICE, f"/link {ALICE_KEY}", expect="Linked")
    asked = bot.telegram.user_message(ALICE, f"/template image=ubuntu pl=min env=TOKEN:{SECRET}")
    saved = await bot.telegram.await_bot_message(ALICE, after=asked)
    refused = await bot.ask(ALICE, f"/template env=TOKEN:{SECRET},{SECRET}")
    unquoted = await bot.ask(ALICE, f"/template env=TOKEN:my {SECRET}")
    shown = await bot.ask(ALICE, "/template")

    assert "Template saved" in saved.text and "TOKEN" in saved.text
    assert bot.telegram.message(ALICE, asked).deleted  # it carried the value
    assert "KEY:VALUE" in refused.text and "quotes" in unquoted.text
    assert "TOKEN" in shown.text
    texts = [str(r.params.get("text", "")) for r in bot.telegram.requests()]
    assert not any(SECRET in text for text in texts)
    assert SECRET not in every_log.text
    assert SECRET.encode() not in database_bytes(bot)

    # A bid from an alert carries the decrypted environment to clore.
    await bot.ask(ALICE, "/watch gpu=4090", expect="saved")
    with bot.clore.lock:
        bot.clore.market["200"] = make_server(min_bid=12.0)
    await bot.publish_and_cycle()
    alert = next(m for m in bot.telegram.bot_messages(ALICE) if "#200" in m.text)
    await bot.tap(ALICE, alert, "Bid #200")
    await bot.edited(ALICE, alert.message_id, edits=1)
    (create,) = bot.clore.calls_for("create_gigaspot_orders")
    assert create.body[0]["env"] == {"TOKEN": SECRET}
    assert SECRET not in every_log.text


async def test_plain_env_values_from_before_are_sealed_at_start(bot: BotHarness) -> None:
    await bot.ask(ALICE, "/template image=ubuntu pl=min", expect="Template saved")
    await bot.stop()
    db = bot.settings.database_url.removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(db) as conn:  # what an earlier version stored
        conn.execute(
            "UPDATE order_templates SET text = ?, env_encrypted = NULL",
            (f"image=ubuntu pl=min env=TOKEN:{SECRET} currency=CLORE-Blockchain",),
        )
    assert SECRET.encode() in database_bytes(bot)

    await bot.start()

    assert SECRET.encode() not in database_bytes(bot)
    with sqlite3.connect(db) as conn:
        text, sealed = conn.execute("SELECT text, env_encrypted FROM order_templates").fetchone()
    assert "env=" not in text and sealed and SECRET not in sealed
    assert "TOKEN" in (await bot.ask(ALICE, "/template")).text
