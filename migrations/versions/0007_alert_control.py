"""Alert control per user (modes per kind, timed pause, quiet hours, time zone), silent
outbox rows, match alerts held for quiet hours, rule numbers per user

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("alert_modes", sa.Text(), nullable=True))
        batch.add_column(sa.Column("paused_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("quiet_start", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("quiet_end", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("time_zone", sa.String(length=64), nullable=True))
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(
            sa.Column("alert_kind", sa.String(length=16), nullable=True)
        )
        batch.add_column(
            sa.Column("silent", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("rules") as batch:
        batch.add_column(sa.Column("number", sa.Integer(), nullable=True))
    # Existing rules are numbered 1, 2, ... per user, in the order they were saved.
    rules = sa.table(
        "rules", sa.column("id", sa.Integer()), sa.column("user_id", sa.Integer()),
        sa.column("number", sa.Integer()),
    )
    bind = op.get_bind()
    counters: dict[int, int] = {}
    for rule_id, user_id in bind.execute(
        sa.select(rules.c.id, rules.c.user_id).order_by(rules.c.id)
    ).all():
        counters[user_id] = counters.get(user_id, 0) + 1
        bind.execute(
            rules.update().where(rules.c.id == rule_id).values(number=counters[user_id])
        )
    with op.batch_alter_table("rules") as batch:
        batch.alter_column("number", existing_type=sa.Integer(), nullable=False)
        batch.create_unique_constraint("uq_rules_user_id_number", ["user_id", "number"])
    op.create_table(
        "held_matches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("server_id", sa.String(length=32), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_held_matches_user_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["rules.id"], name="fk_held_matches_rule_id_rules", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_held_matches"),
    )
    op.create_index("ix_held_matches_user_id", "held_matches", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_held_matches_user_id", table_name="held_matches")
    op.drop_table("held_matches")
    with op.batch_alter_table("rules") as batch:
        batch.drop_constraint("uq_rules_user_id_number", type_="unique")
        batch.drop_column("number")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("silent")
        batch.drop_column("alert_kind")
    with op.batch_alter_table("users") as batch:
        for column in ("time_zone", "quiet_end", "quiet_start", "paused_until", "alert_modes"):
            batch.drop_column(column)
