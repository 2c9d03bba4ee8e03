"""unreadable API keys, encrypted template environments, private chats only

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

- `users.api_key_unreadable_at`: when a stored key stopped decrypting (secret key lost).
- `order_templates.env_encrypted`: the template's environment, encrypted like API keys.
  Encrypting needs the secret key, which a migration does not have (`gigaspot-bot migrate`
  takes only DATABASE_URL), so plain `env=` values still in `text` are moved into this
  column by the bot at its next start, before it serves anyone
  (`bot.services.templates.seal_plain_environments`).
- Data: a user's chat is their private chat, whose id is their Telegram user id. Earlier
  versions moved it to whatever chat a button was tapped in (a group); undo that for users
  and for messages still waiting in the outbox.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("api_key_unreadable_at", UTC_DATETIME, nullable=True))
    with op.batch_alter_table("order_templates") as batch:
        batch.add_column(sa.Column("env_encrypted", sa.Text(), nullable=True))
    op.execute("UPDATE users SET chat_id = telegram_id WHERE chat_id <> telegram_id")
    op.execute(
        "UPDATE outbox SET chat_id = (SELECT telegram_id FROM users WHERE users.id = "
        "outbox.user_id) WHERE sent_at IS NULL AND failed_at IS NULL AND chat_id <> "
        "(SELECT telegram_id FROM users WHERE users.id = outbox.user_id)"
    )


def downgrade() -> None:
    # Sealed environments cannot go back into `text` without the secret key: templates
    # that had one lose it (the user sets it again with /template env=...).
    with op.batch_alter_table("order_templates") as batch:
        batch.drop_column("env_encrypted")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("api_key_unreadable_at")
