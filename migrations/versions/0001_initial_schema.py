"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written once, frozen: later revisions must not import the app's models.
UTC_DATETIME = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _fk(column: str, target: str, ondelete: str, table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [target],
        name=op.f(f"fk_{table}_{column}_{target.split('.')[0]}"),
        ondelete=ondelete,
    )


def upgrade() -> None:
    op.create_table(
        "bot_state",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_bot_state")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("telegram_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("clore_user_id", sa.BigInteger(), nullable=True),
        sa.Column("api_key_encrypted", sa.Text(), nullable=True),
        sa.Column("raise_step", sa.Float(), nullable=True),
        sa.Column("price_cap", sa.Float(), nullable=True),
        sa.Column("alerts_paused", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("telegram_id", name=op.f("uq_users_telegram_id")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=True),
        sa.Column("server_id", sa.String(length=32), nullable=True),
        sa.Column("price", sa.Float(), nullable=True),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        _fk("user_id", "users.id", "SET NULL", "audit_log"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_user_id_id", "audit_log", ["user_id", "id"])
    op.create_table(
        "bid_alerts",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("server_id", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("last_alerted_top_score", sa.Float(), nullable=True),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        _fk("user_id", "users.id", "CASCADE", "bid_alerts"),
        sa.PrimaryKeyConstraint("user_id", "order_id", name=op.f("pk_bid_alerts")),
    )
    op.create_table(
        "outbox",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("reply_markup", sa.Text(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTC_DATETIME, nullable=False),
        sa.Column("sent_at", UTC_DATETIME, nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("failed_at", UTC_DATETIME, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _fk("user_id", "users.id", "CASCADE", "outbox"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_outbox_dedupe_key")),
    )
    op.create_index("ix_outbox_due", "outbox", ["sent_at", "failed_at", "next_attempt_at"])
    op.create_index(op.f("ix_outbox_user_id"), "outbox", ["user_id"])
    op.create_table(
        "rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        _fk("user_id", "users.id", "CASCADE", "rules"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rules")),
    )
    op.create_index(op.f("ix_rules_user_id"), "rules", ["user_id"])
    op.create_table(
        "callback_actions",
        sa.Column("id", sa.String(length=22), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("outbox_id", BIG_ID, nullable=True),
        sa.Column("chat_id", sa.BigInteger(), nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.Column("used_at", UTC_DATETIME, nullable=True),
        _fk("outbox_id", "outbox.id", "SET NULL", "callback_actions"),
        _fk("user_id", "users.id", "CASCADE", "callback_actions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_actions")),
    )
    op.create_index(op.f("ix_callback_actions_expires_at"), "callback_actions", ["expires_at"])
    op.create_index(op.f("ix_callback_actions_outbox_id"), "callback_actions", ["outbox_id"])
    op.create_index(op.f("ix_callback_actions_user_id"), "callback_actions", ["user_id"])
    op.create_table(
        "match_alerts",
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("server_id", sa.String(length=32), nullable=False),
        sa.Column("matching", sa.Boolean(), nullable=False),
        sa.Column("last_price", sa.Float(), nullable=False),
        sa.Column("announced_price", sa.Float(), nullable=True),
        sa.Column("announced_at", UTC_DATETIME, nullable=True),
        sa.Column("stopped_at", UTC_DATETIME, nullable=True),
        _fk("rule_id", "rules.id", "CASCADE", "match_alerts"),
        sa.PrimaryKeyConstraint("rule_id", "server_id", name=op.f("pk_match_alerts")),
    )


def downgrade() -> None:
    # Children first; dropping a table drops its indexes.
    for table in (
        "match_alerts",
        "callback_actions",
        "rules",
        "outbox",
        "bid_alerts",
        "audit_log",
        "users",
        "bot_state",
    ):
        op.drop_table(table)
