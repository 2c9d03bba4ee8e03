"""price_series, price_points: the market's price history per GPU model and count

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "price_series",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("gpu_count", sa.Integer(), nullable=False),
        sa.Column("first_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_series")),
        sa.UniqueConstraint("model", "gpu_count", name=op.f("uq_price_series_model_gpu_count")),
    )
    op.create_table(
        "price_points",
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("span", sa.Integer(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("rentable", sa.Integer(), nullable=False),
        sa.Column("available", sa.Integer(), nullable=False),
        sa.Column("low", sa.Integer(), nullable=True),
        sa.Column("p25", sa.Integer(), nullable=True),
        sa.Column("median", sa.Integer(), nullable=True),
        sa.Column("p90", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["series_id"],
            ["price_series.id"],
            name=op.f("fk_price_points_series_id_price_series"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("series_id", "span", "at", name=op.f("pk_price_points")),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("price_points")
    op.drop_table("price_series")
