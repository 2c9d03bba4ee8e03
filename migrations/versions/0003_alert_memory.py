"""alert memory as compact records and the baseline snapshot, instead of a row per pair

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

`match_alerts` held one row per rule x server ever evaluated (millions at community scale).
Its announced pairs move into one `alert_memory` checkpoint record, so nothing announced
before the upgrade is announced again; pairs never announced (alerts paused) are news when
they next start matching, as in the new design. Downgrading converts the memory back.
"""

import math
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import sqlalchemy as sa
from alembic import op

from bot.db.alert_codec import StoredChange, decode_change, encode_change

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _naive_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=None) if op.get_bind().dialect.name == "sqlite" else value


def _unix(value: datetime | str | None) -> float:
    if value is None:
        return math.nan
    if isinstance(value, str):  # SQLite hands back text
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def _memory_table() -> sa.Table:
    return sa.table(
        "alert_memory",
        sa.column("id", BIG_ID),
        sa.column("kind", sa.String(16)),
        sa.column("upto_id", sa.BigInteger()),
        sa.column("entries", sa.Integer()),
        sa.column("body", sa.LargeBinary()),
        sa.column("created_at", UTC_DATETIME),
    )


def upgrade() -> None:
    op.create_table(
        "alert_memory",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("upto_id", sa.BigInteger(), nullable=True),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_memory")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "market_baseline",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("snapshot_url", sa.Text(), nullable=False),
        sa.Column("clore_price", sa.Float(), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_baseline")),
    )
    op.create_index(op.f("ix_bid_alerts_order_id"), "bid_alerts", ["order_id"])
    rows = op.get_bind().execute(
        sa.text(
            "SELECT rule_id, server_id, matching, announced_price, stopped_at FROM match_alerts"
            " WHERE announced_price IS NOT NULL ORDER BY rule_id, server_id"
        )
    ).all()
    if rows:
        server_ids = sorted({str(r.server_id) for r in rows})
        index = {sid: i for i, sid in enumerate(server_ids)}
        change = StoredChange(
            np.array([r.rule_id for r in rows], dtype=np.int64),
            server_ids,
            np.array([index[str(r.server_id)] for r in rows], dtype=np.int64),
            np.array([r.announced_price for r in rows], dtype=np.float64),
            np.array(
                [math.nan if r.matching else _unix(r.stopped_at) for r in rows], dtype=np.float64
            ),
            [],
        )
        op.bulk_insert(
            _memory_table(),
            [
                {
                    "kind": "checkpoint",
                    "upto_id": 0,
                    "entries": len(rows),
                    "body": encode_change(change),
                    "created_at": _naive_utc(datetime.now(UTC)),
                }
            ],
        )
    op.drop_table("match_alerts")


def downgrade() -> None:
    records = op.get_bind().execute(
        sa.text("SELECT id, kind, upto_id, body FROM alert_memory ORDER BY id")
    ).all()
    op.create_table(
        "match_alerts",
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("server_id", sa.String(length=32), nullable=False),
        sa.Column("matching", sa.Boolean(), nullable=False),
        sa.Column("last_price", sa.Float(), nullable=False),
        sa.Column("announced_price", sa.Float(), nullable=True),
        sa.Column("announced_at", UTC_DATETIME, nullable=True),
        sa.Column("stopped_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["rules.id"],
            name=op.f("fk_match_alerts_rule_id_rules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("rule_id", "server_id", name=op.f("pk_match_alerts")),
    )
    # The latest checkpoint, then every change after the record it covers, in id order.
    checkpoints = [r for r in records if r.kind == "checkpoint"]
    upto = checkpoints[-1].upto_id or 0 if checkpoints else 0
    replay = checkpoints[-1:] + [r for r in records if r.kind == "change" and r.id > upto]
    memory: dict[tuple[int, str], tuple[float, float]] = {}
    for record in replay:
        change = decode_change(record.body)
        purged = set(change.purged_rules)
        memory = {k: v for k, v in memory.items() if k[0] not in purged}
        for rule_id, server, announced, stopped in zip(
            change.rule_ids.tolist(), change.servers.tolist(), change.announced.tolist(),
            change.stopped_at.tolist(), strict=True,
        ):  # fmt: skip
            memory[(rule_id, change.server_ids[server])] = (announced, stopped)
    rules = {r for (r,) in op.get_bind().execute(sa.text("SELECT id FROM rules"))}
    table = sa.table(
        "match_alerts",
        sa.column("rule_id", sa.Integer()),
        sa.column("server_id", sa.String(32)),
        sa.column("matching", sa.Boolean()),
        sa.column("last_price", sa.Float()),
        sa.column("announced_price", sa.Float()),
        sa.column("stopped_at", UTC_DATETIME),
    )
    op.bulk_insert(
        table,
        [
            {
                "rule_id": rule_id,
                "server_id": server_id,
                "matching": math.isnan(stopped),
                "last_price": announced,
                "announced_price": announced,
                "stopped_at": None
                if math.isnan(stopped)
                else _naive_utc(datetime.fromtimestamp(stopped, UTC)),
            }
            for (rule_id, server_id), (announced, stopped) in memory.items()
            if rule_id in rules
        ],
    )
    op.drop_index(op.f("ix_bid_alerts_order_id"), table_name="bid_alerts")
    op.drop_table("market_baseline")
    op.drop_table("alert_memory")
