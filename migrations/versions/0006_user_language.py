"""users.language: the language the bot speaks with each user; callback_actions loses
outbox_id, chat_id and message_id (never read: a tap edits the message it came from)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: users who came before it have no choice yet and are spoken to in English
    # until they choose with /lang (their Telegram language is not stored anywhere).
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("language", sa.String(length=8), nullable=True))
    with op.batch_alter_table("callback_actions") as batch:
        batch.drop_index("ix_callback_actions_outbox_id")
        batch.drop_constraint("fk_callback_actions_outbox_id_outbox", type_="foreignkey")
        batch.drop_column("outbox_id")
        batch.drop_column("chat_id")
        batch.drop_column("message_id")


def downgrade() -> None:
    with op.batch_alter_table("callback_actions") as batch:
        batch.add_column(sa.Column("outbox_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("chat_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("message_id", sa.BigInteger(), nullable=True))
        batch.create_foreign_key(
            "fk_callback_actions_outbox_id_outbox",
            "outbox",
            ["outbox_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_index("ix_callback_actions_outbox_id", ["outbox_id"])
    with op.batch_alter_table("users") as batch:
        batch.drop_column("language")
