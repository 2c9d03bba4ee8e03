"""audit_log.snapshot_url: money actions recorded as intents before the clore call

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("snapshot_url", sa.Text(), nullable=True))


def downgrade() -> None:
    # Rows still "pending" would read as an unknown outcome to older code: they may have
    # been spent, which older code knows as "ambiguous".
    op.execute("UPDATE audit_log SET outcome = 'ambiguous' WHERE outcome = 'pending'")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("snapshot_url")
