"""Another process holding the database's write lock: commands are told to try again (and
lose nothing), reads still work, and everything works again once the lock is gone."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from bot.db import engine as engine_module
from bot.i18n import translator
from bot.telegram.render.account import busy
from tests.bot.conftest import ALICE, BOB, BotFactory, BotHarness

BUSY = busy(translator("en"))

# About the SQLite file itself (read with the sqlite3 module).
pytestmark = pytest.mark.sqlite_only


@contextmanager
def write_locked(bot: BotHarness) -> Iterator[None]:
    """Another process's open write transaction, as a backup tool or a second bot holds it."""
    db = bot.settings.database_url.removeprefix("sqlite+aiosqlite:///")
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


async def test_commands_while_the_database_is_locked_are_told_to_retry(
    bot_factory: BotFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Waits 0.2 s for the lock instead of 10 s before giving up.
    monkeypatch.setattr(engine_module, "BUSY_TIMEOUT_MS", 200)
    caplog.set_level(logging.INFO)
    bot = await bot_factory()
    await bot.cycle()
    await bot.ask(ALICE, "/watch gpu=3090", expect="saved")
    listing = await bot.ask(ALICE, "/rules")

    with write_locked(bot):
        busy = await bot.ask(ALICE, "/watch gpu=4090")
        newcomer = await bot.ask(BOB, "/start")
        tapped = await bot.tap(ALICE, listing, "Pause")
        shown = await bot.ask(ALICE, "/settings")  # reading needs no write lock

    assert busy.text == BUSY and newcomer.text == BUSY and tapped == BUSY
    assert "Raise step" in shown.text
    assert [r.text for r in await bot.rules_of(ALICE)] == ["gpu=3090"]
    assert await bot.user(BOB) is None

    # Nothing was lost: the same commands and the same button work now.
    assert "saved" in (await bot.ask(ALICE, "/watch gpu=4090")).text
    assert "GigaSPOT Watch" in (await bot.ask(BOB, "/start")).text
    await bot.tap(ALICE, listing, "Pause")
    await bot.edited(ALICE, listing.message_id, edits=1)
    assert sorted((r.text, r.paused) for r in await bot.rules_of(ALICE)) == [
        ("gpu=3090", True), ("gpu=4090", False)]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []
