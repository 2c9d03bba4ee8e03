"""order templates, bid protections, user budgets, pending orders

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written once, frozen: revisions must not import the app's models.
UTC_DATETIME = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _user_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["user_id"], ["users.id"], name=op.f(f"fk_{table}_user_id_users"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "order_templates",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        _user_fk("order_templates"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_order_templates")),
    )
    op.create_table(
        "bid_protections",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("server_id", sa.String(length=32), nullable=False),
        sa.Column("cap", sa.Float(), nullable=False),
        sa.Column("max_raises_per_hour", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        _user_fk("bid_protections"),
        sa.PrimaryKeyConstraint("user_id", "order_id", name=op.f("pk_bid_protections")),
    )
    op.create_table(
        "user_budgets",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("daily_budget", sa.Float(), nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        _user_fk("user_budgets"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_budgets")),
    )
    op.create_table(
        "pending_orders",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("server_id", sa.String(length=32), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        sa.Column("action_id", sa.String(length=22), nullable=True),
        sa.Column("known_order_ids", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=True),
        sa.Column("resolved_at", UTC_DATETIME, nullable=True),
        _user_fk("pending_orders"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_orders")),
        sa.UniqueConstraint("action_id", name=op.f("uq_pending_orders_action_id")),
    )
    op.create_index(op.f("ix_pending_orders_user_id"), "pending_orders", ["user_id"])


def downgrade() -> None:
    for table in ("pending_orders", "user_budgets", "bid_protections", "order_templates"):
        op.drop_table(table)
