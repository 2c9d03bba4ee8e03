from __future__ import annotations

import math
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from bot import cli
from bot.db.alert_codec import decode_change
from bot.db.engine import create_engine
from bot.db.migrate import (
    MIGRATIONS_DIR,
    current_revision,
    downgrade_to,
    head_revision,
    run_alembic,
    upgrade_to_head,
)
from bot.db.models import Base

TABLES = {
    "users",
    "rules",
    "alert_memory",
    "market_baseline",
    "bid_alerts",
    "outbox",
    "held_matches",
    "callback_actions",
    "audit_log",
    "bot_state",
    "order_templates",
    "bid_protections",
    "user_budgets",
    "pending_orders",
    "order_lives",
    "account_watch",
    "price_series",
    "price_points",
    "change_counters",
}


def _tables(db_file: Path) -> set[str]:
    with sqlite3.connect(db_file) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
    return {name for (name,) in rows} - {"alembic_version", "sqlite_sequence"}


def _db_file(db_url: str) -> Path:
    return Path(db_url.removeprefix("sqlite+aiosqlite:///"))


async def test_upgrade_downgrade_upgrade(db_url: str) -> None:
    await upgrade_to_head(db_url)
    assert await current_revision(db_url) == head_revision()
    assert _tables(_db_file(db_url)) == TABLES
    await downgrade_to(db_url, "base")
    assert await current_revision(db_url) is None
    assert _tables(_db_file(db_url)) == set()
    await upgrade_to_head(db_url)
    assert _tables(_db_file(db_url)) == TABLES


async def test_models_match_migrations(db_url: str) -> None:
    await upgrade_to_head(db_url)
    engine = create_engine(db_url)

    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(diff) == []
    finally:
        await engine.dispose()


def test_migrate_subcommand_from_another_directory(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    for name in ("TELEGRAM_BOT_TOKEN", "CLORE_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # no migrations/ and no alembic.ini here
    monkeypatch.setenv("DATABASE_URL", db_url)
    assert cli.main(["migrate"]) == 0
    assert f"revision {head_revision()}" in capsys.readouterr().out
    assert _tables(_db_file(db_url)) == TABLES


BATCH_REBUILD = """
import sqlalchemy as sa
from alembic import op

revision = "0099"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", recreate="always") as batch:
        batch.add_column(sa.Column("nickname", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", recreate="always") as batch:
        batch.drop_column("nickname")
"""


async def test_batch_rebuild_of_a_parent_table_keeps_child_rows(
    db_url: str, tmp_path: Path
) -> None:
    """SQLite batch migrations drop and recreate the table: with foreign keys ON that
    drop would cascade into rules. env.py must switch them off for the run."""
    scripts = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / "0099_rebuild_users.py").write_text(
        BATCH_REBUILD.format(head=head_revision())
    )
    await upgrade_to_head(db_url)
    db_file = _db_file(db_url)
    with sqlite3.connect(db_file) as conn:
        conn.execute(
            "INSERT INTO users (id, telegram_id, chat_id, alerts_paused, active, created_at,"
            " updated_at) VALUES (1, 10, 10, 0, 1, '2025-01-01', '2025-01-01')"
        )
        conn.execute(
            "INSERT INTO rules (id, user_id, number, text, paused, created_at)"
            " VALUES (1, 1, 1, 'gpu=4090', 0, '2025-01-01')"
        )

    await run_alembic(db_url, lambda cfg: command.upgrade(cfg, "head"), script_location=scripts)

    with sqlite3.connect(db_file) as conn:
        assert conn.execute("SELECT count(*) FROM rules").fetchone() == (1,)
        columns = {row[1] for row in conn.execute("PRAGMA table_info(users)")}
        triggers = {row[0] for row in conn.execute("SELECT tbl_name FROM sqlite_master"
                                                   " WHERE type = 'trigger'")}  # fmt: skip
    assert "nickname" in columns
    # The rebuilt table lost its write-counting triggers: what the start-up check reports
    # (`change_counts.missing_triggers`), and why the bot then reads the rules every cycle.
    assert triggers == {"rules", "order_templates"}


async def test_0003_moves_announced_pairs_into_the_alert_memory_and_back(db_url: str) -> None:
    """What users were told before the upgrade is still known after it (and after a
    downgrade): nothing announced is announced again."""
    await run_alembic(db_url, lambda cfg: command.upgrade(cfg, "0002"))
    db_file = _db_file(db_url)
    with sqlite3.connect(db_file) as conn:
        conn.execute(
            "INSERT INTO users (id, telegram_id, chat_id, alerts_paused, active, created_at,"
            " updated_at) VALUES (1, 10, 10, 0, 1, '2025-01-01', '2025-01-01')"
        )
        conn.execute(
            "INSERT INTO rules (id, user_id, text, paused, created_at)"
            " VALUES (4, 1, 'gpu=4090', 0, '2025-01-01')"
        )
        conn.executemany(
            "INSERT INTO match_alerts (rule_id, server_id, matching, last_price,"
            " announced_price, announced_at, stopped_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (4, "7", 1, 9.0, 10.0, "2025-01-01 00:00:00", None),
                (4, "8", 0, 5.0, 6.0, "2025-01-01 00:00:00", "2025-01-02 00:00:00"),
                (4, "9", 1, 3.0, None, None, None),  # never announced (alerts paused)
            ],
        )
    await upgrade_to_head(db_url)
    with sqlite3.connect(db_file) as conn:
        (kind, entries, body), = conn.execute("SELECT kind, entries, body FROM alert_memory")
    change = decode_change(body)
    assert (kind, entries) == ("checkpoint", 2)
    assert [change.server_ids[i] for i in change.servers.tolist()] == ["7", "8"]
    assert change.rule_ids.tolist() == [4, 4] and change.announced.tolist() == [10.0, 6.0]
    assert math.isnan(change.stopped_at[0])
    assert change.stopped_at[1] == datetime(2025, 1, 2, tzinfo=UTC).timestamp()

    await downgrade_to(db_url, "0002")
    with sqlite3.connect(db_file) as conn:
        rows = conn.execute(
            "SELECT rule_id, server_id, matching, announced_price, stopped_at FROM match_alerts"
            " ORDER BY server_id"
        ).fetchall()
    assert rows == [(4, "7", 1, 10.0, None), (4, "8", 0, 6.0, "2025-01-02 00:00:00.000000")]
