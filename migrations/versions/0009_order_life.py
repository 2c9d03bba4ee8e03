"""order_lives, account_watch, bid_protections.use_power: the life of an order

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here: revisions must not import the app's models.
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "order_lives",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("server_id", sa.String(length=32), nullable=False),
        sa.Column("first_seen_at", UTC_DATETIME, nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=True),
        sa.Column("max_rental_length", sa.Integer(), nullable=False),
        sa.Column("ends_at", UTC_DATETIME, nullable=False),
        sa.Column("warn_at", UTC_DATETIME, nullable=True),
        sa.Column("warned_at", UTC_DATETIME, nullable=True),
        sa.Column("running", sa.Boolean(), nullable=False),
        sa.Column("won_told_at", UTC_DATETIME, nullable=True),
        sa.Column("lost_told_at", UTC_DATETIME, nullable=True),
        sa.Column("gone_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_order_lives_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "order_id", name=op.f("pk_order_lives")),
    )
    op.create_index(op.f("ix_order_lives_warn_at"), "order_lives", ["warn_at"])
    op.create_index(op.f("ix_order_lives_order_id"), "order_lives", ["order_id"])
    op.create_table(
        "account_watch",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("low_balance_seconds", sa.Integer(), nullable=True),
        sa.Column("expiry_warn_seconds", sa.Integer(), nullable=True),
        sa.Column("wallets", sa.Text(), nullable=True),
        sa.Column("read_at", UTC_DATETIME, nullable=True),
        sa.Column("attempt_at", UTC_DATETIME, nullable=True),
        sa.Column("read_error", sa.Text(), nullable=True),
        sa.Column("low", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_account_watch_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_account_watch")),
    )
    with op.batch_alter_table("bid_protections") as batch:
        batch.add_column(
            sa.Column("use_power", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("bid_protections") as batch:
        batch.drop_column("use_power")
    op.drop_table("account_watch")
    op.drop_index("ix_order_lives_order_id", table_name="order_lives")
    op.drop_index("ix_order_lives_warn_at", table_name="order_lives")
    op.drop_table("order_lives")
