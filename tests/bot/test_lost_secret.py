"""A stored key that can no longer be decrypted is a clear state: its user is told once to
/link again, /settings and every use of the key say so, and nobody else is affected."""

from __future__ import annotations

import logging
import sqlite3

import pytest
from cryptography.fernet import Fernet

from tests.bot.conftest import (
    ALICE,
    ALICE_CLORE,
    ALICE_KEY,
    BOB,
    BOB_CLORE,
    BOB_KEY,
    RIVAL,
    BotHarness,
)
from tests.fakes.clore_server import make_bid, make_server

# About the SQLite file itself (read with the sqlite3 module).
pytestmark = pytest.mark.sqlite_only

ALICE_SERVER, BOB_SERVER = "300", "301"
ALICE_ORDER, BOB_ORDER, RIVAL_ON_ALICE, RIVAL_ON_BOB = 9001, 9002, 9003, 9004
NOTICE = "needs linking again"


def market(bot: BotHarness, rival: float) -> None:
    """Alice and Bob bid 15 on a server each; the same rival bids `rival` on both."""
    with bot.clore.lock:
        bot.clore.market[ALICE_SERVER] = make_server(min_bid=5.0, bids=[
            make_bid(ALICE_CLORE, ALICE_ORDER, 15.0), make_bid(RIVAL, RIVAL_ON_ALICE, rival)])
        bot.clore.market[BOB_SERVER] = make_server(min_bid=5.0, bids=[
            make_bid(BOB_CLORE, BOB_ORDER, 15.0), make_bid(RIVAL, RIVAL_ON_BOB, rival)])


def notices(bot: BotHarness, user: int) -> list[str]:
    return [text for text in bot.sent_texts(user) if NOTICE in text]


def edits_by(bot: BotHarness, key: str) -> list[object]:
    return [c.body for c in bot.clore.calls_for("edit_gigaspot_orders", key=key)]


async def both_linked(bot: BotHarness) -> None:
    await bot.ask(ALICE, f"/link {ALICE_KEY}", expect="Linked")
    await bot.ask(BOB, f"/link {BOB_KEY}", expect="Linked")
    market(bot, rival=12.0)
    await bot.publish_and_cycle()


def unreadable_token() -> str:
    """A key encrypted with some other secret key."""
    return Fernet(Fernet.generate_key()).encrypt(b"some-key").decode()


async def test_a_replaced_secret_key_asks_each_user_once_to_link_again(bot: BotHarness) -> None:
    await both_linked(bot)
    await bot.ask(ALICE, "/template image=ubuntu env=TOKEN:abc", expect="Template saved")
    market(bot, rival=20.0)
    await bot.publish_and_cycle()
    alert = next(m for m in bot.telegram.bot_messages(ALICE) if "Outbid" in m.text)
    await bot.stop()
    secret = bot.settings.data_dir / "secret.key"
    secret.write_bytes(Fernet.generate_key())  # the operator lost the old one

    await bot.start()
    await bot.deliver()

    assert len(notices(bot, ALICE)) == 1 and len(notices(bot, BOB)) == 1
    settings = await bot.ask(ALICE, "/settings")
    assert f"clore user {ALICE_CLORE}" in settings.text
    assert "no longer be decrypted" in settings.text
    assert "/link" in (await bot.ask(ALICE, "/bids")).text
    await bot.tap(ALICE, alert, "Raise")
    tapped = await bot.edited(ALICE, alert.message_id, edits=1)
    assert "can no longer decrypt" in tapped.text
    assert edits_by(bot, ALICE_KEY) == []
    assert "environment variables" in (await bot.ask(ALICE, "/template")).text
    fixed = await bot.ask(ALICE, "/template env=TOKEN:new", expect="Template saved")
    assert "dropped" not in fixed.text and "TOKEN" in (await bot.ask(ALICE, "/template")).text

    await bot.restart()
    await bot.cycle()
    await bot.deliver()
    assert len(notices(bot, ALICE)) == 1  # told once, not at every start

    await bot.ask(ALICE, f"/link {ALICE_KEY}", expect="Linked")
    settings = await bot.ask(ALICE, "/settings")
    assert "decrypted" not in settings.text and f"clore user {ALICE_CLORE}" in settings.text
    assert "order 9001" in (await bot.ask(ALICE, "/bids")).text


async def test_one_unreadable_key_leaves_everyone_else_protected(
    bot: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await both_linked(bot)
    for user, order in ((ALICE, ALICE_ORDER), (BOB, BOB_ORDER)):
        assert "is protected" in (await bot.ask(user, f"/protect {order} 40 10")).text
    db = bot.settings.database_url.removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(db) as conn:  # Alice's row, written under another secret key
        conn.execute("UPDATE users SET api_key_encrypted = ? WHERE telegram_id = ?",
                     (unreadable_token(), ALICE))

    market(bot, rival=20.0)  # both outbid in the same cycle, Alice's bid first
    await bot.publish_and_cycle()

    assert edits_by(bot, BOB_KEY) == [[{"order_id": BOB_ORDER, "price": 20.5}]]
    assert edits_by(bot, ALICE_KEY) == []
    assert len(notices(bot, ALICE)) == 1 and notices(bot, BOB) == []
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []

    market(bot, rival=25.0)
    await bot.publish_and_cycle()
    assert len(edits_by(bot, BOB_KEY)) == 2
    assert len(notices(bot, ALICE)) == 1  # once
    assert not any("Outbid" in text for text in bot.sent_texts(ALICE))  # no dead buttons

    await bot.restart()
    await bot.publish_and_cycle()
    assert len(notices(bot, ALICE)) == 1 and notices(bot, BOB) == []
    assert "order 9002" in (await bot.ask(BOB, "/bids")).text
    assert "no longer be decrypted" in (await bot.ask(ALICE, "/settings")).text
