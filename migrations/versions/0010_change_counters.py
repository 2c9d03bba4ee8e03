"""change_counters and the triggers that count writes to rules, users and order_templates

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

The poll cycle keeps the active rules it read while the `watch` count stands still (see
`bot.db.models.ChangeCounter`). The trigger names are checked at start
(`bot.db.repositories.change_counts.TRIGGERS`): SQLite drops a table's triggers when a batch
migration rebuilds it, so such a migration must create them again (the bot then reads the
rules every cycle and logs why until it does).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTED = ("rules", "users", "order_templates")
BUMP = "UPDATE change_counters SET count = count + 1 WHERE name = 'watch'"


def upgrade() -> None:
    op.create_table(
        "change_counters",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_change_counters")),
    )
    op.execute("INSERT INTO change_counters (name, count) VALUES ('watch', 0)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION count_watch_write() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {BUMP}; RETURN NULL; END $$"
        )
        for table in COUNTED:
            op.execute(
                f"CREATE TRIGGER count_watch_{table} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE"
                f" ON {table} FOR EACH STATEMENT EXECUTE FUNCTION count_watch_write()"
            )
        return
    for table in COUNTED:  # SQLite: row triggers only
        for event in ("insert", "update", "delete"):
            op.execute(
                f"CREATE TRIGGER count_watch_{table}_{event} AFTER {event.upper()} ON {table} "
                f"BEGIN {BUMP}; END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in COUNTED:
            op.execute(f"DROP TRIGGER count_watch_{table} ON {table}")
        op.execute("DROP FUNCTION count_watch_write()")
    else:
        for table in COUNTED:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER count_watch_{table}_{event}")
    op.drop_table("change_counters")
