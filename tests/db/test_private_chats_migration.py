"""Migration 0005: a user's chat is their private chat again, for them and for what is still
queued; the new columns come and go without touching other data."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command

from bot.db.migrate import downgrade_to, run_alembic, upgrade_to_head

GROUP = -100777
STAMP = "2025-01-01 00:00:00"


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


async def test_chats_moved_to_a_group_are_moved_back(db_url: str) -> None:
    await run_alembic(db_url, lambda config: command.upgrade(config, "0002"))
    db_file = Path(db_url.removeprefix("sqlite+aiosqlite:///"))
    with sqlite3.connect(db_file) as conn:
        for user_id, telegram_id, chat_id in ((1, 10, GROUP), (2, 20, 20)):
            conn.execute(
                "INSERT INTO users (id, telegram_id, chat_id, alerts_paused, active, "
                "created_at, updated_at) VALUES (?, ?, ?, 0, 1, ?, ?)",
                (user_id, telegram_id, chat_id, STAMP, STAMP),
            )
        for row_id, user_id, chat_id, sent_at in ((1, 1, GROUP, None), (2, 1, GROUP, STAMP),
                                                 (3, 2, 20, None)):
            conn.execute(
                "INSERT INTO outbox (id, user_id, chat_id, kind, priority, text, created_at, "
                "attempts, next_attempt_at, sent_at) VALUES (?, ?, ?, 'match', 20, 'hi', ?, "
                "0, ?, ?)",
                (row_id, user_id, chat_id, STAMP, STAMP, sent_at),
            )
        conn.execute("INSERT INTO order_templates (user_id, text, updated_at) VALUES "
                     "(1, 'image=ubuntu pl=min env=A:b', ?)", (STAMP,))

    await upgrade_to_head(db_url)

    with sqlite3.connect(db_file) as conn:
        assert conn.execute("SELECT id, chat_id FROM users ORDER BY id").fetchall() == [
            (1, 10), (2, 20)]
        # What is still to be sent goes to the private chat; history is left as it was.
        assert conn.execute("SELECT id, chat_id FROM outbox ORDER BY id").fetchall() == [
            (1, 10), (2, GROUP), (3, 20)]
        assert conn.execute("SELECT text, env_encrypted FROM order_templates").fetchall() == [
            ("image=ubuntu pl=min env=A:b", None)]  # sealed by the bot, which has the key
        assert "api_key_unreadable_at" in _columns(conn, "users")

    await downgrade_to(db_url, "0002")
    with sqlite3.connect(db_file) as conn:
        assert "api_key_unreadable_at" not in _columns(conn, "users")
        assert "env_encrypted" not in _columns(conn, "order_templates")
        assert conn.execute("SELECT count(*) FROM outbox").fetchone() == (3,)
