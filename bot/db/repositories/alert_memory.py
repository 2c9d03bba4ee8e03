"""The alert memory's log (`alert_memory` table) and the baseline snapshot (`market_baseline`).

Records are opaque `bot.db.alert_codec` bytes. Replay order: the latest checkpoint, then
every change whose id is above the id the checkpoint covers (a checkpoint is written after
the cycle it covers, so changes of later cycles may have lower ids than the checkpoint).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import AlertMemoryRecord, MarketBaseline
from bot.db.repositories._rows import rowcount

CHANGE, CHECKPOINT = "change", "checkpoint"
_BASELINE_ID = 1


@dataclass(frozen=True, slots=True)
class Baseline:
    snapshot_url: str
    clore_price: float | None
    body: bytes


async def append_change(session: AsyncSession, body: bytes, entries: int, now: datetime) -> int:
    result = await session.execute(
        insert(AlertMemoryRecord)
        .values(kind=CHANGE, entries=entries, body=body, created_at=now)
        .returning(AlertMemoryRecord.id)
    )
    return int(result.scalar_one())


async def last_id(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.max(AlertMemoryRecord.id))) or 0)


async def write_checkpoint(
    session: AsyncSession, body: bytes, entries: int, upto_id: int, now: datetime
) -> None:
    """The whole memory as of record `upto_id`; what it replaces is deleted."""
    await session.execute(
        delete(AlertMemoryRecord).where(
            (AlertMemoryRecord.kind == CHECKPOINT) | (AlertMemoryRecord.id <= upto_id)
        )
    )
    await session.execute(
        insert(AlertMemoryRecord).values(
            kind=CHECKPOINT, upto_id=upto_id, entries=entries, body=body, created_at=now
        )
    )


async def replay(session: AsyncSession) -> list[bytes]:
    """Record bodies to apply, in order, to an empty memory."""
    checkpoint = (
        await session.execute(
            select(AlertMemoryRecord.upto_id, AlertMemoryRecord.body)
            .where(AlertMemoryRecord.kind == CHECKPOINT)
            .order_by(AlertMemoryRecord.id.desc())
            .limit(1)
        )
    ).first()
    upto = int(checkpoint.upto_id or 0) if checkpoint is not None else 0
    changes = await session.scalars(
        select(AlertMemoryRecord.body)
        .where(AlertMemoryRecord.kind == CHANGE, AlertMemoryRecord.id > upto)
        .order_by(AlertMemoryRecord.id)
    )
    return ([checkpoint.body] if checkpoint is not None else []) + list(changes)


async def entries_since_checkpoint(session: AsyncSession) -> int:
    upto = await session.scalar(
        select(func.max(AlertMemoryRecord.upto_id)).where(AlertMemoryRecord.kind == CHECKPOINT)
    )
    total = await session.scalar(
        select(func.coalesce(func.sum(AlertMemoryRecord.entries), 0)).where(
            AlertMemoryRecord.kind == CHANGE, AlertMemoryRecord.id > (upto or 0)
        )
    )
    return int(total or 0)


async def save_baseline(
    session: AsyncSession, url: str, clore_price: float | None, body: bytes, now: datetime
) -> None:
    values = {"snapshot_url": url, "clore_price": clore_price, "body": body, "updated_at": now}
    result = await session.execute(
        update(MarketBaseline).where(MarketBaseline.id == _BASELINE_ID).values(**values)
    )
    if not rowcount(result):
        await session.execute(insert(MarketBaseline).values(id=_BASELINE_ID, **values))


async def load_baseline(session: AsyncSession) -> Baseline | None:
    row = (
        await session.execute(
            select(MarketBaseline.snapshot_url, MarketBaseline.clore_price, MarketBaseline.body)
            .where(MarketBaseline.id == _BASELINE_ID)
        )
    ).first()
    return Baseline(row.snapshot_url, row.clore_price, row.body) if row is not None else None


@dataclass(frozen=True, slots=True)
class StoredRecord:
    id: int
    kind: str
    upto_id: int | None
    body: bytes


async def records_after(session: AsyncSession, after_id: int) -> list[StoredRecord]:
    """Records written after `after_id`, in id order (another replica's, or this one's)."""
    rows = await session.execute(
        select(
            AlertMemoryRecord.id, AlertMemoryRecord.kind, AlertMemoryRecord.upto_id,
            AlertMemoryRecord.body,
        )
        .where(AlertMemoryRecord.id > after_id)
        .order_by(AlertMemoryRecord.id)
    )  # fmt: skip
    return [StoredRecord(int(r.id), r.kind, r.upto_id, r.body) for r in rows]


async def baseline_url(session: AsyncSession) -> str | None:
    return await session.scalar(
        select(MarketBaseline.snapshot_url).where(MarketBaseline.id == _BASELINE_ID)
    )
